"""The approvals queue: filters that reload only on their own inputs, ticks kept when an
action is refused, entries named in errors, hours and amounts (the billing code's) for the
queue and the selection, and a confirmation before posting. Tenant B's entries are never
counted."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse

from billing_site.roles import ROLE_CAPABILITIES, Cap, Role
from contracts import selectors
from contracts.choices import TimeEntryState
from contracts.models import TimeEntry

from .factories import ContractFactory, ServiceTypeFactory, TicketFactory, TimeEntryFactory

NOW = dt.datetime(2026, 2, 10, 10, tzinfo=dt.UTC)
URL = "/contracts/approvals/"


@pytest.fixture
def admin_client(admin_a, client_as):
    return client_as(admin_a)


@pytest.fixture
def queue(in_tenant_a, acme, tech):
    """An hourly contract rounding each entry up to 15 min, at the tenant's 100 €/h:
    1 h and 20 min (-> 30 min) on one ticket, 10 min (-> 15 min) on another, and a
    non-billable half hour. Billable: 1 h 45 min charged = 175,00 €."""
    contract = ContractFactory(
        tenant=in_tenant_a, customer=acme, name="ACME support", rounding_increment_minutes=15
    )
    printer = TicketFactory(
        tenant=in_tenant_a, organization=acme, contract=contract, number=12, title="Printer jam"
    )
    vpn = TicketFactory(
        tenant=in_tenant_a, organization=acme, contract=contract, number=13, title="VPN"
    )
    free = ServiceTypeFactory(tenant=in_tenant_a, name="Goodwill", default_billable=False)

    def entry(ticket, day, seconds, **extra):
        return TimeEntryFactory(
            tenant=in_tenant_a,
            ticket=ticket,
            technician=tech,
            work_date=dt.date(2026, 2, day),
            worked_seconds=seconds,
            **extra,
        )

    return {
        "contract": contract,
        "entries": [
            entry(printer, 2, 3600),
            entry(printer, 3, 1200),
            entry(vpn, 4, 600),
            entry(vpn, 5, 1800, billable=False, service_type=free),
        ],
    }


@pytest.fixture
def tenant_b_entry(tenant_b):
    from billing_site.tenancy import tenant_context

    with tenant_context(tenant_b):
        return TimeEntryFactory(tenant=tenant_b, worked_seconds=36000)


def _ids(entries):
    return [entry.pk for entry in entries]


def _checked(content: str) -> set[int]:
    return {int(pk) for pk in re.findall(r'name="ids" value="(\d+)"[^>]*\bchecked\b', content)}


def test_only_the_filter_inputs_reload_the_table(admin_client, queue):
    content = admin_client.get(URL).content.decode()
    filters = re.search(r'<form class="filters"[^>]*>', content).group(0)
    # A change inside the filter form, never "from:input" (any input on the page, the
    # row boxes included, which reloaded the table and dropped the first tick).
    assert 'hx-trigger="change"' in filters and "from:" not in filters
    table = content.split('id="approval-table"', 1)[1]
    assert 'name="ids"' in table and '<form class="filters"' not in table


@time_machine.travel(NOW, tick=False)
def test_queue_and_selection_show_hours_and_the_billed_amount(admin_client, queue):
    content = admin_client.get(URL).content.decode()
    queue_totals = re.search(r'<div id="queue-totals">(.*?)</div>', content, re.S).group(1)
    text = re.sub(r"<[^>]+>", "", queue_totals)
    assert "4 entries" in text
    assert "2 h 00 min" in text and "(1 h 30 min billable)" in text
    assert "€175.00" in text
    assert "Nothing selected." in content

    first_two = _ids(queue["entries"][:2])
    selection = admin_client.get(
        reverse("contracts:approval-selection"), {"ids": first_two}, HTTP_HX_REQUEST="true"
    )
    text = re.sub(r"<[^>]+>", "", selection.content.decode())
    # 1 h + 20 min rounded up to 30 min, one line of the printer ticket: 150,00 €.
    assert "Selected: 2 entries" in text and "1 h 20 min" in text and "€150.00" in text


@time_machine.travel(NOW, tick=False)
def test_the_amount_is_what_the_batch_bills(admin_client, queue, admin_a):
    ids = _ids(queue["entries"])
    TimeEntry.objects.filter(pk__in=ids).update(state=TimeEntryState.POSTED)
    totals = selectors.time_entry_totals(TimeEntry.objects.filter(pk__in=ids))
    state = selectors.contract_billing_state([queue["contract"]], dt.date(2026, 3, 1))
    billed = state[queue["contract"].pk].total_amount
    assert totals.amounts == [("EUR", billed)] and str(billed) == "175.00"


def test_selection_counts_no_other_tenants_entry_and_queries_stay_flat(
    admin_client, queue, tenant_b_entry, django_assert_max_num_queries
):
    url = reverse("contracts:approval-selection")
    own = _ids(queue["entries"])
    response = admin_client.get(url, {"ids": [*own, tenant_b_entry.pk, "abc"]})
    text = re.sub(r"<[^>]+>", "", response.content.decode())
    assert "Selected: 4 entries" in text and "10 h" not in text

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        admin_client.get(url, {"ids": own[:1]})
    with django_assert_max_num_queries(len(one.captured_queries)):
        admin_client.get(url, {"ids": own})


def test_a_refused_approval_names_the_entries_and_keeps_the_ticks(admin_client, queue):
    entries = queue["entries"]
    TimeEntry.objects.filter(pk=entries[1].pk).update(state=TimeEntryState.APPROVED)
    ticked = _ids(entries[:3])
    response = admin_client.post(URL, {"ids": ticked, "action": "approve"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    content = response.content.decode()
    assert (
        "Only submitted entries can be approved; not: Tue 3 Feb 2026, Tech, "
        "#12 Printer jam (ACME), 20 min. Nothing was changed." in content
    )
    assert not re.search(r"not: \d", content)  # no internal ids
    assert _checked(content) == set(ticked) - {entries[1].pk}  # the approved one is not listed
    assert TimeEntry.objects.filter(state=TimeEntryState.APPROVED).count() == 1

    # Without htmx: the page, with the message and the same ticks.
    page = admin_client.post(URL, {"ids": ticked, "action": "approve"})
    assert page.status_code == 400 and "20 min. Nothing was changed." in page.content.decode()
    assert _checked(page.content.decode()) == set(ticked) - {entries[1].pk}


def test_approving_states_the_count_and_totals(admin_client, queue):
    ids = _ids(queue["entries"])
    response = admin_client.post(URL, {"ids": ids, "action": "approve"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert (
        "4 entries approved: 2 h 00 min worked (1 h 30 min billable), €175.00."
        in response.content.decode()
    )
    assert _checked(response.content.decode()) == set()
    assert set(TimeEntry.objects.values_list("state", flat=True)) == {TimeEntryState.APPROVED}


@pytest.mark.parametrize("htmx", [True, False])
def test_posting_asks_first_then_posts_exactly_what_it_stated(admin_client, queue, htmx):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    ids = _ids(queue["entries"][:3])
    TimeEntry.objects.filter(pk__in=ids).update(state=TimeEntryState.APPROVED)
    asked = admin_client.post(URL + "?state=approved", {"ids": ids, "action": "post"}, **headers)
    assert asked.status_code == 200
    content = asked.content.decode()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", content))
    assert "Post 3 entries?" in text
    assert "3 entries · 1 h 30 min · €175.00 will be frozen" in text
    assert "Mon 2 Feb 2026, Tech, #12 Printer jam (ACME), 1 h" in text
    # Nothing posted yet; the step posts these ids, confirmed, to the same filtered queue.
    assert not TimeEntry.objects.filter(state=TimeEntryState.POSTED).exists()
    assert set(map(int, re.findall(r'type="hidden" name="ids" value="(\d+)"', content))) == set(ids)
    assert 'name="confirmed" value="yes"' in content and "?state=approved" in content
    assert ("<h1>" in content) is not htmx  # a page of its own without JS

    posted = admin_client.post(
        URL + "?state=approved",
        {"ids": ids, "action": "post", "confirmed": "yes"},
        follow=not htmx,
        **headers,
    )
    assert "3 entries posted: 1 h 30 min worked, €175.00." in posted.content.decode()
    assert set(
        TimeEntry.objects.filter(state=TimeEntryState.POSTED).values_list("pk", flat=True)
    ) == set(ids)


def test_posting_unapproved_entries_is_refused_before_the_confirmation(admin_client, queue):
    ids = _ids(queue["entries"][:2])
    response = admin_client.post(URL, {"ids": ids, "action": "post"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    content = response.content.decode()
    assert "Post 2 entries?" not in content
    assert "Only approved entries can be posted; not: Mon 2 Feb 2026, Tech" in content
    assert _checked(content) == set(ids)


def test_amounts_are_hidden_from_a_role_that_does_not_see_billing(
    client_as, staff_a, queue, monkeypatch
):
    # A role that manages work without seeing billing figures (none ships with that mix;
    # the page must still follow the capability, not the role's name).
    monkeypatch.setitem(
        ROLE_CAPABILITIES, Role.TECHNICIAN, ROLE_CAPABILITIES[Role.TECHNICIAN] | {Cap.MANAGE_WORK}
    )
    client = client_as(staff_a.user(Role.TECHNICIAN))
    ids = _ids(queue["entries"])
    page = client.get(URL).content.decode()
    assert "2 h 00 min" in page and "€" not in page
    selection = client.get(reverse("contracts:approval-selection"), {"ids": ids})
    assert "4 entries" in selection.content.decode() and "€" not in selection.content.decode()
    done = client.post(URL, {"ids": ids, "action": "approve"}, HTTP_HX_REQUEST="true")
    assert "4 entries approved: 2 h 00 min worked (1 h 30 min billable)." in (done.content.decode())
    assert "€" not in done.content.decode()


def test_technicians_cannot_open_the_queue_or_its_totals(client_as, staff_a, queue):
    client = client_as(staff_a.user(Role.TECHNICIAN))
    assert client.get(URL).status_code == 403
    assert client.get(reverse("contracts:approval-selection")).status_code == 403
