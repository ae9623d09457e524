"""Extreme dates are a 400 naming the field and the range, never a 500 (issue 13).

Every stored date and time lies between ``EARLIEST_DATE`` and ``LATEST_DATE``
(``billing_site.timeutils``): the API answers 400 with the field, a form shows the error
next to it, and a page filter shows its error and no rows instead of everything
unfiltered. Rows stored before the range was enforced (written here with ``update()``)
never break a page and can still be deleted. Tenant B always has rows that must stay
unseen. The last test needs PostgreSQL (BC timestamps, years past 9999).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.urls import reverse

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from billing_site.timeutils import (
    DATE_RANGE_MESSAGE,
    EARLIEST_DATE,
    LATEST_DATE,
    check_date_range,
    computable_date,
    to_zone,
    validate_date_range,
)
from contracts.models import BlockPurchase, Contract, TimeEntry
from contracts.pricing.periods import contract_periods, period_containing, periods_between
from invoices.batches.models import InvoiceBatch
from invoices.models import Invoice, InvoiceStatus, Payment
from sessions.models import RemoteSession
from tests.contracts.factories import (
    BlockPurchaseFactory,
    ContractFactory,
    TicketFactory,
    TimeEntryFactory,
    technician,
)
from tests.invoices.factories import InvoiceFactory, InvoiceLineFactory
from tests.portal.factories import portal_user
from tests.sessions.factories import HostFactory, RemoteSessionFactory

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 10, 10, tzinfo=UTC)
RANGE = "between 2000-01-01 and 2099-12-31"
# Parse but out of range, and the first year Python cannot parse at all.
BAD_DATES = ["9999-12-31", "0001-01-01", "1999-12-31", "2100-01-01", "10000-01-01"]
BAD_TIMES = [
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:30:00",
    "9999-12-31T23:30:00-05:00",
    "10000-01-01T00:00:00Z",
]


def _errors(response, field: str) -> str:
    """The 400 body's messages for ``field``, as one text."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body, body
    value = body[field]
    return str(value)


def _refused_for_range(response, field: str) -> None:
    text = _errors(response, field)
    # Unparseable values (year 10000) get the format message; the rest name the range.
    assert RANGE in text or "format" in text.lower() or "valid" in text.lower(), text


@pytest.fixture
def admin_api(admin_a, api_as):
    return api_as(admin_a)


@pytest.fixture
def admin_browser(admin_a, client_as):
    return client_as(admin_a)


@pytest.fixture
def world(tenant_a, tenant_b):
    """Tenant A's customer, hourly and block contracts, a ticket, a host and a session;
    tenant B's look-alikes."""
    with tenant_context(tenant_b):
        other = ContractFactory(tenant=tenant_b, block=True)
        RemoteSessionFactory(tenant=tenant_b)
        BlockPurchaseFactory(tenant=tenant_b, contract=other)
    with tenant_context(tenant_a):
        acme = OrganizationFactory(tenant=tenant_a, name="ACME")
        hourly = ContractFactory(tenant=tenant_a, customer=acme, name="ACME hourly")
        block = ContractFactory(tenant=tenant_a, customer=acme, name="ACME block", block=True)
        purchase = BlockPurchaseFactory(tenant=tenant_a, contract=block)
        ticket = TicketFactory(tenant=tenant_a, organization=acme, contract=hourly)
        host = HostFactory(tenant=tenant_a, organization=acme)
        session = RemoteSessionFactory(tenant=tenant_a, host=host, comment="Unique job")
        return {
            "acme": acme,
            "hourly": hourly,
            "block": block,
            "purchase": purchase,
            "ticket": ticket,
            "host": host,
            "session": session,
        }


# ------------------------------------------------------------------ the range, once


def test_the_range_is_defined_once_and_named_in_the_message():
    assert dt.date(2000, 1, 1) == EARLIEST_DATE
    assert dt.date(2099, 12, 31) == LATEST_DATE
    assert RANGE in DATE_RANGE_MESSAGE
    validate_date_range(EARLIEST_DATE)
    validate_date_range(LATEST_DATE)
    validate_date_range(dt.datetime(2099, 12, 31, 23, 59, tzinfo=UTC))
    validate_date_range(None)
    for value in (dt.date(1999, 12, 31), dt.date(2100, 1, 1), dt.date.min, dt.date.max):
        with pytest.raises(Exception, match="2000-01-01 and 2099-12-31"):
            validate_date_range(value)
    with pytest.raises(Exception) as error:
        check_date_range(start=dt.date(1, 1, 1), end=dt.date(2026, 1, 1), other=None)
    assert error.value.message_dict == {"start": [DATE_RANGE_MESSAGE]}


def test_periods_at_the_calendar_edges_are_computed_not_crashed():
    """Stored rows from before the range: periods clamp instead of leaving the calendar."""
    edge = Contract(
        start_date=dt.date(1, 1, 1), end_date=None, billing_cycle="yearly", anchor_day=31
    )
    assert period_containing(edge, dt.date.max).end < dt.date.max
    assert period_containing(edge, dt.date.min).start <= computable_date(dt.date.min)
    assert contract_periods(edge, dt.date(2, 3, 1))
    late = Contract(start_date=dt.date.max, end_date=None, billing_cycle="monthly", anchor_day=31)
    assert periods_between(late, dt.date.max, dt.date.max)
    # Inside the range nothing changes.
    monthly = Contract(
        start_date=dt.date(2026, 1, 31), end_date=None, billing_cycle="monthly", anchor_day=31
    )
    period = period_containing(monthly, dt.date(2026, 3, 1))
    assert (period.start, period.end) == (dt.date(2026, 2, 28), dt.date(2026, 3, 30))


def test_a_time_no_zone_can_show_is_shown_as_stored():
    first = dt.datetime(1, 1, 1, tzinfo=UTC)
    assert to_zone(first, "America/New_York") == first
    assert to_zone(dt.datetime(2026, 1, 1, 12, tzinfo=UTC), "Europe/Paris").hour == 13


# ------------------------------------------------------------------ API filters

API_FILTERS = [
    ("/api/v1/time-entries/", "work_date_after", "date"),
    ("/api/v1/time-entries/", "started_before", "time"),
    ("/api/v1/contracts/", "start_after", "date"),
    ("/api/v1/block-purchases/", "purchased_before", "date"),
    ("/api/v1/tickets/", "due_after", "date"),
    ("/api/v1/tickets/", "created_after", "time"),
    ("/api/v1/sessions/", "started_after", "time"),
    ("/api/v1/invoices/", "issued_after", "date"),
    ("/api/v1/payments/", "received_before", "date"),
]


@pytest.mark.parametrize(("url", "name", "kind"), API_FILTERS)
def test_api_date_filters_refuse_extreme_dates(admin_api, world, url, name, kind):
    values = BAD_DATES if kind == "date" else [*BAD_TIMES, "0001-01-01"]
    for value in values:
        _refused_for_range(admin_api.get(url, {name: value}), name)
    assert (
        admin_api.get(
            url, {name: "2026-01-01" if kind == "date" else "2026-01-01T00:00:00Z"}
        ).status_code
        == 200
    )


def test_api_as_of_of_a_contract_state_is_refused_out_of_range(admin_api, world):
    url = f"/api/v1/contracts/{world['block'].pk}/billing/"
    for value in BAD_DATES:
        _refused_for_range(admin_api.get(url, {"as_of": value}), "as_of")
    assert admin_api.get(url, {"as_of": "2026-03-01"}).status_code == 200


def test_portal_api_filters_refuse_extreme_dates(tenant_a, api_as):
    with tenant_context(tenant_a):
        partner = OrganizationFactory(tenant=tenant_a, name="Partner")
        client = OrganizationFactory(tenant=tenant_a, name="End client")
        contract = ContractFactory(tenant=tenant_a, customer=client, billing_organization=partner)
        TicketFactory(tenant=tenant_a, organization=client, contract=contract)
        user = portal_user(partner)
    api = api_as(user)
    url = reverse("portal-api:end-client-ticket-list")
    for name in ("created", "due"):
        for value in BAD_DATES:
            assert api.get(url, {name: value}).status_code == 400
        assert api.get(url, {name: "2026-01-01"}).status_code == 200


# ------------------------------------------------------------------ API writes


@pytest.mark.parametrize("as_of", BAD_DATES)
def test_api_batch_as_of_out_of_range_is_a_400_and_nothing_is_saved(admin_api, world, as_of):
    response = admin_api.post("/api/v1/batches/", {"name": "Far", "as_of": as_of}, format="json")
    _refused_for_range(response, "as_of")
    with tenant_context(world["acme"].tenant):
        assert not InvoiceBatch.objects.exists()


def test_api_batch_as_of_cannot_be_moved_out_of_range(admin_api, world):
    created = admin_api.post(
        "/api/v1/batches/", {"name": "March", "as_of": "2026-03-01"}, format="json"
    )
    assert created.status_code == 201
    url = f"/api/v1/batches/{created.json()['id']}/"
    _refused_for_range(admin_api.patch(url, {"as_of": "0001-01-01"}, format="json"), "as_of")
    with tenant_context(world["acme"].tenant):
        assert InvoiceBatch.objects.get().as_of == dt.date(2026, 3, 1)


@pytest.mark.parametrize("field", ["issue_date", "due_date"])
def test_api_invoice_dates_out_of_range_are_a_400(admin_api, world, field):
    with tenant_context(world["acme"].tenant):
        draft = InvoiceFactory(tenant=world["acme"].tenant, draft=True)
    for value in BAD_DATES:
        response = admin_api.patch(f"/api/v1/invoices/{draft.pk}/", {field: value}, format="json")
        _refused_for_range(response, field)
    with tenant_context(world["acme"].tenant):
        draft.refresh_from_db()
        assert draft.issue_date is None and draft.due_date is None


def test_finalising_a_draft_stored_with_a_far_date_is_a_400(admin_api, world):
    tenant = world["acme"].tenant
    with tenant_context(tenant):
        draft = InvoiceFactory(tenant=tenant, draft=True)
        InvoiceLineFactory(tenant=tenant, invoice=draft)
        Invoice.objects.filter(pk=draft.pk).update(issue_date=dt.date(9999, 12, 31))
    response = admin_api.post(f"/api/v1/invoices/{draft.pk}/finalize/", format="json")
    _refused_for_range(response, "issue_date")
    with tenant_context(tenant):
        assert Invoice.objects.get(pk=draft.pk).status == InvoiceStatus.DRAFT


def test_api_payment_date_out_of_range_is_a_400(admin_api, world):
    tenant = world["acme"].tenant
    with tenant_context(tenant):
        invoice = InvoiceFactory(tenant=tenant, total=Decimal("100.000"))
    for value in BAD_DATES:
        response = admin_api.post(
            "/api/v1/payments/",
            {"invoice": invoice.pk, "amount": "10.00", "received_on": value, "method": "bank"},
            format="json",
        )
        _refused_for_range(response, "received_on")
    with tenant_context(tenant):
        assert not Payment.objects.exists()


def test_api_session_invoice_range_out_of_range_is_a_400(admin_api, world):
    for field in ("date_from", "date_to"):
        response = admin_api.post(
            "/api/v1/invoices/from-sessions/",
            {"scope": "host", "id": world["host"].pk, field: "0001-01-01"},
            format="json",
        )
        _refused_for_range(response, field)
    with tenant_context(world["acme"].tenant):
        assert not Invoice.objects.exists()


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("value", BAD_TIMES)
def test_api_session_times_out_of_range_are_a_400(admin_api, world, value):
    with tenant_context(world["acme"].tenant):
        before = RemoteSession.objects.count()
    for field, other in (("started_at", "ended_at"), ("ended_at", "started_at")):
        body = {
            "host": world["host"].pk,
            field: value,
            other: "2026-03-09T10:00:00Z" if field == "ended_at" else "2026-03-09T11:00:00Z",
        }
        _refused_for_range(admin_api.post("/api/v1/sessions/", body, format="json"), field)
        url = f"/api/v1/sessions/{world['session'].pk}/"
        _refused_for_range(admin_api.patch(url, {field: value}, format="json"), field)
    with tenant_context(world["acme"].tenant):
        assert RemoteSession.objects.count() == before
        world["session"].refresh_from_db()
        assert world["session"].started_at.year == 2026


@time_machine.travel(NOW, tick=False)
def test_api_time_entry_dates_and_times_out_of_range_are_a_400(admin_api, world):
    base = {"ticket": world["ticket"].pk}
    for value in BAD_DATES:
        response = admin_api.post(
            "/api/v1/time-entries/",
            {**base, "work_date": value, "worked_seconds": 3600},
            format="json",
        )
        _refused_for_range(response, "work_date")
    for value in BAD_TIMES:
        response = admin_api.post(
            "/api/v1/time-entries/",
            {**base, "started_at": value, "ended_at": "2026-03-09T11:00:00Z"},
            format="json",
        )
        _refused_for_range(response, "started_at")
    with tenant_context(world["acme"].tenant):
        assert not TimeEntry.objects.exists()


@pytest.mark.parametrize("value", BAD_DATES)
def test_api_block_purchase_date_out_of_range_is_a_400(admin_api, world, value):
    response = admin_api.post(
        "/api/v1/block-purchases/",
        {"contract": world["block"].pk, "purchased_on": value},
        format="json",
    )
    _refused_for_range(response, "purchased_on")
    with tenant_context(world["acme"].tenant):
        assert BlockPurchase.objects.count() == 1


@pytest.mark.parametrize("field", ["start_date", "end_date"])
def test_api_contract_dates_out_of_range_are_a_400(admin_api, world, field):
    body = {
        "customer": world["acme"].pk,
        "name": "Far away",
        "start_date": "2026-01-01",
        field: "9999-12-31",
    }
    _refused_for_range(admin_api.post("/api/v1/contracts/", body, format="json"), field)
    with tenant_context(world["acme"].tenant):
        assert not Contract.objects.filter(name="Far away").exists()


@time_machine.travel(NOW, tick=False)
def test_api_session_import_rows_out_of_range_are_row_errors(admin_api, admin_a, world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    header = "host,group,technician,start,end,comment,external_id\n"
    rows = [
        f"PC-1,ACME,{admin_a.username},0001-01-01 00:30:00,0001-01-01 00:45:00,Old,R-1\n",
        f"PC-1,ACME,{admin_a.username},9999-12-31 23:00:00,9999-12-31 23:30:00,Late,R-2\n",
        f"PC-1,ACME,{admin_a.username},0001-01-01T00:30:00+01:00,2026-03-09 10:00:00,Mix,R-3\n",
    ]
    upload = SimpleUploadedFile("s.csv", (header + "".join(rows)).encode(), "text/csv")
    response = admin_api.post("/api/v1/sessions/import/", {"file": upload}, format="multipart")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert {error["line"] for error in errors} == {2, 3, 4}
    assert all(RANGE in error["message"] for error in errors if error["column"] == "start")
    with tenant_context(world["acme"].tenant):
        assert not RemoteSession.objects.filter(comment__in=["Old", "Late", "Mix"]).exists()


@time_machine.travel(NOW, tick=False)
def test_api_timer_stops_out_of_range_are_a_400(api_as, staff_a, world):
    tech = staff_a.user(Role.TECHNICIAN)
    api = api_as(tech)
    started = api.post("/api/v1/sessions/start/", {"host": world["host"].pk}, format="json")
    assert started.status_code == 201, started.content
    url = f"/api/v1/sessions/{started.json()['id']}/stop/"
    for value in BAD_TIMES:
        _refused_for_range(api.post(url, {"ended_at": value}, format="json"), "ended_at")
    with tenant_context(world["acme"].tenant):
        assert RemoteSession.objects.get(pk=started.json()["id"]).ended_at is None


def test_session_invoice_page_date_range_out_of_range_is_a_400(admin_browser, world):
    url = reverse("invoices:session-invoice-new")
    scope = {"scope": "host", "id": world["host"].pk}
    for name in ("date_from", "date_to"):
        response = admin_browser.get(url, {**scope, name: "9999-12-31"})
        assert response.status_code == 400
        assert name in response.content.decode() and RANGE in response.content.decode()
    assert admin_browser.get(url, {**scope, "date_from": "2026-01-01"}).status_code == 200


@time_machine.travel(NOW, tick=False)
def test_api_ticket_due_date_and_time_entry_timer_stop_out_of_range(api_as, staff_a, world):
    admin = api_as(staff_a.user(Role.BILLING_ADMIN))
    body = {"title": "Far", "organization": world["acme"].pk, "due_date": "9999-12-31"}
    _refused_for_range(admin.post("/api/v1/tickets/", body, format="json"), "due_date")
    url = f"/api/v1/tickets/{world['ticket'].pk}/"
    _refused_for_range(admin.patch(url, {"due_date": "0001-01-01"}, format="json"), "due_date")
    tech = api_as(staff_a.user(Role.TECHNICIAN))
    started = tech.post(
        "/api/v1/time-entries/timer/start/", {"ticket": world["ticket"].pk}, format="json"
    )
    assert started.status_code == 201, started.content
    for value in BAD_TIMES:
        response = tech.post("/api/v1/time-entries/timer/stop/", {"ended_at": value}, format="json")
        _refused_for_range(response, "ended_at")
    with tenant_context(world["acme"].tenant):
        assert TimeEntry.objects.get().ended_at is None
        world["ticket"].refresh_from_db()
        assert world["ticket"].due_date is None


def test_payment_page_date_out_of_range_is_a_form_error(admin_browser, world):
    tenant = world["acme"].tenant
    with tenant_context(tenant):
        invoice = InvoiceFactory(tenant=tenant, total=Decimal("100.000"))
    response = admin_browser.post(
        reverse("invoices:payment-create", args=[invoice.pk]),
        {"amount": "10.00", "received_on": "9999-12-31", "method": "bank"},
    )
    assert response.status_code == 400
    assert RANGE in response.content.decode()
    with tenant_context(tenant):
        assert not Payment.objects.exists()


# ------------------------------------------------------------------ page filters


def test_session_pages_show_a_refused_date_filter_and_no_rows(admin_browser, world):
    for name in ("sessions:session-list", "sessions:session-by-client", "sessions:host-list"):
        for value in ("0001-01-01", "9999-12-31", "10000-01-01"):
            response = admin_browser.get(reverse(name), {"date_from": value})
            html = response.content.decode()
            assert response.status_code == 200, (name, value)
            assert "has-error" in html
            assert "Unique job" not in html
        assert "Unique job" in admin_browser.get(reverse("sessions:session-list")).content.decode()
    for name, pk in (("sessions:host-detail", world["host"].pk),):
        response = admin_browser.get(reverse(name, args=[pk]), {"date_to": "9999-12-31"})
        assert response.status_code == 200
        assert RANGE in response.content.decode()
        assert "Unique job" not in response.content.decode()


def test_htmx_tables_say_why_nothing_is_listed(admin_browser, world):
    """A filter changed in place (htmx) swaps only the table: the reason is in it."""
    for name, params in (
        ("sessions:session-list", {"date_from": "0001-01-01"}),
        ("invoices:invoice-list", {"issued_to": "9999-12-31"}),
        ("contracts:approvals", {"from": "9999-12-31"}),
    ):
        response = admin_browser.get(reverse(name), params, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        html = response.content.decode()
        assert "Nothing is listed" in html and RANGE in html, name
        assert "Unique job" not in html


def test_invoice_list_shows_a_refused_filter_and_no_rows(admin_browser, world):
    with tenant_context(world["acme"].tenant):
        invoice = InvoiceFactory(tenant=world["acme"].tenant, number="INV-UNIQUE-1")
    url = reverse("invoices:invoice-list")
    assert invoice.number in admin_browser.get(url).content.decode()
    for value in ("9999-12-31", "0001-01-01"):
        response = admin_browser.get(url, {"issued_from": value})
        assert response.status_code == 200
        assert RANGE in response.content.decode()
        assert invoice.number not in response.content.decode()


def test_approval_queue_shows_a_refused_filter_and_no_rows(admin_browser, world, staff_a):
    with tenant_context(world["acme"].tenant):
        TimeEntryFactory(
            tenant=world["acme"].tenant,
            ticket=world["ticket"],
            technician=staff_a.user(Role.TECHNICIAN),
            summary_note="Visible note",
        )
    url = reverse("contracts:approvals")
    assert world["ticket"].title in admin_browser.get(url).content.decode()
    for name in ("from", "to"):
        response = admin_browser.get(url, {name: "9999-12-31"})
        html = response.content.decode()
        assert response.status_code == 200
        assert RANGE in html
        assert world["ticket"].title not in html.split('id="approval-table"')[1]


def test_portal_page_filter_shows_the_error_and_no_rows(tenant_a, client_as):
    with tenant_context(tenant_a):
        partner = OrganizationFactory(tenant=tenant_a, name="Partner")
        client = OrganizationFactory(tenant=tenant_a, name="End client")
        contract = ContractFactory(tenant=tenant_a, customer=client, billing_organization=partner)
        TicketFactory(tenant=tenant_a, organization=client, contract=contract, title="Seen once")
        user = portal_user(partner)
    browser = client_as(user)
    url = reverse("portal:end-client-tickets")
    assert "Seen once" in browser.get(url).content.decode()
    for value in ("0001-01-01", "9999-12-31"):
        response = browser.get(url, {"created": value})
        assert response.status_code == 200
        assert RANGE in response.content.decode()
        assert "Seen once" not in response.content.decode()
    export = browser.get(
        reverse("portal:end-client-tickets-export"), {"format": "csv", "due": "0001-01-01"}
    )
    assert export.status_code == 400


@time_machine.travel(NOW, tick=False)
def test_contract_page_as_of_out_of_range_shows_the_error(admin_browser, world):
    url = reverse("contracts:contract-detail", args=[world["block"].pk])
    for value in ("9999-12-31", "0001-01-01", "10000-01-01"):
        response = admin_browser.get(url, {"as_of": value})
        assert response.status_code == 200
        html = response.content.decode()
        assert "has-error" in html
        assert "Billing periods" in html
    assert admin_browser.get(url, {"as_of": "2026-03-01"}).status_code == 200


@time_machine.travel(NOW, tick=False)
def test_timesheet_week_out_of_range_shows_the_error(client_as, staff_a, world):
    browser = client_as(staff_a.user(Role.TECHNICIAN))
    url = reverse("contracts:timesheet")
    for value in ("9999-12-31", "0001-01-01", "10000-01-01", "2026-13-01"):
        response = browser.get(url, {"week": value})
        assert response.status_code == 200, value
        html = response.content.decode()
        assert "has-error" in html
        assert "Save week" not in html
    assert "Save week" in browser.get(url, {"week": "2026-03-09"}).content.decode()
    # The last week of the range still shows (its Sunday is past it).
    assert browser.get(url, {"week": "2099-12-31"}).status_code == 200
    response = browser.post(url, {"week": "9999-12-31", "row_count": "0"})
    assert response.status_code == 400
    assert RANGE in response.content.decode()


# ------------------------------------------------------------------ page forms


def test_batch_page_as_of_out_of_range_is_a_form_error(admin_browser, world):
    for value in BAD_DATES:
        response = admin_browser.post(
            reverse("invoices:batch-list"), {"name": "Far", "as_of": value}
        )
        assert response.status_code == 400
    assert RANGE in response.content.decode() or "valid date" in response.content.decode()
    with tenant_context(world["acme"].tenant):
        assert not InvoiceBatch.objects.exists()


def test_invoice_edit_page_issue_date_out_of_range_is_a_form_error(admin_browser, world):
    tenant = world["acme"].tenant
    with tenant_context(tenant):
        draft = InvoiceFactory(tenant=tenant, draft=True)
    url = reverse("invoices:invoice-edit", args=[draft.pk])
    form = admin_browser.get(url).context["form"]
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update({f"{name}": form[name].value() or "" for name in form.fields if name not in data})
    data.update({"payment_terms_days": 30, "issue_date": "9999-12-31"})
    response = admin_browser.post(url, data)
    assert response.status_code in (200, 400)
    assert RANGE in response.content.decode()
    with tenant_context(tenant):
        assert Invoice.objects.get(pk=draft.pk).issue_date is None


@time_machine.travel(NOW, tick=False)
def test_session_form_times_out_of_range_are_form_errors(admin_browser, world):
    url = reverse("sessions:session-create")
    with tenant_context(world["acme"].tenant):
        before = RemoteSession.objects.count()
    for start in ("0001-01-01T00:30:00", "9999-12-31T23:30:00"):
        response = admin_browser.post(
            url, {"host": world["host"].pk, "started_at": start, "ended_at": "2026-03-09T11:00:00"}
        )
        assert response.status_code in (200, 400)
        assert RANGE in response.content.decode()
    with tenant_context(world["acme"].tenant):
        assert RemoteSession.objects.count() == before


@time_machine.travel(NOW, tick=False)
def test_time_entry_form_day_out_of_range_is_a_form_error(client_as, staff_a, world):
    browser = client_as(staff_a.user(Role.TECHNICIAN))
    url = reverse("contracts:ticket-detail", args=[world["ticket"].pk])
    for day in ("0001-01-01", "9999-12-31"):
        for extra in ({"duration": "1:30"}, {"start_time": "23:30", "end_time": "23:45"}):
            response = browser.post(url, {"action": "time", "work_date": day, **extra})
            assert response.status_code == 400
            assert RANGE in response.content.decode()
    with tenant_context(world["acme"].tenant):
        assert not TimeEntry.objects.exists()


def test_block_purchase_page_date_out_of_range_is_refused(admin_browser, world):
    url = reverse("contracts:block-add", args=[world["block"].pk])
    response = admin_browser.post(url, {"purchased_on": "9999-12-31"}, follow=True)
    assert RANGE in response.content.decode()
    with tenant_context(world["acme"].tenant):
        assert BlockPurchase.objects.count() == 1


def test_contract_form_dates_out_of_range_are_form_errors(admin_browser, world):
    response = admin_browser.post(
        reverse("contracts:contract-create"),
        {
            "customer": world["acme"].pk,
            "name": "Far away",
            "contract_type": "hourly",
            "status": "active",
            "start_date": "0001-01-01",
            "billing_cycle": "monthly",
            "rounding_scope": "entry",
            "rounding_increment_minutes": 0,
            "rounding_minimum_minutes": 0,
            "tax_rate": "0",
        },
    )
    assert response.status_code in (200, 400)
    assert RANGE in response.content.decode()
    with tenant_context(world["acme"].tenant):
        assert not Contract.objects.filter(name="Far away").exists()


# ------------------------------------------------------------------ stored values


@time_machine.travel(NOW, tick=False)
def test_a_block_purchase_stored_far_ahead_breaks_nothing_and_can_be_deleted(
    admin_browser, admin_api, world
):
    """Accepted 201 before the range: afterwards every contract and batch page was a 500
    and nothing could delete it."""
    tenant = world["acme"].tenant
    with tenant_context(tenant):
        TimeEntryFactory(
            tenant=tenant,
            contract=world["block"],
            technician=technician(tenant),
            work_date=dt.date(2026, 1, 5),
        )
        far = BlockPurchaseFactory(tenant=tenant, contract=world["block"])
        BlockPurchase.objects.filter(pk=far.pk).update(purchased_on=dt.date(9999, 12, 31))
        later = BlockPurchaseFactory(tenant=tenant, contract=world["block"])
        BlockPurchase.objects.filter(pk=later.pk).update(purchased_on=dt.date(9999, 6, 30))
        # Due as of any date: the run below invoices it.
        early = BlockPurchaseFactory(tenant=tenant, contract=world["block"])
        BlockPurchase.objects.filter(pk=early.pk).update(purchased_on=dt.date(1, 1, 1))
    contract_url = reverse("contracts:contract-detail", args=[world["block"].pk])
    for url in (reverse("contracts:contract-list"), contract_url, reverse("invoices:batch-list")):
        assert admin_browser.get(url).status_code == 200, url
    created = admin_api.post(
        "/api/v1/batches/", {"name": "API", "as_of": "2026-03-01"}, format="json"
    )
    assert created.status_code == 201, created.content
    page = admin_browser.post(
        reverse("invoices:batch-list"), {"name": "Page", "as_of": "2026-03-01"}
    )
    assert page.status_code == 302
    with tenant_context(tenant):
        batches = list(InvoiceBatch.objects.all())
    for batch in batches:
        assert (
            admin_browser.get(reverse("invoices:batch-detail", args=[batch.pk])).status_code == 200
        )
        assert admin_api.get(f"/api/v1/batches/{batch.pk}/").status_code == 200
    assert admin_api.get("/api/v1/block-purchases/").status_code == 200
    assert admin_api.get(f"/api/v1/contracts/{world['block'].pk}/").status_code == 200
    # A run of the batch prices around them too, and its page shows the drafts.
    batch_id = created.json()["id"]
    run = admin_api.post(f"/api/v1/batches/{batch_id}/run/", format="json")
    assert run.status_code == 200, run.content
    with tenant_context(tenant):
        early.refresh_from_db()
        assert early.invoice_line_id is not None
    assert admin_browser.get(reverse("invoices:batch-detail", args=[batch_id])).status_code == 200
    assert admin_browser.get(contract_url).status_code == 200

    # Deletable by the API and by the contract page's button.
    assert admin_api.delete(f"/api/v1/block-purchases/{far.pk}/").status_code == 204
    html = admin_browser.get(contract_url).content.decode()
    assert reverse("contracts:block-remove", args=[later.pk]) in html
    response = admin_browser.post(reverse("contracts:block-remove", args=[later.pk]))
    assert response.status_code == 302
    with tenant_context(tenant):
        assert not BlockPurchase.objects.filter(pk__in=[far.pk, later.pk]).exists()


@time_machine.travel(NOW, tick=False)
def test_contracts_and_entries_stored_at_the_calendar_edges_break_nothing(
    admin_browser, admin_api, world, staff_a
):
    tenant = world["acme"].tenant
    with tenant_context(tenant):
        late = ContractFactory(tenant=tenant, customer=world["acme"], name="Late", retainer=True)
        Contract.objects.filter(pk=late.pk).update(start_date=dt.date(9999, 12, 31))
        early = ContractFactory(tenant=tenant, customer=world["acme"], name="Early", retainer=True)
        Contract.objects.filter(pk=early.pk).update(
            start_date=dt.date(1, 1, 1), billing_cycle="yearly"
        )
        entry = TimeEntryFactory(
            tenant=tenant, contract=early, technician=staff_a.user(Role.TECHNICIAN)
        )
        TimeEntry.objects.filter(pk=entry.pk).update(work_date=dt.date(1, 1, 1))
    for contract in (late, early):
        url = reverse("contracts:contract-detail", args=[contract.pk])
        assert admin_browser.get(url).status_code == 200, contract.name
        assert admin_api.get(f"/api/v1/contracts/{contract.pk}/billing/").status_code == 200
    assert admin_browser.get(reverse("contracts:contract-list")).status_code == 200
    assert admin_browser.get(reverse("contracts:approvals")).status_code == 200
    created = admin_api.post(
        "/api/v1/batches/", {"name": "B", "as_of": "2026-03-01"}, format="json"
    )
    assert created.status_code == 201, created.content
    url = reverse("invoices:batch-detail", args=[created.json()["id"]])
    assert admin_browser.get(url).status_code == 200


def test_an_invoice_stored_at_the_calendar_end_still_exports(admin_api, admin_browser, world):
    tenant = world["acme"].tenant
    with tenant_context(tenant):
        invoice = InvoiceFactory(tenant=tenant, subtotal=Decimal("100.000"))
        InvoiceLineFactory(
            tenant=tenant,
            invoice=invoice,
            quantity=Decimal("1"),
            unit_price=Decimal("100"),
            amount=Decimal("100.000"),
            taxable=False,
        )
        Invoice.objects.filter(pk=invoice.pk).update(
            issue_date=dt.date(9999, 12, 31), due_date=None
        )
    for fmt in ("csv", "iif", "xero"):
        response = admin_api.get(
            "/api/v1/invoices/export/",
            {"ids": invoice.pk, "format": fmt, "shorten_numbers": "true"},
        )
        assert response.status_code == 200, (fmt, response.content)
    page = admin_browser.get(reverse("invoices:invoice-detail", args=[invoice.pk]))
    assert page.status_code == 200
    assert admin_browser.get(reverse("invoices:invoice-list")).status_code == 200


def test_an_invoiced_block_purchase_cannot_be_deleted(admin_api, world, tenant_b, api_as, staff_b):
    tenant = world["acme"].tenant
    with tenant_context(tenant):
        line = InvoiceLineFactory(tenant=tenant)
        BlockPurchase.objects.filter(pk=world["purchase"].pk).update(invoice_line=line)
    response = admin_api.delete(f"/api/v1/block-purchases/{world['purchase'].pk}/")
    assert response.status_code == 400
    assert "invoiced" in str(response.json())
    with tenant_context(tenant_b):
        foreign = BlockPurchase.objects.get()
    assert admin_api.delete(f"/api/v1/block-purchases/{foreign.pk}/").status_code == 404
    accountant = api_as(world["acme"].tenant and _accountant(world["acme"].tenant))
    assert accountant.delete(f"/api/v1/block-purchases/{foreign.pk}/").status_code in (403, 404)
    with tenant_context(tenant_b):
        assert BlockPurchase.objects.filter(pk=foreign.pk).exists()


def _accountant(tenant):
    from billing_site.testing.factories import MembershipFactory, UserFactory

    user = UserFactory(username=f"{tenant.slug}-acct")
    MembershipFactory(user=user, tenant=tenant, role=Role.ACCOUNTANT)
    return user


def test_a_session_stored_in_year_one_breaks_nothing_and_can_be_deleted(
    admin_browser, admin_api, world
):
    tenant = world["acme"].tenant
    start = dt.datetime(1, 1, 1, 0, 0, tzinfo=UTC)
    with tenant_context(tenant):
        first = RemoteSessionFactory(tenant=tenant, host=world["host"], comment="Year one")
        RemoteSession.objects.filter(pk=first.pk).update(
            started_at=start, ended_at=start + dt.timedelta(hours=1)
        )
        second = RemoteSessionFactory(tenant=tenant, host=world["host"], comment="Year one too")
        RemoteSession.objects.filter(pk=second.pk).update(
            started_at=start, ended_at=start + dt.timedelta(hours=2)
        )
    for url in (
        reverse("sessions:session-list"),
        reverse("sessions:session-by-client"),
        reverse("sessions:host-list"),
        reverse("sessions:host-detail", args=[world["host"].pk]),
    ):
        response = admin_browser.get(url)
        assert response.status_code == 200, url
    assert "Year one" in admin_browser.get(reverse("sessions:session-list")).content.decode()
    assert admin_api.get("/api/v1/sessions/").status_code == 200
    assert admin_api.get(f"/api/v1/sessions/{first.pk}/").status_code == 200
    assert admin_api.delete(f"/api/v1/sessions/{first.pk}/").status_code == 204
    response = admin_browser.post(reverse("sessions:session-delete", args=[second.pk]))
    assert response.status_code == 302
    with tenant_context(tenant):
        assert not RemoteSession.objects.filter(pk__in=[first.pk, second.pk]).exists()


@pytest.mark.postgres
def test_rows_postgresql_stores_before_year_one_or_after_9999_break_nothing(
    admin_browser, admin_api, world
):
    """A session in year 1 entered in a zone east of UTC was stored as a BC timestamp;
    every query reading it raised in the driver, so no page, no API and no delete worked."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: only it stores BC timestamps and years past 9999")
    tenant = world["acme"].tenant
    with tenant_context(tenant):
        first = RemoteSessionFactory(tenant=tenant, host=world["host"], comment="Before Christ")
        second = RemoteSessionFactory(tenant=tenant, host=world["host"], comment="Far future")
        far = BlockPurchaseFactory(tenant=tenant, contract=world["block"])
        entry = TimeEntryFactory(
            tenant=tenant, contract=world["block"], technician=technician(tenant)
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {RemoteSession._meta.db_table} SET started_at = %s::timestamptz, "
            "ended_at = %s::timestamptz WHERE id = %s",
            ["0001-12-31 23:00:00+00 BC", "0001-12-31 23:30:00+00 BC", first.pk],
        )
        cursor.execute(
            f"UPDATE {RemoteSession._meta.db_table} SET started_at = %s::timestamptz, "
            "ended_at = %s::timestamptz WHERE id = %s",
            ["10000-01-01 00:00:00+00", "10000-01-01 01:00:00+00", second.pk],
        )
        cursor.execute(
            f"UPDATE {BlockPurchase._meta.db_table} SET purchased_on = %s::date WHERE id = %s",
            ["12000-01-01", far.pk],
        )
        cursor.execute(
            f"UPDATE {TimeEntry._meta.db_table} SET work_date = %s::date WHERE id = %s",
            ["0001-01-01 BC", entry.pk],
        )
    for url in (
        reverse("sessions:session-list"),
        reverse("sessions:session-by-client"),
        reverse("sessions:host-list"),
        reverse("sessions:host-detail", args=[world["host"].pk]),
        reverse("contracts:contract-list"),
        reverse("contracts:contract-detail", args=[world["block"].pk]),
        reverse("contracts:approvals"),
    ):
        assert admin_browser.get(url).status_code == 200, url
    html = admin_browser.get(reverse("sessions:session-list")).content.decode()
    assert "Before Christ" in html and "Far future" in html
    for url in ("/api/v1/sessions/", f"/api/v1/sessions/{first.pk}/", "/api/v1/time-entries/"):
        assert admin_api.get(url).status_code == 200, url
    created = admin_api.post(
        "/api/v1/batches/", {"name": "B", "as_of": "2026-03-01"}, format="json"
    )
    assert created.status_code == 201, created.content
    batch_id = created.json()["id"]
    assert admin_browser.get(reverse("invoices:batch-detail", args=[batch_id])).status_code == 200

    assert admin_api.delete(f"/api/v1/sessions/{first.pk}/").status_code == 204
    response = admin_browser.post(reverse("sessions:session-delete", args=[second.pk]))
    assert response.status_code == 302
    assert admin_api.delete(f"/api/v1/block-purchases/{far.pk}/").status_code == 204
    with tenant_context(tenant):
        assert not RemoteSession.objects.filter(pk__in=[first.pk, second.pk]).exists()
        assert not BlockPurchase.objects.filter(pk=far.pk).exists()
