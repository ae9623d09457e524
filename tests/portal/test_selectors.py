"""The end-client rule, hours, work history and column filters, at the selector level."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing_site.tenancy import tenant_context
from contracts.choices import TicketStatus
from contracts.models import Ticket, TicketAttachment
from contracts.selectors_portal import (
    EndClientTicketFilters,
    _prefix_ranges,
    end_client_ticket_list,
    organization_is_billing_partner,
    own_ticket_list,
    portal_attachment_get,
    portal_ticket_attachments,
    portal_ticket_get,
    portal_work_history,
    seconds_to_hours,
)

from .conftest import INTERNAL, set_created
from .factories import ContractFactory, TicketFactory, TimeEntryFactory

pytestmark = pytest.mark.django_db


def titles(queryset) -> list[str]:
    return [ticket.title for ticket in queryset]


def listed(world, **filters) -> list[Ticket]:
    with tenant_context(world.tenant):
        return list(
            end_client_ticket_list(
                organization=world.partner, filters=EndClientTicketFilters(**filters)
            )
        )


# ------------------------------------------------------------------ visibility


def test_contract_billed_to_partner_is_shown(world, world_b):
    assert world.billed in listed(world)


def test_ticket_with_one_entry_billed_to_partner_is_shown_with_that_entry_only(world, world_b):
    assert world.one_entry in listed(world)
    with tenant_context(world.tenant):
        portal_ticket = portal_ticket_get(organization=world.partner, pk=world.one_entry.pk)
        history = portal_work_history(portal_ticket=portal_ticket, organization=world.partner)
    assert portal_ticket.is_end_client
    assert [e.pk for e in history] == [world.entries.bistro_billed.pk]


def test_partners_own_ticket_is_not_an_end_client_ticket(world, world_b):
    rows = listed(world, include_completed=True)
    assert world.own not in rows
    with tenant_context(world.tenant):
        assert world.own in own_ticket_list(organization=world.partner)


def test_ticket_without_work_billed_to_partner_is_never_shown(world, world_b):
    assert world.not_billed not in listed(world, include_completed=True)
    with tenant_context(world.tenant), pytest.raises(Ticket.DoesNotExist):
        portal_ticket_get(organization=world.partner, pk=world.not_billed.pk)


def test_other_tenants_organization_with_the_same_name_is_never_shown(world, world_b):
    rows = listed(world, include_completed=True)
    assert {t.tenant_id for t in rows} == {world.tenant.pk}
    assert world_b.billed not in rows
    with tenant_context(world.tenant), pytest.raises(Ticket.DoesNotExist):
        portal_ticket_get(organization=world.partner, pk=world_b.billed.pk)
    # Nor can the other tenant's partner be used to read this tenant's rows.
    with tenant_context(world.tenant), pytest.raises(Exception, match="current tenant"):
        list(end_client_ticket_list(organization=world_b.partner))


def test_completed_tickets_hidden_by_default(world):
    assert world.completed not in listed(world)
    assert world.completed in listed(world, include_completed=True)


def test_exactly_the_end_client_tickets(world, world_b):
    assert sorted(titles(listed(world, include_completed=True))) == [
        "Laptop setup",
        "Printer offline",
        "Till not printing",
    ]


def test_only_partners_billed_for_others_have_end_client_tickets(world):
    with tenant_context(world.tenant):
        assert organization_is_billing_partner(organization=world.partner)
        assert not organization_is_billing_partner(organization=world.harbor)
        # Billed for its own contract only: ACME is not a billing partner.
        assert not organization_is_billing_partner(organization=world.acme)


# ---------------------------------------------------------------- hours and notes


def test_hours_count_posted_billable_entries_billed_to_partner(world):
    rows = {t.pk: t for t in listed(world, include_completed=True)}
    # 1 h 30 posted billable; the submitted 45 min and the non-billable 30 min do not count.
    assert rows[world.billed.pk].hours_seconds == 5400
    assert seconds_to_hours(rows[world.billed.pk].hours_seconds) == Decimal("1.50")
    # Bistro's own 2 h is billed to Bistro, not to P.
    assert rows[world.one_entry.pk].hours_seconds == 900
    assert rows[world.completed.pk].hours_seconds == 0


def test_work_history_hours_only_once_posted_and_no_internal_notes(world):
    with tenant_context(world.tenant):
        portal_ticket = portal_ticket_get(organization=world.partner, pk=world.billed.pk)
        history = portal_work_history(portal_ticket=portal_ticket, organization=world.partner)
    by_pk = {e.pk: e for e in history}
    # The non-billable entry is not an item billed to P.
    assert set(by_pk) == {world.entries.posted.pk, world.entries.pending.pk}
    assert by_pk[world.entries.posted.pk].hours == Decimal("1.50")
    assert by_pk[world.entries.pending.pk].hours is None
    for item in history:
        assert "internal_note" in item.get_deferred_fields()


def test_own_ticket_shows_all_its_work(world):
    with tenant_context(world.tenant):
        portal_ticket = portal_ticket_get(organization=world.partner, pk=world.own.pk)
        history = portal_work_history(portal_ticket=portal_ticket, organization=world.partner)
        files = portal_ticket_attachments(portal_ticket=portal_ticket, organization=world.partner)
    assert not portal_ticket.is_end_client
    assert [e.summary_note for e in history] == ["Reset the VPN."]
    assert files == [world.files.own]


def test_attachments_follow_the_visible_entries(world):
    with tenant_context(world.tenant):
        portal_ticket = portal_ticket_get(organization=world.partner, pk=world.billed.pk)
        history = portal_work_history(portal_ticket=portal_ticket, organization=world.partner)
        # The ticket's own file is not a billed item: hidden on an end-client ticket.
        assert (
            portal_ticket_attachments(portal_ticket=portal_ticket, organization=world.partner) == []
        )
        assert portal_attachment_get(organization=world.partner, pk=world.files.billed.pk)
        assert portal_attachment_get(organization=world.partner, pk=world.files.own.pk)
        for hidden in (world.files.hidden, world.files.ticket):
            with pytest.raises(TicketAttachment.DoesNotExist):
                portal_attachment_get(organization=world.partner, pk=hidden.pk)
        for foreign in (world.files.billed, world.files.own):
            with pytest.raises(TicketAttachment.DoesNotExist):
                portal_attachment_get(organization=world.harbor, pk=foreign.pk)
    posted = next(e for e in history if e.pk == world.entries.posted.pk)
    assert [a.name for a in posted.attachments.all()] == ["spooler.log"]


def test_internal_note_exists_but_is_never_loaded(world):
    from contracts.models import TimeEntry

    assert TimeEntry.all_tenants.filter(ticket=world.billed, internal_note=INTERNAL).exists()


# ---------------------------------------------------------------------- filters


@pytest.fixture
def table(world):
    """More end-client tickets of P to filter: names, dates, statuses and hours."""
    tenant, contract = world.tenant, world.contracts.acme_via_p
    made = {}
    for title, status, due, seconds in [
        ("Acme backup failed", TicketStatus.IN_PROGRESS, dt.date(2026, 3, 9), 4500),
        ("Backup of Acme NAS", TicketStatus.WAITING, dt.date(2026, 3, 10), 36000),
        ("acme VPN", TicketStatus.NEW, None, 0),
    ]:
        ticket = TicketFactory(
            tenant=tenant,
            organization=world.acme,
            contract=contract,
            title=title,
            status=status,
            due_date=due,
        )
        if seconds:
            TimeEntryFactory(
                tenant=tenant,
                ticket=ticket,
                contract=contract,
                technician=world.tech,
                worked_seconds=seconds,
                state="posted",
            )
        made[title] = ticket
    # 2026-03-10 03:00 UTC is 9 March, 23:00 in New York (P's zone), 10 March in Paris.
    set_created(made["Acme backup failed"], dt.datetime(2026, 3, 10, 3, 0, tzinfo=dt.UTC))
    set_created(made["Backup of Acme NAS"], dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC))
    return made


def test_text_filters_are_case_insensitive_starts_with(world, table):
    assert sorted(titles(listed(world, title="acme"))) == ["Acme backup failed", "acme VPN"]
    assert titles(listed(world, title="backup")) == ["Backup of Acme NAS"]  # not "contains"
    assert set(titles(listed(world, end_client="bis"))) == {"Till not printing"}
    assert listed(world, end_client="elios") == []
    assert titles(listed(world, contact="WILE")) == ["Printer offline"]
    assert titles(listed(world, assigned_to="theo m")) == ["Printer offline"]
    assert listed(world, assigned_to="martin") == []
    assert sorted(titles(listed(world, status="in"))) == ["Acme backup failed"]
    assert titles(listed(world, status="wait")) == ["Backup of Acme NAS"]
    assert listed(world, status="comp") == []  # completed hidden unless included
    assert titles(listed(world, status="comp", include_completed=True)) == ["Laptop setup"]


def test_number_filter_starts_with(world, table):
    ticket = table["acme VPN"]
    prefix = str(ticket.number)
    rows = listed(world, number=prefix)
    assert ticket in rows
    assert all(str(t.number).startswith(prefix) for t in rows)
    assert ticket in listed(world, number=f"#{prefix}")
    assert listed(world, number="x1") == []


def test_hours_filter_starts_with_the_shown_value(world, table):
    # Shown: 1.50 (printer), 0.25 (till), 1.25 (acme backup), 10.00 (NAS), 0.00 (VPN).
    assert sorted(titles(listed(world, hours="1"))) == [
        "Acme backup failed",
        "Backup of Acme NAS",
        "Printer offline",
    ]
    assert sorted(titles(listed(world, hours="1."))) == ["Acme backup failed", "Printer offline"]
    assert titles(listed(world, hours="1.5")) == ["Printer offline"]
    assert titles(listed(world, hours="1,25")) == ["Acme backup failed"]
    assert titles(listed(world, hours="10")) == ["Backup of Acme NAS"]
    assert sorted(titles(listed(world, hours="0"))) == ["Till not printing", "acme VPN"]
    assert titles(listed(world, hours="0.0")) == ["acme VPN"]
    assert listed(world, hours="abc") == []


@pytest.mark.parametrize(
    ("text", "scale", "expected"),
    [
        ("1", 1, [(1, 2), (10, 20), (100, 200)]),
        ("0", 100, [(0, 100)]),
        ("01", 100, None),
        ("1.", 100, [(100, 200)]),
        ("1.5", 100, [(150, 160)]),
        ("1.55", 100, [(155, 156)]),
        ("1.555", 100, None),
        ("1.5", 1, None),
    ],
)
def test_prefix_ranges(text, scale, expected):
    ranges = _prefix_ranges(text, scale)
    if expected is None:
        assert ranges is None
    else:
        assert ranges[: len(expected)] == expected


def test_hours_rounding_edges_match_the_shown_value(world):
    """17 s shows 0.00, 18 s shows 0.01 (half-up): the filter agrees with the display."""
    contract = world.contracts.acme_via_p
    for seconds, title in [(17, "seventeen"), (18, "eighteen"), (5381, "just under")]:
        ticket = TicketFactory(
            tenant=world.tenant, organization=world.acme, contract=contract, title=title
        )
        TimeEntryFactory(
            tenant=world.tenant,
            ticket=ticket,
            contract=contract,
            technician=world.tech,
            worked_seconds=seconds,
            state="posted",
        )
    assert seconds_to_hours(17) == Decimal("0.00") and seconds_to_hours(18) == Decimal("0.01")
    assert "seventeen" in titles(listed(world, hours="0.00"))
    assert titles(listed(world, hours="0.01")) == ["eighteen"]
    assert seconds_to_hours(5381) == Decimal("1.49")
    assert "just under" in titles(listed(world, hours="1.49"))
    assert "just under" not in titles(listed(world, hours="1.5"))


def test_date_filters_are_exact_days(world, table):
    # Created: the day in P's zone (New York), not UTC or the MSP's zone.
    assert titles(listed(world, created=dt.date(2026, 3, 9))) == ["Acme backup failed"]
    assert titles(listed(world, created=dt.date(2026, 3, 10))) == ["Backup of Acme NAS"]
    # Due: a date as stored.
    assert titles(listed(world, due=dt.date(2026, 3, 9))) == ["Acme backup failed"]
    assert titles(listed(world, due=dt.date(2026, 3, 20))) == ["Printer offline"]
    assert listed(world, due=dt.date(2026, 3, 21)) == []


def test_filters_combine(world, table):
    assert sorted(titles(listed(world, end_client="ac"))) == [
        "Acme backup failed",
        "Backup of Acme NAS",
        "Printer offline",
        "acme VPN",
    ]
    assert titles(listed(world, end_client="ac", title="b")) == ["Backup of Acme NAS"]
    assert titles(listed(world, end_client="ac", title="b", hours="9")) == []
    assert titles(listed(world, title="acme", due=dt.date(2026, 3, 9))) == ["Acme backup failed"]


@pytest.mark.parametrize(
    "key",
    [
        "number",
        "end_client",
        "title",
        "status",
        "contact",
        "assigned_to",
        "created",
        "due",
        "hours",
    ],
)
def test_every_column_sorts_both_ways(world, table, key):
    ascending = [t.pk for t in listed(world, ordering=key, include_completed=True)]
    descending = [t.pk for t in listed(world, ordering=f"-{key}", include_completed=True)]
    assert sorted(ascending) == sorted(descending)
    assert len(ascending) == 6


def test_sort_values(world, table):
    by_hours = listed(world, ordering="-hours")
    assert [t.title for t in by_hours[:2]] == ["Backup of Acme NAS", "Printer offline"]
    by_client = listed(world, ordering="end_client")
    assert by_client[0].organization.name == "ACME"
    assert by_client[-1].organization.name == "Bistro Lumière"
    by_status = [t.status for t in listed(world, ordering="status")]
    assert by_status == sorted(by_status, key=list(TicketStatus.values).index)
    by_number = [t.number for t in listed(world)]
    assert by_number == sorted(by_number, reverse=True)


def test_list_is_one_query_whatever_the_rows(world, django_assert_num_queries):
    contract = world.contracts.acme_via_p
    for _ in range(5):
        ticket = TicketFactory(tenant=world.tenant, organization=world.acme, contract=contract)
        TimeEntryFactory(
            tenant=world.tenant,
            ticket=ticket,
            contract=contract,
            technician=world.tech,
            state="posted",
        )
    with tenant_context(world.tenant), django_assert_num_queries(1):
        rows = list(end_client_ticket_list(organization=world.partner))
        for row in rows:
            _ = (
                row.organization.name,
                row.contact and row.contact.email,
                row.assigned_name,
                row.hours_seconds,
                row.get_status_display(),
            )
    assert len(rows) == 7


def test_own_ticket_search_never_reaches_end_client_tickets(world):
    with tenant_context(world.tenant):
        assert list(own_ticket_list(organization=world.partner, search="Printer")) == []
        assert list(own_ticket_list(organization=world.partner, search="VPN")) == [world.own]
        assert (
            list(own_ticket_list(organization=world.partner, search=str(world.billed.number))) == []
        )


def test_contract_to_two_partners_shows_each_its_own_work(world):
    """A ticket on P's contract with one entry billed to another partner Q: each sees
    only the entries billed to it."""
    from billing_site.testing.factories import OrganizationFactory

    q = OrganizationFactory(tenant=world.tenant, name="Quartz Partners")
    acme_via_q = ContractFactory(
        tenant=world.tenant, customer=world.acme, billing_organization=q, name="ACME via Q"
    )
    q_entry = TimeEntryFactory(
        tenant=world.tenant,
        ticket=world.billed,
        contract=acme_via_q,
        technician=world.tech,
        worked_seconds=600,
        state="posted",
        summary_note="Q's work",
    )
    with tenant_context(world.tenant):
        q_view = portal_ticket_get(organization=q, pk=world.billed.pk)
        q_history = portal_work_history(portal_ticket=q_view, organization=q)
        p_view = portal_ticket_get(organization=world.partner, pk=world.billed.pk)
        p_history = portal_work_history(portal_ticket=p_view, organization=world.partner)
        q_rows = list(end_client_ticket_list(organization=q))
    assert [e.pk for e in q_history] == [q_entry.pk]
    assert q_entry.pk not in {e.pk for e in p_history}
    assert [(t.pk, t.hours_seconds) for t in q_rows] == [(world.billed.pk, 600)]
