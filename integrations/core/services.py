"""Writes of the integrations: connections, deliveries, the push engine, payment sync.

Exactly once. A push is a ``Delivery`` row, written in the transaction that finalised
(or voided) the invoice and queued after commit; the row is unique per (connection,
invoice, action, revision) in the database. An attempt claims the row with a lease in
one conditional UPDATE, so two workers never push the same invoice at the same time.
The HTTP calls run outside any transaction (a rotated refresh token or a created
customer is committed at once, whatever happens next). Every attempt sends the same
idempotency key (QuickBooks ``requestid``, Xero ``Idempotency-Key``), and every retry
first looks the invoice up by its number: a worker killed after the provider created
the invoice and before our commit leaves nothing to create twice.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from audit import services as audit
from billing_site.tenancy import require_current_tenant
from invoices.document import invoice_document
from invoices.models import Invoice, InvoiceKind, InvoiceStatus, PaymentMethod

from . import oauth, schedules
from .errors import GrantBroken, ProviderError, Refused, TryLater
from .models import (
    ACCOUNTING_PROVIDERS,
    LIVE_STATUSES,
    AttemptOutcome,
    Connection,
    ConnectionStatus,
    CustomerSchedule,
    Delivery,
    DeliveryAction,
    DeliveryAttempt,
    DeliveryStatus,
    Provider,
    SyncedPayment,
)
from .providers import provider

logger = logging.getLogger(__name__)

FIRST_BACKOFF = 30
# What the audit log records of a connection (never its tokens or keys).
CONNECTION_FIELDS = (
    "status",
    "external_id",
    "external_name",
    "site",
    "auto_export",
    "schedule",
    "schedule_day",
)
# Payments changed a little before the last sync are read again (clock skew); the
# ledger of synced payments makes that harmless.
SYNC_OVERLAP = dt.timedelta(minutes=5)


# --- Connections --------------------------------------------------------------------


def _live(provider_key: str) -> Connection | None:
    return (
        Connection.objects.select_for_update()
        .filter(provider=provider_key, status__in=LIVE_STATUSES)
        .first()
    )


@transaction.atomic
def connection_start(*, provider_key: str, redirect_uri: str, user=None) -> str:
    """Begin connecting ``provider_key``: the URL of the provider's consent page."""
    if provider_key not in ACCOUNTING_PROVIDERS:
        raise ValidationError({"provider": f"Unknown provider '{provider_key}'."})
    tenant = require_current_tenant()
    connection = _live(provider_key)
    if connection is not None and connection.status == ConnectionStatus.ACTIVE:
        raise ValidationError(
            {"provider": f"{connection} is already connected; disconnect it first."}
        )
    url, state = oauth.authorization_url(provider_key, redirect_uri=redirect_uri)
    if connection is None:
        connection = Connection(tenant=tenant, provider=provider_key)
    # A broken connection is reconnected in place: its deliveries and cursor stay.
    if connection.status != ConnectionStatus.BROKEN:
        connection.status = ConnectionStatus.AUTHORIZING
    connection.oauth_state = oauth.state_hash(state)
    connection.oauth_redirect_uri = redirect_uri
    connection.connected_by = user
    connection.save()
    return url


def _connection_for_state(provider_key: str, state: str) -> Connection:
    if not state:
        raise ValidationError({"state": "The provider's answer has no state; start again."})
    connection = (
        Connection.objects.select_for_update()
        .filter(
            provider=provider_key, oauth_state=oauth.state_hash(state), status__in=LIVE_STATUSES
        )
        .first()
    )
    if connection is None:
        raise ValidationError(
            {"state": "This answer does not belong to a connection you started; start again."}
        )
    return connection


def connection_complete(
    *, provider_key: str, state: str, code: str, realm_id: str = "", error: str = ""
) -> Connection:
    """The provider's redirect back: check ``state``, trade the code for tokens, name the
    company (QuickBooks' ``realmId``; Xero's organisation from ``/connections``)."""
    with transaction.atomic():
        connection = _connection_for_state(provider_key, state)
        redirect_uri = connection.oauth_redirect_uri
        if error:
            connection.oauth_state = ""
            connection.last_error = f"The provider did not grant access ({error})."
            connection.save(update_fields=["oauth_state", "last_error"])
            raise ValidationError({"code": connection.last_error})
        if not code:
            raise ValidationError({"code": "The provider's answer has no authorization code."})
        if provider_key == Provider.QUICKBOOKS and not realm_id:
            raise ValidationError({"realmId": "QuickBooks did not say which company was chosen."})
    try:
        tokens = oauth.exchange_code(provider_key, code=code, redirect_uri=redirect_uri)
    except ProviderError as exc:
        raise ValidationError({"code": exc.message}) from exc
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=connection.pk)
        previous = copy.copy(connection)
        oauth.store_tokens(connection, tokens)
        connection.oauth_state = ""
        connection.last_error = ""
        connection.broken_at = None
        connection.connected_at = connection.connected_at or timezone.now()
        if provider_key == Provider.QUICKBOOKS:
            if connection.external_id and connection.external_id != realm_id:
                # Mapped ids belong to the old company; names stay for the files.
                _forget_external_ids(provider_key)
            connection.external_id = realm_id
            connection.status = ConnectionStatus.ACTIVE
        else:
            connection.status = ConnectionStatus.CHOOSE_TENANT
        connection.save()
        audit.record_changes(
            action=audit.Action.CONNECT,
            target=connection,
            previous=previous,
            fields=CONNECTION_FIELDS,
            extra_after={"tokens": "replaced"},
        )
    if provider_key == Provider.QUICKBOOKS:
        _name_quickbooks_company(connection)
    else:
        _offer_xero_tenants(connection, tokens.access_token)
    connection.refresh_from_db()
    return connection


def _forget_external_ids(system: str) -> None:
    from .models import Mapping, MappingOrigin

    Mapping.objects.filter(system=system).exclude(origin=MappingOrigin.MANUAL).delete()


def _name_quickbooks_company(connection: Connection) -> None:
    from integrations.quickbooks.client import QuickBooksClient

    try:
        with QuickBooksClient(connection) as api:
            info = api.read("CompanyInfo", connection.external_id)
    except ProviderError:
        return  # the name is a courtesy; the connection works without it
    Connection.objects.filter(pk=connection.pk).update(
        external_name=(info.get("CompanyName") or "")[:200]
    )


def _offer_xero_tenants(connection: Connection, access_token: str) -> None:
    import httpx2

    try:
        response = httpx2.get(
            settings.XERO["connections_url"],
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            timeout=settings.INTEGRATIONS_HTTP_TIMEOUT,
        )
        response.raise_for_status()
        rows = response.json()
    except (httpx2.HTTPError, ValueError) as exc:
        oauth.mark_broken(connection.pk, f"Xero's organisations could not be read ({exc}).")
        raise ValidationError(
            {"connection": f"Xero's organisations could not be read ({exc})."}
        ) from exc
    choices = [
        {"tenantId": row["tenantId"], "tenantName": row.get("tenantName") or row["tenantId"]}
        for row in rows
        if row.get("tenantType", "ORGANISATION") == "ORGANISATION" and row.get("tenantId")
    ]
    if not choices:
        oauth.mark_broken(connection.pk, "The Xero user has no organisation to connect.")
        raise ValidationError({"connection": "The Xero user has no organisation to connect."})
    Connection.objects.filter(pk=connection.pk).update(tenant_choices=choices)
    if len(choices) == 1:
        connection.refresh_from_db()
        connection_choose_tenant(connection=connection, external_id=choices[0]["tenantId"])


@transaction.atomic
def connection_choose_tenant(*, connection: Connection, external_id: str) -> Connection:
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    if connection.status not in (ConnectionStatus.CHOOSE_TENANT, ConnectionStatus.ACTIVE):
        raise ValidationError({"tenant": "Connect to Xero first."})
    chosen = [c for c in connection.tenant_choices if c["tenantId"] == external_id]
    if not chosen:
        raise ValidationError({"tenant": "Choose one of the organisations Xero offered."})
    if connection.external_id and connection.external_id != external_id:
        _forget_external_ids(connection.provider)
    previous = copy.copy(connection)
    connection.external_id = external_id
    connection.external_name = chosen[0]["tenantName"][:200]
    connection.status = ConnectionStatus.ACTIVE
    connection.save(update_fields=["external_id", "external_name", "status"])
    audit.record_changes(
        action=audit.Action.UPDATE, target=connection, previous=previous, fields=CONNECTION_FIELDS
    )
    return connection


@transaction.atomic
def connection_update(*, connection: Connection, auto_export: bool) -> Connection:
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    previous = copy.copy(connection)
    connection.auto_export = bool(auto_export)
    connection.save(update_fields=["auto_export"])
    audit.record_changes(
        action=audit.Action.UPDATE, target=connection, previous=previous, fields=CONNECTION_FIELDS
    )
    return connection


@transaction.atomic
def connection_schedule_set(*, connection: Connection, schedule: str, day=None) -> Connection:
    """When a connection sends: on finalisation, or monthly on ``day`` (1–31). Moving
    back to "on finalisation" sends what was waiting for its day at once."""
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    if connection.provider == Provider.CONNECTWISE:
        if schedule not in (schedules.ScheduleMode.OFF, schedules.ScheduleMode.MONTHLY):
            raise ValidationError(
                {"schedule": "Choose “monthly, on a day” or “only when sent by hand”."}
            )
    elif schedule not in (schedules.ScheduleMode.ON_FINALISE, schedules.ScheduleMode.MONTHLY):
        raise ValidationError(
            {"schedule": "Choose “when invoices are finalised” or “monthly, on a day”."}
        )
    day = _schedule_day(
        day, field="schedule_day", required=schedule == schedules.ScheduleMode.MONTHLY
    )
    previous = copy.copy(connection)
    connection.schedule = schedule
    connection.schedule_day = day if schedule == schedules.ScheduleMode.MONTHLY else None
    connection.save(update_fields=["schedule", "schedule_day"])
    audit.record_changes(
        action=audit.Action.UPDATE, target=connection, previous=previous, fields=CONNECTION_FIELDS
    )
    if schedule == schedules.ScheduleMode.ON_FINALISE:
        now = timezone.now()
        waiting = Delivery.objects.filter(
            connection=connection,
            status=DeliveryStatus.PENDING,
            next_attempt_at__gt=now,
            attempts=0,
        )
        rows = list(waiting)
        waiting.update(next_attempt_at=now)
        _enqueue(rows)
    return connection


def _schedule_day(value, *, field: str, required: bool) -> int | None:
    if value in (None, ""):
        if required:
            raise ValidationError({field: "Choose the day of the month (1–31)."})
        return None
    try:
        day = int(value)
    except (TypeError, ValueError):
        raise ValidationError({field: "The day is a whole number from 1 to 31."}) from None
    if not 1 <= day <= 31:
        raise ValidationError(
            {field: "The day is from 1 to 31 (29–31 mean the last day of a shorter month)."}
        )
    return day


@transaction.atomic
def customer_schedule_set(*, connection: Connection, organization, mode: str, day=None):
    """A customer's schedule on a connection: the global one, its own day, or off."""
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    if mode not in (
        schedules.CustomerMode.GLOBAL,
        schedules.CustomerMode.CUSTOM,
        schedules.CustomerMode.OFF,
    ):
        raise ValidationError({"mode": "Choose global, custom or off."})
    day = _schedule_day(day, field="day", required=mode == schedules.CustomerMode.CUSTOM)
    previous = CustomerSchedule.objects.filter(
        connection=connection, organization=organization
    ).first()
    row, _ = CustomerSchedule.objects.update_or_create(
        connection=connection,
        organization=organization,
        defaults={
            "tenant_id": connection.tenant_id,
            "mode": mode,
            "day": day if mode == schedules.CustomerMode.CUSTOM else None,
        },
    )
    audit.record_changes(
        action=audit.Action.CREATE if previous is None else audit.Action.UPDATE,
        target=audit.Target(
            type=audit.ObjectType.SCHEDULE, id=row.pk, label=f"{organization} on {connection}"
        ),
        previous=previous,
        current=row,
        fields=("mode", "day"),
        parent=connection,
    )
    return row


@transaction.atomic
def connection_disconnect(*, connection: Connection) -> Connection:
    """Stop pushing: the tokens are erased; the delivery log and the mapping stay."""
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    if connection.status == ConnectionStatus.DISCONNECTED:
        raise ValidationError({"connection": f"{connection} is already disconnected."})
    previous = copy.copy(connection)
    connection.status = ConnectionStatus.DISCONNECTED
    connection.access_token = connection.refresh_token = ""
    connection.api_public_key = connection.api_private_key = ""
    connection.oauth_state = ""
    connection.save(
        update_fields=[
            "status",
            "access_token",
            "refresh_token",
            "api_public_key",
            "api_private_key",
            "oauth_state",
        ]
    )
    audit.record_changes(
        action=audit.Action.DISCONNECT,
        target=connection,
        previous=previous,
        fields=CONNECTION_FIELDS,
        extra_after={"tokens": "erased"},
    )
    Delivery.objects.filter(
        connection=connection, status__in=(DeliveryStatus.PENDING, DeliveryStatus.RUNNING)
    ).update(
        status=DeliveryStatus.FAILED,
        last_error="The connection was disconnected before this was delivered.",
        lease_until=None,
    )
    return connection


# --- Planning deliveries ------------------------------------------------------------


def _lease() -> dt.timedelta:
    return dt.timedelta(seconds=settings.INTEGRATIONS_LEASE_SECONDS)


def _enqueue(deliveries: Iterable[Delivery]) -> None:
    """Send the deliveries' tasks after commit (marked queued now, in this transaction)."""
    from .tasks import delivery_run_task

    pairs = [(d.tenant_id, d.pk) for d in deliveries]
    if not pairs:
        return
    Delivery.objects.filter(pk__in=[pk for _, pk in pairs]).update(queued_at=timezone.now())

    def send():
        for tenant_id, delivery_id in pairs:
            delivery_run_task.delay(tenant_id, delivery_id)

    transaction.on_commit(send, robust=True)


def _scheduled_times(
    connection: Connection, invoices: list[Invoice], now: dt.datetime
) -> dict[int, dt.datetime | None]:
    """When each invoice goes to ``connection``: now, on its customer's monthly day (the
    start of that day in the tenant's zone), or None when the customer is off."""
    if connection.schedule != schedules.ScheduleMode.MONTHLY:
        return {invoice.pk: now for invoice in invoices}
    overrides = {
        row.organization_id: row
        for row in CustomerSchedule.objects.filter(
            connection=connection,
            organization_id__in={invoice.organization_id for invoice in invoices},
        )
    }
    zone = require_current_tenant().time_zone
    today = schedules.local_today(zone, now)
    times: dict[int, dt.datetime | None] = {}
    for invoice in invoices:
        override = overrides.get(invoice.organization_id)
        chosen = schedules.day_of(connection, override)
        if chosen.day is None:
            times[invoice.pk] = None if chosen.source == "off" else now
            continue
        day = schedules.next_send(today, chosen.day)
        times[invoice.pk] = schedules.start_of_local_day(day, zone) if day > today else now
    return times


def deliveries_plan(
    *, invoices: Iterable[Invoice], action: str = DeliveryAction.PUSH, only_auto: bool = True
) -> list[Delivery]:
    """Record a delivery of each invoice to every active connection (those with
    auto-export when ``only_auto``) and queue the ones due now after commit; a connection
    on a monthly schedule (``only_auto``) waits for each customer's day, when the sweep
    sends them, and skips customers that are off. Set-wise: one query for the
    connections, one for their customers' schedules, one insert, one read back; existing
    rows are kept as they are."""
    invoices = list(invoices)
    if not invoices:
        return []
    tenant = require_current_tenant()
    connections = Connection.objects.filter(
        status=ConnectionStatus.ACTIVE, provider__in=ACCOUNTING_PROVIDERS
    )
    if only_auto:
        connections = connections.filter(auto_export=True)
    connections = list(connections)
    if not connections:
        return []
    now = timezone.now()
    rows = []
    for connection in connections:
        times = (
            _scheduled_times(connection, invoices, now)
            if only_auto
            else {invoice.pk: now for invoice in invoices}
        )
        rows += [
            Delivery(
                tenant=tenant,
                connection=connection,
                action=action,
                invoice=invoice,
                our_total=invoice.total,
                next_attempt_at=times[invoice.pk],
            )
            for invoice in invoices
            if times[invoice.pk] is not None
        ]
    Delivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    planned = list(
        Delivery.objects.filter(
            connection__in=connections,
            invoice_id__in=[invoice.pk for invoice in invoices],
            action=action,
            status=DeliveryStatus.PENDING,
        )
    )
    _enqueue([d for d in planned if d.next_attempt_at is None or d.next_attempt_at <= now])
    return planned


@transaction.atomic
def invoice_push(*, invoice: Invoice) -> list[Delivery]:
    """Push one final invoice to every active connection now (also without auto-export).
    A failed push is retried; one already delivered is not sent again."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status == InvoiceStatus.DRAFT or not invoice.number:
        raise ValidationError({"invoice": "Finalise the draft before pushing it."})
    if invoice.status == InvoiceStatus.VOID:
        raise ValidationError({"invoice": "A void invoice is not pushed."})
    if not Connection.objects.filter(
        status=ConnectionStatus.ACTIVE, provider__in=ACCOUNTING_PROVIDERS
    ).exists():
        raise ValidationError(
            {"connection": "No accounting system is connected (Integrations › Connections)."}
        )
    existing = list(
        Delivery.objects.select_for_update().filter(invoice=invoice, action=DeliveryAction.PUSH)
    )
    for delivery in existing:
        if delivery.status == DeliveryStatus.FAILED:
            _reopen(delivery)
    planned = deliveries_plan(invoices=[invoice], only_auto=False)
    done = [d for d in existing if d.status == DeliveryStatus.DONE]
    if done and not planned and not any(d.status != DeliveryStatus.DONE for d in existing):
        raise ValidationError(
            {
                "invoice": "Already delivered: "
                + ", ".join(f"{d.connection} #{d.external_id}" for d in done)
                + "."
            }
        )
    return list(Delivery.objects.filter(invoice=invoice, action=DeliveryAction.PUSH))


def _reopen(delivery: Delivery) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(), lease_until=None
    )
    delivery.status = DeliveryStatus.PENDING
    _enqueue([delivery])


def delivery_mark_queued(*, delivery_id: int, retry_in: float) -> None:
    """Its task is sent for its retry time: the sweep leaves it until then."""
    when = timezone.now() + dt.timedelta(seconds=retry_in)
    Delivery.objects.filter(pk=delivery_id).update(queued_at=when)


@transaction.atomic
def delivery_retry(*, delivery: Delivery) -> Delivery:
    """Try a failed delivery again now (its attempts go on counting)."""
    delivery = Delivery.objects.select_for_update().select_related("connection").get(pk=delivery.pk)
    if delivery.status != DeliveryStatus.FAILED:
        raise ValidationError(
            {
                "delivery": f"Only a failed delivery can be retried; this one is {delivery.get_status_display().lower()}."
            }
        )
    if delivery.action == DeliveryAction.SYNC:
        raise ValidationError({"delivery": "Run the payment sync again instead."})
    if not delivery.connection.is_active:
        raise ValidationError(
            {"delivery": f"{delivery.connection} is not connected; reconnect it first."}
        )
    _reopen(delivery)
    delivery.refresh_from_db()
    return delivery


@transaction.atomic
def deliveries_retry_failed() -> list[Delivery]:
    """Every failed push and void of an active connection, tried again now (after the
    mapping was fixed, say). Set-wise: one read, one update."""
    rows = list(
        Delivery.objects.select_for_update()
        .filter(
            status=DeliveryStatus.FAILED,
            action__in=(DeliveryAction.PUSH, DeliveryAction.VOID),
            connection__status=ConnectionStatus.ACTIVE,
        )
        .order_by("pk")
    )
    if not rows:
        raise ValidationError({"delivery": "No failed delivery to retry."})
    Delivery.objects.filter(pk__in=[d.pk for d in rows]).update(
        status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(), lease_until=None
    )
    _enqueue(rows)
    return rows


def on_invoices_finalized(invoices: list[Invoice]) -> None:
    deliveries_plan(invoices=invoices)


def on_invoice_voided(invoice: Invoice) -> None:
    """Void it over there too, wherever it was pushed (or is about to be). A push not
    tried yet (waiting for its monthly day, or still queued) is settled here: nothing
    reached the other system, so there is nothing to void."""
    now = timezone.now()
    Delivery.objects.filter(
        invoice=invoice, action=DeliveryAction.PUSH, status=DeliveryStatus.PENDING, attempts=0
    ).update(
        status=DeliveryStatus.DONE,
        summary="Voided before it was pushed; not sent.",
        done_at=now,
        next_attempt_at=None,
    )
    connection_ids = set(
        Delivery.objects.filter(invoice=invoice, action=DeliveryAction.PUSH)
        .exclude(status=DeliveryStatus.FAILED)
        .exclude(status=DeliveryStatus.DONE, external_id="")
        .values_list("connection_id", flat=True)
    )
    if not connection_ids:
        return
    tenant = require_current_tenant()
    Delivery.objects.bulk_create(
        [
            Delivery(
                tenant=tenant,
                connection_id=cid,
                action=DeliveryAction.VOID,
                invoice=invoice,
                our_total=invoice.total,
                next_attempt_at=now,
            )
            for cid in connection_ids
        ],
        ignore_conflicts=True,
    )
    _enqueue(
        Delivery.objects.filter(
            invoice=invoice, action=DeliveryAction.VOID, status=DeliveryStatus.PENDING
        )
    )


# --- Running one delivery -----------------------------------------------------------


def _backoff(attempts: int) -> float:
    return float(min(FIRST_BACKOFF * 2 ** max(attempts - 1, 0), settings.INTEGRATIONS_BACKOFF_CAP))


@dataclass(frozen=True)
class RunResult:
    status: str
    retry_in: float | None = None


def _claim(delivery_id: int, now: dt.datetime) -> Delivery | None:
    """Take the delivery for one attempt (one conditional UPDATE), or None when it is
    done, failed, not due yet, or held by a live attempt elsewhere."""
    claimable = Q(status=DeliveryStatus.PENDING) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    ) | Q(status=DeliveryStatus.RUNNING, lease_until__lt=now)
    with transaction.atomic():
        taken = Delivery.objects.filter(claimable, pk=delivery_id).update(
            status=DeliveryStatus.RUNNING,
            lease_until=now + _lease(),
            attempts=F("attempts") + 1,
            updated_at=now,
        )
        if not taken:
            return None
        delivery = Delivery.objects.select_related("connection").get(pk=delivery_id)
        DeliveryAttempt.objects.create(
            tenant_id=delivery.tenant_id,
            delivery=delivery,
            number=delivery.attempts,
            started_at=now,
        )
    return delivery


def _finish(
    delivery: Delivery, *, outcome: str, message: str = "", http_status=None, **fields
) -> None:
    now = timezone.now()
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(lease_until=None, updated_at=now, **fields)
        DeliveryAttempt.objects.filter(delivery=delivery, number=delivery.attempts).update(
            finished_at=now, outcome=outcome, message=message[:4000], http_status=http_status
        )


def _income_codes(doc) -> dict[str, str]:
    from contracts.models import Product

    skus = {line.sku for line in doc.lines if line.sku}
    return dict(
        Product.objects.filter(sku__in=skus)
        .exclude(income_account_code="")
        .values_list("sku", "income_account_code")
    )


def _perform(delivery: Delivery, spec, api) -> tuple[str, dict]:
    """The provider calls of one attempt; returns (summary, delivery fields)."""
    if delivery.period_start is not None:
        # A customer's month to a PSA (ConnectWise agreement additions).
        try:
            return spec.mapping.push_period(api, delivery)
        except GrantBroken as exc:
            oauth.mark_broken(delivery.connection_id, exc.message)
            raise
    invoice = Invoice.objects.select_related("organization").get(pk=delivery.invoice_id)
    doc = invoice_document(invoice, with_sources=False)
    if delivery.action == DeliveryAction.VOID:
        push = (
            Delivery.objects.filter(
                connection=delivery.connection, invoice=invoice, action=DeliveryAction.PUSH
            )
            .order_by("-revision")
            .first()
        )
        if push is None or push.status == DeliveryStatus.FAILED:
            return f"Not in {spec.label}: nothing to void.", {}
        if push.status != DeliveryStatus.DONE:
            raise TryLater("The invoice's push has not finished yet; voiding after it.")
        if not push.external_id:
            return f"Never created in {spec.label}: nothing to void.", {}
        remote = spec.mapping.void(api, doc, push.external_id, request_id=delivery.idempotency_key)
        return f"Voided in {spec.label}.", {
            "external_id": remote.external_id,
            "external_number": remote.number,
            "their_status": remote.status,
        }
    if invoice.status == InvoiceStatus.VOID and delivery.attempts <= 1:
        return "Voided before it was pushed; not sent.", {}
    remote = None
    if delivery.attempts > 1:
        # A retry: the last attempt may have created it before failing to record it.
        remote = spec.mapping.find(api, doc)
    adopted = remote is not None
    if remote is None:
        remote = spec.mapping.push(
            api,
            doc,
            org_id=invoice.organization_id,
            request_id=delivery.idempotency_key,
            income_codes=_income_codes(doc),
        )
    face = -1 if invoice.total < 0 else 1
    fields = {
        "external_id": remote.external_id,
        "external_number": remote.number,
        "their_total": remote.total * face if remote.total is not None else None,
        "their_status": remote.status,
        "our_total": invoice.total,
    }
    what = "credit note" if invoice.kind == InvoiceKind.CREDIT_NOTE else "invoice"
    summary = (
        f"Found {what} {remote.number or remote.external_id} already in {spec.label}."
        if adopted
        else f"Created {what} {remote.number or remote.external_id} in {spec.label}."
    )
    if fields["their_total"] is not None and fields["their_total"] != invoice.total:
        summary += (
            f" Their total {fields['their_total']} differs from ours {invoice.total} "
            f"{invoice.currency}."
        )
    return summary, fields


def _fail(delivery: Delivery, message: str, http_status: int | None = None) -> RunResult:
    _finish(
        delivery,
        outcome=AttemptOutcome.FAILED,
        message=message,
        http_status=http_status,
        status=DeliveryStatus.FAILED,
        last_error=message,
    )
    return RunResult(status=DeliveryStatus.FAILED)


def delivery_run(*, delivery_id: int) -> RunResult:
    """One attempt at a delivery (the task's body). Outcomes: done; pending again with a
    retry time (throttled, server or network error); failed (refused by the provider,
    grant broken, or out of attempts). Never raises for a provider's answer."""
    now = timezone.now()
    delivery = _claim(delivery_id, now)
    if delivery is None:
        current = Delivery.objects.filter(pk=delivery_id).values_list("status", flat=True).first()
        return RunResult(status=current or "missing")
    spec = provider(delivery.connection.provider)
    try:
        if not delivery.connection.is_active:
            raise GrantBroken(f"{delivery.connection} is not connected; reconnect it and retry.")
        with spec.client(delivery.connection) as api:
            summary, fields = _perform(delivery, spec, api)
    except TryLater as exc:
        if delivery.attempts >= settings.INTEGRATIONS_MAX_ATTEMPTS:
            message = f"{exc.message} Gave up after {delivery.attempts} attempts."
            return _fail(delivery, message, exc.http_status)
        wait = exc.retry_after if exc.retry_after is not None else _backoff(delivery.attempts)
        _finish(
            delivery,
            outcome=AttemptOutcome.RETRY,
            message=exc.message,
            http_status=exc.http_status,
            status=DeliveryStatus.PENDING,
            last_error=exc.message,
            next_attempt_at=timezone.now() + dt.timedelta(seconds=wait),
        )
        return RunResult(status=DeliveryStatus.PENDING, retry_in=wait)
    except (Refused, GrantBroken) as exc:
        return _fail(delivery, exc.message, exc.http_status)
    except ValidationError as exc:  # e.g. a token the configured keys cannot read
        return _fail(delivery, "; ".join(exc.messages))
    except Exception as exc:
        logger.exception("delivery %s failed unexpectedly", delivery_id)
        return _fail(
            delivery, f"Unexpected error ({exc.__class__.__name__}: {exc}); retry from the log."
        )
    _finish(
        delivery,
        outcome=AttemptOutcome.OK,
        message=summary,
        status=DeliveryStatus.DONE,
        last_error="",
        summary=summary[:300],
        done_at=timezone.now(),
        **fields,
    )
    return RunResult(status=DeliveryStatus.DONE)


def deliveries_due(*, now: dt.datetime | None = None, limit: int = 500) -> list[Delivery]:
    """Queue (again) what is due: pending deliveries whose retry time came, running ones
    whose lease ran out (their worker died). One queued less than
    ``INTEGRATIONS_REQUEUE_AFTER`` ago is left to its task, unless it was queued before
    its retry time (a retry waiting for its time)."""
    now = now or timezone.now()
    fresh = now - dt.timedelta(seconds=settings.INTEGRATIONS_REQUEUE_AFTER)
    not_queued = Q(queued_at__isnull=True) | Q(queued_at__lt=fresh)
    pending = (
        Q(status=DeliveryStatus.PENDING)
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        & (not_queued | Q(queued_at__lt=F("next_attempt_at")))
    )
    abandoned = Q(status=DeliveryStatus.RUNNING, lease_until__lt=now) & not_queued
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(pending | abandoned)
            .order_by("next_attempt_at", "pk")[:limit]
        )
        _enqueue(rows)
    return rows


# --- Payment sync -------------------------------------------------------------------


@dataclass(frozen=True)
class SyncResult:
    recorded: int
    removed: int
    problems: list[str]


def _sync_one(connection: Connection, remote, invoice_id: int | None) -> tuple[int, int, str]:
    from invoices.services import payment_delete, payment_record

    with transaction.atomic():
        seen = (
            SyncedPayment.objects.select_for_update()
            .filter(connection=connection, external_id=remote.external_id)
            .first()
        )
        if remote.deleted:
            if seen is None or seen.payment_id is None:
                return 0, 0, ""
            payment = seen.payment
            payment_delete(payment=payment)
            return 0, 1, ""
        if seen is not None:
            return 0, 0, ""
        if invoice_id is None:
            return 0, 0, ""  # a payment of an invoice that did not come from here
        try:
            with transaction.atomic():
                payment = payment_record(
                    invoice=Invoice(pk=invoice_id),
                    amount=remote.amount,
                    received_on=remote.received_on,
                    method=PaymentMethod.OTHER,
                    reference=remote.reference[:120],
                )
                SyncedPayment.objects.create(
                    tenant_id=connection.tenant_id,
                    connection=connection,
                    external_id=remote.external_id,
                    payment=payment,
                )
        except ValidationError as exc:
            number = Invoice.objects.filter(pk=invoice_id).values_list("number", flat=True).first()
            return (
                0,
                0,
                f"{number}: payment {remote.amount} not recorded ({'; '.join(exc.messages)})",
            )
        except IntegrityError:
            return 0, 0, ""  # recorded meanwhile by a sync running beside this one
    return 1, 0, ""


def _note_their_status(connection: Connection, invoice_ids: set[int]) -> None:
    """After a sync, the pushes of the invoices paid there show it ("paid", "partly
    paid"), so the log compares our status with theirs."""
    if not invoice_ids:
        return
    statuses = dict(Invoice.objects.filter(pk__in=invoice_ids).values_list("pk", "status"))
    for status, words in (
        (InvoiceStatus.PAID, "paid"),
        (InvoiceStatus.PARTIALLY_PAID, "partly paid"),
    ):
        ids = [pk for pk, current in statuses.items() if current == status]
        if ids:
            Delivery.objects.filter(
                connection=connection,
                action=DeliveryAction.PUSH,
                invoice_id__in=ids,
                status=DeliveryStatus.DONE,
            ).update(their_status=words)


def payments_sync_request(*, connection: Connection) -> Connection:
    """Queue a payment sync of an active connection after commit."""
    from .tasks import payments_sync_task

    if not connection.is_active:
        raise ValidationError({"connection": f"{connection} is not connected; reconnect it first."})
    if connection.provider not in ACCOUNTING_PROVIDERS:
        raise ValidationError({"connection": f"{connection} has no payments to read."})
    pair = (connection.tenant_id, connection.pk)
    transaction.on_commit(lambda: payments_sync_task.delay(*pair), robust=True)
    return connection


def payments_sync(*, connection: Connection) -> SyncResult:
    """Read payments made in the other system since the last sync and record each one
    here once (``SyncedPayment``); a payment deleted there is removed here. The run is
    logged as a delivery with one attempt."""
    started = timezone.now()
    connection = Connection.objects.get(pk=connection.pk)
    delivery = Delivery.objects.create(
        tenant_id=connection.tenant_id,
        connection=connection,
        action=DeliveryAction.SYNC,
        status=DeliveryStatus.RUNNING,
        attempts=1,
        lease_until=started + _lease(),
    )
    DeliveryAttempt.objects.create(
        tenant_id=connection.tenant_id, delivery=delivery, number=1, started_at=started
    )
    spec = provider(connection.provider)
    since = (connection.sync_cursor or connection.connected_at or started) - SYNC_OVERLAP
    try:
        if not connection.is_active:
            raise GrantBroken(f"{connection} is not connected.")
        with spec.client(connection) as api:
            remote_payments = spec.mapping.payments_since(api, since)
    except ProviderError as exc:
        _fail(delivery, exc.message, exc.http_status)
        return SyncResult(0, 0, [exc.message])
    ours = dict(
        Delivery.objects.filter(
            connection=connection,
            action=DeliveryAction.PUSH,
            status=DeliveryStatus.DONE,
            external_id__in={p.invoice_external_id for p in remote_payments},
        ).values_list("external_id", "invoice_id")
    )
    # What earlier syncs recorded, in one read: a sync that finds nothing new costs no
    # query per payment (``_sync_one`` checks again under a lock for the rest).
    seen = dict(
        SyncedPayment.objects.filter(
            connection=connection, external_id__in=[p.external_id for p in remote_payments]
        ).values_list("external_id", "payment_id")
    )

    def new_to_us(remote) -> bool:
        if remote.deleted:  # removed there: only a payment recorded here has to go
            return seen.get(remote.external_id) is not None
        return remote.external_id not in seen and remote.invoice_external_id in ours

    to_do = [remote for remote in remote_payments if new_to_us(remote)]
    recorded = removed = 0
    problems = []
    for remote in to_do:
        added, dropped, problem = _sync_one(
            connection, remote, ours.get(remote.invoice_external_id)
        )
        recorded += added
        removed += dropped
        if problem:
            problems.append(problem)
    _note_their_status(
        connection,
        {ours[p.invoice_external_id] for p in remote_payments if p.invoice_external_id in ours},
    )
    Connection.objects.filter(pk=connection.pk).update(
        sync_cursor=started, last_synced_at=timezone.now()
    )
    summary = f"{recorded} payment(s) recorded, {removed} removed, {len(remote_payments)} read."
    if problems:
        _fail(delivery, summary + " Not recorded: " + "; ".join(problems))
        Delivery.objects.filter(pk=delivery.pk).update(summary=summary)
    else:
        _finish(
            delivery,
            outcome=AttemptOutcome.OK,
            message=summary,
            status=DeliveryStatus.DONE,
            summary=summary,
            done_at=timezone.now(),
        )
    return SyncResult(recorded, removed, problems)
