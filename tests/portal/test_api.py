"""Portal API: token auth for portal logins, the same filters, detail, exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.urls import reverse
from openpyxl import load_workbook
from pypdf import PdfReader
from rest_framework.test import APIClient

from billing_site.roles import Role
from billing_site.testing.factories import TEST_PASSWORD

from .conftest import INTERNAL, set_created
from .factories import TicketFactory, TimeEntryFactory

pytestmark = pytest.mark.django_db

LIST = reverse("portal-api:end-client-ticket-list")
EXPORT = reverse("portal-api:end-client-ticket-export")


@pytest.fixture
def api(world, api_as):
    return api_as(world.portal_user)


def test_portal_user_gets_a_token_and_lists_end_client_tickets(world, world_b):
    client = APIClient()
    token = client.post(
        reverse("api-token"), {"username": "helios-portal", "password": TEST_PASSWORD}
    ).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get(LIST)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [row["title"] for row in body["results"]] == ["Till not printing", "Printer offline"]
    printer = body["results"][1]
    assert printer["end_client"]["name"] == "ACME"
    assert printer["contact"] == {"name": "Wile Coyote", "email": "wile@acme.test"}
    assert printer["assigned_to"] == "Theo Martin"
    assert printer["hours_worked"] == "1.50"
    assert printer["due_date"] == "2026-03-20"
    assert printer["status"] == "new" and printer["status_label"] == "New"
    assert printer["url"].endswith(reverse("portal-api:ticket-detail", args=[world.billed.pk]))


def test_filters_ordering_paging_and_include_completed(world, api):
    rows = api.get(LIST, {"include_completed": "true", "ordering": "title"}).json()["results"]
    assert [r["title"] for r in rows] == ["Laptop setup", "Printer offline", "Till not printing"]
    assert [r["title"] for r in api.get(LIST, {"end_client": "ac"}).json()["results"]] == [
        "Printer offline"
    ]
    assert api.get(LIST, {"title": "offline"}).json()["count"] == 0
    assert api.get(LIST, {"hours": "0.2"}).json()["results"][0]["title"] == "Till not printing"
    assert api.get(LIST, {"due": "2026-03-20", "contact": "wi"}).json()["count"] == 1
    page = api.get(LIST, {"page_size": 1, "ordering": "-hours"}).json()
    assert page["count"] == 2 and page["next"] and page["results"][0]["title"] == "Printer offline"
    bad = api.get(LIST, {"created": "yesterday", "ordering": "internal_note"})
    assert bad.status_code == 400
    assert set(bad.json()) == {"created", "ordering"}


def test_created_at_in_the_organizations_zone(world, api):
    set_created(world.billed, dt.datetime(2026, 3, 10, 3, 0, tzinfo=dt.UTC))
    row = api.get(LIST, {"created": "2026-03-09"}).json()["results"][0]
    assert row["created_at"] == "2026-03-09T23:00:00-04:00"


def test_detail_work_history(world, api):
    body = api.get(reverse("portal-api:ticket-detail", args=[world.billed.pk])).json()
    assert body["is_end_client"] is True
    assert body["organization"]["name"] == "ACME"
    assert body["description"] == "The printer on floor 2 does not answer."
    history = {item["summary_note"]: item for item in body["work_history"]}
    assert set(history) == {"Restarted the print spooler.", "Ordered a new fuser."}
    assert history["Restarted the print spooler."]["hours_worked"] == "1.50"
    assert history["Ordered a new fuser."] == {
        **history["Ordered a new fuser."],
        "hours_worked": None,
        "posted": False,
    }
    files = history["Restarted the print spooler."]["attachments"]
    assert [f["name"] for f in files] == ["spooler.log"]
    assert body["attachments"] == []
    assert INTERNAL not in json.dumps(body) and "internal_note" not in json.dumps(body)
    download = api.get(files[0]["url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"spooler restarted"


def test_own_tickets_and_detail(world, api):
    rows = api.get(reverse("portal-api:ticket-list")).json()["results"]
    assert [r["title"] for r in rows] == ["Helios VPN down"]
    assert api.get(reverse("portal-api:ticket-list"), {"q": "printer"}).json()["count"] == 0
    body = api.get(reverse("portal-api:ticket-detail", args=[world.own.pk])).json()
    assert body["is_end_client"] is False
    assert [f["name"] for f in body["attachments"]] == ["vpn.txt"]


def test_objects_outside_the_view_are_404(world, world_b, api, api_as):
    for ticket in (world.not_billed, world_b.billed):
        assert api.get(reverse("portal-api:ticket-detail", args=[ticket.pk])).status_code == 404
    for hidden in (world.files.hidden, world.files.ticket, world_b.files.billed):
        assert api.get(reverse("portal-api:attachment", args=[hidden.pk])).status_code == 404
    harbor = api_as(world.harbor_user)
    assert (
        harbor.get(reverse("portal-api:ticket-detail", args=[world.billed.pk])).status_code == 404
    )
    assert harbor.get(LIST).status_code == 403


def test_exports_through_the_api(world, api):
    contract = world.contracts.acme_via_p
    for title in ("Acme one", "Acme two"):
        TicketFactory(tenant=world.tenant, organization=world.acme, contract=contract, title=title)
    params = {"title": "acme", "ordering": "-title"}
    response = api.get(EXPORT, {**params, "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert [row[2] for row in list(csv.reader(io.StringIO(text)))[1:]] == ["Acme two", "Acme one"]

    response = api.get(EXPORT, {**params, "format": "xlsx"})
    assert response.status_code == 200
    values = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert [row[2] for row in values[1:]] == ["Acme two", "Acme one"]

    response = api.get(EXPORT, {**params, "format": "pdf"})
    assert response.status_code == 200
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    assert "Acme two" in text and "Printer offline" not in text and INTERNAL not in text

    bad = api.get(EXPORT, {"format": "doc"})
    assert bad.status_code == 400 and bad.json() == {"format": ["Choose csv, xlsx or pdf."]}
    assert api.get(EXPORT, {"format": "csv", "due": "soon"}).status_code == 400


def test_list_queries_do_not_grow_with_rows(world, api, django_assert_num_queries):
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
    # token, membership, its organization (read once the tenant is set: row-level
    # security), partner check, count, page.
    with django_assert_num_queries(6):
        assert api.get(LIST).json()["count"] == 4
    add(25)
    with django_assert_num_queries(6):
        assert api.get(LIST).json()["count"] == 29


def test_staff_tokens_and_anonymous_are_refused(world, staff_a, api_as):
    for role in (Role.OWNER, Role.BILLING_ADMIN, Role.TECHNICIAN, Role.ACCOUNTANT):
        client = api_as(staff_a.user(role))
        assert client.get(LIST).status_code == 403
        assert (
            client.get(reverse("portal-api:ticket-detail", args=[world.billed.pk])).status_code
            == 403
        )
    anonymous = APIClient()
    assert anonymous.get(LIST).status_code == 401
    assert anonymous.get(EXPORT, {"format": "csv"}).status_code == 401


def test_portal_api_is_read_only(world, api):
    assert api.post(LIST, {}).status_code == 403
    assert (
        api.delete(reverse("portal-api:ticket-detail", args=[world.billed.pk])).status_code == 403
    )


def test_portal_token_is_refused_by_staff_apis(world, api):
    assert api.get(reverse("organization-list")).status_code == 403
