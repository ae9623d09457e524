"""Factories of the integrations app (registered for the route walk)."""

import factory

from billing_site.testing.factories import OrganizationFactory, TenantOwnedFactory
from billing_site.testing.registry import register_factory
from integrations.core.models import (
    Connection,
    ConnectionStatus,
    CustomerSchedule,
    Delivery,
    DeliveryAction,
    DeliveryStatus,
    Mapping,
    MappingKind,
    Provider,
)
from tests.invoices.factories import InvoiceFactory


@register_factory
class ConnectionFactory(TenantOwnedFactory):
    """A connected QuickBooks company (no tokens: calls to it fail as a broken grant)."""

    class Meta:
        model = Connection

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # One live connection per provider and tenant (a database constraint): reuse it.
        found = (
            model_class.all_tenants.filter(tenant=kwargs["tenant"], provider=kwargs["provider"])
            .exclude(status=ConnectionStatus.DISCONNECTED)
            .first()
        )
        return found or super()._create(model_class, *args, **kwargs)

    provider = Provider.QUICKBOOKS
    status = ConnectionStatus.ACTIVE
    external_id = factory.Sequence(lambda n: f"9130{n:012d}")
    external_name = "Books Company"


@register_factory
class MappingFactory(TenantOwnedFactory):
    class Meta:
        model = Mapping

    system = Provider.QUICKBOOKS
    kind = MappingKind.TAX_RATE
    local_key = factory.Sequence(lambda n: f"{n % 30}.{n // 30}")
    external_id = factory.Sequence(lambda n: str(n))


@register_factory
class DeliveryFactory(TenantOwnedFactory):
    """A failed push (so a retry route has something to retry)."""

    class Meta:
        model = Delivery

    connection = factory.SubFactory(ConnectionFactory, tenant=factory.SelfAttribute("..tenant"))
    invoice = factory.SubFactory(InvoiceFactory, tenant=factory.SelfAttribute("..tenant"))
    action = DeliveryAction.PUSH
    status = DeliveryStatus.FAILED
    attempts = 1
    last_error = "QuickBooks: Duplicate Document Number Error (code 6210)"


@register_factory
class CustomerScheduleFactory(TenantOwnedFactory):
    class Meta:
        model = CustomerSchedule

    connection = factory.SubFactory(ConnectionFactory, tenant=factory.SelfAttribute("..tenant"))
    organization = factory.SubFactory(OrganizationFactory, tenant=factory.SelfAttribute("..tenant"))
    mode = "custom"
    day = 15
