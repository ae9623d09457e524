"""Writing the audit log. The services that change billing call ``record`` (or
``record_changes`` / ``record_many``) inside their own transaction, once per business
operation: the entry commits with the change or not at all.

Who: an explicit ``actor``; else, inside a Celery task, the system and the task's name
(a worker acts for nobody, also when a task runs eagerly from a request); else the
request's user (``billing_site.tenancy.get_current_actor``); else the system.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, models, transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from billing_site.tenancy import get_current_actor, require_current_tenant, tenant_context

from .models import Action, AuditEntry, ObjectType

SYSTEM = "system"
# The parent of a mapping: its system (the mappings belong to no one connection).
PROVIDER = "provider"
_FROM_CONTEXT = object()
LABEL_LENGTH = AuditEntry._meta.get_field("object_label").max_length


@dataclass(frozen=True)
class Target:
    """What an entry is about, when it is not simply a model instance."""

    type: str
    id: int | None
    label: str


def _object_types() -> dict[str, str]:
    # By "app_label.Model": the audit app imports no billing model at import time.
    return {
        "contracts.contract": ObjectType.CONTRACT,
        "contracts.contractproductline": ObjectType.CONTRACT_LINE,
        "contracts.blockpurchase": ObjectType.BLOCK_PURCHASE,
        "contracts.raterule": ObjectType.RATE_RULE,
        "contracts.timeentry": ObjectType.TIME_ENTRY,
        "invoices.invoice": ObjectType.INVOICE,
        "invoices.payment": ObjectType.PAYMENT,
        "billing_site.organization": ObjectType.CUSTOMER,
        "billing_site.tenant": ObjectType.TENANT,
        "billing_site.user": ObjectType.USER,
        "integrations.connection": ObjectType.CONNECTION,
        "integrations.mapping": ObjectType.MAPPING,
        "integrations.customerschedule": ObjectType.SCHEDULE,
        "support_sessions.teamviewerconnection": ObjectType.CONNECTION,
    }


def target_of(obj) -> Target:
    """The entry's object for a model instance (or a ``Target`` as it is)."""
    if isinstance(obj, Target):
        return obj
    key = obj._meta.label_lower
    try:
        kind = _object_types()[key]
    except KeyError as exc:
        raise LookupError(f"{key} is not an audited object type") from exc
    return Target(type=kind, id=obj.pk, label=label_of(obj))


def label_of(obj) -> str:
    """The object as people name it, at the time of the change."""
    from billing_site.models import User

    if isinstance(obj, User):
        name = obj.get_full_name()
        return f"{name} ({obj.username})" if name else obj.username
    special = _LABELS.get(obj._meta.label_lower)
    if special is not None:
        return special(obj)[:LABEL_LENGTH]
    label = getattr(obj, "label", None)
    if isinstance(label, str) and label:
        return label[:LABEL_LENGTH]
    return str(obj)[:LABEL_LENGTH]


def _invoice_label(invoice) -> str:
    # The object type already says "invoice"; a credit note says what it is.
    number = invoice.number or f"draft #{invoice.pk}"
    if invoice.kind == "credit_note":
        number = f"Credit note {number}"
    return f"{number} · {invoice.bill_to_name}" if invoice.bill_to_name else number


def _entry_label(entry) -> str:
    from billing_site.timeutils import format_duration

    return f"Time entry #{entry.pk} · {entry.work_date} · {format_duration(entry.worked_seconds)}"


def _payment_label(payment) -> str:
    return f"{payment.amount} received on {payment.received_on}"


def _line_label(line) -> str:
    return f"{line.product} on contract #{line.contract_id}"


def _block_label(purchase) -> str:
    return f"{purchase.hours} h block bought on {purchase.purchased_on}"


def _mapping_label(mapping) -> str:
    there = mapping.external_name or mapping.external_id
    return f"{mapping.get_system_display()} {mapping.get_kind_display().lower()} {mapping.local_key} → {there}"


_LABELS = {
    "invoices.invoice": _invoice_label,
    "contracts.timeentry": _entry_label,
    "invoices.payment": _payment_label,
    "contracts.contractproductline": _line_label,
    "contracts.blockpurchase": _block_label,
    "integrations.mapping": _mapping_label,
    "support_sessions.teamviewerconnection": lambda connection: "TeamViewer",
}


def actor_of(actor=_FROM_CONTEXT) -> tuple[int | None, str]:
    """(user id, name) of who acts now; (None, "system: <task>") for tasks."""
    if actor is _FROM_CONTEXT:
        task = _running_task()
        if task is not None:
            return None, f"{SYSTEM}: {task}"
        actor = get_current_actor()
    if actor is None:
        return None, SYSTEM
    return actor.pk, label_of(actor)


def _running_task() -> str | None:
    from celery import current_task

    task = current_task._get_current_object() if current_task else None
    if task is None or task.request.called_directly:
        return None
    return task.name.rsplit(".", 1)[-1]


# --- Values -----------------------------------------------------------------------------


def to_json(value):
    """A field value as JSON: Decimals as strings (never floats), dates and times in ISO
    8601 (times in UTC), references as ``{"id", "label"}``, choices as their value."""
    if value is None or isinstance(value, bool | int | str):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return str(Decimal(str(value)))
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, FieldFile):
        return value.name or ""
    if isinstance(value, models.Model):
        return {"id": value.pk, "label": label_of(value)}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return str(value)


def _field(instance, name: str):
    return instance._meta.get_field(name)


def _raw(instance, name: str):
    """The stored value (a foreign key's id), for comparing without a query."""
    field = _field(instance, name)
    return getattr(instance, field.attname)


def _shown(instance, name: str):
    field = _field(instance, name)
    if field.is_relation and field.many_to_one:
        if getattr(instance, field.attname) is None:
            return None
        return to_json(getattr(instance, name))  # only for changed fields: rare queries
    return to_json(getattr(instance, name))


def snapshot(instance):
    """The instance as stored now (a fresh read), to diff against after the change. For
    an instance the service has just read or locked, ``copy.copy`` does without a query."""
    return type(instance)._base_manager.get(pk=instance.pk)


def values(instance, fields: Sequence[str]) -> dict:
    """The fields of ``instance`` that have a value (what a create or delete records)."""
    return diff(None, instance, fields)[1] or {}


def diff(previous, current, fields: Sequence[str]) -> tuple[dict | None, dict | None]:
    """(before, after) of the fields that differ; a create (``previous`` None) lists the
    fields that have a value, a delete (``current`` None) what was there."""
    if previous is None and current is None:
        return None, None
    if previous is None:
        after = {name: _shown(current, name) for name in fields}
        return None, {k: v for k, v in after.items() if v not in (None, "", [], {})}
    if current is None:
        before = {name: _shown(previous, name) for name in fields}
        return {k: v for k, v in before.items() if v not in (None, "", [], {})}, None
    # Compared as values: 20.5 and 20.500 (a form's input, the stored column) are equal.
    changed = [name for name in fields if _raw(previous, name) != _raw(current, name)]
    return (
        {name: _shown(previous, name) for name in changed},
        {name: _shown(current, name) for name in changed},
    )


# --- Writing ----------------------------------------------------------------------------


def entry(
    *,
    action: str,
    target,
    before: dict | None = None,
    after: dict | None = None,
    parent=None,
    actor=_FROM_CONTEXT,
    tenant=None,
    at: dt.datetime | None = None,
    who: tuple[int | None, str] | None = None,
) -> AuditEntry:
    """An unsaved entry (for ``record_many``)."""
    if action not in Action.values:
        raise ValueError(f"unknown audit action {action!r}")
    tenant = tenant or require_current_tenant()
    target = target_of(target)
    parent_type, parent_id = _parent(parent)
    actor_id, actor_name = who or actor_of(actor)
    return AuditEntry(
        tenant=tenant,
        created_at=at or timezone.now(),
        actor_id=actor_id,
        actor_name=actor_name[:200],
        action=action,
        object_type=target.type,
        object_id=target.id,
        object_label=(target.label or "")[:LABEL_LENGTH],
        parent_type=parent_type,
        parent_id=parent_id,
        before=to_json(before) if before is not None else None,
        after=to_json(after) if after is not None else None,
    )


def _parent(parent) -> tuple[str, str]:
    if parent is None:
        return "", ""
    if isinstance(parent, tuple):
        return str(parent[0]), str(parent[1])
    target = target_of(parent)
    return target.type, str(target.id)


def _check_in_transaction() -> None:
    # The entry commits with the change it records: never on its own.
    if not connection.in_atomic_block:
        raise RuntimeError("audit entries are written inside the change's transaction")


def record(
    *,
    action: str,
    target,
    before: dict | None = None,
    after: dict | None = None,
    parent=None,
    actor=_FROM_CONTEXT,
    tenant=None,
) -> AuditEntry:
    """Record one change of ``target`` (a model instance or a ``Target``)."""
    _check_in_transaction()
    row = entry(
        action=action,
        target=target,
        before=before,
        after=after,
        parent=parent,
        actor=actor,
        tenant=tenant,
    )
    row.save(force_insert=True)
    return row


def record_changes(
    *,
    action: str,
    target,
    previous,
    fields: Sequence[str],
    current=None,
    parent=None,
    actor=_FROM_CONTEXT,
    extra_before: dict | None = None,
    extra_after: dict | None = None,
    tenant=None,
) -> AuditEntry | None:
    """Record the fields of ``target`` (or of ``current``, when ``target`` is a
    ``Target``) that differ from ``previous`` (a ``snapshot``); a change that changed
    nothing records nothing."""
    before, after = diff(previous, current if current is not None else target, fields)
    if extra_before:
        before = {**(before or {}), **extra_before}
    if extra_after:
        after = {**(after or {}), **extra_after}
    if previous is not None and not before and not after:
        return None
    return record(
        action=action,
        target=target,
        before=before,
        after=after,
        parent=parent,
        actor=actor,
        tenant=tenant,
    )


def record_many(rows: Iterable[AuditEntry]) -> list[AuditEntry]:
    """Record many entries with one insert (bulk approvals, postings, finalisations)."""
    rows = list(rows)
    if not rows:
        return []
    _check_in_transaction()
    return AuditEntry.objects.bulk_create(rows, batch_size=1000)


def record_for_user(*, user, action: str, after: dict | None = None, before=None) -> None:
    """An event of a login itself (its API token, its two-factor sign-in), recorded in each
    tenant where it is staff: each company's log shows what its staff's logins went
    through. One insert per tenant, each under its own tenant (the wall's check)."""
    from billing_site.models import Membership
    from billing_site.roles import STAFF_ROLES

    tenants = [
        membership.tenant
        for membership in Membership.objects.select_related("tenant")
        .filter(user=user, role__in=STAFF_ROLES)
        .order_by("tenant_id")
    ]
    who = actor_of()
    if who == (None, SYSTEM):
        who = (user.pk, label_of(user))  # signing in for a token: the login acts on itself
    target = Target(type=ObjectType.USER, id=user.pk, label=label_of(user))
    for tenant in tenants:
        with tenant_context(tenant):
            record_many(
                [
                    entry(
                        action=action,
                        target=target,
                        before=before,
                        after=after,
                        tenant=tenant,
                        who=who,
                    )
                ]
            )


def tenant_log_erase(*, tenant) -> int:
    """Remove a tenant's whole log, when the tenant itself is being removed (the
    benchmarks' synthetic tenants). The one way past the append-only trigger: a
    transaction-local setting naming that tenant. Needs the table owner; the application
    role has no DELETE on the table at all."""
    with transaction.atomic(), tenant_context(tenant):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('app.audit_erase_tenant', %s, true)", [str(tenant.pk)]
                )
        deleted, _ = AuditEntry.all_tenants.filter(tenant=tenant).delete()
    return deleted
