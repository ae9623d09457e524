"""Exports of the end-client ticket table: CSV, Excel (.xlsx) and PDF.

Every export takes the same filtered, sorted queryset as the page (every page of it)
and writes the table's columns. Dates are the viewer organization's calendar days for
the creation time and as stored for due dates; hours are posted billable hours with
two decimals. Internal notes are never loaded by the selector, so they cannot leak.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.http import HttpResponse, StreamingHttpResponse
from django.template.loader import render_to_string
from django.utils import timezone

from billing_site.models import Organization, Tenant
from billing_site.spreadsheets import safe_text, xlsx_cell
from billing_site.tenancy import iterate_in_tenant
from billing_site.timeutils import to_zone
from contracts.choices import TicketStatus
from contracts.selectors_portal import EndClientTicketFilters, seconds_to_hours

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
HEADINGS = [
    "Ticket",
    "End client",
    "Title",
    "Status",
    "Contact",
    "Assigned resource",
    "Created",
    "Due",
    "Hours worked",
]
# A PDF of the whole tenant would be thousands of pages: past this, narrow the filters
# or take CSV/Excel, which stream any number of rows.
PDF_MAX_ROWS = 2000
_PDF_LOCK = threading.Lock()
_STATUS_LABELS = dict(TicketStatus.choices)


class ExportTooLarge(ValueError):
    """The PDF would hold more rows than PDF_MAX_ROWS."""


@dataclass(frozen=True)
class ExportRow:
    number: int
    end_client: str
    title: str
    status: str
    contact: str
    assigned_to: str
    created: dt.date
    due: dt.date | None
    hours: Decimal

    def values(self) -> list:
        return [
            self.number,
            self.end_client,
            self.title,
            self.status,
            self.contact,
            self.assigned_to,
            self.created,
            self.due,
            self.hours,
        ]


def export_rows(tickets: Iterable, zone: str) -> Iterator[ExportRow]:
    """Rows as the table shows them (creation day in ``zone``)."""
    for ticket in tickets:
        yield ExportRow(
            number=ticket.number,
            end_client=ticket.organization.name,
            title=ticket.title,
            status=_STATUS_LABELS.get(ticket.status, ticket.status),
            contact=ticket.contact.name if ticket.contact_id else "",
            assigned_to=ticket.assigned_name or "",
            created=to_zone(ticket.created_at, zone).date(),
            due=ticket.due_date,
            hours=seconds_to_hours(ticket.hours_seconds),
        )


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[ExportRow]) -> Iterator[str]:
    """CSV text, header first; a byte-order mark so Excel reads UTF-8 names correctly.

    Text cells that a spreadsheet would run as a formula get a leading apostrophe
    (``billing_site.spreadsheets``); the number and the hours stay numbers.
    """
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(HEADINGS)
    for row in rows:
        yield writer.writerow(
            [
                row.number,
                safe_text(row.end_client),
                safe_text(row.title),
                safe_text(row.status),
                safe_text(row.contact),
                safe_text(row.assigned_to),
                row.created.isoformat(),
                row.due.isoformat() if row.due else "",
                f"{row.hours:.2f}",
            ]
        )


def xlsx_bytes(rows: Iterable[ExportRow], *, title: str) -> bytes:
    """One worksheet: bold header, real dates and numbers (sortable in Excel); text cells
    are strings, never formulas (``billing_site.spreadsheets.xlsx_cell``)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    for letter, width in zip("ABCDEFGHI", (10, 28, 44, 14, 24, 24, 12, 12, 13), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    header = []
    for heading in HEADINGS:
        cell = WriteOnlyCell(sheet, value=heading)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    for row in rows:
        cells = []
        for index, value in enumerate(row.values()):
            cell = xlsx_cell(sheet, value)
            if index in (6, 7) and value is not None:
                cell.number_format = "yyyy-mm-dd"
            elif index == 8:
                cell.number_format = "0.00"
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@functools.cache
def _weasyprint_fonts():
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


def _refuse_fetch(url: str, *args, **kwargs):
    # The export is self-contained: nothing is fetched, from the network or the disk.
    raise ValueError(f"External resource refused in export PDF: {url[:80]}")


def pdf_bytes(rows: list[ExportRow], *, context: dict) -> bytes:
    """The table as an A4 landscape PDF (WeasyPrint), header repeated on every page."""
    from weasyprint import HTML

    html = render_to_string("portal/pdf/end_client_tickets.html", {**context, "rows": rows})
    # Pango/fontconfig are not guaranteed thread-safe; the embedded server is threaded.
    with _PDF_LOCK:
        return HTML(string=html, url_fetcher=_refuse_fetch).write_pdf(
            font_config=_weasyprint_fonts()
        )


def filter_summary(filters: EndClientTicketFilters) -> list[tuple[str, str]]:
    """The filters in force, as (heading, value) pairs, for the PDF's header."""
    labels = dict(
        zip(
            (
                "number",
                "end_client",
                "title",
                "status",
                "contact",
                "assigned_to",
                "created",
                "due",
                "hours",
            ),
            HEADINGS,
            strict=True,
        )
    )
    summary = []
    for name, label in labels.items():
        value = getattr(filters, name)
        if isinstance(value, dt.date):
            summary.append((label, value.isoformat()))
        elif value and value.strip():
            summary.append((label, f"starts with “{value.strip()}”"))
    summary.append(
        ("Completed tickets", "included" if filters.include_completed else "not included")
    )
    return summary


def export_response(
    export_format: str,
    *,
    tickets,
    organization: Organization,
    tenant: Tenant,
    filters: EndClientTicketFilters,
) -> HttpResponse:
    """The download of ``tickets`` in ``export_format`` (csv, xlsx or pdf)."""
    zone = organization.time_zone
    now = to_zone(timezone.now(), zone)
    filename = f"end-client-tickets-{now:%Y-%m-%d}.{export_format}"
    if export_format == "csv":
        response = StreamingHttpResponse(
            iterate_in_tenant(
                tenant, csv_lines(export_rows(tickets.iterator(chunk_size=2000), zone))
            ),
            content_type=FORMATS["csv"],
        )
    elif export_format == "xlsx":
        content = xlsx_bytes(
            export_rows(tickets.iterator(chunk_size=2000), zone), title="End client tickets"
        )
        response = HttpResponse(content, content_type=FORMATS["xlsx"])
    else:
        rows = list(export_rows(tickets[: PDF_MAX_ROWS + 1], zone))
        if len(rows) > PDF_MAX_ROWS:
            raise ExportTooLarge(
                f"A PDF holds at most {PDF_MAX_ROWS} tickets: narrow the filters, or export "
                "to CSV or Excel."
            )
        context = {
            "tenant": tenant,
            "organization": organization,
            "generated_at": now,
            "filters": filter_summary(filters),
            "headings": HEADINGS,
        }
        response = HttpResponse(pdf_bytes(rows, context=context), content_type=FORMATS["pdf"])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response
