"""Tenant-scoped reads of the integrations."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from billing_site.tenancy import require_current_tenant

from . import schedules
from .models import (
    Connection,
    ConnectionStatus,
    CustomerSchedule,
    Delivery,
    DeliveryAction,
    DeliveryStatus,
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
    rows = Delivery.objects.select_related("connection", "invoice", "organization").order_by(
        "-created_at", "-id"
    )
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
            | Q(organization__name__icontains=search)
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


@dataclass(frozen=True)
class ScheduleRow:
    connection: Connection
    mode: str  # the customer's: global, custom, off
    day: int | None  # the customer's own day
    effective: schedules.CustomerDay
    next_send: dt.date | None


def _today() -> dt.date:
    return schedules.local_today(require_current_tenant().time_zone, timezone.now())


def next_run(connection: Connection) -> dt.date | None:
    """The connection's next monthly day (tenant's zone), or None when it sends on
    finalisation."""
    if connection.schedule != schedules.ScheduleMode.MONTHLY or not connection.schedule_day:
        return None
    return schedules.next_send(_today(), connection.schedule_day)


def customer_schedule_rows(*, organization) -> list[ScheduleRow]:
    """One customer's schedule on each active connection (two queries)."""
    connections = list(Connection.objects.filter(status=ConnectionStatus.ACTIVE))
    own = {
        row.connection_id: row
        for row in CustomerSchedule.objects.filter(
            organization=organization, connection__in=connections
        )
    }
    today = _today()
    rows = []
    for connection in connections:
        row = own.get(connection.pk)
        effective = schedules.day_of(connection, row)
        rows.append(
            ScheduleRow(
                connection=connection,
                mode=row.mode if row else schedules.CustomerMode.GLOBAL,
                day=row.day if row else None,
                effective=effective,
                next_send=schedules.next_send(today, effective.day) if effective.day else None,
            )
        )
    return rows
