"""Writes of the ConnectWise PSA integration: the connection, the customer's company and
agreements, and planning the monthly pushes.

A push is a ``Delivery`` per (connection, customer, month), unique in the database
(``one_delivery_per_customer_period``), run by the same engine as the accounting pushes
(``integrations.core.services.delivery_run``: lease, retries on 429 / 5xx, the attempt
log). Planning only inserts the rows that are due and missing (``ignore_conflicts``), so
two beat ticks, a retry and a "Send now" for the same month never send it twice.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from billing_site.tenancy import require_current_tenant
from integrations.core import crypto, ledger, oauth, schedules
from integrations.core.errors import GrantBroken, ProviderError
from integrations.core.models import (
    LIVE_STATUSES,
    Connection,
    ConnectionStatus,
    CustomerSchedule,
    Delivery,
    DeliveryAction,
    DeliveryStatus,
    Mapping,
    MappingKind,
    MappingOrigin,
    Provider,
)
from integrations.core.services import CONNECTION_FIELDS

from . import client as cw
from .mapping import SYSTEM, agreement_key


def live_connection(*, lock: bool = False) -> Connection | None:
    rows = Connection.objects.filter(provider=Provider.CONNECTWISE, status__in=LIVE_STATUSES)
    if lock:
        rows = rows.select_for_update()
    return rows.order_by("-created_at").first()


def connection_save(
    *, site: str, company: str, public_key: str, private_key: str, user=None
) -> Connection:
    """Connect (or re-key) ConnectWise: the codebase is read from the site's companyinfo
    and the keys are tried once before anything is stored; the keys are stored encrypted."""
    company = (company or "").strip()
    public_key, private_key = (public_key or "").strip(), (private_key or "").strip()
    if not public_key or not private_key:
        raise ValidationError({"public_key": "Enter the API member's public and private key."})
    root = cw.site_root(site)
    info = cw.company_info(root, company)
    probe = Connection(site=root, codebase=info.codebase, external_id=company)
    try:
        with cw.ConnectWiseClient(probe, public_key=public_key, private_key=private_key) as api:
            api.get("system/info", "reading the system information")
    except ProviderError as exc:
        raise ValidationError({"connection": f"Not connected: {exc.message}"}) from exc
    tenant = require_current_tenant()
    with transaction.atomic():
        connection = live_connection(lock=True)
        previous = copy.copy(connection) if connection is not None else None
        if connection is None:
            connection = Connection(
                tenant=tenant,
                provider=Provider.CONNECTWISE,
                schedule=schedules.ScheduleMode.OFF,
            )
        connection.site = root
        connection.codebase = info.codebase
        connection.external_id = company
        connection.external_name = info.company_name
        connection.api_public_key = crypto.encrypt(public_key)
        connection.api_private_key = crypto.encrypt(private_key)
        connection.status = ConnectionStatus.ACTIVE
        connection.last_error = ""
        connection.broken_at = None
        connection.connected_by = user
        connection.connected_at = connection.connected_at or timezone.now()
        connection.auto_export = False  # nothing is pushed on finalisation
        connection.save()
        audit.record_changes(
            action=audit.Action.CONNECT,
            target=connection,
            previous=previous,
            fields=CONNECTION_FIELDS,
            extra_after={"api_keys": "replaced"},
        )
    return connection


@dataclass(frozen=True)
class Check:
    label: str
    ok: bool
    words: str


def connection_test(*, connection: Connection) -> list[Check]:
    """Each thing the pushes need, tried in order, in words: the site and company
    (companyinfo), the keys (401), the permissions to read companies and agreements
    (403). Stops at the first failure; the connection shows the result."""
    checks: list[Check] = []
    try:
        info = cw.company_info(connection.site, connection.external_id)
    except ValidationError as exc:
        checks.append(Check("Site and company", False, " ".join(exc.messages)))
        return _record(connection, checks)
    checks.append(Check("Site and company", True, f"{info.company_name}, codebase {info.codebase}"))
    if info.codebase != connection.codebase:
        Connection.objects.filter(pk=connection.pk).update(codebase=info.codebase)
        connection.codebase = info.codebase
    steps = [
        ("API keys", "system/info", "reading the system information", "accepted"),
        ("Companies (Company › view)", "company/companies", "reading companies", "readable"),
        (
            "Agreements (Finance › Agreements)",
            "finance/agreements",
            "reading agreements",
            "readable",
        ),
    ]
    try:
        api = cw.ConnectWiseClient(connection)
    except ValidationError as exc:
        checks.append(Check("API keys", False, " ".join(exc.messages)))
        return _record(connection, checks)
    with api:
        for label, path, what, good in steps:
            try:
                api.get(path, what, params={"pageSize": 1})
            except ProviderError as exc:
                checks.append(Check(label, False, exc.message))
                if isinstance(exc, GrantBroken):
                    oauth.mark_broken(connection.pk, exc.message)
                    return checks
                return _record(connection, checks)
            checks.append(Check(label, True, good))
    return _record(connection, checks)


def _record(connection: Connection, checks: list[Check]) -> list[Check]:
    failed = [c for c in checks if not c.ok]
    if failed:
        Connection.objects.filter(pk=connection.pk).update(last_error=failed[0].words)
    else:
        Connection.objects.filter(pk=connection.pk).update(
            last_error="", status=ConnectionStatus.ACTIVE, broken_at=None
        )
    return checks


# --- Mapping ----------------------------------------------------------------------------


@transaction.atomic
def customer_company_set(
    *, organization, company_id: str, company_name: str = ""
) -> Mapping | None:
    """Confirm the customer's ConnectWise company (empty: unmatch). A different company
    drops the customer's agreements, which were that company's."""
    key = str(organization.pk)
    company_id = (company_id or "").strip()
    if company_id and not company_id.isdigit():
        raise ValidationError({"company": "Choose one of the companies ConnectWise offered."})
    current = ledger.ledger(SYSTEM).external_id(MappingKind.CUSTOMER, key)
    if current != company_id:
        Mapping.objects.filter(
            system=SYSTEM, kind=MappingKind.AGREEMENT, local_key__startswith=f"{key}:"
        ).delete()
    return ledger.mapping_set(
        system=SYSTEM,
        kind=MappingKind.CUSTOMER,
        local_key=key,
        external_id=company_id,
        external_name=(company_name or "")[:200] if company_id else "",
        origin=MappingOrigin.MANUAL,
    )


@transaction.atomic
def product_agreement_set(*, organization, sku: str, agreement_id: str, agreement_name: str = ""):
    """The agreement that bills ``sku`` for the customer (empty: none)."""
    from contracts.models import Product

    if not Product.objects.filter(sku=sku).exists():
        raise ValidationError({"sku": f"No product with SKU “{sku}” in the catalog."})
    if not ledger.ledger(SYSTEM).external_id(MappingKind.CUSTOMER, str(organization.pk)):
        raise ValidationError(
            {"company": f"Match {organization.name} to a ConnectWise company first."}
        )
    agreement_id = (agreement_id or "").strip()
    if agreement_id and not agreement_id.isdigit():
        raise ValidationError({"agreement": "Choose one of the company's agreements."})
    return ledger.mapping_set(
        system=SYSTEM,
        kind=MappingKind.AGREEMENT,
        local_key=agreement_key(organization.pk, sku),
        external_id=agreement_id,
        external_name=(agreement_name or "")[:200] if agreement_id else "",
    )


def mapped_customer_ids() -> list[int]:
    from billing_site.models import Organization

    keys = Mapping.objects.filter(system=SYSTEM, kind=MappingKind.CUSTOMER).exclude(external_id="")
    ids = [int(k) for k in keys.values_list("local_key", flat=True) if k.isdigit()]
    return list(
        Organization.objects.filter(pk__in=ids, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


# --- Planning -----------------------------------------------------------------------------


def _insert(connection: Connection, pairs: list[tuple[int, dt.date]], now) -> list[Delivery]:
    """The deliveries of ``pairs`` (customer, month) that did not exist, created now; the
    unique constraint keeps the existing ones (whatever their state) untouched."""
    from integrations.core.services import _enqueue

    if not pairs:
        return []
    existing = set(
        Delivery.objects.filter(
            connection=connection,
            action=DeliveryAction.PUSH,
            organization_id__in={org for org, _ in pairs},
            period_start__in={period for _, period in pairs},
        ).values_list("organization_id", "period_start")
    )
    rows = [
        Delivery(
            tenant_id=connection.tenant_id,
            connection=connection,
            action=DeliveryAction.PUSH,
            organization_id=org,
            period_start=period,
            next_attempt_at=now,
        )
        for org, period in pairs
        if (org, period) not in existing
    ]
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    created = list(
        Delivery.objects.filter(
            connection=connection,
            action=DeliveryAction.PUSH,
            status=DeliveryStatus.PENDING,
            attempts=0,
            queued_at__isnull=True,
            organization_id__in={org for org, _ in pairs},
            period_start__in={period for _, period in pairs},
        )
    )
    _enqueue(created)
    return created


def deliveries_plan_due(*, now: dt.datetime | None = None) -> list[Delivery]:
    """Beat: each mapped customer's month whose day has come (its own day or the
    connection's), from the day the connection was made on, and not delivered yet."""
    now = now or timezone.now()
    connection = live_connection()
    if connection is None or not connection.is_active:
        return []
    zone = require_current_tenant().time_zone
    today = schedules.local_today(zone, now)
    since = schedules.local_today(zone, connection.connected_at or now)
    customers = mapped_customer_ids()
    overrides = {
        row.organization_id: row
        for row in CustomerSchedule.objects.filter(
            connection=connection, organization_id__in=customers
        )
    }
    pairs = []
    for org in customers:
        chosen = schedules.day_of(connection, overrides.get(org))
        if chosen.day is None:
            continue
        period = schedules.last_due_period(today, chosen.day)
        if schedules.send_date(period, chosen.day) >= since:
            pairs.append((org, period))
    with transaction.atomic():
        return _insert(connection, pairs, now)


@dataclass
class SendNow:
    period: dt.date
    queued: list = field(default_factory=list)  # organizations sent now
    already: list = field(default_factory=list)  # (organization, delivery) sent or on its way
    retried: list = field(default_factory=list)  # failed before, tried again

    @property
    def message(self) -> str:
        month = f"{self.period:%B %Y}"
        parts = []
        if self.queued:
            parts.append(f"sending {month} for {', '.join(o.name for o in self.queued)}")
        if self.retried:
            parts.append(f"trying {month} again for {', '.join(o.name for o in self.retried)}")
        sent = [o for o, d in self.already if d.status == DeliveryStatus.DONE]
        going = [o for o, d in self.already if d.status != DeliveryStatus.DONE]
        if sent:
            parts.append(
                f"{month} was already sent for {', '.join(o.name for o in sent)}: nothing sent again"
            )
        if going:
            parts.append(f"{month} is on its way for {', '.join(o.name for o in going)}")
        return ("; ".join(parts) or "Nothing to send") + "."


@transaction.atomic
def send_now(*, connection: Connection, organization=None) -> SendNow:
    """Push the current month (tenant's zone) now: for one customer, or for every mapped
    customer not switched off. A month already sent is not sent again (it says so); a
    failed one is tried again."""
    from billing_site.models import Organization
    from integrations.core.services import _reopen

    # NO KEY: a tick inserting this connection's deliveries meanwhile takes FOR KEY SHARE
    # on it (the foreign key); a full FOR UPDATE would deadlock with its insert.
    connection = Connection.objects.select_for_update(no_key=True).get(pk=connection.pk)
    if connection.provider != Provider.CONNECTWISE:
        raise ValidationError({"connection": "“Send now” is for the ConnectWise connection."})
    if not connection.is_active:
        raise ValidationError({"connection": f"{connection} is not connected; connect it first."})
    now = timezone.now()
    period = schedules.month_of(schedules.local_today(require_current_tenant().time_zone, now))
    result = SendNow(period=period)
    if organization is not None:
        if not ledger.ledger(SYSTEM).external_id(MappingKind.CUSTOMER, str(organization.pk)):
            raise ValidationError(
                {"company": f"Match {organization.name} to a ConnectWise company first."}
            )
        ids = [organization.pk]
    else:
        off = set(
            CustomerSchedule.objects.filter(
                connection=connection, mode=schedules.CustomerMode.OFF
            ).values_list("organization_id", flat=True)
        )
        ids = [pk for pk in mapped_customer_ids() if pk not in off]
        if not ids:
            raise ValidationError(
                {"company": "No customer is matched to a ConnectWise company yet."}
            )
    organizations = Organization.objects.in_bulk(ids)
    existing = {
        d.organization_id: d
        for d in Delivery.objects.select_for_update().filter(
            connection=connection,
            action=DeliveryAction.PUSH,
            period_start=period,
            organization_id__in=ids,
        )
    }
    for pk, delivery in existing.items():
        if delivery.status == DeliveryStatus.FAILED:
            _reopen(delivery)
            result.retried.append(organizations[pk])
        else:
            result.already.append((organizations[pk], delivery))
    created = _insert(connection, [(pk, period) for pk in ids if pk not in existing], now)
    result.queued = [organizations[d.organization_id] for d in created]
    # Planned by a tick between the look above and the insert: on its way, not "nothing".
    planned = {d.organization_id for d in created}
    late = [pk for pk in ids if pk not in existing and pk not in planned]
    for delivery in Delivery.objects.filter(
        connection=connection,
        action=DeliveryAction.PUSH,
        period_start=period,
        organization_id__in=late,
    ):
        result.already.append((organizations[delivery.organization_id], delivery))
    return result
