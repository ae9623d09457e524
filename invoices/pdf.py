"""Invoice PDF: an HTML template rendered by WeasyPrint.

Everything printed is formatted here in the invoice's locale and currency (Babel),
so the template stays plain. WeasyPrint's font configuration and image cache live
at module level: a long-lived worker builds them once, not per invoice. Rendering is
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
from babel.numbers import format_currency, format_decimal
from django.template.loader import render_to_string

from billing_site.money import format_money, quantize
from billing_site.timeutils import format_duration, to_zone

from .document import InvoiceDocument, Party, invoice_document
from .models import Invoice, InvoiceStatus, LineKind

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
    """A quantity with every significant decimal (0.1667 h stays 0.1667)."""
    return format_decimal(Decimal(value).normalize(), locale=locale, decimal_quantization=False)


def rate_text(price: Decimal, currency: str, locale: str) -> str:
    """A unit price: the currency's minor unit, or up to 4 places when it has them."""
    price = Decimal(price)
    if quantize(price, currency) == price:
        return format_money(price, currency, locale)
    return format_currency(
        price.normalize(),
        currency,
        locale=locale,
        currency_digits=False,
        decimal_quantization=False,
    )


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
    region, the country's name in the invoice's language), contacts."""
    return {
        "name": party.legal_name,
        "lines": party.address_lines(locale),
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
            unit=line.unit,
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
    return {
        "invoice": invoice,
        "document": document,
        "seller": _party_block(document.seller, locale),
        "bill_to": _party_block(document.bill_to, locale),
        "tenant": tenant,
        "is_void": document.status == InvoiceStatus.VOID,
        "title": "CREDIT NOTE" if is_credit_note else "Invoice",
        "is_credit_note": is_credit_note,
        "credited_number": document.credited_invoice_number if is_credit_note else "",
        "brand_color": tenant.brand_color,
        "logo": _logo_data_uri(tenant),
        "issue_date": format_date(document.issue_date, "long", locale=locale)
        if document.issue_date
        else "",
        "due_date": format_date(document.due_date, "long", locale=locale)
        if document.due_date
        else "",
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
        "amount_due": money_text(document.balance_due, currency, locale),
        "zone": zone.key,
    }


def render_invoice_html(invoice: Invoice) -> str:
    return render_to_string("invoices/pdf/invoice.html", pdf_context(invoice))


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
