"""Invoice operations. Each is one transaction, keyword-only, and raises ValidationError
with field names, leaving nothing half-written.

Life (DESIGN.md, Invoice life): draft (editable, no number) -> final (numbered,
immutable, PDF) -> sent -> partially paid / paid; void. Items are billed through
their ``invoice_line`` column (see ``billing_site.billables``) and released on void or draft delete,
and by a credit note when the user chooses to release them.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import secrets
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from audit import services as audit
from billing_site import billables, line_text
from billing_site.models import User, validate_tax_rate
from billing_site.money import (
    largest_amount,
    minor_units,
    parse_decimal,
    quantize,
    quantize_unit_price,
)
from billing_site.services import sequence_take
from billing_site.tenancy import require_current_tenant
from billing_site.timeutils import check_date_range, to_zone
from sessions.models import RemoteSession

from . import selectors, words
from .models import (
    AMOUNT,
    QUANTITY,
    UNIT_PRICE,
    CreditDisposition,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceSource,
    InvoiceStatus,
    LineKind,
    Payment,
    PaymentMethod,
    PdfStatus,
    SourceScope,
)
from .parties import PARTY_FIELDS, snapshot_of
from .pricing import (
    SessionInvoicePlan,
    plan_session_invoice,
    plan_session_lines,
    session_invoice_tax,
)
from .signals import invoice_voided, invoices_finalized
from .totals import compute_totals, line_total

logger = logging.getLogger(__name__)

# Counter key and tenant prefix field per kind: credit notes have their own sequence.
NUMBERING = {
    InvoiceKind.INVOICE: ("invoice", "invoice_prefix"),
    InvoiceKind.CREDIT_NOTE: ("credit-note", "credit_note_prefix"),
}
VOIDABLE = (InvoiceStatus.FINAL, InvoiceStatus.SENT)
PAID_STATUSES = (InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.PAID)


def _locked(invoice: Invoice) -> Invoice:
    """The invoice re-read under a row lock: status checks see the committed state."""
    try:
        return Invoice.objects.select_for_update().get(pk=invoice.pk)
    except Invoice.DoesNotExist as exc:
        raise ValidationError({"invoice": "Invoice not found."}) from exc


def _enqueue_pdf(invoice: Invoice) -> None:
    _enqueue_pdf_of(tenant_id=invoice.tenant_id, invoice_id=invoice.pk)


def _enqueue_pdf_of(*, tenant_id: int, invoice_id: int) -> None:
    """Queue the render after commit. The pending state committed with it is the durable
    record: if this enqueue is lost (process killed, broker down), the sweep
    (``invoice_pdfs_requeue_stale``) queues it again."""
    from .tasks import invoice_render_pdf_task

    # robust: a broker hiccup after commit must not turn a saved invoice into an error
    # page; the invoice shows "rendering" and the sweep or "Render again" re-queues it.
    transaction.on_commit(lambda: invoice_render_pdf_task.delay(tenant_id, invoice_id), robust=True)


def _pdf_restart(*, invoice_id: int, now: dt.datetime) -> None:
    """Ask for a new PDF of the invoice's current content: a new version, pending from
    ``now`` (a render still running for the old version will not write its file)."""
    Invoice.objects.filter(pk=invoice_id).update(
        pdf_status=PdfStatus.PENDING,
        pdf_error="",
        pdf_version=F("pdf_version") + 1,
        pdf_pending_since=now,
        pdf_queued_at=now,
        pdf_attempts=0,
    )


# --- Totals and numbering ------------------------------------------------------------


@transaction.atomic
def invoice_totals_recompute(*, invoice: Invoice) -> Invoice:
    """Re-price a draft: each line amount = quantity × unit price (half-up to the
    currency), tax per rate on that rate's taxable lines rounded once, total = lines + tax.
    A final invoice is immutable, so its totals are never recomputed."""
    if invoice.status != InvoiceStatus.DRAFT:
        raise ValidationError({"status": "A final invoice is immutable; its totals are fixed."})
    lines = list(InvoiceLine.objects.filter(invoice=invoice).order_by("position", "id"))
    changed = []
    for line in lines:
        amount = line_total(line, invoice.currency)
        if line.amount != amount:
            line.amount = amount
            changed.append(line)
    if changed:
        InvoiceLine.objects.bulk_update(changed, ["amount"])
    totals = compute_totals(lines, invoice.currency)
    # Lines that each fit can add up past the amount column; refuse, never overflow.
    limit = _amount_limit(max(abs(totals.subtotal), abs(totals.total)), invoice.currency)
    if limit:
        raise ValidationError({"total": f"The invoice total would be more than {limit}."})
    invoice.subtotal = totals.subtotal
    invoice.tax_total = totals.tax_total
    invoice.total = totals.total
    invoice.save(update_fields=["subtotal", "tax_total", "total"])
    return invoice


@transaction.atomic
def invoice_finalize(*, invoice: Invoice) -> Invoice:
    """Draft -> final for one invoice (``invoices_finalize``: number, dates, totals, PDF)."""
    return invoices_finalize(invoices=[invoice])[0]


def _write_finals(invoices: list[Invoice], finalized_at) -> None:
    """Store number, status, dates, totals and PDF state of ``invoices`` (still drafts in
    the database) in one statement on PostgreSQL; every row must still be a draft."""
    tenant = require_current_tenant()
    if connection.vendor == "postgresql":
        # Identifiers are fixed; values are parameters.
        sql = (
            'UPDATE "invoices_invoice" AS t SET number = v.number, status = %s, '
            "issue_date = v.issue_date, due_date = v.due_date, subtotal = v.subtotal, "
            "tax_total = v.tax_total, total = v.total, finalized_at = %s, pdf_status = %s, "
            "pdf_error = '', pdf_version = t.pdf_version + 1, pdf_pending_since = %s, "
            "pdf_queued_at = %s, pdf_attempts = 0 "
            "FROM unnest(%s::bigint[], %s::varchar[], %s::date[], %s::date[], "
            "%s::numeric[], %s::numeric[], %s::numeric[]) "
            "AS v(id, number, issue_date, due_date, subtotal, tax_total, total) "
            "WHERE t.id = v.id AND t.tenant_id = %s AND t.status = %s"
        )
        params = [
            InvoiceStatus.FINAL,
            finalized_at,
            PdfStatus.PENDING,
            finalized_at,
            finalized_at,
            [i.pk for i in invoices],
            [i.number for i in invoices],
            [i.issue_date for i in invoices],
            [i.due_date for i in invoices],
            [i.subtotal for i in invoices],
            [i.tax_total for i in invoices],
            [i.total for i in invoices],
            tenant.pk,
            InvoiceStatus.DRAFT,
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            written = cursor.rowcount
    else:
        written = Invoice.objects.filter(
            pk__in=[i.pk for i in invoices], status=InvoiceStatus.DRAFT
        ).count()
        Invoice.objects.bulk_update(
            invoices,
            [
                "number",
                "status",
                "issue_date",
                "due_date",
                "subtotal",
                "tax_total",
                "total",
                "finalized_at",
                "pdf_status",
                "pdf_error",
                "pdf_version",
                "pdf_pending_since",
                "pdf_queued_at",
                "pdf_attempts",
            ],
            batch_size=500,
        )
    if written != len(invoices):
        raise ValidationError({"status": "Some invoices were finalised meanwhile."})


@transaction.atomic
def invoices_finalize(*, invoices: Sequence[Invoice]) -> list[Invoice]:
    """Draft -> final, for one invoice or a whole batch, numbered in the order given: the
    one finalisation (``invoice_finalize`` is this for a single invoice).

    In one transaction and a constant number of queries whatever the count: the drafts
    locked (each must still be a draft with lines), line amounts and totals recomputed
    (``line_total``, ``compute_totals``), one block of gapless numbers per kind taken from
    the tenant's counter for the year (``sequence_take``; credit notes count on their
    own, with the credit note prefix), issue date as set on the draft or today in the
    tenant's zone, due date as set or after the payment terms (never before the issue
    date; a credit note has none: nothing is payable on it), and each PDF rendered after
    commit. Any error raises a ValidationError and nothing is written.
    """
    order = [invoice.pk for invoice in invoices]
    if not order:
        return []
    tenant = require_current_tenant()
    locked = Invoice.objects.select_for_update().in_bulk(order)
    finals = []
    for pk in order:
        invoice = locked.get(pk)
        if invoice is None:
            raise ValidationError({"invoice": "Invoice not found."})
        if invoice.status != InvoiceStatus.DRAFT:
            raise ValidationError({"status": f"Invoice {invoice} is already {invoice.status}."})
        # A draft's dates are added to below (due = issue + terms).
        check_date_range(issue_date=invoice.issue_date, due_date=invoice.due_date)
        finals.append(invoice)

    lines_of: dict[int, list[InvoiceLine]] = defaultdict(list)
    for line in (
        InvoiceLine.objects.filter(invoice_id__in=order)
        .only("id", "invoice_id", "quantity", "unit_price", "amount", "taxable", "tax_rate")
        .order_by("position", "id")
    ):
        lines_of[line.invoice_id].append(line)
    changed = []
    today = timezone.localdate(timezone=tenant.zone)
    for invoice in finals:
        lines = lines_of.get(invoice.pk)
        if not lines:
            raise ValidationError({"lines": "An invoice without lines cannot be finalised."})
        for line in lines:
            amount = line_total(line, invoice.currency)
            if line.amount != amount:
                line.amount = amount
                changed.append(line)
        totals = compute_totals(lines, invoice.currency)
        invoice.subtotal = totals.subtotal
        invoice.tax_total = totals.tax_total
        invoice.total = totals.total
        # Dates chosen on the draft are kept; otherwise issued today, due after the terms.
        # A credit note is never a receivable: it has no due date.
        issue_date = invoice.issue_date or today
        if invoice.kind == InvoiceKind.CREDIT_NOTE:
            due_date = None
        else:
            due_date = invoice.due_date or issue_date + dt.timedelta(
                days=invoice.payment_terms_days
            )
        if due_date is not None and due_date < issue_date:
            raise ValidationError({"due_date": "The due date is before the issue date."})
        invoice.issue_date, invoice.due_date = issue_date, due_date
    if changed:
        InvoiceLine.objects.bulk_update(changed, ["amount"], batch_size=1000)

    by_kind: dict[str, list[Invoice]] = defaultdict(list)
    for invoice in finals:
        by_kind[invoice.kind].append(invoice)
    for kind, group in by_kind.items():
        key, prefix_field = NUMBERING[kind]
        first = sequence_take(key=f"{key}-{today.year}", tenant=tenant, count=len(group))
        prefix = getattr(tenant, prefix_field)
        for value, invoice in enumerate(group, start=first):
            invoice.number = f"{prefix}{today.year}-{value:05d}"

    finalized_at = timezone.now()
    for invoice in finals:
        invoice.status = InvoiceStatus.FINAL
        invoice.finalized_at = finalized_at
        invoice.pdf_status = PdfStatus.PENDING
        invoice.pdf_error = ""
        # Drafts are locked above and never rendered, so no render can race this bump.
        invoice.pdf_version += 1
        invoice.pdf_pending_since = invoice.pdf_queued_at = finalized_at
        invoice.pdf_attempts = 0
    _write_finals(finals, finalized_at)
    # One insert for the whole set (a batch's hundreds of invoices alike).
    who = audit.actor_of()
    audit.record_many(
        audit.entry(
            action=audit.Action.FINALIZE,
            target=invoice,
            before={"status": InvoiceStatus.DRAFT},
            after={
                "status": invoice.status,
                "number": invoice.number,
                "issue_date": invoice.issue_date,
                "due_date": invoice.due_date,
                "total": invoice.total,
                "currency": invoice.currency,
            },
            at=finalized_at,
            who=who,
        )
        for invoice in finals
    )
    _overdue_follow(
        invoice.credited_invoice_id for invoice in finals if invoice.credited_invoice_id
    )
    for invoice in finals:
        _enqueue_pdf(invoice)
    invoices_finalized.send(sender=Invoice, invoices=finals)
    return finals


def _overdue_follow(invoice_ids) -> None:
    """The overdue mark follows a payment, a credit note or a void at once."""
    from .receivables.services import overdue_refresh

    invoice_ids = list(invoice_ids)
    if invoice_ids:
        overdue_refresh(invoice_ids=invoice_ids)


# --- Void and delete -----------------------------------------------------------------


@transaction.atomic
def invoice_void(*, invoice: Invoice, reason: str) -> Invoice:
    """Final/sent -> void, with a reason; every item it billed becomes unbilled again.

    An invoice with payments cannot be voided (refund them or issue a credit note);
    a draft has no number and is deleted instead. The PDF is re-rendered marked VOID.
    """
    invoice = _locked(invoice)
    reason = (reason or "").strip()
    if invoice.status == InvoiceStatus.VOID:
        raise ValidationError({"status": f"Invoice {invoice} is already void."})
    if invoice.status == InvoiceStatus.DRAFT:
        raise ValidationError({"status": "A draft has no number: delete it instead of voiding."})
    if invoice.kind == InvoiceKind.CREDIT_NOTE:
        # Its items may have been released and billed again since: voiding the note
        # would bill them twice. A correction of a credit note is a new invoice.
        raise ValidationError({"status": "A credit note cannot be voided once issued."})
    credited = (
        Invoice.objects.filter(credited_invoice=invoice)
        .exclude(status__in=(InvoiceStatus.DRAFT, InvoiceStatus.VOID))
        .values_list("number", flat=True)
    )
    if credited:
        # Voiding would release items its credit notes wrote off, and leave the notes
        # crediting a void invoice.
        raise ValidationError(
            {
                "status": (
                    f"Invoice {invoice} has credit notes ({', '.join(credited)}), so it "
                    "cannot be voided. Credit the rest of it instead."
                )
            }
        )
    if invoice.status in PAID_STATUSES or invoice.payments.exists():
        raise ValidationError(
            {
                "status": (
                    f"Invoice {invoice} has payments recorded, so it cannot be voided. "
                    "Refund the payments or issue a credit note instead."
                )
            }
        )
    if invoice.status not in VOIDABLE:
        raise ValidationError({"status": f"A {invoice.status} invoice cannot be voided."})
    if not reason:
        raise ValidationError({"reason": "Say why the invoice is voided."})
    previous = copy.copy(invoice)
    billables.release_items(lines=InvoiceLine.objects.filter(invoice=invoice))
    invoice.status = InvoiceStatus.VOID
    invoice.voided_at = timezone.now()
    invoice.void_reason = reason
    invoice.save(update_fields=["status", "voided_at", "void_reason"])
    audit.record_changes(
        action=audit.Action.VOID,
        target=invoice,
        previous=previous,
        fields=["status", "voided_at", "void_reason"],
    )
    _overdue_follow([invoice.pk])
    # The printed content changed (VOID stamp): a new version, so a render of the old one
    # still running discards its file.
    _pdf_restart(invoice_id=invoice.pk, now=invoice.voided_at)
    invoice.refresh_from_db(fields=PDF_STATE_FIELDS)
    _enqueue_pdf(invoice)
    invoice_voided.send(sender=Invoice, invoice=invoice)
    return invoice


@transaction.atomic
def invoice_delete_draft(*, invoice: Invoice) -> int:
    """Delete a draft and its lines; the items it held return to unbilled.

    Returns how many items were released. Final invoices are never deleted (void them).
    """
    invoice = _locked(invoice)
    if invoice.status != InvoiceStatus.DRAFT:
        raise ValidationError({"status": "Only drafts can be deleted; void a final invoice."})
    released = billables.release_items(lines=InvoiceLine.objects.filter(invoice=invoice))
    InvoiceLine.objects.filter(invoice=invoice).delete()
    invoice.delete()
    return released


# --- Session invoices ----------------------------------------------------------------


def _parse_amount_due(value, currency: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValidationError({"amount_due": "Enter an amount such as 120.50."}) from exc
    if not amount.is_finite() or amount < 0:
        raise ValidationError({"amount_due": "The amount due cannot be negative."})
    limit = _amount_limit(amount, currency)
    if limit:
        raise ValidationError({"amount_due": f"The amount due is at most {limit}."})
    # Compared in range, so quantizing cannot overflow (1e25 raised InvalidOperation).
    if quantize(amount, currency) != amount:
        places = minor_units(currency)
        raise ValidationError(
            {"amount_due": f"{currency} amounts have {places} decimal place(s) at most."}
        )
    return quantize(amount, currency)


def _parse_tax_rate(value) -> Decimal | None:
    """A session invoice's tax rate (percent, 0 to 100, four places at most); None: the
    default rate."""
    if value is None or value == "":
        return None
    if isinstance(value, float):
        raise ValidationError({"tax_rate": "Give the tax rate as a decimal string, not a float."})
    try:
        rate = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError({"tax_rate": "Enter a tax rate such as 21 or 7.65."}) from exc
    try:
        validate_tax_rate(rate)
    except ValidationError as error:
        raise ValidationError({"tax_rate": error.messages}) from error
    return rate


def _validate_range(date_from: dt.date | None, date_to: dt.date | None) -> None:
    check_date_range(date_from=date_from, date_to=date_to)
    if date_from and date_to and date_from > date_to:
        raise ValidationError({"date_to": "The end of the date range is before its start."})


def _session_line(*, invoice, position, planned, zone, tax) -> InvoiceLine:
    session = planned.session
    start, end = to_zone(session.started_at, zone), to_zone(session.ended_at, zone)
    line = InvoiceLine(
        tenant=invoice.tenant,
        invoice=invoice,
        position=position,
        kind=LineKind.SESSION,
        facts=words.session_facts(
            session=session, zone=str(getattr(zone, "key", zone)), rate_source=planned.rate.source
        ),
        quantity=planned.hours,
        unit="h",
        unit_price=planned.rate.amount,
        amount=planned.amount,
        taxable=tax.taxable,
        tax_rate=tax.line_rate,
        started_at=session.started_at,
        ended_at=session.ended_at,
        worked_seconds=session.duration_seconds,
        billed_seconds=session.duration_seconds,
        # Its service period: the session's days in the tenant's calendar.
        period_start=start.date(),
        period_end=end.date(),
    )
    return _with_first_words(line)


def _with_first_words(line: InvoiceLine) -> InvoiceLine:
    """``line`` with its description and heading as first rendered from its facts (kept
    for lists and search; shown words are rendered from the facts)."""
    rendered = line.words
    line.description, line.group_label = rendered.description, rendered.group_label[:200]
    line.__dict__.pop("words", None)  # rendered again when shown
    return line


def _session_adjustment_line(
    *, invoice, position: int, plan: SessionInvoicePlan, agreed: Decimal, seconds: int
) -> InvoiceLine:
    """The line that brings a session invoice to the agreed amount due, taxed like the
    sessions (its amount is before tax)."""
    difference = plan.adjustment
    line = InvoiceLine(
        tenant=invoice.tenant,
        invoice=invoice,
        position=position,
        kind=LineKind.ADJUSTMENT,
        facts=words.session_adjustment_facts(
            suggested=plan.suggested,
            agreed=agreed,
            seconds=seconds,
            tax_rate=plan.tax.rate if plan.tax.taxable else None,
        ),
        quantity=Decimal("1"),
        unit_price=quantize_unit_price(difference),
        amount=difference,
        taxable=plan.tax.taxable,
        tax_rate=plan.tax.line_rate,
    )
    return _with_first_words(line)


@transaction.atomic
def session_invoice_create(
    *,
    scope: str,
    object_id: int,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    session_ids: Collection[int] | None = None,
    seller_name: str | None = None,
    seller_street: str | None = None,
    seller_city: str | None = None,
    seller_postcode: str | None = None,
    seller_region: str | None = None,
    seller_country: str | None = None,
    seller_tax_id: str | None = None,
    seller_email: str | None = None,
    seller_phone: str | None = None,
    bill_to_name: str | None = None,
    bill_to_street: str | None = None,
    bill_to_city: str | None = None,
    bill_to_postcode: str | None = None,
    bill_to_region: str | None = None,
    bill_to_country: str | None = None,
    bill_to_tax_id: str | None = None,
    bill_to_email: str | None = None,
    bill_to_phone: str | None = None,
    payment_terms_days: int | None = None,
    payment_instructions: str | None = None,
    notes: str = "",
    amount_due: Decimal | str | None = None,
    taxable: bool | None = None,
    tax_rate: Decimal | str | None = None,
    created_by: User | None = None,
) -> Invoice:
    """Invoice the billable, unbilled sessions of one session, a host or a group, and
    finalise it (numbered; the PDF renders after commit).

    Guarantees: every session is billed at most once, also when two requests race —
    the sessions are locked (SELECT ... FOR UPDATE) and claimed with a conditional
    UPDATE ... WHERE invoice_line IS NULL; if fewer rows are claimed than selected,
    nothing is saved. With ``session_ids`` (the sessions the user saw) the selection
    must still be exactly those. One line per session; when ``amount_due`` differs from
    the suggested total, an adjustment line records the difference, so the lines
    always add up to the total. Details left as None default from the tenant (seller,
    payment terms) and the billed organization (bill-to).

    Tax: every line is taxable at ``tax_rate`` when ``taxable``; left out, the rate is
    the organization's, else the tenant's default, and taxable is yes when a rate is
    given, else the tenant's "session work is taxable" setting (``session_invoice_tax``).
    ``amount_due`` is the total tax included; the adjustment is taxed like the sessions.
    The figures are ``plan_session_invoice``'s, the same the form suggests.
    """
    if scope not in SourceScope.values:
        raise ValidationError({"scope": "Choose session, host or group."})
    _validate_range(date_from, date_to)
    tenant = require_current_tenant()
    try:
        target = selectors.session_scope_get(scope=scope, object_id=object_id)
    except (ObjectDoesNotExist, ValueError, TypeError) as exc:
        raise ValidationError({"id": f"No such {scope} in this account."}) from exc

    candidates = selectors.sessions_to_invoice(
        scope=scope, object_id=object_id, date_from=date_from, date_to=date_to
    )
    # Lock the rows (PostgreSQL): a concurrent invoice waits here, then sees them billed.
    sessions = list(candidates.select_for_update(of=("self",)))
    if not sessions:
        if scope == SourceScope.SESSION:
            reason = selectors.session_not_billable_reason(session=target.object)
        else:
            reason = f"{target.label} has no billable, unbilled sessions in this date range."
        raise ValidationError({"sessions": reason or "Nothing to invoice."})
    if session_ids is not None and {int(pk) for pk in session_ids} != {s.pk for s in sessions}:
        raise ValidationError(
            {
                "sessions": (
                    "The sessions changed since the form was shown (some were billed "
                    "meanwhile or added). Review the list and try again."
                )
            }
        )

    currency = selectors.session_invoice_currency(target=target)
    agreed = _parse_amount_due(amount_due, currency)
    tax = session_invoice_tax(
        organization=target.organization, taxable=taxable, rate=_parse_tax_rate(tax_rate)
    )
    plan = plan_session_invoice(
        plan_session_lines(sessions, currency=currency),
        currency=currency,
        tax=tax,
        amount_due=agreed,
    )
    planned = plan.lines

    defaults = selectors.session_invoice_defaults(target=target)
    given = {
        "seller_name": seller_name,
        "seller_street": seller_street,
        "seller_city": seller_city,
        "seller_postcode": seller_postcode,
        "seller_region": seller_region,
        "seller_country": seller_country,
        "seller_tax_id": seller_tax_id,
        "seller_email": seller_email,
        "seller_phone": seller_phone,
        "bill_to_name": bill_to_name,
        "bill_to_street": bill_to_street,
        "bill_to_city": bill_to_city,
        "bill_to_postcode": bill_to_postcode,
        "bill_to_region": bill_to_region,
        "bill_to_country": bill_to_country,
        "bill_to_tax_id": bill_to_tax_id,
        "bill_to_email": bill_to_email,
        "bill_to_phone": bill_to_phone,
        "payment_terms_days": payment_terms_days,
        "payment_instructions": payment_instructions,
    }
    details = {name: defaults[name] if value is None else value for name, value in given.items()}
    for name in ("seller_name", "bill_to_name"):
        details[name] = (details[name] or "").strip()
    for name in ("seller_country", "bill_to_country"):
        details[name] = (details[name] or "").strip().upper()
    local_days = [to_zone(s.started_at, tenant.zone).date() for s in sessions]
    invoice = Invoice(
        tenant=tenant,
        kind=InvoiceKind.INVOICE,
        status=InvoiceStatus.DRAFT,
        source=InvoiceSource.SESSIONS,
        organization=target.organization,
        currency=currency,
        locale=tenant.locale,
        source_scope=scope,
        source_object_id=target.object.pk,
        source_label=target.label,
        period_start=date_from or min(local_days),
        period_end=date_to or max(local_days),
        notes=notes,
        created_by=created_by,
        **details,
    )
    invoice.full_clean(
        exclude=["tenant", "organization", "created_by", "credited_invoice", "pdf"],
        validate_unique=False,
        validate_constraints=False,
    )
    invoice.save()

    lines = [
        _session_line(invoice=invoice, position=index, planned=line, zone=tenant.zone, tax=plan.tax)
        for index, line in enumerate(planned, start=1)
    ]
    if plan.adjustment is not None:
        lines.append(
            _session_adjustment_line(
                invoice=invoice,
                position=len(lines) + 1,
                plan=plan,
                agreed=agreed,
                seconds=sum(s.duration_seconds for s in sessions),
            )
        )
    lines = InvoiceLine.objects.bulk_create(lines)

    # Compare-and-set: claim only sessions still unbilled. The row locks make this
    # succeed on PostgreSQL; it is the guard wherever locks are not available.
    line_of = {
        planned_line.session.pk: line.pk
        for line, planned_line in zip(lines[: len(planned)], planned, strict=True)
    }
    now = timezone.now()
    claimed = billables.claim_items(
        RemoteSession,
        {pk: {"invoice_line_id": line_pk, "updated_at": now} for pk, line_pk in line_of.items()},
    )
    if claimed != len(sessions):
        raise ValidationError(
            {
                "sessions": (
                    "Some of these sessions were billed meanwhile by another invoice; "
                    "nothing was saved. Review the list and try again."
                )
            }
        )
    return invoice_finalize(invoice=invoice)


# --- PDF -----------------------------------------------------------------------------

PDF_STATE_FIELDS = [
    "pdf",
    "pdf_status",
    "pdf_error",
    "pdf_version",
    "pdf_pending_since",
    "pdf_queued_at",
    "pdf_attempts",
]
# A render that was started this many times for one version without finishing (the worker
# died each time: a poison pill redelivered by ``reject_on_worker_lost``) is marked failed.
PDF_MAX_RENDER_STARTS = 3


def invoice_pdf_render(*, invoice_id: int, before_store: Callable[[], None] | None = None) -> str:
    """Render the invoice's pending PDF and store it; returns the resulting pdf_status.

    Idempotent and safe to run twice at once (a redelivered task, the sweep, "Render
    again"): only a PENDING PDF is rendered, and the file is written by a conditional
    ``UPDATE ... WHERE pdf_status = 'pending' AND pdf_version = <the version read>``, so
    the first render of a version wins, a later one discards its file, and a render of a
    version that a void or "Render again" replaced meanwhile writes nothing. Payments and
    "sent" change neither, so they never make a render throw its result away. Only the PDF
    columns are written, never the whole row.

    A rendering error is recorded on the invoice (FAILED) rather than retried: it would
    fail again. Storage errors (OSError) propagate so the task can retry them.
    ``before_store`` runs between the render and the write (a seam for tests that commit
    a change there, as a concurrent request would).
    """
    from . import pdf

    # Not one transaction: the start is committed before the (long) render, so a worker
    # that dies mid-render leaves its count behind, and no row lock is held meanwhile.
    invoice = selectors.invoice_detail_queryset().get(pk=invoice_id)
    if invoice.status == InvoiceStatus.DRAFT or invoice.pdf_status != PdfStatus.PENDING:
        return invoice.pdf_status
    version = invoice.pdf_version
    started = Invoice.objects.filter(
        pk=invoice_id,
        pdf_status=PdfStatus.PENDING,
        pdf_version=version,
        pdf_attempts__lt=PDF_MAX_RENDER_STARTS,
    ).update(pdf_attempts=F("pdf_attempts") + 1)
    if not started:
        invoice_pdf_mark_failed(
            invoice_id=invoice_id,
            version=version,
            error=(
                f"The PDF render was started {PDF_MAX_RENDER_STARTS} times without "
                "finishing (the worker stopped each time). Render it again."
            ),
        )
        return Invoice.objects.values_list("pdf_status", flat=True).get(pk=invoice_id)
    try:
        try:
            content = pdf.render_invoice_pdf(invoice)
        except OSError:
            raise
        except Exception as exc:  # any rendering bug: show it on the invoice, don't loop
            logger.exception("Rendering the PDF of invoice %s failed", invoice_id)
            invoice_pdf_mark_failed(
                invoice_id=invoice_id, version=version, error=f"{exc.__class__.__name__}: {exc}"
            )
            return PdfStatus.FAILED
        if before_store is not None:
            before_store()
        return _invoice_pdf_store(invoice=invoice, version=version, content=content)
    except OSError:
        # A finished attempt that the task retries, not a worker lost mid-render: it does
        # not count towards the cap.
        Invoice.objects.filter(
            pk=invoice_id, pdf_status=PdfStatus.PENDING, pdf_version=version, pdf_attempts__gt=0
        ).update(pdf_attempts=F("pdf_attempts") - 1)
        raise


def _invoice_pdf_store(*, invoice: Invoice, version: int, content: bytes) -> str:
    """Write the rendered file, then claim the invoice's PDF columns for it if the version
    rendered is still the pending one; otherwise the file is removed again."""
    field = invoice.pdf.field
    storage = field.storage
    # Unguessable name: the file is only ever served through the permission-checked view.
    name = storage.save(
        field.generate_filename(invoice, f"{invoice.number}-{secrets.token_hex(8)}.pdf"),
        ContentFile(content),
    )
    with transaction.atomic():
        claim = Invoice.objects.filter(
            pk=invoice.pk, pdf_status=PdfStatus.PENDING, pdf_version=version
        )
        old_name = claim.select_for_update().values_list("pdf", flat=True).first()
        written = 0
        if old_name is not None:
            written = claim.update(
                pdf=name,
                pdf_status=PdfStatus.READY,
                pdf_error="",
                pdf_pending_since=None,
                pdf_queued_at=None,
                pdf_attempts=0,
            )
        if written and old_name and old_name != name:
            transaction.on_commit(lambda: storage.delete(old_name))
    if not written:
        storage.delete(name)  # another render won, or a newer version is queued
        return Invoice.objects.values_list("pdf_status", flat=True).get(pk=invoice.pk)
    return PdfStatus.READY


@transaction.atomic
def invoice_pdf_mark_failed(*, invoice_id: int, error: str, version: int | None = None) -> None:
    """Record a final rendering failure where users see it (the invoice page), if the PDF
    is still pending (for ``version``, when given): a ready one or a newer request wins."""
    pending = Invoice.objects.filter(pk=invoice_id, pdf_status=PdfStatus.PENDING)
    if version is not None:
        pending = pending.filter(pdf_version=version)
    pending.update(
        pdf_status=PdfStatus.FAILED,
        pdf_error=error[:2000],
        pdf_pending_since=None,
        pdf_queued_at=None,
    )


@dataclass(frozen=True)
class PdfRequest:
    """What "Render again" did: ``previous_status`` is the PDF's status before it, and
    ``new_version`` says whether a new version was asked for (a failed or ready PDF) or
    the pending one was queued again (a render still running for it is kept)."""

    invoice: Invoice
    previous_status: str
    new_version: bool


@transaction.atomic
def invoice_pdf_request(*, invoice: Invoice) -> PdfRequest:
    """Queue a fresh rendering of a numbered invoice's PDF ("Render again"): for a failed
    or ready PDF (a missing file) a new version; for a pending one (its task lost or
    stuck) the same version is queued again with a fresh start budget."""
    invoice = _locked(invoice)
    if invoice.status == InvoiceStatus.DRAFT:
        raise ValidationError({"status": "Drafts have no PDF; finalise the invoice first."})
    previous = invoice.pdf_status
    now = timezone.now()
    if previous == PdfStatus.PENDING:
        Invoice.objects.filter(pk=invoice.pk).update(pdf_queued_at=now, pdf_attempts=0)
    else:
        _pdf_restart(invoice_id=invoice.pk, now=now)
    invoice.refresh_from_db()
    _enqueue_pdf(invoice)
    return PdfRequest(
        invoice=invoice, previous_status=previous, new_version=previous != PdfStatus.PENDING
    )


@dataclass(frozen=True)
class PdfSweep:
    """What one sweep of a tenant did: the invoices whose render was queued again."""

    requeued: list[int]


# A sweep queues at most this many renders per tenant; the next sweep takes the rest.
PDF_SWEEP_LIMIT = 1000


def invoice_pdfs_requeue_stale(*, older_than: dt.timedelta) -> PdfSweep:
    """Queue again the render of every PDF of the current tenant that is pending and was
    last queued more than ``older_than`` ago (its task lost: a process killed between
    commit and enqueue, a broker down, a worker gone).

    Safe to run twice at once and next to the render tasks: each invoice is claimed by a
    conditional ``UPDATE ... WHERE pdf_status = 'pending' AND pdf_queued_at < cutoff``
    that moves ``pdf_queued_at`` to this sweep's instant, and only the rows that carry
    that instant afterwards are queued; a render queued twice writes once
    (``invoice_pdf_render``). Queued after commit.
    """
    now = timezone.now()
    stale = selectors.invoices_pdf_stale(cutoff=now - older_than)
    ids = list(stale.order_by("pk").values_list("pk", flat=True)[:PDF_SWEEP_LIMIT])
    if not ids:
        return PdfSweep(requeued=[])
    with transaction.atomic():
        stale.filter(pk__in=ids).update(pdf_queued_at=now)
        claimed = list(
            Invoice.objects.filter(
                pk__in=ids, pdf_status=PdfStatus.PENDING, pdf_queued_at=now
            ).values_list("pk", "tenant_id")
        )
        for pk, tenant_id in claimed:
            _enqueue_pdf_of(tenant_id=tenant_id, invoice_id=pk)
    if claimed:
        logger.warning("Queued %s stale PDF render(s) again", len(claimed))
    return PdfSweep(requeued=[pk for pk, _ in claimed])


# --- Draft editing -------------------------------------------------------------------

IMMUTABLE = "A final invoice is immutable — issue a credit note or void it."
# Kinds a user may add by hand; the others are made by billing from items.
MANUAL_LINE_KINDS = (
    LineKind.PRODUCT,
    LineKind.FEE,
    LineKind.TIME,
    LineKind.DISCOUNT,
    LineKind.ADJUSTMENT,
)
DRAFT_FIELDS = (
    *PARTY_FIELDS,
    "notes",
    "issue_date",
    "due_date",
    "payment_terms_days",
    "payment_instructions",
)
UNSET = object()


def _locked_draft(invoice: Invoice) -> Invoice:
    invoice = _locked(invoice)
    if invoice.status != InvoiceStatus.DRAFT:
        raise ValidationError({"status": IMMUTABLE})
    return invoice


def _decimal(value, field: str, *, places: int, max_digits: int, label: str) -> Decimal:
    """``value`` as a finite Decimal that fits a ``max_digits`` column with at most
    ``places`` decimals, checked before any rounding (``money.parse_decimal``)."""
    if isinstance(value, float):
        raise ValidationError({field: f"Give the {label} as a decimal string, not a float."})
    try:
        return parse_decimal(value, places=places, max_digits=max_digits, label=label)
    except ValidationError as error:
        raise ValidationError({field: error.messages}) from error


def _amount_limit(amount: Decimal, currency: str) -> str | None:
    """The limit ``amount`` goes past ("999999999999999.99 EUR"), or None when it fits an
    amount column."""
    largest = largest_amount(
        currency, max_digits=AMOUNT["max_digits"], places=AMOUNT["decimal_places"]
    )
    return f"{largest} {currency}" if abs(amount) > largest else None


@transaction.atomic
def invoice_update_draft(
    *,
    invoice: Invoice,
    seller_name: str | None = None,
    seller_street: str | None = None,
    seller_city: str | None = None,
    seller_postcode: str | None = None,
    seller_region: str | None = None,
    seller_country: str | None = None,
    seller_tax_id: str | None = None,
    seller_email: str | None = None,
    seller_phone: str | None = None,
    bill_to_name: str | None = None,
    bill_to_street: str | None = None,
    bill_to_city: str | None = None,
    bill_to_postcode: str | None = None,
    bill_to_region: str | None = None,
    bill_to_country: str | None = None,
    bill_to_tax_id: str | None = None,
    bill_to_email: str | None = None,
    bill_to_phone: str | None = None,
    notes: str | None = None,
    issue_date: dt.date | object | None = UNSET,
    due_date: dt.date | object | None = UNSET,
    payment_terms_days: int | None = None,
    payment_instructions: str | None = None,
) -> Invoice:
    """Change a draft's seller and bill-to blocks, notes, dates and payment terms.

    Arguments left as None (dates: left out) keep their value; dates may be cleared
    with None (then finalisation sets them). Refuses anything but a draft, a blank
    seller or bill-to name, a due date before the issue date, and invalid values;
    on any error nothing is saved.
    """
    invoice = _locked_draft(invoice)
    given = {
        "seller_name": seller_name,
        "seller_street": seller_street,
        "seller_city": seller_city,
        "seller_postcode": seller_postcode,
        "seller_region": seller_region,
        "seller_country": seller_country,
        "seller_tax_id": seller_tax_id,
        "seller_email": seller_email,
        "seller_phone": seller_phone,
        "bill_to_name": bill_to_name,
        "bill_to_street": bill_to_street,
        "bill_to_city": bill_to_city,
        "bill_to_postcode": bill_to_postcode,
        "bill_to_region": bill_to_region,
        "bill_to_country": bill_to_country,
        "bill_to_tax_id": bill_to_tax_id,
        "bill_to_email": bill_to_email,
        "bill_to_phone": bill_to_phone,
        "notes": notes,
        "payment_terms_days": payment_terms_days,
        "payment_instructions": payment_instructions,
    }
    changed = [name for name, value in given.items() if value is not None]
    for name in changed:
        value = given[name]
        value = value.strip() if isinstance(value, str) else value
        setattr(invoice, name, value.upper() if name.endswith("_country") else value)
    for name, value in (("issue_date", issue_date), ("due_date", due_date)):
        if value is not UNSET:
            setattr(invoice, name, value)
            changed.append(name)
    errors: dict[str, str] = {}
    for name in ("seller_name", "bill_to_name"):
        if not getattr(invoice, name):
            errors[name] = "This name is printed on the invoice; it cannot be blank."
    if not 0 <= int(invoice.payment_terms_days) <= 365:
        errors["payment_terms_days"] = "Payment terms are between 0 and 365 days."
    if invoice.issue_date and invoice.due_date and invoice.due_date < invoice.issue_date:
        errors["due_date"] = "The due date is before the issue date."
    if errors:
        raise ValidationError(errors)
    invoice.full_clean(
        exclude=[f.name for f in Invoice._meta.fields if f.name not in DRAFT_FIELDS],
        validate_unique=False,
        validate_constraints=False,
    )
    if changed:
        invoice.save(update_fields=sorted(set(changed)))
    return invoice


def _line_values(
    *,
    currency: str,
    kind: str,
    description: str,
    quantity,
    unit_price,
    taxable: bool,
    tax_rate,
) -> dict:
    """Validated line values. A discount is a negative amount: its unit price is stored
    negative whichever sign it was given as."""
    errors = {}
    values: dict = {}
    if kind not in LineKind.values:
        errors["kind"] = "Unknown line kind."
    values["description"] = (description or "").strip()
    if not values["description"]:
        errors["description"] = "Describe the line; it is printed on the invoice."
    for field, raw, column, label in (
        ("quantity", quantity, QUANTITY, "quantity"),
        ("unit_price", unit_price, UNIT_PRICE, "unit price"),
    ):
        try:
            values[field] = _decimal(
                raw,
                field,
                places=column["decimal_places"],
                max_digits=column["max_digits"],
                label=label,
            )
        except ValidationError as error:
            errors.update({field: error.message_dict[field][0]})
    try:
        values["tax_rate"] = _parse_tax_rate(tax_rate)
    except ValidationError as error:
        errors.update({"tax_rate": error.message_dict["tax_rate"][0]})
    else:
        if values["tax_rate"] is None:
            errors["tax_rate"] = "Enter a tax rate such as 21 or 7.65."
    if errors:
        raise ValidationError(errors)
    if values["quantity"] <= 0:
        errors["quantity"] = "The quantity must be more than zero."
    if kind == LineKind.DISCOUNT:
        values["unit_price"] = -abs(values["unit_price"])
        if values["unit_price"] == 0:
            errors["unit_price"] = "A discount needs an amount."
    elif kind != LineKind.ADJUSTMENT and values["unit_price"] < 0:
        errors["unit_price"] = "Use a discount or adjustment line for a negative amount."
    if errors:
        raise ValidationError(errors)
    values["kind"] = kind
    values["taxable"] = bool(taxable)
    values["unit_price"] = quantize_unit_price(values["unit_price"])
    values["amount"] = line_total(
        InvoiceLine(quantity=values["quantity"], unit_price=values["unit_price"]), currency
    )
    # Each factor fits its column, their product may not fit the amount's.
    limit = _amount_limit(values["amount"], currency)
    if limit:
        message = f"The line amount (quantity × unit price) is more than {limit}."
        raise ValidationError({"quantity": message, "unit_price": message})
    return values


@transaction.atomic
def invoice_line_add(
    *,
    invoice: Invoice,
    description: str,
    quantity: Decimal | str,
    unit_price: Decimal | str,
    kind: str = LineKind.PRODUCT,
    sku: str = "",
    unit: str = "",
    taxable: bool = False,
    tax_rate: Decimal | str = "0",
    group_label: str = "",
) -> InvoiceLine:
    """Add a line (product, fee, time, discount, adjustment) at the end of a draft and
    re-price it: amount = quantity × unit price (4 decimals) rounded half-up to the
    currency; totals recomputed. A discount is stored as a negative amount."""
    invoice = _locked_draft(invoice)
    if kind not in MANUAL_LINE_KINDS:
        raise ValidationError({"kind": "Choose product, fee, time, discount or adjustment."})
    values = _line_values(
        currency=invoice.currency,
        kind=kind,
        description=description,
        quantity=quantity,
        unit_price=unit_price,
        taxable=taxable,
        tax_rate=tax_rate,
    )
    last = InvoiceLine.objects.filter(invoice=invoice).order_by("-position").first()
    line = InvoiceLine(
        tenant=invoice.tenant,
        invoice=invoice,
        position=(last.position + 1) if last else 1,
        sku=(sku or "").strip(),
        unit=(unit or "").strip(),
        group_label=(group_label or "").strip(),
        facts=words.manual_facts(),
        **values,
    )
    line.full_clean(exclude=["tenant", "invoice", "credited_line"], validate_constraints=False)
    line.save()
    invoice_totals_recompute(invoice=invoice)
    return line


def _locked_line(line: InvoiceLine) -> tuple[Invoice, InvoiceLine]:
    invoice = _locked_draft(Invoice(pk=line.invoice_id))
    try:
        line = InvoiceLine.objects.get(pk=line.pk, invoice=invoice)
    except InvoiceLine.DoesNotExist as exc:
        raise ValidationError({"line": "This line is not on the invoice any more."}) from exc
    return invoice, line


@transaction.atomic
def invoice_line_update(
    *,
    line: InvoiceLine,
    description: str | None = None,
    quantity: Decimal | str | None = None,
    unit_price: Decimal | str | None = None,
    kind: str | None = None,
    sku: str | None = None,
    unit: str | None = None,
    taxable: bool | None = None,
    tax_rate: Decimal | str | None = None,
    group_label: str | None = None,
) -> InvoiceLine:
    """Change a line of a draft (arguments left as None keep their value) and re-price
    the invoice. A line made from billed items keeps its kind (its items stay on it)."""
    invoice, line = _locked_line(line)
    new_kind = line.kind if kind is None else kind
    if new_kind != line.kind and (
        new_kind not in MANUAL_LINE_KINDS or line.kind not in MANUAL_LINE_KINDS
    ):
        raise ValidationError({"kind": "Only hand-made lines change kind."})
    values = _line_values(
        currency=invoice.currency,
        kind=new_kind,
        description=line.description if description is None else description,
        quantity=line.quantity if quantity is None else quantity,
        unit_price=line.unit_price if unit_price is None else unit_price,
        taxable=line.taxable if taxable is None else taxable,
        tax_rate=line.tax_rate if tax_rate is None else tax_rate,
    )
    for name, value in values.items():
        setattr(line, name, value)
    for name, value in (("sku", sku), ("unit", unit), ("group_label", group_label)):
        if value is not None:
            setattr(line, name, value.strip())
    # A person's description or heading on a generated line is kept as typed.
    own = [
        name
        for name, value in (("description", description), ("group_label", group_label))
        if value is not None and getattr(line.words, name) != getattr(line, name)
    ]
    line.__dict__.pop("words", None)
    if own:
        line.facts = line_text.with_own_words(line.facts, *own)
    line.full_clean(exclude=["tenant", "invoice", "credited_line"], validate_constraints=False)
    line.save()
    invoice_totals_recompute(invoice=invoice)
    return line


@transaction.atomic
def invoice_line_delete(*, line: InvoiceLine) -> int:
    """Remove a line from a draft; the items it billed return to unbilled and the totals
    are recomputed. Returns how many items were released."""
    invoice, line = _locked_line(line)
    released = billables.release_items(lines=InvoiceLine.objects.filter(pk=line.pk))
    line.delete()
    invoice_totals_recompute(invoice=invoice)
    return released


# --- Status --------------------------------------------------------------------------


@transaction.atomic
def invoice_mark_sent(*, invoice: Invoice) -> Invoice:
    """Final -> sent (delivered to the customer). Nothing else about it changes."""
    invoice = _locked(invoice)
    if invoice.kind != InvoiceKind.INVOICE:
        raise ValidationError({"status": "Credit notes are not sent for payment."})
    if invoice.status == InvoiceStatus.DRAFT:
        raise ValidationError({"status": "Finalise the draft before sending it."})
    if invoice.status != InvoiceStatus.FINAL:
        raise ValidationError({"status": f"Invoice {invoice} is already {invoice.status}."})
    invoice.status = InvoiceStatus.SENT
    invoice.save(update_fields=["status"])
    return invoice


# --- Payments ------------------------------------------------------------------------

PAYABLE = (InvoiceStatus.FINAL, InvoiceStatus.SENT, InvoiceStatus.PARTIALLY_PAID)
# What the audit log records of a payment.
PAYMENT_FIELDS = ("amount", "received_on", "method", "reference")


def _settle(invoice: Invoice) -> None:
    """Status from the balance (``Invoice.balance_due``: total − paid − credited): paid
    when something was paid and nothing is left, partially paid when something was
    paid and a balance is left; an unpaid invoice is sent (a payment or its reversal
    only happens to an invoice the customer has). An unpaid invoice covered by credit
    notes keeps its status and shows as credited."""
    if invoice.amount_paid <= 0:
        if invoice.status in PAID_STATUSES:
            invoice.status = InvoiceStatus.SENT
    elif invoice.balance_due <= 0:
        invoice.status = InvoiceStatus.PAID
    else:
        invoice.status = InvoiceStatus.PARTIALLY_PAID


@transaction.atomic
def payment_record(
    *,
    invoice: Invoice,
    amount: Decimal | str,
    received_on: dt.date,
    method: str,
    reference: str = "",
    created_by: User | None = None,
) -> Payment:
    """Record money received against a final, sent or partially paid invoice.

    The amount is more than zero, in the currency's minor unit (2 places for EUR, 0 for
    JPY, 3 for KWD) and at most the balance due (total − paid − credited). The
    invoice's amount paid and status follow: partially paid, then paid.
    """
    invoice = _locked(invoice)
    if invoice.kind != InvoiceKind.INVOICE:
        raise ValidationError({"invoice": "Payments are recorded on invoices, not credit notes."})
    if invoice.status not in PAYABLE:
        reason = {
            InvoiceStatus.DRAFT: "Finalise the draft before recording a payment.",
            InvoiceStatus.VOID: "A void invoice takes no payments.",
            InvoiceStatus.PAID: f"Invoice {invoice} is already paid in full.",
        }.get(invoice.status, f"A {invoice.status} invoice takes no payments.")
        raise ValidationError({"invoice": reason})
    errors = {}
    try:
        value = _decimal(
            amount, "amount", places=3, max_digits=AMOUNT["max_digits"], label="amount"
        )
    except ValidationError as error:
        errors.update(error.message_dict)
        value = None
    currency = invoice.currency
    balance = invoice.balance_due
    if value is not None:
        if quantize(value, currency) != value:
            places = minor_units(currency)
            errors["amount"] = f"{currency} amounts have {places} decimal place(s) at most."
        elif value <= 0:
            errors["amount"] = "The amount must be more than zero."
        elif value > balance:
            errors["amount"] = (
                f"The amount is more than the balance due ({quantize(balance, currency)} "
                f"{currency})."
            )
    if method not in PaymentMethod.values:
        errors["method"] = "Choose how the payment was received."
    if not isinstance(received_on, dt.date):
        errors["received_on"] = "Enter the day the payment was received."
    if errors:
        raise ValidationError(errors)
    payment = Payment(
        tenant=invoice.tenant,
        invoice=invoice,
        amount=quantize(value, currency),
        received_on=received_on,
        method=method,
        reference=(reference or "").strip(),
        created_by=created_by,
    )
    payment.full_clean(exclude=["tenant", "invoice", "created_by"], validate_constraints=False)
    payment.save()
    status_before = invoice.status
    invoice.amount_paid += payment.amount
    _settle(invoice)
    invoice.save(update_fields=["amount_paid", "status"])
    audit.record(
        action=audit.Action.CREATE,
        target=payment,
        before={"invoice_status": status_before},
        after={**audit.values(payment, PAYMENT_FIELDS), "invoice_status": invoice.status},
        parent=invoice,
    )
    _overdue_follow([invoice.pk])
    return payment


@transaction.atomic
def payment_delete(*, payment: Payment) -> Invoice:
    """Remove a payment recorded by mistake: the invoice's amount paid and status go back
    (paid -> partially paid -> sent)."""
    invoice = _locked(Invoice(pk=payment.invoice_id))
    try:
        payment = Payment.objects.get(pk=payment.pk, invoice=invoice)
    except Payment.DoesNotExist as exc:
        raise ValidationError({"payment": "This payment was already removed."}) from exc
    status_before = invoice.status
    recorded = audit.values(payment, PAYMENT_FIELDS)
    payment_id = payment.pk
    payment.delete()
    invoice.amount_paid -= payment.amount
    _settle(invoice)
    invoice.save(update_fields=["amount_paid", "status"])
    payment.pk = payment_id  # named in the log after the row is gone
    audit.record(
        action=audit.Action.DELETE,
        target=payment,
        before={**recorded, "invoice_status": status_before},
        after={"invoice_status": invoice.status},
        parent=invoice,
    )
    _overdue_follow([invoice.pk])
    return invoice


# --- Credit notes --------------------------------------------------------------------

CREDITABLE = (
    InvoiceStatus.FINAL,
    InvoiceStatus.SENT,
    InvoiceStatus.PARTIALLY_PAID,
    InvoiceStatus.PAID,
)


@transaction.atomic
def credit_note_create(
    *,
    invoice: Invoice,
    reason: str,
    credit_disposition: str,
    lines: Collection[tuple[int, Decimal | str]] | None = None,
    created_by: User | None = None,
) -> Invoice:
    """Issue a credit note for a numbered invoice, wholly (``lines=None``: what is left
    of every line) or by lines (``[(line_id, quantity), ...]``).

    ``credit_disposition`` is the user's choice for the items (time entries, sessions,
    period charges, block purchases) of the lines this note completes crediting:
    ``release`` unbills them so the next batch or session invoice bills them again;
    ``write_off`` leaves them billed by the credited line, so no contract shows them as
    unbilled. Items of a line credited only in part stay on it either way (an item
    cannot be split). The choice is stored on the note and shown with it.

    Guarantees: a line is never credited beyond its quantity (earlier credit notes
    count); the credit note copies the credited lines (same unit price, so its amounts
    are positive face values and a credited discount is negative), links them through
    ``credited_line`` and the note through ``credited_invoice``; the note is finalised
    at once with its own gapless number (``CN-<year>-00001``), no due date, and its PDF
    renders after commit; a paid or partly paid invoice's status follows its new
    balance. A draft or void invoice, or a credit note, cannot be credited; a missing
    or unknown disposition is refused before anything is written.
    """
    if credit_disposition not in CreditDisposition.values:
        raise ValidationError(
            {
                "credit_disposition": (
                    "Choose what happens to the credited items: release them to be billed "
                    "again, or write them off (they stay billed)."
                )
            }
        )
    invoice = _locked(invoice)
    if invoice.kind != InvoiceKind.INVOICE:
        raise ValidationError({"invoice": "A credit note cannot itself be credited."})
    if invoice.status == InvoiceStatus.DRAFT:
        raise ValidationError({"invoice": "A draft is edited or deleted, not credited."})
    if invoice.status not in CREDITABLE:
        raise ValidationError({"invoice": f"A {invoice.status} invoice cannot be credited."})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the invoice is credited."})

    invoice_lines = {line.pk: line for line in InvoiceLine.objects.filter(invoice=invoice)}
    credited = selectors.invoice_credited_quantities(invoice=invoice)

    def remaining(line: InvoiceLine) -> Decimal:
        return line.quantity - credited.get(line.pk, Decimal("0"))

    wanted: list[tuple[InvoiceLine, Decimal]] = []
    if lines is None:
        wanted = [
            (line, remaining(line))
            for line in sorted(invoice_lines.values(), key=lambda x: (x.position, x.pk))
            if remaining(line) > 0
        ]
        if not wanted:
            raise ValidationError({"lines": f"Invoice {invoice} is already credited in full."})
    else:
        seen = set()
        for raw_id, raw_quantity in lines:
            try:
                line = invoice_lines[int(raw_id)]
            except (KeyError, TypeError, ValueError) as exc:
                raise ValidationError({"lines": f"Line {raw_id} is not on {invoice}."}) from exc
            if line.pk in seen:
                raise ValidationError({"lines": f"Line {line.pk} is listed twice."})
            seen.add(line.pk)
            quantity = _decimal(
                raw_quantity, "lines", places=4, max_digits=QUANTITY["max_digits"], label="quantity"
            )
            if quantity <= 0:
                raise ValidationError({"lines": "Credit a quantity of more than zero."})
            if quantity > remaining(line):
                raise ValidationError(
                    {
                        "lines": (
                            f"“{line.description[:60]}”: {remaining(line).normalize()} of "
                            f"{line.quantity.normalize()} can still be credited, not "
                            f"{quantity.normalize()}."
                        )
                    }
                )
            wanted.append((line, quantity))
        if not wanted:
            raise ValidationError({"lines": "Choose at least one line to credit."})

    note = Invoice(
        tenant=invoice.tenant,
        kind=InvoiceKind.CREDIT_NOTE,
        status=InvoiceStatus.DRAFT,
        source=invoice.source,
        organization=invoice.organization,
        credited_invoice=invoice,
        currency=invoice.currency,
        locale=invoice.locale,
        **snapshot_of(invoice),
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        payment_terms_days=0,
        notes=reason,
        credit_disposition=credit_disposition,
        created_by=created_by,
    )
    note.save()
    fully_credited = {
        line.pk
        for line, quantity in wanted
        if credited.get(line.pk, Decimal("0")) + quantity >= line.quantity
    }
    items = billables.items_billed_per_line(
        lines=InvoiceLine.objects.filter(pk__in=[line.pk for line, _ in wanted])
    )
    copies = []
    for position, (line, quantity) in enumerate(wanted, start=1):
        whole = quantity == line.quantity
        copies.append(
            InvoiceLine(
                tenant=invoice.tenant,
                invoice=note,
                position=position,
                kind=line.kind,
                description=line.description,
                sku=line.sku,
                quantity=quantity,
                unit=line.unit,
                unit_price=line.unit_price,
                amount=line_amount_of(quantity, line.unit_price, invoice.currency),
                taxable=line.taxable,
                tax_rate=line.tax_rate,
                started_at=line.started_at,
                ended_at=line.ended_at,
                worked_seconds=line.worked_seconds if whole else None,
                billed_seconds=line.billed_seconds if whole else None,
                period_start=line.period_start,
                period_end=line.period_end,
                group_label=line.group_label,
                credited_line=line,
                facts=words.credit_facts(
                    line=line,
                    invoice_number=invoice.number,
                    items=items.get(line.pk, 0),
                    completed=line.pk in fully_credited,
                    disposition=credit_disposition,
                ),
            )
        )
    InvoiceLine.objects.bulk_create(copies)
    if fully_credited and credit_disposition == CreditDisposition.RELEASE:
        billables.release_items(lines=InvoiceLine.objects.filter(pk__in=fully_credited))
    note = invoice_finalize(invoice=note)
    status_before = invoice.status
    if invoice.amount_paid > 0:
        _settle(invoice)
        invoice.save(update_fields=["status"])
    audit.record(
        action=audit.Action.CREDIT,
        target=invoice,
        before={"status": status_before} if invoice.status != status_before else None,
        after={
            **({"status": invoice.status} if invoice.status != status_before else {}),
            "credit_note": note,
            "credit_total": note.total,
            "currency": note.currency,
            "lines": len(copies),
            "credit_disposition": credit_disposition,
            "reason": reason,
        },
    )
    return note


def line_amount_of(quantity: Decimal, unit_price: Decimal, currency: str) -> Decimal:
    return line_total(InvoiceLine(quantity=quantity, unit_price=unit_price), currency)
