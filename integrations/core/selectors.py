"""Tenant-scoped reads of the integrations."""

from __future__ import annotations

from django.db.models import F, Q, QuerySet

from .models import (
    Connection,
    ConnectionStatus,
    Delivery,
    DeliveryAction,
    DeliveryStatus,
    Provider,
)


def connection_list() -> QuerySet[Connection]:
    return Connection.objects.order_by("provider", "-created_at")


def live_connections() -> dict[str, Connection]:
    """The current (not disconnected) connection of each provider."""
    rows = Connection.objects.exclude(status=ConnectionStatus.DISCONNECTED).order_by("-created_at")
    found: dict[str, Connection] = {}
    for row in rows:
        found.setdefault(row.provider, row)
    return found


def delivery_list(
    *,
    status: str = "",
    action: str = "",
    provider: str = "",
    search: str = "",
    drift: bool = False,
) -> QuerySet[Delivery]:
    rows = Delivery.objects.select_related("connection", "invoice").order_by("-created_at", "-id")
    if status:
        rows = rows.filter(status=status)
    if action:
        rows = rows.filter(action=action)
    if provider:
        rows = rows.filter(connection__provider=provider)
    if search:
        rows = rows.filter(
            Q(invoice__number__icontains=search)
            | Q(invoice__bill_to_name__icontains=search)
            | Q(external_id=search)
            | Q(external_number__icontains=search)
        )
    if drift:
        rows = rows.filter(their_total__isnull=False, our_total__isnull=False).exclude(
            their_total=F("our_total")
        )
    return rows


def retryable_failures() -> int:
    """Failed pushes and voids (what "Retry all failed" tries again)."""
    return Delivery.objects.filter(
        status=DeliveryStatus.FAILED, action__in=(DeliveryAction.PUSH, DeliveryAction.VOID)
    ).count()


def attention() -> dict:
    """What the owner must see on the dashboard: broken connections, failed deliveries."""
    broken = list(Connection.objects.filter(status=ConnectionStatus.BROKEN))
    failed = Delivery.objects.filter(status=DeliveryStatus.FAILED).count()
    return {"broken": broken, "failed": failed}


PROVIDERS = [(key, label) for key, label in Provider.choices]
