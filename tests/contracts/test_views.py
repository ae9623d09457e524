"""Browser pages: wiring, roles, forms with errors next to fields, htmx partials. Tenant B's
rows answer 404."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from billing_site.roles import Role
from contracts.choices import TimeEntryState
from contracts.models import Contract, RateRule, Ticket, TimeEntry

from .factories import (
    ContractFactory,
    RateRuleFactory,
    TicketAttachmentFactory,
    TicketFactory,
    TimeEntryFactory,
)

UTC = dt.UTC
NOW = dt.datetime(2026, 2, 10, 10, tzinfo=UTC)


@pytest.fixture
def admin_client(admin_a, client_as):
    return client_as(admin_a)


@pytest.fixture
def data(in_tenant_a, acme, hourly, ticket, remote, staff_a):
    entry = TimeEntryFactory(
        tenant=in_tenant_a,
        ticket=ticket,
        technician=staff_a.user(Role.TECHNICIAN),
        service_type=remote,
        summary_note="Replaced toner",
        internal_note="Customer was rude",
    )
    retainer = ContractFactory(tenant=in_tenant_a, customer=acme, name="Retainer", retainer=True)
    block = ContractFactory(tenant=in_tenant_a, customer=acme, name="Block", block=True)
    recurring = ContractFactory(tenant=in_tenant_a, customer=acme, name="Managed", recurring=True)
    return {
        "entry": entry,
        "contracts": [hourly, retainer, block, recurring],
        "ticket": ticket,
    }


PAGES = [
    "contracts:contract-list",
    "contracts:contract-create",
    "contracts:catalog",
    "contracts:product-create",
    "contracts:service-type-create",
    "contracts:team-create",
    "contracts:ticket-list",
    "contracts:ticket-create",
    "contracts:timesheet",
    "contracts:approvals",
    "contracts:rate-rule-list",
    "contracts:rate-rule-explain",
]


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("name", PAGES)
def test_pages_render_for_a_billing_admin(admin_client, data, name):
    response = admin_client.get(reverse(name))
    assert response.status_code == 200
    assert b"<h1>" in response.content


@time_machine.travel(NOW, tick=False)
def test_contract_detail_for_every_type(admin_client, data):
    for contract in data["contracts"]:
        response = admin_client.get(reverse("contracts:contract-detail", args=[contract.pk]))
        assert response.status_code == 200
        assert b"Billing periods" in response.content
    block = data["contracts"][2]
    response = admin_client.get(reverse("contracts:contract-detail", args=[block.pk]))
    assert b"Remaining block hours" in response.content


@time_machine.travel(NOW, tick=False)
def test_technician_sees_work_but_not_billing(client_as, staff_a, data):
    client = client_as(staff_a.user(Role.TECHNICIAN))
    assert client.get(reverse("contracts:ticket-list")).status_code == 200
    assert client.get(reverse("contracts:timesheet")).status_code == 200
    assert client.get(reverse("contracts:contract-list")).status_code == 403
    assert client.get(reverse("contracts:approvals")).status_code == 403
    assert client.get(reverse("contracts:rate-rule-list")).status_code == 403
    page = client.get(reverse("contracts:ticket-detail", args=[data["ticket"].pk]))
    assert b"Replaced toner" in page.content


def test_accountant_reads_contracts_but_cannot_write(client_as, staff_a, data, in_tenant_a):
    client = client_as(staff_a.user(Role.ACCOUNTANT))
    assert client.get(reverse("contracts:contract-list")).status_code == 200
    assert client.post(reverse("contracts:rate-rule-list"), {"rate": "10"}).status_code == 403
    assert not RateRule.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_contract_create_and_end_before_start_error(admin_client, acme, in_tenant_a):
    url = reverse("contracts:contract-create")
    base = {
        "customer": acme.pk,
        "name": "New hourly",
        "contract_type": "hourly",
        "status": "active",
        "start_date": "2026-03-01",
        "end_date": "2026-02-01",
        "billing_cycle": "monthly",
        "tax_rate": "20",
        "rounding_increment_minutes": "15",
        "rounding_minimum_minutes": "0",
        "rounding_scope": "entry",
    }
    response = admin_client.post(url, base)
    assert response.status_code == 200
    assert "The end date cannot be before the start date." in response.content.decode()
    assert not Contract.objects.exists()
    response = admin_client.post(url, {**base, "end_date": ""})
    contract = Contract.objects.get()
    assert response.status_code == 302 and contract.anchor_day == 1
    assert contract.currency == acme.currency


@time_machine.travel(NOW, tick=False)
def test_ticket_with_another_customers_contract_is_refused(admin_client, acme, in_tenant_a):
    foreign = ContractFactory(tenant=in_tenant_a, name="Bistro hourly")
    response = admin_client.post(
        reverse("contracts:ticket-create"),
        {"title": "Printer", "organization": acme.pk, "contract": foreign.pk, "status": "new"},
    )
    assert response.status_code == 200
    assert "pick a contract of ACME" in response.content.decode()
    assert not Ticket.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_log_time_on_a_ticket_and_bad_times(client_as, staff_a, data):
    client = client_as(staff_a.user(Role.TECHNICIAN))
    url = reverse("contracts:ticket-detail", args=[data["ticket"].pk])
    bad = client.post(
        url,
        {"action": "time", "work_date": "2026-02-09", "start_time": "11:00", "end_time": "10:00"},
    )
    assert bad.status_code == 400
    assert "The end is before the start." in bad.content.decode()
    before = TimeEntry.objects.count()
    ok = client.post(url, {"action": "time", "work_date": "2026-02-09", "duration": "1:30"})
    assert ok.status_code == 302
    assert TimeEntry.objects.count() == before + 1
    assert TimeEntry.objects.latest("id").worked_seconds == 5400


def test_attachment_upload_and_scoped_download(client_as, staff_a, data, other_tenant_rows):
    client = client_as(staff_a.user(Role.TECHNICIAN))
    ticket = data["ticket"]
    upload = SimpleUploadedFile("report.html", b"<script>x</script>", content_type="text/html")
    response = client.post(
        reverse("contracts:ticket-detail", args=[ticket.pk]),
        {"action": "attachment", "file": upload},
    )
    assert response.status_code == 302
    attachment = ticket.attachments.get()
    download = client.get(reverse("contracts:attachment-download", args=[attachment.pk]))
    assert download.status_code == 200
    assert download["Content-Type"] == "application/octet-stream"
    assert "attachment" in download["Content-Disposition"]
    assert b"".join(download.streaming_content) == b"<script>x</script>"
    other = TicketAttachmentFactory(tenant=other_tenant_rows.tenant, ticket=other_tenant_rows)
    assert client.get(reverse("contracts:attachment-download", args=[other.pk])).status_code == 404


def test_other_tenant_objects_are_404(admin_client, other_tenant_rows):
    ticket = other_tenant_rows
    assert admin_client.get(reverse("contracts:ticket-detail", args=[ticket.pk])).status_code == 404
    assert (
        admin_client.get(
            reverse("contracts:contract-detail", args=[ticket.contract_id])
        ).status_code
        == 404
    )


def test_timer_start_and_stop(client_as, staff_a, data):
    client = client_as(staff_a.user(Role.TECHNICIAN))
    with time_machine.travel(NOW, tick=False):
        client.post(reverse("contracts:timer-start"), {"ticket": data["ticket"].pk})
        page = client.get(reverse("contracts:timesheet"))
        assert b'class="timer"' in page.content
        # The running time ticks with the sessions' timer.js, so it reads as it will be logged.
        assert b"data-timer-start=" in page.content and b"sessions/js/timer.js" in page.content
        second = client.post(
            reverse("contracts:timer-start"), {"ticket": data["ticket"].pk}, follow=True
        )
        assert "already running" in second.content.decode()
    with time_machine.travel(NOW + dt.timedelta(hours=1, minutes=2, seconds=7), tick=False):
        stopped = client.post(
            reverse("contracts:timer-stop"), {"summary_note": "Cleaned the queue"}, follow=True
        )
    assert (
        f"Timer stopped: 1 h 02 min 07 s logged on {data['ticket'].reference} "
        f"{data['ticket'].title} (11:00–12:02), awaiting approval." in stopped.content.decode()
    )
    entry = TimeEntry.objects.get(summary_note="Cleaned the queue")
    assert entry.worked_seconds == 3727 and not entry.is_running


@time_machine.travel(NOW, tick=False)
def test_editing_a_duration_with_seconds_keeps_them(client_as, staff_a, data):
    entry = data["entry"]
    TimeEntry.objects.filter(pk=entry.pk).update(worked_seconds=3605)
    client = client_as(staff_a.user(Role.TECHNICIAN))
    url = reverse("contracts:time-entry-edit", args=[entry.pk])
    form = client.get(url).context["form"]
    assert form["duration"].value() == "1:00:05"
    posted = {name: form[name].value() for name in form.fields}
    posted = {name: "" if value is None else value for name, value in posted.items()}
    response = client.post(url, {**posted, "summary_note": "Replaced the toner"})
    assert response.status_code == 302
    entry.refresh_from_db()
    assert (entry.worked_seconds, entry.summary_note) == (3605, "Replaced the toner")


@time_machine.travel(NOW, tick=False)
def test_timesheet_saves_the_grid(client_as, staff_a, data, remote):
    user = staff_a.user(Role.TECHNICIAN)
    client = client_as(user)
    week = "2026-02-09"
    post = {
        "week": week,
        "row_count": "1",
        "row-0-ticket": data["ticket"].pk,
        "row-0-contract": "",
        "row-0-service_type": remote.pk,
        "row-0-d0": "1.5",
        "row-0-d2": "0:45",
    }
    response = client.post(reverse("contracts:timesheet"), post)
    assert response.status_code == 302
    mine = TimeEntry.objects.filter(technician=user, source="timesheet").order_by("work_date")
    assert [(e.work_date.isoformat(), e.worked_seconds) for e in mine] == [
        ("2026-02-09", 5400),
        ("2026-02-11", 2700),
    ]
    bad = client.post(reverse("contracts:timesheet"), {**post, "row-0-d1": "abc"})
    assert bad.status_code == 400
    assert "is not a number of hours" in bad.content.decode()


def test_bulk_approve_with_htmx(admin_client, data):
    entry = data["entry"]
    response = admin_client.post(
        reverse("contracts:approvals"),
        {"ids": [entry.pk], "action": "approve"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "1 entry approved: 1 h 00 min worked, €100.00." in response.content.decode()
    entry.refresh_from_db()
    assert entry.state == TimeEntryState.APPROVED
    admin_client.post(
        reverse("contracts:approvals"), {"ids": [entry.pk], "action": "post", "confirmed": "yes"}
    )
    entry.refresh_from_db()
    assert entry.state == TimeEntryState.POSTED


def test_rate_rule_tie_is_shown(admin_client, in_tenant_a, remote):
    RateRuleFactory(tenant=in_tenant_a, service_type=remote, rate=Decimal("80"))
    response = admin_client.post(
        reverse("contracts:rate-rule-list"), {"rate": "90", "service_type": remote.pk}
    )
    assert response.status_code == 200
    assert "could tie with rule" in response.content.decode()
    assert RateRule.objects.count() == 1
    negative = admin_client.post(reverse("contracts:rate-rule-list"), {"rate": "-5"})
    assert "A rate cannot be negative." in negative.content.decode()


def test_explain_page_shows_the_winner(admin_client, in_tenant_a, data):
    rule = RateRuleFactory(tenant=in_tenant_a, contract=data["ticket"].contract, service_type=None)
    response = admin_client.get(
        reverse("contracts:rate-rule-explain"), {"time_entry": data["entry"].pk}
    )
    content = response.content.decode()
    # The winner is named by its description (else its scopes), no longer by "#<id>".
    assert "rule “contract " in content and "Wins" in content
    assert f"rule #{rule.pk}" not in content


def test_internal_notes_are_staff_only_labelled(admin_client, data):
    page = admin_client.get(reverse("contracts:ticket-detail", args=[data["ticket"].pk]))
    assert "never shown to customers" in page.content.decode()


@time_machine.travel(NOW, tick=False)
def test_list_pages_query_count_does_not_grow(
    admin_client, in_tenant_a, acme, django_assert_max_num_queries
):
    def grow(count):
        for index in range(count):
            contract = ContractFactory(tenant=in_tenant_a, customer=acme, name=f"C{index}-{count}")
            ticket = TicketFactory(tenant=in_tenant_a, organization=acme, contract=contract)
            TimeEntryFactory(tenant=in_tenant_a, ticket=ticket, state=TimeEntryState.POSTED)

    def count_for(url):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(url).status_code == 200
        return len(captured.captured_queries)

    urls = [
        reverse("contracts:contract-list"),
        reverse("contracts:ticket-list"),
        reverse("contracts:approvals") + "?state=posted",
    ]
    grow(2)
    baseline = {url: count_for(url) for url in urls}
    grow(10)
    for url in urls:
        with django_assert_max_num_queries(baseline[url]):
            admin_client.get(url)


def test_dashboard_panel_shows_time_awaiting_approval(admin_client, data):
    page = admin_client.get(reverse("dashboard"))
    content = page.content.decode()
    assert "Ticket time" in content and "Awaiting approval" in content


def test_work_history_times_are_in_the_tenant_zone(admin_client, in_tenant_a, ticket, tech):
    start = dt.datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # 09:00 in Paris (winter)
    TimeEntryFactory(
        tenant=in_tenant_a,
        ticket=ticket,
        technician=tech,
        started_at=start,
        ended_at=start + dt.timedelta(minutes=30),
        worked_seconds=1800,
    )
    page = admin_client.get(reverse("contracts:ticket-detail", args=[ticket.pk]))
    assert "5 Jan 2026 09:00–09:30" in page.content.decode()


def test_contract_edit_keeps_anchor_and_currency_when_left_empty(admin_client, in_tenant_a, hourly):
    response = admin_client.post(
        reverse("contracts:contract-edit", args=[hourly.pk]),
        {
            "name": "Renamed",
            "contract_type": "hourly",
            "status": "active",
            "start_date": "2026-01-01",
            "billing_cycle": "monthly",
            "anchor_day": "",
            "currency": "",
            "tax_rate": "20",
            "rounding_increment_minutes": "15",
            "rounding_minimum_minutes": "0",
            "rounding_scope": "entry",
        },
    )
    assert response.status_code == 302
    hourly.refresh_from_db()
    assert (hourly.name, hourly.anchor_day, hourly.currency) == ("Renamed", 1, "EUR")
