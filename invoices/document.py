"""The invoice document: one read model of an invoice, for every place that shows it.

DESIGN.md, "The invoice document": an invoice stores structured facts (party
snapshots, lines with quantity, unit, price, SKU, tax rate, service period, source
items); the PDF, the API, the export files and, later, e-invoices read them from here,
so none of them reads the model's columns in its own way.

- ``invoice_documents(invoices)`` builds the documents of any number of invoices in a
  constant number of queries: the invoices (with the balance annotation), their lines,
  and one query per registered billable model for the lines' source items.
- Tax rows are ``invoices.totals.compute_totals`` over the stored lines: the one tax
  arithmetic (per invoice, per rate, rounded once). Each row and each line carries its
  EN 16931 tax category (UNCL 5305), derived by ``tax_category``, never stored.
- The balance due is ``Invoice.balance_due`` (the ``with_balance`` annotation when
  present, else ``attach_credited`` loads it for all invoices at once).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet, prefetch_related_objects
from django.utils import translation

from billing_site import billables
from billing_site.addresses import street_lines
from billing_site.line_text import line_words
from billing_site.tenancy import require_current_tenant

from .models import Invoice, InvoiceKind, InvoiceLine
from .parties import document_language, document_locale
from .selectors import attach_credited, with_balance
from .totals import compute_totals

# UNCL 5305 duty/tax/fee category codes used by EN 16931 (BT-118, BT-151).
STANDARD_RATE = "S"  # taxable, rate above zero
ZERO_RATED = "Z"  # taxable at 0 %
NOT_SUBJECT = "O"  # services outside the scope of tax


def tax_category(*, taxable: bool, rate: Decimal) -> str:
    """The UNCL 5305 category of a line: "S" taxable with a rate above zero, "Z" taxable
    at zero, "O" not subject to tax. The one derivation; the category is never stored."""
    if not taxable:
        return NOT_SUBJECT
    return STANDARD_RATE if Decimal(rate) > 0 else ZERO_RATED


@dataclass(frozen=True)
class Party:
    """A seller or bill-to as the invoice snapshot holds it."""

    legal_name: str
    street_lines: tuple[str, ...] = ()
    city: str = ""
    postcode: str = ""
    region: str = ""
    country_code: str = ""
    tax_id: str = ""
    email: str = ""
    phone: str = ""

    def country_name(self, locale: str) -> str:
        """The country's name in ``locale`` (Babel's territory names), else its code."""
        if not self.country_code:
            return ""
        from babel import Locale, UnknownLocaleError

        try:
            names = Locale.parse(locale).territories
        except (UnknownLocaleError, ValueError):
            names = Locale("en").territories
        return names.get(self.country_code, self.country_code)

    def address_lines(self, locale: str) -> tuple[str, ...]:
        """The address as printed: street lines, "<postcode> <city>", region, country."""
        locality = " ".join(part for part in (self.postcode, self.city) if part)
        parts = (*self.street_lines, locality, self.region, self.country_name(locale))
        return tuple(part for part in parts if part)


@dataclass(frozen=True)
class DocumentLine:
    """One invoice line: its facts, as stored, and its derived tax category."""

    id: int
    position: int
    kind: str
    description: str
    explanation: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal
    sku: str
    tax_rate: Decimal
    tax_category: str
    taxable: bool
    period_start: dt.date | None
    period_end: dt.date | None
    worked_seconds: int | None
    billed_seconds: int | None
    group_label: str = ""
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    # (billable label, item id) of the items the line bills, e.g. ("contracts.TimeEntry", 7);
    # empty when the document was read without them (the PDF prints none).
    source_items: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class TaxBreakdown:
    """Tax of one rate: ``rate`` percent of ``base`` (that rate's taxable lines)."""

    category: str
    rate: Decimal
    base: Decimal
    tax: Decimal


@dataclass(frozen=True)
class InvoiceDocument:
    """An invoice or credit note as every consumer reads it. Amounts are as stored (face
    values for a credit note); ``tax_rows`` are recomputed from the stored lines."""

    id: int
    number: str
    kind: str
    status: str
    currency: str
    locale: str
    issue_date: dt.date | None
    due_date: dt.date | None
    period_start: dt.date | None
    period_end: dt.date | None
    seller: Party
    bill_to: Party
    lines: tuple[DocumentLine, ...]
    tax_rows: tuple[TaxBreakdown, ...]
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    amount_paid: Decimal
    balance_due: Decimal
    credited_invoice_number: str
    payment_terms_days: int
    payment_instructions: str
    notes: str
    # The billed organization's company number (customer id in exports), if any.
    customer_number: str = ""

    @property
    def is_credit_note(self) -> bool:
        return self.kind == InvoiceKind.CREDIT_NOTE

    @property
    def language(self) -> str:
        """The document's one language (its labels' translation): "fr" for fr_FR."""
        return document_language(self.locale)


def document_date(value: dt.date | None, locale: str) -> str:
    """A date as the customer's copies print it (the PDF, the e-mail): the document
    locale's long format ("10 avril 2026", "April 10, 2026"); empty for none."""
    if value is None:
        return ""
    from babel.dates import format_date

    return format_date(value, "long", locale=locale)


def seller_party(invoice: Invoice) -> Party:
    """The seller snapshot of ``invoice`` (no query)."""
    return _party(invoice, "seller", phone=invoice.seller_phone)


def bill_to_party(invoice: Invoice) -> Party:
    """The bill-to snapshot of ``invoice`` (no query)."""
    return _party(invoice, "bill_to", phone=invoice.bill_to_phone)


def _party(invoice: Invoice, prefix: str, *, phone: str) -> Party:
    def value(name: str) -> str:
        return getattr(invoice, f"{prefix}_{name}") or ""

    return Party(
        legal_name=value("name"),
        street_lines=street_lines(value("street")),
        city=value("city"),
        postcode=value("postcode"),
        region=value("region"),
        country_code=value("country").upper(),
        tax_id=value("tax_id"),
        email=value("email"),
        phone=phone or "",
    )


def _source_items(invoice_ids: list[int]) -> dict[int, tuple[tuple[str, int], ...]]:
    """(label, id) of the items each line of the invoices bills, by line id: one query
    per registered billable model, whatever the number of invoices."""
    found: dict[int, list[tuple[str, int]]] = defaultdict(list)
    if not invoice_ids:
        return {}
    for kind in billables.billable_kinds():
        rows = (
            kind.model.objects.filter(invoice_line__invoice_id__in=invoice_ids)
            .order_by()
            .values_list("invoice_line_id", "id")
        )
        for line_id, item_id in rows:
            found[line_id].append((kind.label, item_id))
    return {line_id: tuple(sorted(items)) for line_id, items in found.items()}


def _document_line(line: InvoiceLine, sources: dict, invoice: Invoice, locale: str) -> DocumentLine:
    # The words in the document's locale, rendered from the line's facts (the caller has
    # its language active).
    words = line_words(line, currency=invoice.currency, locale=locale)
    return DocumentLine(
        id=line.pk,
        position=line.position,
        kind=line.kind,
        description=words.description,
        explanation=words.explanation,
        quantity=line.quantity,
        unit=line.unit,
        unit_price=line.unit_price,
        amount=line.amount,
        sku=line.sku,
        tax_rate=line.tax_rate,
        tax_category=tax_category(taxable=line.taxable, rate=line.tax_rate),
        taxable=line.taxable,
        period_start=line.period_start,
        period_end=line.period_end,
        worked_seconds=line.worked_seconds,
        billed_seconds=line.billed_seconds,
        group_label=words.group_label,
        started_at=line.started_at,
        ended_at=line.ended_at,
        source_items=sources.get(line.pk, ()),
    )


def _document(invoice: Invoice, sources: dict) -> InvoiceDocument:
    stored = list(invoice.lines.all())
    totals = compute_totals(stored, invoice.currency)
    organization = invoice.organization if invoice.organization_id else None
    # One language per document: the customer's, else the tenant's (``document_locale``).
    locale = document_locale(organization, invoice.locale)
    with translation.override(document_language(locale)):
        lines = tuple(_document_line(line, sources, invoice, locale) for line in stored)
    return InvoiceDocument(
        id=invoice.pk,
        number=invoice.number or "",
        kind=invoice.kind,
        status=invoice.status,
        currency=invoice.currency,
        locale=locale,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        seller=seller_party(invoice),
        bill_to=bill_to_party(invoice),
        lines=lines,
        tax_rows=tuple(
            TaxBreakdown(
                category=tax_category(taxable=True, rate=row.rate),
                rate=row.rate,
                base=row.base,
                tax=row.tax,
            )
            for row in totals.tax_rows
        ),
        subtotal=invoice.subtotal,
        tax_total=invoice.tax_total,
        total=invoice.total,
        amount_paid=invoice.amount_paid,
        balance_due=invoice.balance_due,
        credited_invoice_number=(
            invoice.credited_invoice.number or "" if invoice.credited_invoice_id else ""
        ),
        payment_terms_days=invoice.payment_terms_days,
        payment_instructions=invoice.payment_instructions,
        notes=invoice.notes,
        customer_number=organization.company_number if organization else "",
    )


def _lines() -> Prefetch:
    return Prefetch("lines", queryset=InvoiceLine.objects.order_by("position", "id"))


def invoice_documents(
    invoices: QuerySet[Invoice] | Iterable[Invoice], *, with_sources: bool = True
) -> list[InvoiceDocument]:
    """The documents of ``invoices`` (a queryset, re-scoped to the current tenant, or a
    list of the current tenant's invoices), in their order.

    A constant number of queries for any number of invoices: the invoices with their
    balance, organization and credited invoice (one query), their lines (one), the
    source items (one per registered billable model; none with ``with_sources=False``,
    for a reader that shows no items, such as the PDF). Already prefetched lines (a list
    from ``invoice_detail_queryset``) are not read again. A list holding another
    tenant's invoice is refused.
    """
    tenant = require_current_tenant()
    if isinstance(invoices, QuerySet):
        queryset = invoices.filter(tenant_id=tenant.pk)
        if "balance" not in queryset.query.annotations:
            queryset = with_balance(queryset)
        rows = list(
            queryset.select_related("organization", "credited_invoice")
            .prefetch_related(None)
            .prefetch_related(_lines())
        )
    else:
        rows = list(invoices)
        if any(invoice.tenant_id != tenant.pk for invoice in rows):
            raise ValidationError({"invoices": "Only the current tenant's invoices can be read."})
        missing = [
            row for row in rows if "lines" not in getattr(row, "_prefetched_objects_cache", {})
        ]
        prefetch_related_objects(rows, "organization", "credited_invoice")
        if missing:
            prefetch_related_objects(missing, _lines())
        attach_credited(rows)
    sources = _source_items([row.pk for row in rows]) if with_sources else {}
    return [_document(row, sources) for row in rows]


def line_tax_shares(document: InvoiceDocument) -> dict[int, Decimal]:
    """Each taxable line's share of its rate's tax, by line id (untaxed lines: none).

    The tax of a rate is the document's (once per rate, DESIGN.md); systems that want
    tax per line (Xero's TaxAmount, its CSV import) get it shared out here: each line
    its rounded part, and the largest line the rounding difference, so the shares of a
    rate always add up to that rate's tax to the cent.
    """
    from billing_site.money import quantize

    shares: dict[int, Decimal] = {}
    zero = quantize(Decimal(0), document.currency)
    for row in document.tax_rows:
        lines = [
            line
            for line in document.lines
            if line.taxable and Decimal(line.tax_rate).normalize() == row.rate
        ]
        if not lines:
            continue
        part = {
            line.id: quantize(line.amount * row.rate / Decimal(100), document.currency)
            for line in lines
        }
        largest = max(lines, key=lambda line: abs(line.amount))
        part[largest.id] += row.tax - sum(part.values(), zero)
        shares.update(part)
    return shares


def invoice_document(invoice: Invoice, *, with_sources: bool = True) -> InvoiceDocument:
    """The document of one invoice (``invoice_documents`` of one)."""
    return invoice_documents([invoice], with_sources=with_sources)[0]
