"""Invoice export files: plain CSV, QuickBooks Desktop IIF and Xero sales-invoice CSV.

Pure functions: each takes final invoices (a queryset or a list of ``Invoice``) and
returns the file as bytes. Lines, organizations and credited invoices are fetched in a
fixed number of queries whatever the number of invoices; nothing is written.

Amounts in every file equal the invoices to the cent: they are the stored amounts,
formatted with the currency's minor unit (0 for JPY, 2 for EUR, 3 for KWD), never
floats. Tax per rate is recomputed from the stored lines with the Money rule of
DESIGN.md (per invoice, per rate, rounded once) and must equal the stored tax total;
an invoice whose stored totals disagree with its lines is refused rather than written.

Credit notes. A credit note's face value (what it credits) is its stored amounts; if a
credit note was stored with a negative total, its amounts are read back to face value
first, so either storage gives the same file. Each format then expresses the credit in
its own way (below).

Published rules followed
------------------------
Plain CSV — Atera's "Create invoice batches" article (our seed 001): the CSV export
carries a unique customer id (company number) and a product id (SKU) per line.
Layout is ours: one row per invoice line, invoice fields repeated; RFC 4180 quoting
and CRLF line ends; UTF-8 with a byte-order mark, which Excel needs to read accented
customer names; ISO dates (YYYY-MM-DD). Credit notes have negative quantities,
amounts, tax and totals, so a column sum is the net billed, and no due date.

Formulas (OWASP "CSV Injection"): in every format, each text cell that a spreadsheet
would run as a formula (leading ``= + - @``, tab, CR) gets a leading apostrophe
(``billing_site.spreadsheets.safe_text``); number columns are written as numbers.

QuickBooks Desktop IIF — Intuit's QuickBooks Desktop help "IIF reference:
transactions" and "Import transactions from an IIF file", with the invoice layout of
Intuit's IIF import kit (as reproduced in the QuickBooks-for-WildApricot IIF notes and
the riif examples):
- tab-delimited text; the keyword rows ``!TRNS``, ``!SPL``, ``!ENDTRNS`` name the
  columns once, then each transaction is one ``TRNS`` row, its ``SPL`` rows and
  ``ENDTRNS``; TRNSTYPE, ACCNT and AMOUNT are required; debits positive, credits
  negative; DATE is MM/DD/YY in Intuit's reference, written MM/DD/YYYY (as the
  import-kit examples do) so the century is explicit.
- invoice: TRNSTYPE ``INVOICE``; TRNS on the receivable account with the customer
  (NAME), DOCNUM, AMOUNT = +total; one SPL per line on the income account with
  AMOUNT = -line amount, QNTY = -quantity, PRICE = unit price, INVITEM, MEMO, TAXABLE
  Y/N; one sales-tax SPL per rate (AMOUNT = -tax, PRICE = "rate%", sales-tax account,
  tax agency, tax item). IIF does not compute anything: TRNS + all SPL = 0.
- credit note: TRNSTYPE ``CREDIT MEMO`` with every sign reversed (TRNS -total, SPL
  +amounts, +quantities).
- QuickBooks puts only one automatic sales-tax line (EXTRA ``AUTOSTAX``) on an
  invoice, so EXTRA=AUTOSTAX is set when the invoice has a single tax rate; with
  several rates each rate is a sales-tax item line of its own.
- no escape exists for tabs or line breaks inside a field: they become spaces; a
  semicolon can end a transaction early (IIF notes of the WildApricot importer), so it
  becomes a comma; a field holding a comma is wrapped in double quotes as QuickBooks'
  own IIF exports do, so a double quote inside text becomes an apostrophe rather than
  be taken for a field quote. CRLF line ends (QuickBooks Desktop is a Windows program).
- the address fields ADDR1..ADDR5 hold the address only (street lines, postcode and
  city, region, country); the customer is NAME, not repeated in them.
- QuickBooks Desktop is a Windows ANSI program: the file is Windows-1252. A character
  outside it is written as its closest plain letter when it has one (ő -> o, Ł -> L)
  and otherwise as "?", so nothing is dropped silently. UNVERIFIED (no Intuit page on
  IIF encoding was found).
- length limits of QuickBooks Desktop (qbXML reference: RefNumber of an invoice or
  credit memo 11 characters, a customer name 41, an item name 31; Intuit's v3 SDK notes
  give 20 for some other transactions, the stricter 11 is used). Longer values are
  never written cut: the export is refused with the offenders named; numbers may
  instead be shortened on request (``shorten_numbers``: separators dropped, and a
  year's century when still too long, INV-2026-00042 -> INV2600042, CN-2026-00001 ->
  CN202600001; the full number is kept in the memo).

Xero sales-invoice CSV — Xero's "Import invoices" help and its downloadable sales
invoice template, as quoted by accounting guides and reproduced by public importers
(the central.xero.com page itself could not be read here):
- header names exactly as the template (case and spaces matter); ``*`` marks a
  required column (*ContactName, *InvoiceNumber, *InvoiceDate, *DueDate,
  *Description, *Quantity, *UnitAmount, *AccountCode, *TaxType);
- one row per line item; rows sharing *InvoiceNumber form one invoice; at most 500
  invoices per file (larger selections are refused with a message);
- dates DD/MM/YYYY in most regions (US organisations read MM/DD/YYYY:
  ``date_format``); UTF-8, written without a byte-order mark;
- TaxType is the tax rate's display name as it appears in the organisation
  (e.g. "20% (VAT on Income)"), mapped per rate with ``tax_types``;
- Xero computes tax per line unless TaxAmount (optional in the template) gives it, so
  each rate's tax is split across that rate's lines and their TaxAmounts add up to the
  invoice's tax to the cent; Total repeats the invoice total for checking (both
  columns are "calculated automatically" when left blank).
- credit notes are imported from the same template as invoices whose total is
  negative: their quantities, TaxAmount and Total are negative, Reference names the
  credited invoice. UNVERIFIED against Xero's page (see above).
- a 3-decimal currency (KWD) is written with its 3 decimals; whether Xero keeps them
  or rounds to 2 is UNVERIFIED.

Account codes. A line's income account is ``income_accounts[sku]`` when given (the
product's income account, kept by the contracts app), else ``accounts["income"]``.
Defaults: IIF ``{"receivable": "Accounts Receivable", "income": "Sales",
"sales_tax": "Sales Tax Payable", "tax_agency": ""}``; Xero ``{"income": "200"}``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.text import slugify

from billing_site.money import minor_units, quantize, quantize_unit_price
from billing_site.spreadsheets import safe_text
from billing_site.tenancy import require_current_tenant
from billing_site.timeutils import computable_date
from invoices.document import (
    DocumentLine,
    InvoiceDocument,
    Party,
    invoice_documents,
    line_tax_shares,
)
from invoices.models import Invoice, InvoiceKind, InvoiceStatus

IIF_DATE_FORMAT = "%m/%d/%Y"
IIF_ACCOUNTS = {
    "receivable": "Accounts Receivable",
    "income": "Sales",
    "sales_tax": "Sales Tax Payable",
    "tax_agency": "",
}
IIF_TAX_ITEMS = {"default": "Sales Tax"}
IIF_TRNS_COLUMNS = (
    "TRNSID",
    "TRNSTYPE",
    "DATE",
    "ACCNT",
    "NAME",
    "AMOUNT",
    "DOCNUM",
    "MEMO",
    "CLEAR",
    "TOPRINT",
    "NAMEISTAXABLE",
    "ADDR1",
    "ADDR2",
    "ADDR3",
    "ADDR4",
    "ADDR5",
    "DUEDATE",
    "TERMS",
)
IIF_SPL_COLUMNS = (
    "SPLID",
    "TRNSTYPE",
    "DATE",
    "ACCNT",
    "NAME",
    "AMOUNT",
    "DOCNUM",
    "MEMO",
    "CLEAR",
    "QNTY",
    "PRICE",
    "INVITEM",
    "TAXABLE",
    "EXTRA",
)
IIF_TRNSTYPE = {InvoiceKind.INVOICE: "INVOICE", InvoiceKind.CREDIT_NOTE: "CREDIT MEMO"}

XERO_DATE_FORMAT = "%d/%m/%Y"
XERO_MAX_INVOICES_PER_FILE = 500
XERO_ACCOUNTS = {"income": "200"}
XERO_TAX_TYPES = {"taxable": "Tax on Sales", "exempt": "Tax Exempt"}
XERO_COLUMNS = (
    "*ContactName",
    "EmailAddress",
    "POAddressLine1",
    "POAddressLine2",
    "POAddressLine3",
    "POAddressLine4",
    "POCity",
    "PORegion",
    "POPostalCode",
    "POCountry",
    "*InvoiceNumber",
    "Reference",
    "*InvoiceDate",
    "*DueDate",
    "Total",
    "InventoryItemCode",
    "*Description",
    "*Quantity",
    "*UnitAmount",
    "Discount",
    "*AccountCode",
    "*TaxType",
    "TaxAmount",
    "TrackingName1",
    "TrackingOption1",
    "TrackingName2",
    "TrackingOption2",
    "Currency",
    "BrandingTheme",
)

CSV_COLUMNS = (
    "invoice_number",
    "document_type",
    "status",
    "issue_date",
    "due_date",
    "currency",
    "company_number",
    "customer_name",
    "customer_email",
    "credited_invoice",
    "line",
    "sku",
    "description",
    "quantity",
    "unit",
    "unit_price",
    "amount",
    "taxable",
    "tax_rate",
    "tax",
    "invoice_subtotal",
    "invoice_tax",
    "invoice_total",
)
# Columns written as numbers; every other cell is text and goes through ``safe_text``
# (OWASP "CSV Injection"), so a negative amount stays a number and a customer name
# like "=HYPERLINK(...)" never becomes a formula.
CSV_NUMERIC_COLUMNS = frozenset(
    {
        "line",
        "quantity",
        "unit_price",
        "amount",
        "tax_rate",
        "tax",
        "invoice_subtotal",
        "invoice_tax",
        "invoice_total",
    }
)
IIF_NUMERIC_COLUMNS = frozenset({"AMOUNT", "QNTY", "PRICE"})
XERO_NUMERIC_COLUMNS = frozenset({"Total", "*Quantity", "*UnitAmount", "Discount", "TaxAmount"})
_IIF_BREAKS = re.compile(r"[\x00-\x1f\x7f]+")
IIF_NUMBER_MAX = 11
IIF_NAME_MAX = 41
IIF_ITEM_MAX = 31
_CENTURY = re.compile(r"(?<!\d)(19|20)(\d{2})(?=\d{4,})")


# --- Reading the invoices (a fixed number of queries) ---------------------------------


@dataclass(frozen=True)
class _Line:
    line: DocumentLine
    quantity: Decimal  # signed: negative on a credit note
    unit_price: Decimal
    amount: Decimal  # signed
    tax: Decimal  # signed share of its rate's tax (0 when not taxable)
    rate: Decimal | None  # None when the line is not taxable


@dataclass(frozen=True)
class _TaxRow:
    rate: Decimal
    tax: Decimal  # signed


@dataclass(frozen=True)
class _Invoice:
    invoice: InvoiceDocument
    sign: int  # +1 for an invoice, -1 for a credit note (what the customer owes)
    lines: tuple[_Line, ...]
    tax_rows: tuple[_TaxRow, ...]
    subtotal: Decimal  # signed
    tax_total: Decimal  # signed
    total: Decimal  # signed
    due_date: dt.date

    @property
    def currency(self) -> str:
        return self.invoice.currency

    @property
    def is_credit(self) -> bool:
        return self.invoice.is_credit_note


def _label(invoice: InvoiceDocument) -> str:
    return invoice.number or f"draft #{invoice.id}"


def _load(invoices: Iterable[Invoice]) -> list[InvoiceDocument]:
    """The invoices' documents (``invoices.document.invoice_documents``: a constant
    number of queries), in file order.

    A queryset is re-scoped to the current tenant; a list holding another tenant's
    invoice is refused (exports never cross the tenant wall).
    """
    tenant = require_current_tenant()
    if not isinstance(invoices, QuerySet) or invoices.query.is_sliced:
        invoices = list(invoices)
        if any(invoice.tenant_id != tenant.pk for invoice in invoices):
            raise ValidationError(
                {"invoices": "Only the current tenant's invoices can be exported."}
            )
    rows = invoice_documents(invoices)
    rows.sort(key=lambda doc: (doc.issue_date or dt.date.min, doc.kind, doc.number, doc.id))
    return rows


def _refusals(rows: list[InvoiceDocument]) -> list[str]:
    drafts = [inv for inv in rows if inv.status == InvoiceStatus.DRAFT or not inv.number]
    void = [inv for inv in rows if inv.status == InvoiceStatus.VOID]
    undated = [inv for inv in rows if inv.number and inv.issue_date is None]
    empty = [inv for inv in rows if not inv.lines]
    messages = []
    if not rows:
        messages.append("Select at least one final invoice to export.")
    if drafts:
        messages.append(
            "Draft invoices have no number yet and cannot be exported; finalize them or "
            f"leave them out ({', '.join(_label(inv) for inv in drafts)})."
        )
    if void:
        messages.append(
            "Void invoices are not exported to accounting; leave them out "
            f"({', '.join(_label(inv) for inv in void)})."
        )
    if undated:
        messages.append(f"Invoices without an issue date: {', '.join(map(_label, undated))}.")
    if empty:
        messages.append(f"Invoices without lines: {', '.join(map(_label, empty))}.")
    return messages


def _prepare_one(invoice: InvoiceDocument) -> _Invoice:
    currency = invoice.currency
    sign = -1 if invoice.is_credit_note else 1
    # A credit note stored with negative amounts is read back to its face value.
    face = -1 if sign == -1 and invoice.total < 0 else 1
    stored = invoice.lines
    zero = quantize(Decimal(0), currency)

    # Face values first (as printed on the document), signed at the end. The tax of each
    # rate is the document's (``compute_totals``: once per rate, DESIGN.md), shared out
    # over the rate's lines by ``line_tax_shares``.
    subtotal = sum((line.amount * face for line in stored), zero)
    rate_tax = {row.rate: row.tax * face for row in invoice.tax_rows}
    line_tax = {line_id: tax * face for line_id, tax in line_tax_shares(invoice).items()}
    tax_total = sum(rate_tax.values(), zero)

    expected = (invoice.subtotal * face, invoice.tax_total * face, invoice.total * face)
    if (subtotal, tax_total, subtotal + tax_total) != expected:
        raise ValidationError(
            {
                "invoices": (
                    f"{_label(invoice)}: its stored totals ({expected[0]} + {expected[1]} = "
                    f"{expected[2]} {currency}) do not match its lines ({subtotal} + {tax_total}); "
                    "it cannot be exported until they agree."
                )
            }
        )

    lines = tuple(
        _Line(
            line=line,
            quantity=line.quantity * face * sign,
            unit_price=line.unit_price,
            amount=line.amount * face * sign,
            tax=line_tax.get(line.id, zero) * sign,
            rate=Decimal(line.tax_rate).normalize() if line.taxable else None,
        )
        for line in stored
    )
    # Xero needs a due date on every row; a credit note without one is due when issued.
    due = invoice.due_date or invoice.issue_date
    if invoice.due_date is None and sign == 1:
        # computable_date: an issue date stored at the calendar's end still gets a due date.
        due = computable_date(due) + dt.timedelta(days=invoice.payment_terms_days)
    return _Invoice(
        invoice=invoice,
        sign=sign,
        lines=lines,
        tax_rows=tuple(_TaxRow(rate=rate, tax=tax * sign) for rate, tax in rate_tax.items()),
        subtotal=subtotal * sign,
        tax_total=tax_total * sign,
        total=(subtotal + tax_total) * sign,
        due_date=due,
    )


def _prepare(invoices: Iterable[Invoice]) -> list[_Invoice]:
    rows = _load(invoices)
    messages = _refusals(rows)
    if messages:
        raise ValidationError({"invoices": messages})
    return [_prepare_one(invoice) for invoice in rows]


# --- Formatting ------------------------------------------------------------------------


def _plain(value: Decimal) -> str:
    """Fixed-point text, never '-0.00' (a zero keeps no sign)."""
    return f"{value if value else abs(value):f}"


def _number(value: Decimal, min_places: int = 0) -> str:
    """Shortest plain decimal with at least ``min_places`` decimals: 2.5000 -> '2.5'."""
    value = Decimal(value).normalize()
    places = max(-value.as_tuple().exponent, min_places, 0)
    value = value.quantize(Decimal(1).scaleb(-places))
    return _plain(value)


def _amount(value: Decimal, currency: str) -> str:
    """An amount with exactly the currency's minor unit: '1500' JPY, '12.345' KWD."""
    value = quantize(value, currency)
    return _plain(value)


def _unit_price(value: Decimal, currency: str) -> str:
    """Unit prices keep up to four places, and at least the currency's minor unit."""
    return _number(quantize_unit_price(value), minor_units(currency))


def _rate_key(rate: Decimal) -> str:
    return _number(rate)


def _by_rate(mapping: Mapping | None) -> dict[str, str]:
    """A mapping keyed by tax rate, accepting Decimal, number or string keys."""
    result = {}
    for key, value in (mapping or {}).items():
        try:
            result[_rate_key(Decimal(str(key)))] = value
        except ArithmeticError:
            result[str(key)] = value
    return result


def _street_lines(party: Party) -> list[str]:
    return list(party.street_lines)


def _address_lines(party: Party) -> list[str]:
    """The whole postal address in lines (IIF's ADDR fields have no city or country
    columns): street lines, "<postcode> <city>", region, country name in English."""
    return list(party.address_lines("en"))


def _fit(parts: list[str], slots: int) -> list[str]:
    """``parts`` in ``slots`` fields: the overflow joins the last one."""
    if len(parts) > slots:
        parts = [*parts[: slots - 1], ", ".join(parts[slots - 1 :])]
    return parts + [""] * (slots - len(parts))


def _income_account(line: DocumentLine, accounts: Mapping, income_accounts: Mapping) -> str:
    return (income_accounts.get(line.sku) if line.sku else None) or accounts["income"]


def _csv_row(row: Mapping[str, object], columns: tuple[str, ...], numeric: frozenset) -> list:
    """The cells of ``row`` in ``columns`` order; text cells neutralised (``safe_text``)."""
    return [
        row.get(column, "") if column in numeric else safe_text(row.get(column, ""))
        for column in columns
    ]


def _iif_row(keyword: str, row: Mapping[str, object], columns: tuple[str, ...]) -> list[str]:
    return [keyword, *(_iif_text(row.get(column, ""), column) for column in columns)]


def _iif_text(value: object, column: str) -> str:
    text = _IIF_BREAKS.sub(" ", str(value or "")).strip().replace('"', "'").replace(";", ",")
    # IIF files are opened in spreadsheets too: text that would run as a formula is
    # neutralised once tabs and line breaks are gone (they become spaces and are trimmed).
    if column not in IIF_NUMERIC_COLUMNS:
        text = safe_text(text)
    return f'"{text}"' if "," in text else text


# --- Plain CSV -------------------------------------------------------------------------


def export_csv(invoices: Iterable[Invoice]) -> bytes:
    """Plain CSV, one row per line, with the customer's company number and each SKU.

    Credit notes carry negative quantities and amounts. Each row's ``tax`` is the line's
    share of its rate's tax, so per invoice ``sum(amount) + sum(tax) == invoice_total``.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for doc in _prepare(invoices):
        invoice, currency = doc.invoice, doc.currency
        head = {
            "invoice_number": invoice.number,
            "document_type": invoice.kind,
            "status": invoice.status,
            "issue_date": invoice.issue_date.isoformat(),
            # A credit note is not a receivable: nothing falls due on it.
            "due_date": "" if doc.is_credit else doc.due_date.isoformat(),
            "currency": currency,
            "company_number": invoice.customer_number,
            "customer_name": invoice.bill_to.legal_name,
            "customer_email": invoice.bill_to.email,
            "credited_invoice": invoice.credited_invoice_number,
            "invoice_subtotal": _amount(doc.subtotal, currency),
            "invoice_tax": _amount(doc.tax_total, currency),
            "invoice_total": _amount(doc.total, currency),
        }
        for position, item in enumerate(doc.lines, start=1):
            line = item.line
            row = {
                **head,
                "line": position,
                "sku": line.sku,
                "description": line.description,
                "quantity": _number(item.quantity),
                "unit": line.unit,
                "unit_price": _unit_price(item.unit_price, currency),
                "amount": _amount(item.amount, currency),
                "taxable": "yes" if line.taxable else "no",
                "tax_rate": _number(item.rate) if item.rate is not None else "",
                "tax": _amount(item.tax, currency),
            }
            writer.writerow(_csv_row(row, CSV_COLUMNS, CSV_NUMERIC_COLUMNS))
    # The byte-order mark lets Excel read the UTF-8 text (accents in customer names).
    return out.getvalue().encode("utf-8-sig")


# --- QuickBooks Desktop IIF ------------------------------------------------------------


def _windows_1252(text: str) -> bytes:
    """``text`` in Windows-1252; a character outside it becomes its base letter when
    it has one (NFKD: ő -> o), else "?"."""
    try:
        return text.encode("cp1252")
    except UnicodeEncodeError:
        pass
    out = []
    for char in text:
        try:
            char.encode("cp1252")
        except UnicodeEncodeError:
            base = "".join(
                c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
            )
            try:
                base.encode("cp1252")
            except UnicodeEncodeError:
                base = ""
            char = base or _NO_DECOMPOSITION.get(char, "?")
        out.append(char)
    return "".join(out).encode("cp1252")


# Letters NFKD does not take apart but that have an obvious plain form.
_NO_DECOMPOSITION = {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "ı": "i", "ß": "ss"}


def iif_short_number(number: str) -> str:
    """A number QuickBooks Desktop keeps whole: separators dropped, and a year's
    century when still too long (INV-2026-00042 -> INV2600042); unchanged when it fits."""
    if len(number) <= IIF_NUMBER_MAX:
        return number
    compact = re.sub(r"[^0-9A-Za-z]", "", number)
    if len(compact) > IIF_NUMBER_MAX:
        compact = _CENTURY.sub(r"\2", compact, count=1)
    return compact


def _iif_refusals(docs: list[_Invoice], shorten_numbers: bool) -> list[str]:
    messages = []
    numbers = [doc.invoice.number for doc in docs]
    written = [iif_short_number(n) for n in numbers] if shorten_numbers else numbers
    too_long = [n for n, w in zip(numbers, written, strict=True) if len(w) > IIF_NUMBER_MAX]
    if too_long:
        more = f" and {len(too_long) - 10} more" if len(too_long) > 10 else ""
        advice = (
            "Use a shorter invoice prefix."
            if shorten_numbers
            else 'Choose "shorten numbers" for the export (INV-2026-00042 becomes '
            "INV2600042, the full number kept in the memo) or use a shorter invoice prefix."
        )
        messages.append(
            f"QuickBooks Desktop keeps at most {IIF_NUMBER_MAX} characters of an invoice "
            f"number; these are longer: {', '.join(too_long[:10])}{more}. {advice}"
        )
    clashes = sorted({w for w in written if written.count(w) > 1})
    if clashes:
        messages.append(
            f"These invoice numbers would be the same in QuickBooks Desktop: {', '.join(clashes)}."
        )
    names = sorted(
        {
            doc.invoice.bill_to.legal_name
            for doc in docs
            if len(doc.invoice.bill_to.legal_name) > IIF_NAME_MAX
        }
    )
    if names:
        messages.append(
            f"QuickBooks Desktop keeps at most {IIF_NAME_MAX} characters of a customer "
            f"name; shorten these customers' names first: {', '.join(names)}."
        )
    items = sorted(
        {item.line.sku for doc in docs for item in doc.lines if len(item.line.sku) > IIF_ITEM_MAX}
    )
    if items:
        messages.append(
            f"QuickBooks Desktop keeps at most {IIF_ITEM_MAX} characters of an item name; "
            f"these SKUs are longer: {', '.join(items)}."
        )
    return messages


def export_iif(
    invoices: Iterable[Invoice],
    *,
    accounts: Mapping[str, str] | None = None,
    income_accounts: Mapping[str, str] | None = None,
    tax_items: Mapping | None = None,
    shorten_numbers: bool = False,
) -> bytes:
    """QuickBooks Desktop IIF: one TRNS/SPL…/ENDTRNS transaction per invoice or credit note.

    ``accounts`` overrides IIF_ACCOUNTS (receivable, income, sales_tax, tax_agency);
    ``income_accounts`` maps a SKU to its income account; ``tax_items`` maps a tax rate
    (e.g. ``"8.25"``) to the QuickBooks sales-tax item, ``"default"`` for the others.
    Every transaction balances: TRNS AMOUNT + the SPL AMOUNTs == 0. Numbers, customer
    names and SKUs longer than QuickBooks Desktop keeps are refused (ValidationError on
    ``invoices``); numbers are shortened instead with ``shorten_numbers``.
    """
    accounts = {**IIF_ACCOUNTS, **(accounts or {})}
    income_accounts = income_accounts or {}
    tax_items = {**IIF_TAX_ITEMS, **_by_rate(tax_items)}
    rows: list[list[str]] = [
        ["!TRNS", *IIF_TRNS_COLUMNS],
        ["!SPL", *IIF_SPL_COLUMNS],
        ["!ENDTRNS"],
    ]
    docs = _prepare(invoices)
    refusals = _iif_refusals(docs, shorten_numbers)
    if refusals:
        raise ValidationError({"invoices": refusals})
    for doc in docs:
        invoice, currency = doc.invoice, doc.currency
        trnstype = IIF_TRNSTYPE[invoice.kind]
        date = invoice.issue_date.strftime(IIF_DATE_FORMAT)
        number = iif_short_number(invoice.number) if shorten_numbers else invoice.number
        # A shortened number keeps the full one in the memo, so it can still be found.
        memo = " - ".join(
            filter(
                None,
                [
                    invoice.number if number != invoice.number else "",
                    f"Credit for {invoice.credited_invoice_number}"
                    if invoice.credited_invoice_number
                    else "",
                    invoice.notes,
                ],
            )
        )
        terms = ""
        if not doc.is_credit:
            days = invoice.payment_terms_days
            terms = f"Net {days}" if days else "Due on receipt"
        addr = _fit(_address_lines(invoice.bill_to), 5)
        trns = {
            "TRNSTYPE": trnstype,
            "DATE": date,
            "ACCNT": accounts["receivable"],
            "NAME": invoice.bill_to.legal_name,
            "AMOUNT": _amount(doc.total, currency),
            "DOCNUM": number,
            "MEMO": memo,
            "CLEAR": "N",
            "TOPRINT": "N",
            "NAMEISTAXABLE": "Y" if doc.tax_rows else "N",
            **{f"ADDR{n}": value for n, value in enumerate(addr, start=1)},
            "DUEDATE": "" if doc.is_credit else doc.due_date.strftime(IIF_DATE_FORMAT),
            "TERMS": terms,
        }
        rows.append(_iif_row("TRNS", trns, IIF_TRNS_COLUMNS))
        for item in doc.lines:
            line = item.line
            spl = {
                "TRNSTYPE": trnstype,
                "DATE": date,
                "ACCNT": _income_account(line, accounts, income_accounts),
                "AMOUNT": _amount(-item.amount, currency),
                "MEMO": line.description,
                "CLEAR": "N",
                "QNTY": _number(-item.quantity),
                "PRICE": _unit_price(item.unit_price, currency),
                "INVITEM": line.sku,
                "TAXABLE": "Y" if line.taxable else "N",
            }
            rows.append(_iif_row("SPL", spl, IIF_SPL_COLUMNS))
        single_rate = len(doc.tax_rows) == 1
        for tax_row in doc.tax_rows:
            key = _rate_key(tax_row.rate)
            spl = {
                "TRNSTYPE": trnstype,
                "DATE": date,
                "ACCNT": accounts["sales_tax"],
                "NAME": accounts["tax_agency"],
                "AMOUNT": _amount(-tax_row.tax, currency),
                "MEMO": f"Tax {key}%",
                "CLEAR": "N",
                "PRICE": f"{key}%",
                "INVITEM": tax_items.get(key, tax_items["default"]),
                "TAXABLE": "N",
                "EXTRA": "AUTOSTAX" if single_rate else "",
            }
            rows.append(_iif_row("SPL", spl, IIF_SPL_COLUMNS))
        rows.append(["ENDTRNS"])
    text = "".join("\t".join(row) + "\r\n" for row in rows)
    return _windows_1252(text)


# --- Xero sales-invoice CSV ------------------------------------------------------------


def export_xero_csv(
    invoices: Iterable[Invoice],
    *,
    accounts: Mapping[str, str] | None = None,
    income_accounts: Mapping[str, str] | None = None,
    tax_types: Mapping | None = None,
    date_format: str = XERO_DATE_FORMAT,
) -> bytes:
    """Xero's sales-invoice import template, one row per line item.

    ``accounts["income"]`` is the default account code (``income_accounts`` maps a SKU
    to its own); ``tax_types`` maps a tax rate (e.g. ``"20"``) to the Xero tax rate's
    display name, with ``"taxable"`` and ``"exempt"`` as fallbacks (XERO_TAX_TYPES).
    ``date_format`` is the organisation's (DD/MM/YYYY by default; US: ``"%m/%d/%Y"``).
    Per invoice, ``sum(round(Quantity × UnitAmount)) + sum(TaxAmount) == Total``.
    """
    accounts = {**XERO_ACCOUNTS, **(accounts or {})}
    income_accounts = income_accounts or {}
    tax_types = {**XERO_TAX_TYPES, **_by_rate(tax_types)}
    docs = _prepare(invoices)
    if len(docs) > XERO_MAX_INVOICES_PER_FILE:
        raise ValidationError(
            {
                "invoices": (
                    f"Xero imports at most {XERO_MAX_INVOICES_PER_FILE} invoices per file; "
                    f"this selection has {len(docs)}. Export it in smaller parts."
                )
            }
        )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(XERO_COLUMNS)
    for doc in docs:
        invoice, currency = doc.invoice, doc.currency
        party = invoice.bill_to
        address = _fit(_street_lines(party), 4)
        head = {
            "*ContactName": party.legal_name,
            "EmailAddress": party.email,
            **{f"POAddressLine{n}": value for n, value in enumerate(address, start=1)},
            "POCity": party.city,
            "PORegion": party.region,
            "POPostalCode": party.postcode,
            # Xero keeps the country as free text and prints it: the English name.
            "POCountry": party.country_name("en"),
            "*InvoiceNumber": invoice.number,
            "Reference": invoice.credited_invoice_number,
            "*InvoiceDate": invoice.issue_date.strftime(date_format),
            "*DueDate": doc.due_date.strftime(date_format),
            "Total": _amount(doc.total, currency),
            "Currency": currency,
        }
        for item in doc.lines:
            line = item.line
            if item.rate is None:
                tax_type = tax_types["exempt"]
            else:
                tax_type = tax_types.get(_rate_key(item.rate), tax_types["taxable"])
            row = {
                **head,
                "InventoryItemCode": line.sku,
                "*Description": line.description or line.sku or invoice.number,
                "*Quantity": _number(item.quantity),
                "*UnitAmount": _unit_price(item.unit_price, currency),
                "*AccountCode": _income_account(line, accounts, income_accounts),
                "*TaxType": tax_type,
                "TaxAmount": _amount(item.tax, currency),
            }
            writer.writerow(_csv_row(row, XERO_COLUMNS, XERO_NUMERIC_COLUMNS))
    return out.getvalue().encode("utf-8")


# --- Formats ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFormat:
    key: str
    label: str
    extension: str
    content_type: str
    render: Callable[..., bytes]
    filename_suffix: str = ""


EXPORT_FORMATS: dict[str, ExportFormat] = {
    "csv": ExportFormat(
        key="csv",
        label="CSV (company number and SKU)",
        extension="csv",
        content_type="text/csv; charset=utf-8",
        render=export_csv,
    ),
    "iif": ExportFormat(
        key="iif",
        label="QuickBooks Desktop (IIF)",
        extension="iif",
        content_type="application/x-iif",
        render=export_iif,
    ),
    "xero": ExportFormat(
        key="xero",
        label="Xero (sales invoice CSV)",
        extension="csv",
        content_type="text/csv; charset=utf-8",
        render=export_xero_csv,
        filename_suffix="-xero",
    ),
}


def export_invoices(
    *,
    invoices: Iterable[Invoice],
    fmt: str,
    basename: str = "invoices",
    options: Mapping[str, Mapping] | None = None,
) -> tuple[str, str, bytes]:
    """The export file of ``invoices`` in format ``fmt``: (filename, content type, bytes).

    ``options`` holds keyword arguments per format, e.g. ``{"iif": {"accounts": {...}},
    "xero": {"tax_types": {...}}}``; only the chosen format's are used. Raises
    ValidationError on ``format`` for an unknown format, and on ``invoices`` for drafts
    (no number yet), void invoices, an empty selection or totals that disagree.
    """
    spec = EXPORT_FORMATS.get(fmt)
    if spec is None:
        choices = ", ".join(EXPORT_FORMATS)
        raise ValidationError(
            {"format": f"Unknown export format '{fmt}'; choose one of: {choices}."}
        )
    content = spec.render(invoices, **dict((options or {}).get(fmt, {})))
    filename = f"{slugify(basename) or 'invoices'}{spec.filename_suffix}.{spec.extension}"
    return filename, spec.content_type, content
