"""Invoice PDF: an HTML template rendered by WeasyPrint.

Everything printed is formatted here in the document's locale and currency (Babel),
so the template stays plain. A document has one language (``InvoiceDocument.locale``:
the customer's, else the tenant's): its labels are translated (Django's translations,
``locale/``), its dates, numbers and country names are that locale's, and nothing
internal (a batch's name, a line of no amount) is printed on the customer's copy.
A draft renders through the same code as a preview: stamped DRAFT, no number, nothing
stored (``render_invoice_pdf`` of a draft is only ever served, never kept).
WeasyPrint's font configuration and image cache live at module level: a long-lived
worker builds them once, not per invoice. Rendering is
serialised with a lock because Pango/fontconfig are not guaranteed thread-safe and
the embedded default renders in-process from a threaded web server.
"""

from __future__ import annotations

import base64
import functools
import threading
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from babel.dates import format_date, format_time
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from billing_site.money import format_money, format_quantity, format_unit_price
from billing_site.timeutils import format_duration, to_zone

from .document import InvoiceDocument, Party, document_date, invoice_document
from .models import CreditDisposition, Invoice, InvoiceStatus, LineKind

CSS_PATH = Path(__file__).resolve().parent / "templates" / "invoices" / "pdf" / "invoice.css"
_RENDER_LOCK = threading.Lock()


@functools.cache
def _weasyprint():
    """WeasyPrint objects shared by every render of this process (built on first use)."""
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    font_config = FontConfiguration()
    stylesheet = CSS(filename=str(CSS_PATH), font_config=font_config)
    return font_config, stylesheet, {}


def _refuse_fetch(url: str, *args, **kwargs):
    # Only inline data: URIs (the logo) are embedded; nothing is fetched from outside.
    if url.startswith("data:"):
        from weasyprint.urls import default_url_fetcher

        return default_url_fetcher(url, *args, **kwargs)
    raise ValueError(f"External resource refused in invoice PDF: {url[:80]}")


def money_text(amount: Decimal, currency: str, locale: str) -> str:
    return format_money(amount, currency, locale)


def number_text(value: Decimal, locale: str) -> str:
    """A quantity or a rate with every significant decimal (0.1667 h stays 0.1667), in
    the locale ("1,5" in French)."""
    return format_quantity(Decimal(value), locale)


def rate_text(price: Decimal, currency: str, locale: str) -> str:
    """A unit price: the currency's minor unit, and up to 4 places where it has them."""
    return format_unit_price(Decimal(price), currency, locale)


def unit_text(unit: str) -> str:
    """A line's unit as printed, in the active language: the units the product writes
    ("period" of a retainer fee; "h" stays "h"), else as typed on the line."""
    if unit == "period":
        return pgettext("invoice line unit", "period")
    return unit


@dataclass
class PrintedLine:
    kind: str
    host: str
    start_day: str
    start: str
    end_day: str
    end: str
    duration: str
    description: str
    quantity: str
    unit: str
    unit_price: str
    amount: str
    group_label: str


_LOGO_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
}


def _logo_data_uri(tenant) -> str:
    """The logo as a data: URI; only the raster types uploads accept (billing_site/uploads.py).
    An SVG stored before that check is left out: it can carry scripts and links."""
    mime = _LOGO_TYPES.get(Path(tenant.logo.name or "").suffix.lower().lstrip("."))
    if not tenant.logo or mime is None:
        return ""
    try:
        with tenant.logo.open("rb") as handle:
            data = handle.read()
    except (OSError, ValueError):
        return ""  # a missing logo file must not stop the invoice
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _party_block(party: Party, locale: str) -> dict:
    """A party as printed: name, address lines (street lines, "<postcode> <city>",
    region, the country's name in the invoice's language), contacts. A street line that
    repeats the name (an address typed with the name on top) is not printed again."""
    name = party.legal_name.strip()
    lines = tuple(
        line for line in party.address_lines(locale) if line.strip().casefold() != name.casefold()
    )
    return {
        "name": name,
        "lines": lines,
        "tax_id": party.tax_id,
        "email": party.email,
        "phone": party.phone,
    }


def pdf_context(invoice: Invoice, document: InvoiceDocument | None = None) -> dict:
    """Everything the invoice prints, formatted for its locale, currency and zone, read
    from its document (``invoices.document``)."""
    # A customer's copy lists no billed items: their lookup is left out.
    document = document or invoice_document(invoice, with_sources=False)
    tenant = invoice.tenant
    locale, currency, zone = document.locale, document.currency, tenant.zone

    def day(value):
        return format_date(to_zone(value, zone), "short", locale=locale)

    def clock(value):
        return format_time(to_zone(value, zone), "medium", locale=locale)

    session_lines, other_lines = [], []
    rates = set()
    for line in document.lines:
        if not line.amount:
            # A line of no amount bills nothing: left off the customer's copy (the totals
            # are the invoice's, so they do not change; the staff page still lists it).
            continue
        is_session = line.kind == LineKind.SESSION and line.started_at and line.ended_at
        same_day = (
            is_session
            and to_zone(line.started_at, zone).date() == to_zone(line.ended_at, zone).date()
        )
        printed = PrintedLine(
            kind=line.kind,
            host=line.group_label if is_session else "",
            start_day=day(line.started_at) if is_session else "",
            start=clock(line.started_at) if is_session else "",
            end_day=day(line.ended_at) if is_session and not same_day else "",
            end=clock(line.ended_at) if is_session else "",
            duration=format_duration(line.worked_seconds) if line.worked_seconds else "",
            description=line.description,
            quantity=number_text(line.quantity, locale),
            unit=unit_text(line.unit),
            unit_price=rate_text(line.unit_price, currency, locale),
            amount=money_text(line.amount, currency, locale),
            group_label=line.group_label,
        )
        if is_session:
            session_lines.append(printed)
            rates.add(line.unit_price)
        else:
            other_lines.append(printed)
    overall = sum(
        line.worked_seconds or 0 for line in document.lines if line.kind == LineKind.SESSION
    )
    tax_rows = [
        {
            "rate": number_text(row.rate, locale),
            "base": money_text(row.base, currency, locale),
            "tax": money_text(row.tax, currency, locale),
        }
        for row in document.tax_rows
    ]
    is_credit_note = document.is_credit_note
    is_draft = document.status == InvoiceStatus.DRAFT
    return {
        "invoice": invoice,
        "document": document,
        "is_draft": is_draft,
        # A draft has no number yet: it is never printed as "None" or left blank.
        "number": document.number or _("DRAFT"),
        "seller": _party_block(document.seller, locale),
        "bill_to": _party_block(document.bill_to, locale),
        "tenant": tenant,
        "is_void": document.status == InvoiceStatus.VOID,
        "title": _("Credit note") if is_credit_note else _("Invoice"),
        "language": document.language,
        "is_credit_note": is_credit_note,
        "credited_number": document.credited_invoice_number if is_credit_note else "",
        "credit_disposition": credit_disposition_text(invoice, document),
        "brand_color": tenant.brand_color,
        "logo": _logo_data_uri(tenant),
        "issue_date": document_date(document.issue_date, locale),
        "due_date": document_date(document.due_date, locale),
        "period": (
            f"{format_date(document.period_start, 'medium', locale=locale)} – "
            f"{format_date(document.period_end, 'medium', locale=locale)}"
        )
        if document.period_start and document.period_end
        else "",
        "session_lines": session_lines,
        "other_lines": other_lines,
        "overall_duration": format_duration(overall) if session_lines else "",
        "sessions_amount": money_text(
            sum(
                (line.amount for line in document.lines if line.kind == LineKind.SESSION),
                Decimal("0"),
            ),
            currency,
            locale,
        ),
        "hourly_rate": rate_text(next(iter(rates)), currency, locale) if len(rates) == 1 else "",
        "tax_rows": tax_rows,
        "subtotal": money_text(document.subtotal, currency, locale),
        "tax_total": money_text(document.tax_total, currency, locale),
        "total": money_text(document.total, currency, locale),
        "amount_paid": money_text(document.amount_paid, currency, locale)
        if document.amount_paid
        else "",
        # A draft is not a receivable yet (its balance is nothing): it shows what will be due.
        "amount_due": money_text(
            document.total if is_draft else document.balance_due, currency, locale
        ),
        "zone": zone.key,
        "payment_terms": payment_terms_text(
            document.payment_terms_days,
            due_date=document_date(document.due_date, locale),
            number=document.number,
        ),
        "page_counter": page_counter_css(),
    }


def credit_disposition_text(invoice: Invoice, document: InvoiceDocument) -> str:
    """What a credit note did with the credited items (``Invoice.credit_disposition_text``),
    in the active language: the customer reads whether that work is billed again."""
    if not document.is_credit_note:
        return ""
    if invoice.credit_disposition == CreditDisposition.RELEASE:
        return _("Items released to be billed again.")
    if invoice.credit_disposition == CreditDisposition.WRITE_OFF:
        return _("Items written off (they stay billed by %(number)s).") % {
            "number": document.credited_invoice_number or _("the invoice")
        }
    return ""


def payment_terms_text(days: int, *, due_date: str, number: str) -> str:
    """The payment terms sentence, in the active language (a draft, without a number,
    asks for none to be quoted)."""
    terms = ngettext(
        "Payment due within %(days)d day", "Payment due within %(days)d days", days
    ) % {"days": days}
    if due_date:
        terms = _("%(terms)s, by %(date)s") % {"terms": terms, "date": due_date}
    if not number:
        return f"{terms}."
    return _("%(terms)s. Please quote %(number)s with your payment.") % {
        "terms": terms,
        "number": number,
    }


def _css_string(text: str) -> str:
    """``text`` as a CSS string that is also safe inside a ``<style>`` element."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("<", "\\3c ").replace(">", "\\3e ") + '"'


def page_counter_css() -> str:
    """The page footer's "Page 2 of 3" as a CSS ``content`` value, in the active language:
    the translated words around the page counters."""
    text = _("Page %(page)s of %(pages)s")
    parts = []
    for index, chunk in enumerate(text.split("%(page)s")):
        if index:
            parts.append("counter(page)")
        for inner, piece in enumerate(chunk.split("%(pages)s")):
            if inner:
                parts.append("counter(pages)")
            if piece:
                parts.append(_css_string(piece))
    return mark_safe(" ".join(parts))  # noqa: S308 - every piece is escaped above


def render_invoice_html(invoice: Invoice) -> str:
    """The customer's copy as HTML, wholly in the document's language."""
    document = invoice_document(invoice, with_sources=False)
    with translation.override(document.language):
        return render_to_string("invoices/pdf/invoice.html", pdf_context(invoice, document))


def render_invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice as PDF bytes (lines and payments should be prefetched)."""
    return render_pdf(render_invoice_html(invoice))


def render_pdf(html: str) -> bytes:
    """A document of ours (an invoice, a statement) as PDF bytes, with the invoices'
    stylesheet and nothing fetched from outside."""
    from weasyprint import HTML

    font_config, stylesheet, image_cache = _weasyprint()
    with _RENDER_LOCK:
        document = HTML(string=html, url_fetcher=_refuse_fetch, base_url=str(CSS_PATH.parent))
        return document.write_pdf(
            stylesheets=[stylesheet], font_config=font_config, cache=image_cache
        )
