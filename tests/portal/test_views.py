"""Portal pages: the end-client table, filters, exports, detail, files, layout and zones."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook
from pypdf import PdfReader

from billing_site.roles import Role

from .conftest import INTERNAL, set_created
from .factories import TicketFactory, TimeEntryFactory, portal_user

pytestmark = pytest.mark.django_db

ECT = reverse("portal:end-client-tickets")
EXPORT = reverse("portal:end-client-tickets-export")


@pytest.fixture
def partner(world, client_as):
    return client_as(world.portal_user)


def page(client, url, params=None, **headers):
    response = client.get(url, params or {}, **headers)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# ------------------------------------------------------------------ end-client table


def test_table_shows_the_end_client_tickets_with_every_column(world, world_b, partner):
    html = page(partner, ECT)
    assert "Printer offline" in html and "Till not printing" in html
    for hidden in ("Mailbox full", "Helios VPN down", "Laptop setup"):
        assert hidden not in html
    # Ticket link, end client, status, contact e-mail link, resource, dates, hours.
    assert reverse("portal:ticket-detail", args=[world.billed.pk]) in html
    assert f"#{world.billed.number}" in html
    assert 'href="mailto:wile@acme.test">Wile Coyote</a>' in html
    assert "Theo Martin" in html
    assert "2026-03-20" in html
    assert ">1.50<" in html and ">0.25<" in html
    assert INTERNAL not in html
    # Tenant B's same-named tickets never show.
    assert f'href="{reverse("portal:ticket-detail", args=[world_b.billed.pk])}"' not in html


def test_include_completed(world, partner):
    assert "Laptop setup" not in page(partner, ECT)
    assert "Laptop setup" in page(partner, ECT, {"include_completed": "on"})


def test_every_column_has_a_filter_and_a_sort(world, partner):
    html = page(partner, ECT)
    for name in ("number", "end_client", "title", "status", "contact", "assigned_to", "hours"):
        assert f'name="{name}"' in html and f'id="filter-{name}"' in html
    assert 'type="date" name="created"' in html and 'type="date" name="due"' in html
    for key in (
        "number",
        "end_client",
        "title",
        "status",
        "contact",
        "assigned_to",
        "created",
        "due",
        "hours",
    ):
        assert f'name="ordering" value="{key}"' in html or f'value="-{key}"' in html
    # Results follow typing after a pause, via htmx.
    assert 'hx-trigger="input changed delay:400ms from:.js-filter' in html
    # The print button is wired by static/js/app.js (no inline handler under the CSP).
    assert "data-print" in html


def test_filters_through_the_page_and_htmx_partial(world, partner):
    html = page(partner, ECT, {"end_client": "bis"})
    assert "Till not printing" in html and "Printer offline" not in html
    partial = page(partner, ECT, {"title": "PRINTER"}, HTTP_HX_REQUEST="true")
    assert "<html" not in partial and "<thead" not in partial
    assert "Printer offline" in partial and "Till not printing" not in partial
    # "starts with", not "contains".
    assert "No end client tickets match" in page(partner, ECT, {"title": "offline"})


def test_invalid_date_is_reported_not_ignored(world, partner):
    html = page(partner, ECT, {"created": "2026-13-45"}, HTTP_HX_REQUEST="true")
    assert "Enter a complete date" in html
    assert "Printer offline" not in html


def test_sorting_and_paging(world, partner):
    contract = world.contracts.acme_via_p
    for index in range(55):
        TicketFactory(
            tenant=world.tenant,
            organization=world.acme,
            contract=contract,
            title=f"Bulk {index:02d}",
        )
    html = page(partner, ECT, {"ordering": "title"})
    assert "1–50 of 57" in html
    assert html.index("Bulk 00") < html.index("Bulk 01")
    assert "Printer offline" not in html  # "P" sorts after "Bulk 4x" on page 2
    second = page(partner, ECT, {"ordering": "title", "page": "2"}, HTTP_HX_REQUEST="true")
    assert "Printer offline" in second and "Till not printing" in second
    assert "Bulk 00" not in second
    assert 'aria-sort="ascending"' in html


def test_times_show_in_the_partners_zone(world, partner):
    # 03:00 UTC on 10 March is 9 March, 23:00 in New York (P's zone), 04:00 in Paris.
    set_created(world.billed, dt.datetime(2026, 3, 10, 3, 0, tzinfo=dt.UTC))
    html = page(partner, ECT)
    assert "2026-03-09" in html and "2026-03-10" not in html
    detail = page(partner, reverse("portal:ticket-detail", args=[world.billed.pk]))
    assert "2026-03-09 23:00" in detail
    assert page(partner, ECT, {"created": "2026-03-09"}).count("Printer offline") == 1


def test_nav_shows_end_client_tickets_only_to_billing_partners(world, partner, client_as):
    assert ECT in page(partner, reverse("portal:home"))
    harbor = client_as(world.harbor_user)
    assert ECT not in page(harbor, reverse("portal:home"))
    assert harbor.get(ECT).status_code == 403
    assert harbor.get(EXPORT, {"format": "csv"}).status_code == 403


def test_page_queries_do_not_grow_with_rows(world, partner, django_assert_num_queries):
    contract = world.contracts.acme_via_p

    def add(count):
        for _ in range(count):
            ticket = TicketFactory(tenant=world.tenant, organization=world.acme, contract=contract)
            TimeEntryFactory(
                tenant=world.tenant,
                ticket=ticket,
                contract=contract,
                technician=world.tech,
                state="posted",
            )

    add(2)
    partner.get(ECT)  # warm the session
    # session, user, membership, its organization (read once the tenant is set: row-level
    # security), partner check, count, page.
    with django_assert_num_queries(7):
        small = partner.get(ECT)
    add(30)
    with django_assert_num_queries(7):
        large = partner.get(ECT)
    assert small.content.decode().count("<tr>") < large.content.decode().count("<tr>")


# ------------------------------------------------------------------------- exports


def csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_exports_contain_exactly_the_filtered_rows(world, partner):
    contract = world.contracts.acme_via_p
    for title in ("Acme one", "Acme two", "Other"):
        TicketFactory(tenant=world.tenant, organization=world.acme, contract=contract, title=title)
    params = {"title": "acme", "ordering": "title", "include_completed": "on"}

    response = partner.get(EXPORT, {**params, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    rows = csv_rows(response)
    assert rows[0] == [
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
    assert [row[2] for row in rows[1:]] == ["Acme one", "Acme two"]
    assert rows[1][1] == "ACME" and rows[1][3] == "New" and rows[1][8] == "0.00"

    response = partner.get(EXPORT, {**params, "format": "xlsx"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][2] == "Title"
    assert [row[2] for row in values[1:]] == ["Acme one", "Acme two"]

    response = partner.get(EXPORT, {**params, "format": "pdf"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    assert "Acme one" in text and "Acme two" in text
    assert "Other" not in text and "Printer offline" not in text


def test_exports_carry_every_page_hours_and_no_internal_notes(world, partner):
    contract = world.contracts.acme_via_p
    for index in range(60):
        TicketFactory(
            tenant=world.tenant,
            organization=world.acme,
            contract=contract,
            title=f"Bulk {index:02d}",
        )
    rows = csv_rows(partner.get(EXPORT, {"format": "csv"}))
    assert len(rows) == 1 + 62
    printer = next(row for row in rows if row[2] == "Printer offline")
    assert printer[5:] == ["Theo Martin", printer[6], "2026-03-20", "1.50"]
    for export_format in ("csv", "xlsx", "pdf"):
        response = partner.get(EXPORT, {"format": export_format, "title": "printer"})
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert INTERNAL.encode() not in body
    sheet = load_workbook(
        io.BytesIO(partner.get(EXPORT, {"format": "xlsx", "title": "printer"}).content)
    ).active
    row = list(sheet.iter_rows(values_only=True))[1]
    assert row[0] == world.billed.number and row[7] == dt.datetime(2026, 3, 20)
    assert row[8] == 1.5


def test_export_filters_by_date_and_refuses_bad_requests(world, partner):
    set_created(world.billed, dt.datetime(2026, 3, 10, 3, 0, tzinfo=dt.UTC))
    rows = csv_rows(partner.get(EXPORT, {"format": "csv", "created": "2026-03-09"}))
    assert [row[2] for row in rows[1:]] == ["Printer offline"]
    assert partner.get(EXPORT, {"format": "doc"}).status_code == 400
    assert partner.get(EXPORT, {"format": "csv", "due": "9 March"}).status_code == 400


def test_pdf_export_is_capped(world, partner, monkeypatch):
    from portal import exports

    monkeypatch.setattr(exports, "PDF_MAX_ROWS", 1)
    response = partner.get(EXPORT, {"format": "pdf"})
    assert response.status_code == 400
    assert "CSV or Excel" in response.content.decode()


# -------------------------------------------------------------------------- detail


def test_end_client_detail_shows_only_billable_work_and_posted_hours(world, partner):
    html = page(partner, reverse("portal:ticket-detail", args=[world.billed.pk]))
    for fact in (
        "ACME",
        "Printer offline",
        "The printer on floor 2 does not answer.",
        "Wile Coyote",
        "Theo Martin",
        "2026-03-20",
        "New",
    ):
        assert fact in html
    assert "Restarted the print spooler." in html and ">1.50<" in html
    assert "Ordered a new fuser." in html and "Not yet posted" in html
    assert "Courtesy check." not in html  # not billable
    assert INTERNAL not in html
    assert "spooler.log" in html and "photo.txt" not in html
    assert "<form" not in html.split("<main", 1)[1]  # read-only: no form in the page body


def test_one_entry_ticket_shows_that_entry_only(world, partner):
    html = page(partner, reverse("portal:ticket-detail", args=[world.one_entry.pk]))
    assert "Replaced the till cable." in html
    assert "Bistro&#x27;s own network work." not in html and "own network work" not in html
    assert "bistro-network.txt" not in html and INTERNAL not in html


def test_detail_of_a_ticket_outside_the_view_is_404(world, world_b, partner, client_as):
    for ticket in (world.not_billed, world_b.billed):
        assert partner.get(reverse("portal:ticket-detail", args=[ticket.pk])).status_code == 404
    harbor = client_as(world.harbor_user)
    for ticket in (world.billed, world.own):
        assert harbor.get(reverse("portal:ticket-detail", args=[ticket.pk])).status_code == 404


def test_detail_queries_are_constant(world, partner, django_assert_num_queries):
    url = reverse("portal:ticket-detail", args=[world.billed.pk])
    partner.get(url)
    # session, user, membership, its organization, partner check, ticket, entries,
    # attachments.
    with django_assert_num_queries(8):
        partner.get(url)
    for _ in range(4):
        TimeEntryFactory(
            tenant=world.tenant,
            ticket=world.billed,
            contract=world.contracts.acme_via_p,
            technician=world.tech,
        )
    with django_assert_num_queries(8):
        partner.get(url)


def test_attachments_download_through_the_portal_only_when_visible(world, world_b, partner):
    response = partner.get(reverse("portal:attachment", args=[world.files.billed.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"spooler restarted"
    assert "spooler.log" in response["Content-Disposition"]
    for hidden in (world.files.hidden, world.files.ticket, world_b.files.billed):
        assert partner.get(reverse("portal:attachment", args=[hidden.pk])).status_code == 404
    assert partner.get(reverse("portal:attachment", args=[world.files.own.pk])).status_code == 200


# --------------------------------------------------------------------------- my tickets


def test_my_tickets_are_the_organizations_own(world, partner):
    html = page(partner, reverse("portal:home"))
    assert "Helios VPN down" in html
    assert "Printer offline" not in html and "Till not printing" not in html
    # The search never reaches end-client tickets.
    searched = page(partner, reverse("portal:home"), {"q": "printer"})
    assert "Printer offline" not in searched and "No tickets match" in searched
    partial = page(partner, reverse("portal:home"), {"q": "vpn"}, HTTP_HX_REQUEST="true")
    assert "Helios VPN down" in partial and "<html" not in partial


# ---------------------------------------------------------------------- layout, access


def test_portal_layout_carries_the_msps_brand(world, partner):
    world.tenant.brand_color = "#aa3300"
    world.tenant.save()
    html = page(partner, reverse("portal:home"))
    assert "--brand: #aa3300" in html and "Alpha IT" in html
    assert "Helios IT Partners" in html
    assert reverse("customer-list") not in html  # no staff navigation


def test_logo_is_served_to_portal_users(world, partner, client_as, staff_user):
    from django.core.files.base import ContentFile

    assert partner.get(reverse("portal:logo")).status_code == 404
    world.tenant.logo.save("logo.png", ContentFile(b"\x89PNG fake"), save=True)
    assert reverse("portal:logo") in page(partner, reverse("portal:home"))
    response = partner.get(reverse("portal:logo"))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\x89PNG fake"
    assert client_as(staff_user).get(reverse("portal:logo")).status_code == 403


def test_portal_users_get_403_on_staff_pages(world, partner):
    for name in ("customer-list", "portal:users"):
        assert partner.get(reverse(name)).status_code == 403
    # The landing page after login sends portal users to the portal.
    landing = partner.get(reverse("dashboard"))
    assert (landing.status_code, landing["Location"]) == (302, reverse("portal:home"))


def test_staff_get_403_on_portal_pages(world, client_as, staff_a):
    for role in (Role.OWNER, Role.BILLING_ADMIN, Role.TECHNICIAN, Role.ACCOUNTANT):
        client = client_as(staff_a.user(role))
        assert client.get(reverse("portal:home")).status_code == 403
        assert client.get(ECT).status_code == 403


def test_portal_pages_refuse_writes(world, partner):
    assert partner.post(ECT, {}).status_code == 405
    assert partner.post(reverse("portal:ticket-detail", args=[world.billed.pk])).status_code == 405


def test_a_second_portal_user_of_the_same_partner_sees_the_same(world, client_as):
    colleague = client_as(portal_user(world.partner, username="helios-2"))
    assert "Printer offline" in page(colleague, ECT)


def test_attachments_are_downloads_whatever_they_were_uploaded_as(world, partner, api_as):
    # An uploaded script or page must never be served as one (same-origin script).
    world.files.billed.content_type = "text/html"
    world.files.billed.save(update_fields=["content_type"])
    for response in (
        partner.get(reverse("portal:attachment", args=[world.files.billed.pk])),
        api_as(world.portal_user).get(
            reverse("portal-api:attachment", args=[world.files.billed.pk])
        ),
    ):
        assert response.status_code == 200
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["X-Content-Type-Options"] == "nosniff"
