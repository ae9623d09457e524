"""Models of this app (they live in ``integrations.core.models``)."""

from .core.models import (  # noqa: F401
    Connection,
    CustomerSchedule,
    Delivery,
    DeliveryAttempt,
    Mapping,
    SyncedPayment,
)
