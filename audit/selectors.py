"""Reads of the audit log, for the current tenant (the scoped manager and the wall)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import Q, QuerySet

from billing_site.roles import Cap
from billing_site.timeutils import local_day_bounds

from .models import AuditEntry
from .services import target_of

# Owners, billing admins and accountants read the log (the roles that see billing).
READ_CAPABILITY = Cap.VIEW_BILLING
HISTORY_SIZE = 10


def entry_list(
    *,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    actor_id: int | None = None,
    system: bool = False,
    action: str = "",
    object_type: str = "",
    object_id: int | None = None,
    zone="UTC",
) -> QuerySet[AuditEntry]:
    """Entries newest first, filtered; dates are whole days in ``zone`` (the viewer's)."""
    rows = AuditEntry.objects.all()
    if date_from is not None:
        rows = rows.filter(created_at__gte=local_day_bounds(date_from, zone)[0])
    if date_to is not None:
        rows = rows.filter(created_at__lt=local_day_bounds(date_to, zone)[1])
    if system:
        rows = rows.filter(actor__isnull=True)
    elif actor_id is not None:
        rows = rows.filter(actor_id=actor_id)
    if action:
        rows = rows.filter(action=action)
    if object_type:
        rows = rows.filter(object_type=object_type)
    if object_id is not None:
        rows = rows.filter(
            Q(object_id=object_id) | Q(parent_type=object_type, parent_id=str(object_id))
            if object_type
            else Q(object_id=object_id)
        )
    return rows.order_by("-created_at", "-id")


def history_of(
    *objects, types: Iterable[str] = (), parents: Iterable[tuple[str, str]] = ()
) -> QuerySet[AuditEntry]:
    """The history shown on an object's page: entries about the objects, about what
    belongs to them (``parent``), and of whole ``types`` (the rate rule list)."""
    condition = Q(pk__in=[])
    for obj in objects:
        target = target_of(obj)
        condition |= Q(object_type=target.type, object_id=target.id)
        condition |= Q(parent_type=target.type, parent_id=str(target.id))
    for kind in types:
        condition |= Q(object_type=kind)
    for parent_type, parent_id in parents:
        condition |= Q(parent_type=parent_type, parent_id=str(parent_id))
    return AuditEntry.objects.filter(condition).order_by("-created_at", "-id")
