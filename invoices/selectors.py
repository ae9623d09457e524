"""Reads of the invoices app, scoped to the current tenant through the default managers."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import (
    Case,
    DecimalField,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Abs, Coalesce, Greatest, Round
from django.utils import timezone

from billing_site.models import Organization
from billing_site.selectors import organization_payment_terms
from billing_site.tenancy import require_current_tenant
from contracts.models import TimeEntry
from sessions import selectors as session_selectors
from sessions.models import Host, HostGroup, RemoteSession

from .models import (
    AMOUNT,
    ISSUED_CREDIT_NOTE,
    RECEIVABLE,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    Payment,
    PdfStatus,
    SourceScope,
)
from .parties import bill_to_snapshot, seller_snapshot
from .pricing import PlannedSessionLine, plan_session_lines
from .totals import TaxRow, compute_totals

OPEN = "open"
OVERDUE = "overdue"
DUE_SOON = "due-soon"
EMAIL_FAILED = "email-failed"
# "receivable-<state>": an issued invoice in one of the receivables overview's states.
RECEIVABLE_STATE_PREFIX = "receivable-"
# "Due this week": today and the six days after it.
DUE_SOON_DAYS = 7
# A credit note counts once it is numbered; a void one credits nothing.
ISSUED_NOTE = ISSUED_CREDIT_NOTE
MONEY = DecimalField(**AMOUNT)


def _credited_subquery() -> Subquery:
    """The issued credit notes' total of the invoice in the outer query. A note's face
    value is what it credits, whichever sign it was stored with (as the exports read it)."""
    notes = (
        Invoice.objects.filter(ISSUED_NOTE, credited_invoice=OuterRef("pk"))
        .order_by()
        .values("credited_invoice")
        .annotate(amount=Sum(Abs("total")))
        .values("amount")
    )
    return Subquery(notes, output_field=MONEY)


def with_balance(queryset: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """Annotate ``credited_amount`` (issued credit notes' total) and ``balance`` (what is
    still owed) on every row, in one subquery: no query per row.

    ``balance`` is ``models.balance_of`` in SQL — total − payments − credits applied,
    never below zero — for receivables only (an issued invoice); a credit note, a draft
    and a void invoice have 0. ``Invoice.balance_due`` gives the same figure for one
    instance (it reads ``credited_amount`` when annotated). Amounts are stored with 3
    places, so rounding the difference to 3 places is exact on PostgreSQL and removes
    SQLite's floating-point residue before it is compared with zero.
    """
    credited = Coalesce(_credited_subquery(), Value(0), output_field=MONEY)
    owed = Round(F("total") - F("amount_paid") - F("credited_amount"), 3, output_field=MONEY)
    return queryset.annotate(credited_amount=credited).annotate(
        balance=Case(
            When(RECEIVABLE, then=Greatest(owed, Value(0), output_field=MONEY)),
            default=Value(0),
            output_field=MONEY,
        )
    )


def open_receivables(queryset: QuerySet[Invoice] | None = None) -> QuerySet[Invoice]:
    """Receivables with a balance left (annotated by ``with_balance``): what the
    dashboard's "open" totals and the "open" filter count. Never a credit note."""
    queryset = Invoice.objects.all() if queryset is None else queryset
    if "balance" not in queryset.query.annotations:
        queryset = with_balance(queryset)
    return queryset.filter(RECEIVABLE, balance__gt=0)


def overdue_receivables(
    queryset: QuerySet[Invoice] | None = None, *, today: dt.date | None = None
) -> QuerySet[Invoice]:
    """Open receivables past their due date (in the tenant's calendar)."""
    return open_receivables(queryset).filter(due_date__lt=today or tenant_today())


def due_soon_filter(today: dt.date) -> Q:
    return Q(due_date__gte=today, due_date__lt=today + dt.timedelta(days=DUE_SOON_DAYS))


def due_soon_receivables(
    queryset: QuerySet[Invoice] | None = None, *, today: dt.date | None = None
) -> QuerySet[Invoice]:
    """Open receivables falling due this week (today included)."""
    return open_receivables(queryset).filter(due_soon_filter(today or tenant_today()))


def email_failed(queryset: QuerySet[Invoice] | None = None) -> QuerySet[Invoice]:
    """Invoices whose latest e-mail (invoice or reminder) was refused or could not be
    written: the customer may not have what they owe in hand."""
    from .emails.models import EmailStatus, InvoiceEmail

    queryset = Invoice.objects.all() if queryset is None else queryset
    latest = (
        InvoiceEmail.objects.filter(invoice=OuterRef("pk"))
        .exclude(status=EmailStatus.CANCELLED)
        .order_by("-created_at", "-id")
        .values("status")[:1]
    )
    return queryset.annotate(latest_email_status=Subquery(latest)).filter(
        latest_email_status=EmailStatus.FAILED
    )


def attach_credited(invoices: list[Invoice]) -> None:
    """Set ``credited_amount`` on invoices that lack it, in one query for all of them."""
    missing = {
        invoice.pk: invoice
        for invoice in invoices
        if invoice.__dict__.get("credited_amount") is None
        and invoice.kind == InvoiceKind.INVOICE
        and invoice.status != InvoiceStatus.DRAFT
    }
    if not missing:
        return
    rows = (
        Invoice.objects.filter(ISSUED_NOTE, credited_invoice__in=list(missing))
        .order_by()
        .values("credited_invoice")
        .annotate(amount=Sum(Abs("total")))
    )
    found = {row["credited_invoice"]: row["amount"] for row in rows}
    for pk, invoice in missing.items():
        invoice.credited_amount = found.get(pk, Decimal("0"))


def invoice_credited_total(*, invoice: Invoice) -> Decimal:
    """What issued credit notes took off ``invoice`` (``Invoice.credited_total``)."""
    return invoice.credited_total


def invoice_balance_due(*, invoice: Invoice) -> Decimal:
    """What the customer still owes (``Invoice.balance_due``): total − paid − credited,
    never below zero; nothing for a credit note, a draft or a void invoice."""
    return invoice.balance_due


def invoice_is_credited(*, invoice: Invoice) -> bool:
    """Derived: an unpaid invoice whose credit notes cover its total."""
    return invoice.is_credited


def invoice_credited_quantities(*, invoice: Invoice) -> dict[int, Decimal]:
    """Quantity already credited per line of ``invoice`` by its issued credit notes."""
    rows = (
        InvoiceLine.objects.filter(credited_line__invoice=invoice)
        .exclude(invoice__status__in=[InvoiceStatus.DRAFT, InvoiceStatus.VOID])
        .values("credited_line")
        .annotate(quantity=Sum("quantity"))
        .order_by()
    )
    return {row["credited_line"]: row["quantity"] for row in rows}


def tenant_today() -> dt.date:
    """Today in the current tenant's zone (issue dates, overdue)."""
    return timezone.localdate(timezone=require_current_tenant().zone)


def invoice_list(
    *,
    status: str = "",
    organization: Organization | int | None = None,
    search: str = "",
    number: str = "",
    issued_from: dt.date | None = None,
    issued_to: dt.date | None = None,
) -> QuerySet[Invoice]:
    """Invoices of the tenant, newest first. ``status`` may also be "open" (a balance is
    left) or "overdue" (and past its due date), both derived from the balance, so a
    credit note is never among them. Each row carries ``credited_amount`` and
    ``balance`` (``with_balance``)."""
    queryset = with_balance(Invoice.objects.select_related("organization", "credited_invoice"))
    if status == OPEN:
        queryset = open_receivables(queryset)
    elif status == OVERDUE:
        queryset = overdue_receivables(queryset)
    elif status == DUE_SOON:
        queryset = due_soon_receivables(queryset)
    elif status == EMAIL_FAILED:
        queryset = email_failed(queryset)
    elif status.startswith(RECEIVABLE_STATE_PREFIX):
        from .receivables.selectors import with_receivable_state

        queryset = with_receivable_state(
            queryset, state=status.removeprefix(RECEIVABLE_STATE_PREFIX)
        )
    elif status:
        queryset = queryset.filter(status=status)
    if organization:
        queryset = queryset.filter(organization=organization)
    if number:
        queryset = queryset.filter(number__iexact=number.strip())
    if search:
        queryset = queryset.filter(
            Q(number__icontains=search)
            | Q(bill_to_name__icontains=search)
            | Q(source_label__icontains=search)
        )
    if issued_from:
        queryset = queryset.filter(issue_date__gte=issued_from)
    if issued_to:
        queryset = queryset.filter(issue_date__lte=issued_to)
    return queryset.order_by("-created_at", "-id")


def invoice_detail_queryset() -> QuerySet[Invoice]:
    """Invoices with what the detail page, the API and the PDF print, in three queries."""
    return with_balance(
        Invoice.objects.select_related("tenant", "organization", "created_by", "credited_invoice")
    ).prefetch_related(
        Prefetch("lines", queryset=InvoiceLine.objects.order_by("position", "id")),
        "payments",
        Prefetch(
            "credit_notes",
            queryset=Invoice.objects.filter(ISSUED_NOTE).order_by("finalized_at", "id"),
            to_attr="issued_credit_notes",
        ),
    )


def invoice_get(*, pk: int) -> Invoice:
    """The invoice ``pk`` of the current tenant, lines and payments loaded; DoesNotExist else."""
    return invoice_detail_queryset().get(pk=pk)


def invoice_tax_breakdown(*, invoice: Invoice) -> tuple[TaxRow, ...]:
    """Tax per rate of ``invoice`` (uses prefetched lines when present)."""
    return compute_totals(invoice.lines.all(), invoice.currency).tax_rows


def invoice_overall_seconds(*, invoice: Invoice) -> int:
    """Worked time of the invoice's session lines (uses prefetched lines)."""
    return sum(
        line.worked_seconds or 0 for line in invoice.lines.all() if line.kind == LineKind.SESSION
    )


def invoice_time_entries(*, invoice: Invoice) -> dict[int, list[TimeEntry]]:
    """The time entries each line of the invoice bills, by line id, in the order worked.
    Each entry keeps the time it was billed and the part a pool covered, frozen when
    its line claimed it: the figures behind the line's hours. One query."""
    entries: dict[int, list[TimeEntry]] = defaultdict(list)
    for entry in (
        TimeEntry.objects.filter(invoice_line__invoice=invoice)
        .select_related("technician", "service_type")
        .order_by("work_date", "started_at", "id")
    ):
        entries[entry.invoice_line_id].append(entry)
    return dict(entries)


# --- Sessions to invoice -------------------------------------------------------------


@dataclass
class SessionScope:
    """The session, host or group an invoice is generated for, and who it bills."""

    scope: str
    object: RemoteSession | Host | HostGroup
    label: str
    organization: Organization | None


def session_scope_get(*, scope: str, object_id: int) -> SessionScope:
    """Resolve ``scope``/``object_id`` in the current tenant (DoesNotExist when unknown).

    Bill-to comes from the group's organization for a group, and from the host's
    organization (else its group's) for a host or one session.
    """
    if scope == SourceScope.SESSION:
        session = RemoteSession.objects.select_related(
            "host__organization", "host__group__organization"
        ).get(pk=object_id)
        host = session.host
        return SessionScope(scope, session, host.name, _host_organization(host))
    if scope == SourceScope.HOST:
        host = Host.objects.select_related("organization", "group__organization").get(pk=object_id)
        return SessionScope(scope, host, host.name, _host_organization(host))
    if scope == SourceScope.GROUP:
        group = HostGroup.objects.select_related("organization").get(pk=object_id)
        return SessionScope(scope, group, group.name, group.organization)
    raise ValueError(f"Unknown scope {scope!r}")


def _host_organization(host: Host) -> Organization | None:
    if host.organization is not None:
        return host.organization
    return host.group.organization if host.group is not None else None


def sessions_to_invoice(
    *,
    scope: str,
    object_id: int,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> QuerySet[RemoteSession]:
    """Sessions a session invoice may bill: ended, billable, unbilled, not logged as time.

    The sessions app's selector chooses the scope and the date range (calendar days in
    the tenant's zone, on the session start); ordered by host name, then start. A
    session logged as contract time (``time_entry``) is billed through its contract,
    never directly (DESIGN.md: a session reaches contract billing only as time).
    """
    return session_selectors.sessions_billable_for_scope(
        scope=scope, object_id=object_id, date_from=date_from, date_to=date_to
    ).filter(time_entry__isnull=True)


def session_not_billable_reason(*, session: RemoteSession) -> str:
    """Why one session cannot be put on a session invoice (empty when it can)."""
    if session.ended_at is None:
        return "This session is still running; stop it before invoicing it."
    if not session.billable:
        return "This session is marked non-billable."
    if session.invoice_line_id is not None:
        return "This session is already billed."
    if RemoteSession.objects.filter(pk=session.pk, time_entry__isnull=False).exists():
        return "This session is logged as contract time and is billed through its contract."
    return ""


@dataclass
class SessionInvoicePreview:
    """What "Generate invoice" will bill: the sessions, their lines and the suggestion."""

    target: SessionScope
    currency: str
    sessions: list[RemoteSession]
    lines: list[PlannedSessionLine] = field(default_factory=list)
    error: ValidationError | None = None  # why the sessions could not be priced

    @property
    def total_seconds(self) -> int:
        return sum(session.duration_seconds for session in self.sessions)

    @property
    def total_hours(self) -> Decimal:
        """The lines' quantities added up (each 4 places, from its session's seconds)."""
        return sum((line.hours for line in self.lines), Decimal("0"))

    @property
    def suggested_amount(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))

    @property
    def hourly_rates(self) -> list[Decimal]:
        return sorted({line.rate.amount for line in self.lines})


def session_invoice_currency(*, target: SessionScope) -> str:
    """The invoice's currency: the billed organization's, else the tenant's.

    Customers are invoiced in their own currency (as contracts will be); a rate in
    another currency is refused by the pricing rather than silently relabelled.
    """
    if target.organization is not None:
        return target.organization.currency
    return require_current_tenant().currency


def session_invoice_preview(
    *,
    scope: str,
    object_id: int,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> SessionInvoicePreview:
    """The sessions and priced lines of a session invoice, without writing anything.

    Raises DoesNotExist for an unknown session/host/group; a pricing problem (no rate
    in the invoice's currency) is returned in ``error`` so the form can show it.
    """
    target = session_scope_get(scope=scope, object_id=object_id)
    currency = session_invoice_currency(target=target)
    sessions = list(
        sessions_to_invoice(scope=scope, object_id=object_id, date_from=date_from, date_to=date_to)
    )
    preview = SessionInvoicePreview(target=target, currency=currency, sessions=sessions)
    try:
        preview.lines = plan_session_lines(sessions, currency=currency)
    except ValidationError as error:
        preview.error = error
    return preview


def session_invoice_defaults(*, target: SessionScope) -> dict[str, object]:
    """Seller block from the tenant, bill-to from the organization, terms from the
    organization or, when it has none, the tenant (``organization_payment_terms``)."""
    tenant = require_current_tenant()
    return {
        **seller_snapshot(tenant),
        **bill_to_snapshot(target.organization, name=target.label),
        **organization_payment_terms(organization=target.organization, tenant=tenant),
    }


# --- Payments and credit notes -------------------------------------------------------


def payment_list(
    *,
    invoice: Invoice | int | None = None,
    received_from: dt.date | None = None,
    received_to: dt.date | None = None,
    method: str = "",
) -> QuerySet[Payment]:
    """Payments of the tenant, newest first, with their invoice (one query)."""
    queryset = Payment.objects.select_related("invoice")
    if invoice:
        queryset = queryset.filter(invoice=invoice)
    if received_from:
        queryset = queryset.filter(received_on__gte=received_from)
    if received_to:
        queryset = queryset.filter(received_on__lte=received_to)
    if method:
        queryset = queryset.filter(method=method)
    return queryset.order_by("-received_on", "-id")


def credit_note_list() -> QuerySet[Invoice]:
    """Credit notes of the tenant with the invoice each credits, newest first."""
    return (
        Invoice.objects.filter(kind=InvoiceKind.CREDIT_NOTE)
        .select_related("organization", "credited_invoice")
        .order_by("-created_at", "-id")
    )


def invoice_creditable_lines(*, invoice: Invoice) -> list[tuple[InvoiceLine, Decimal]]:
    """Each line of ``invoice`` with the quantity still open to credit (prefetched lines)."""
    credited = invoice_credited_quantities(invoice=invoice)
    return [
        (line, line.quantity - credited.get(line.pk, Decimal("0"))) for line in invoice.lines.all()
    ]


# --- PDFs waiting to render ----------------------------------------------------------


def _pdf_stale(cutoff: dt.datetime) -> Q:
    """Pending PDFs last queued before ``cutoff`` (or never: pending before the sweep)."""
    return Q(pdf_status=PdfStatus.PENDING) & (
        Q(pdf_queued_at__lt=cutoff) | Q(pdf_queued_at__isnull=True)
    )


def invoices_pdf_stale(*, cutoff: dt.datetime) -> QuerySet[Invoice]:
    """Numbered invoices of the tenant whose pending PDF was last queued before ``cutoff``."""
    return Invoice.objects.filter(_pdf_stale(cutoff)).exclude(status=InvoiceStatus.DRAFT)


def tenant_ids_with_stale_pdfs_across_all_tenants(*, cutoff: dt.datetime) -> list[int]:
    """CROSS-TENANT: the ids of every tenant with a pending PDF last queued before
    ``cutoff``. Only for the sweep (a beat task, no request), which then works tenant by
    tenant inside ``tenant_context``; it reads no tenant's data, only which tenants to visit.
    """
    from billing_site.rls import cross_tenant

    with cross_tenant():
        return list(
            Invoice.all_tenants.filter(_pdf_stale(cutoff))
            .exclude(status=InvoiceStatus.DRAFT)
            .order_by("tenant_id")
            .values_list("tenant_id", flat=True)
            .distinct()
        )
