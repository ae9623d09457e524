"""A billing partner's portal user signs in, filters the end-client tickets billed to
them with the table's own filters, and takes each export of exactly what is on screen.

The world (tests/portal/conftest.py): Helios IT Partners is billed for ACME's "Printer
offline" (1 h 30 posted billable; a submitted and a non-billable entry do not count) and
"Laptop setup" (completed, no time), and for 15 min of Bistro's "Till not printing".
ACME's "Mailbox full" is billed to ACME, "Helios VPN down" is Helios's own ticket.
"""

from __future__ import annotations

import csv
import io
import re

import openpyxl
from pypdf import PdfReader

from tests.portal.conftest import build_world
from tests.portal.factories import portal_user

from .conftest import login, shot

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


def table_rows(page) -> list[list[str]]:
    """The ticket rows on screen, as their cells' texts (the pager row apart)."""
    rows = page.locator("#ect-rows tr:not(.pager-row)")
    return [[cell.strip() for cell in row.locator("td").all_inner_texts()] for row in rows.all()]


def filtered(page, action) -> None:
    """Change a filter and wait for the table the page fetches in return."""
    with page.expect_response(
        lambda r: "/portal/" in r.url and r.request.headers.get("hx-request") == "true"
    ):
        action()
    # htmx marks the form and the rows while it requests, swaps and settles.
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


def download(page, button: str):
    with page.expect_download() as event:
        page.get_by_role("button", name=button).click()
    result = event.value
    assert result.failure() is None
    return result.suggested_filename, result.path().read_bytes()


def test_partner_filters_end_client_tickets_and_exports_what_it_sees(page, live_server, tenant_a):
    world = build_world(tenant_a)
    user = portal_user(world.partner, username="helios-portal")
    user.first_name, user.last_name = "Hana", "Helios"
    user.save()
    printer, laptop = world.billed.number, world.completed.number

    login(page, user)
    assert page.get_by_role("heading", level=1).inner_text() == "My tickets"
    assert "Hana Helios · Helios IT Partners" in page.locator("header").first.inner_text()
    page.get_by_role("navigation", name="Portal").get_by_role(
        "link", name="End client tickets"
    ).click()
    assert page.get_by_role("heading", level=1).inner_text() == "End client tickets"

    # Open tickets billed to Helios, of every end client; none of ACME's own billing,
    # none of Helios's own tickets, completed ones hidden.
    rows = table_rows(page)
    by_title = {row[2]: row for row in rows}
    assert set(by_title) == {"Printer offline", "Till not printing"}
    assert by_title["Printer offline"][0] == f"#{printer}"
    assert by_title["Printer offline"][1] == "ACME"
    assert by_title["Printer offline"][4] == "Wile Coyote"
    assert by_title["Printer offline"][5] == "Theo Martin"
    assert by_title["Printer offline"][7] == "2026-03-20"
    assert by_title["Printer offline"][8] == "1.50"
    assert by_title["Till not printing"][1] == "Bistro Lumière"
    assert by_title["Till not printing"][8] == "0.25"

    # One end client, then its completed tickets too.
    filtered(page, lambda: page.get_by_label("Filter end client").fill("ACM"))
    assert [row[2] for row in table_rows(page)] == ["Printer offline"]
    filtered(page, lambda: page.get_by_label("Include completed tickets").check())
    rows = table_rows(page)
    assert sorted(row[2] for row in rows) == ["Laptop setup", "Printer offline"]
    assert {row[2]: row[8] for row in rows} == {"Printer offline": "1.50", "Laptop setup": "0.00"}
    assert {row[2]: row[3] for row in rows}["Laptop setup"] == "Complete"
    # The address keeps the filters, so the view can be bookmarked or shared.
    assert "end_client=ACM" in page.url and "include_completed=on" in page.url
    on_screen = {int(row[0].lstrip("#")): row[8] for row in rows}
    assert on_screen == {printer: "1.50", laptop: "0.00"}

    # Each export holds exactly the rows on screen, with their hours.
    name, content = download(page, "Export CSV")
    assert re.fullmatch(r"end-client-tickets-\d{4}-\d{2}-\d{2}\.csv", name)
    lines = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert lines[0] == HEADINGS
    assert {int(line[0]): line[8] for line in lines[1:]} == on_screen
    assert {line[1] for line in lines[1:]} == {"ACME"}

    name, content = download(page, "Export Excel")
    assert name.endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True).active
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert [str(value) for value in cells[0]] == HEADINGS
    assert {int(row[0]): f"{float(row[8]):.2f}" for row in cells[1:]} == on_screen

    name, content = download(page, "Export PDF")
    assert name.endswith(".pdf")
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)
    assert "Printer offline" in text and "Laptop setup" in text
    assert "Till not printing" not in text and "Mailbox full" not in text

    shot(page, "portal-end-client-tickets")
