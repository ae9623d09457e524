"""Service rules, each on its own: due/locked/partial, approval, timers, sessions, ties and
every bad input (clear error, nothing saved). Tenant B's look-alike rows stay unseen."""

from __future__ import annotations

import datetime as dt
import inspect
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from billing_site.billables import release_items
from billing_site.roles import Role
from billing_site.testing.factories import ContactFactory, OrganizationFactory
from billing_site.unset import UNSET
from contracts import services
from contracts.choices import (
    BillingState,
    ChargeKind,
    ContractType,
    TicketStatus,
    TimeEntryState,
)
from contracts.models import (
    BlockPurchase,
    Contract,
    RateRule,
    Ticket,
    TimeEntry,
)
from contracts.pricing.periods import Period
from contracts.selectors import contract_billing_state

from .factories import (
    BlockPurchaseFactory,
    ContractFactory,
    ContractProductLineFactory,
    ProductFactory,
    RateRuleFactory,
    ServiceTypeFactory,
    TicketFactory,
    TimeEntryFactory,
    bill_blocks,
    bill_entries,
    bill_fee,
)

D = dt.date
JAN_10 = dt.date(2026, 1, 10)
UTC = dt.UTC


def posted(contract, seconds=3600, day=JAN_10, **extra):
    return TimeEntryFactory(
        tenant=contract.tenant,
        contract=contract,
        ticket=None,
        worked_seconds=seconds,
        work_date=day,
        state=TimeEntryState.POSTED,
        **extra,
    )


def state_of(contract, as_of):
    return contract_billing_state([contract], as_of)[contract.pk]


@pytest.fixture
def line(in_tenant_a):
    from invoices.models import Invoice, InvoiceLine

    invoice = Invoice.objects.create(
        tenant=in_tenant_a, currency="EUR", seller_name="MSP", bill_to_name="ACME"
    )
    return InvoiceLine.objects.create(tenant=in_tenant_a, invoice=invoice, description="Billed")


# ------------------------------------------------------- due / locked / partial


def test_usage_is_locked_on_the_periods_last_day_and_due_the_day_after(in_tenant_a):
    contract = ContractFactory(tenant=in_tenant_a)  # monthly from the 1st: ends on the 31st
    posted(contract, day=D(2026, 1, 31))
    assert state_of(contract, D(2026, 1, 31)).state == BillingState.LOCKED
    assert state_of(contract, D(2026, 2, 1)).state == BillingState.SELECTABLE


@pytest.mark.parametrize(("year", "last"), [(2026, 28), (2028, 29)], ids=["non-leap", "leap"])
def test_february_usage_due_on_march_first(in_tenant_a, year, last):
    contract = ContractFactory(tenant=in_tenant_a, start_date=D(year, 1, 1))
    posted(contract, day=D(year, 2, last))
    assert state_of(contract, D(year, 2, last)).state == BillingState.LOCKED
    assert state_of(contract, D(year, 3, 1)).state == BillingState.SELECTABLE


def test_anchor_15_usage_due_on_the_15th(in_tenant_a):
    contract = ContractFactory(tenant=in_tenant_a, start_date=D(2026, 1, 15), anchor_day=15)
    posted(contract, day=D(2026, 2, 14))
    assert state_of(contract, D(2026, 2, 14)).state == BillingState.LOCKED
    assert state_of(contract, D(2026, 2, 15)).state == BillingState.SELECTABLE


def test_anchor_31_period_in_february(in_tenant_a):
    contract = ContractFactory(tenant=in_tenant_a, start_date=D(2026, 1, 31), anchor_day=31)
    posted(contract, day=D(2026, 2, 27))  # period 31 Jan – 27 Feb
    assert state_of(contract, D(2026, 2, 27)).state == BillingState.LOCKED
    assert state_of(contract, D(2026, 2, 28)).state == BillingState.SELECTABLE


def test_partial_when_some_items_wait_for_an_open_period(in_tenant_a):
    contract = ContractFactory(tenant=in_tenant_a)
    done = posted(contract, day=D(2026, 1, 20))
    waiting = posted(contract, day=D(2026, 2, 3))
    state = state_of(contract, D(2026, 2, 10))
    assert state.state == BillingState.PARTIAL
    assert [item.time_entry_id for item in state.due_items] == [done.pk]
    assert [item.time_entry_id for item in state.waiting_items] == [waiting.pk]
    assert state.due_amount == Decimal("100.00")
    assert state.total_amount == Decimal("200.00")


def test_overdue_items_stay_due_and_billed_ones_leave(in_tenant_a, line):
    contract = ContractFactory(tenant=in_tenant_a)
    old = posted(contract, day=D(2026, 1, 5))
    billed = posted(contract, day=D(2026, 1, 6))
    assert bill_entries(line, [billed]) == 1
    state = state_of(contract, D(2026, 6, 1))
    assert [item.time_entry_id for item in state.due_items] == [old.pk]


def test_only_posted_billable_time_is_an_item(in_tenant_a):
    contract = ContractFactory(tenant=in_tenant_a)
    posted(contract, billable=False)
    TimeEntryFactory(tenant=in_tenant_a, contract=contract, ticket=None, work_date=D(2026, 1, 5))
    state = state_of(contract, D(2026, 3, 1))
    assert state.items == [] and state.state == BillingState.LOCKED
    assert state.unposted_entries == 1


def test_fee_due_from_the_first_day_of_its_period(in_tenant_a):
    contract = ContractFactory(tenant=in_tenant_a, retainer=True, start_date=D(2026, 1, 15))
    assert state_of(contract, D(2026, 1, 14)).items == []
    first = state_of(contract, D(2026, 1, 15))
    assert [(i.kind, i.period.start, i.due) for i in first.items] == [
        ("retainer_fee", D(2026, 1, 15), True)
    ]
    assert first.state == BillingState.SELECTABLE
    assert len(state_of(contract, D(2026, 3, 15)).items) == 3  # overdue fees stay due


def test_retainer_fee_due_and_usage_waiting_make_it_partial(in_tenant_a):
    contract = ContractFactory(tenant=in_tenant_a, retainer=True)
    posted(contract, day=D(2026, 1, 10))
    state = state_of(contract, D(2026, 1, 20))
    assert state.state == BillingState.PARTIAL
    assert {(i.kind, i.due) for i in state.items} == {("retainer_fee", True), ("time", False)}


def test_billed_fees_are_not_due_again_and_a_gap_stays_due(in_tenant_a, line):
    contract = ContractFactory(tenant=in_tenant_a, retainer=True)
    for month in (1, 3):
        period = Period(D(2026, month, 1), D(2026, month, 28))
        assert bill_fee(line, contract, ChargeKind.RETAINER_FEE, period) == 1
    state = state_of(contract, D(2026, 4, 1))
    assert [i.period.start for i in state.items] == [D(2026, 2, 1), D(2026, 4, 1)]
    # A billed fee period is never claimed again.
    january = Period(D(2026, 1, 1), D(2026, 1, 31))
    assert bill_fee(line, contract, ChargeKind.RETAINER_FEE, january) == 0


def test_block_purchase_due_from_its_date(in_tenant_a, line):
    contract = ContractFactory(tenant=in_tenant_a, block=True)
    purchase = BlockPurchaseFactory(
        tenant=in_tenant_a, contract=contract, purchased_on=D(2026, 1, 20)
    )
    assert state_of(contract, D(2026, 1, 19)).state == BillingState.LOCKED
    state = state_of(contract, D(2026, 1, 20))
    assert state.state == BillingState.SELECTABLE
    assert state.due_amount == Decimal("900.00")
    assert bill_blocks(line, [purchase]) == 1
    assert state_of(contract, D(2026, 1, 20)).items == []


def test_recurring_products_due_in_advance(in_tenant_a):
    contract = ContractFactory(tenant=in_tenant_a, recurring=True)
    ContractProductLineFactory(tenant=in_tenant_a, contract=contract, quantity=Decimal("3"))
    state = state_of(contract, D(2026, 2, 1))
    assert [i.period.start for i in state.items] == [D(2026, 1, 1), D(2026, 2, 1)]
    assert state.due_amount == Decimal("150.00")


def test_suspended_contract_accrues_no_fees(in_tenant_a):
    contract = ContractFactory(tenant=in_tenant_a, retainer=True, status="suspended")
    assert state_of(contract, D(2026, 3, 1)).items == []


def test_release_returns_items_to_unbilled(in_tenant_a, line):
    contract = ContractFactory(tenant=in_tenant_a)
    entry = posted(contract)
    assert bill_entries(line, [entry]) == 1
    entry.refresh_from_db()
    assert entry.billed_seconds == 3600
    assert bill_entries(line, [entry]) == 0  # billed once
    assert release_items(lines=type(line).objects.filter(pk=line.pk)) == 1
    entry.refresh_from_db()
    assert entry.invoice_line_id is None and entry.billed_seconds is None


def test_billing_state_query_count_does_not_grow(in_tenant_a, django_assert_num_queries):
    def build(count):
        contracts = []
        for _ in range(count):
            for traits in ({}, {"retainer": True}, {"block": True}, {"recurring": True}):
                contract = ContractFactory(tenant=in_tenant_a, **traits)
                if traits.get("recurring"):
                    ContractProductLineFactory(tenant=in_tenant_a, contract=contract)
                else:
                    posted(contract, day=D(2026, 1, 3))
                    posted(contract, day=D(2026, 2, 3))
                if traits.get("block"):
                    BlockPurchaseFactory(tenant=in_tenant_a, contract=contract)
                contracts.append(contract)
        return list(Contract.objects.filter(pk__in=[c.pk for c in contracts]))

    small, large = build(1), build(6)
    with django_assert_num_queries(10):
        contract_billing_state(small, D(2026, 2, 10))
    with django_assert_num_queries(10):
        states = contract_billing_state(large, D(2026, 2, 10))
    assert {s.state for s in states.values()} == {BillingState.PARTIAL, BillingState.SELECTABLE}


# ------------------------------------------------------------------ contracts


def test_contract_defaults(in_tenant_a, acme):
    partner = OrganizationFactory(tenant=in_tenant_a, name="Helios", currency="USD")
    contract = services.contract_create(
        customer=acme,
        billing_organization=partner,
        name="Via partner",
        contract_type=ContractType.HOURLY,
        start_date=D(2026, 1, 15),
    )
    assert contract.currency == "USD"
    assert contract.anchor_day == 15
    same = services.contract_create(
        customer=acme, name="Direct", contract_type=ContractType.HOURLY, start_date=D(2026, 1, 1)
    )
    assert same.billing_organization == acme


def test_contract_end_before_start_is_refused(in_tenant_a, acme):
    with pytest.raises(ValidationError) as error:
        services.contract_create(
            customer=acme,
            name="Backwards",
            contract_type=ContractType.HOURLY,
            start_date=D(2026, 3, 1),
            end_date=D(2026, 2, 1),
        )
    assert "end_date" in error.value.message_dict
    assert not Contract.objects.exists()


def test_retainer_needs_its_terms(in_tenant_a, acme):
    with pytest.raises(ValidationError) as error:
        services.contract_create(
            customer=acme, name="R", contract_type=ContractType.RETAINER, start_date=D(2026, 1, 1)
        )
    assert {"retainer_fee", "included_hours", "overage_rate"} <= set(error.value.message_dict)


def test_block_contract_buys_its_first_block(in_tenant_a, acme):
    contract = services.contract_create(
        customer=acme,
        name="Block",
        contract_type=ContractType.BLOCK_HOURS,
        start_date=D(2026, 1, 1),
        block_hours=Decimal("10"),
        block_price=Decimal("900"),
        overage_rate=Decimal("110"),
    )
    assert list(BlockPurchase.objects.values_list("hours", "purchased_on")) == [
        (Decimal("10.00"), D(2026, 1, 1))
    ]
    top_up = services.block_purchase_create(contract=contract, purchased_on=D(2026, 2, 1))
    assert top_up.price == Decimal("900")


def test_billing_terms_freeze_once_billed(in_tenant_a, line):
    contract = ContractFactory(tenant=in_tenant_a)
    entry = posted(contract)
    assert bill_entries(line, [entry]) == 1
    with pytest.raises(ValidationError) as error:
        services.contract_update(contract=contract, anchor_day=15)
    assert "anchor_day" in error.value.message_dict
    services.contract_update(contract=contract, name="Renamed")


def test_product_line_currency_mismatch_is_refused(in_tenant_a):
    dkk = OrganizationFactory(tenant=in_tenant_a, currency="DKK")
    contract = ContractFactory(tenant=in_tenant_a, customer=dkk, recurring=True)
    product = ProductFactory(tenant=in_tenant_a)
    with pytest.raises(ValidationError) as error:
        services.contract_product_line_add(contract=contract, product=product)
    assert "Currency mismatch" in error.value.message_dict["unit_price"][0]
    assert not contract.product_lines.exists()
    services.contract_product_line_add(
        contract=contract, product=product, unit_price=Decimal("190")
    )


def test_rate_rule_currency_mismatch_is_refused(in_tenant_a):
    dkk = OrganizationFactory(tenant=in_tenant_a, currency="DKK")
    contract = ContractFactory(tenant=in_tenant_a, customer=dkk)
    with pytest.raises(ValidationError) as error:
        services.rate_rule_create(rate=Decimal("100"), currency="EUR", contract=contract)
    assert "Currency mismatch" in error.value.message_dict["currency"][0]
    assert services.rate_rule_create(rate=Decimal("750"), contract=contract).currency == "DKK"


# ----------------------------------------------------------------- rate rules


def test_negative_rate_is_refused(in_tenant_a):
    with pytest.raises(ValidationError) as error:
        services.rate_rule_create(rate=Decimal("-1"))
    assert "rate" in error.value.message_dict
    assert not RateRule.objects.exists()


def test_same_scopes_same_values_tie(in_tenant_a, tech):
    services.rate_rule_create(rate=Decimal("90"), technician=tech)
    with pytest.raises(ValidationError) as error:
        services.rate_rule_create(rate=Decimal("95"), technician=tech)
    assert "could tie" in error.value.messages[0]
    assert RateRule.objects.count() == 1


def test_same_scopes_different_values_do_not_tie(in_tenant_a, tech, tech2):
    services.rate_rule_create(rate=Decimal("90"), technician=tech)
    services.rate_rule_create(rate=Decimal("95"), technician=tech2)
    assert RateRule.objects.count() == 2


def test_different_scope_sets_never_tie(in_tenant_a, tech, remote):
    services.rate_rule_create(rate=Decimal("90"), technician=tech)
    services.rate_rule_create(rate=Decimal("95"), technician=tech, service_type=remote)
    services.rate_rule_create(rate=Decimal("85"), service_type=remote)
    assert RateRule.objects.count() == 3


def test_other_currency_never_ties(in_tenant_a, tech):
    services.rate_rule_create(rate=Decimal("90"), technician=tech)
    services.rate_rule_create(rate=Decimal("700"), technician=tech, currency="DKK")
    assert RateRule.objects.count() == 2


def test_team_rules_tie_only_when_a_technician_is_in_both_teams(in_tenant_a, tech, tech2):
    network = services.team_create(name="Network", members=[tech])
    desk = services.team_create(name="Desk", members=[tech2])
    services.rate_rule_create(rate=Decimal("110"), team=network)
    services.rate_rule_create(rate=Decimal("90"), team=desk)  # no shared member: fine
    with pytest.raises(ValidationError) as error:
        services.team_set_members(team=desk, members=[tech2, tech])  # tech in both teams
    assert "could tie" in error.value.message_dict["members"][0]
    assert set(desk.members.all()) == {tech2}


def test_team_rule_tie_refused_when_teams_share_a_member(in_tenant_a, tech, tech2):
    network = services.team_create(name="Network", members=[tech])
    desk = services.team_create(name="Desk", members=[tech, tech2])
    services.rate_rule_create(rate=Decimal("110"), team=network)
    with pytest.raises(ValidationError):
        services.rate_rule_create(rate=Decimal("90"), team=desk)


def test_team_and_technician_rules_tie_only_for_that_technician(in_tenant_a, tech, tech2):
    network = services.team_create(name="Network", members=[tech, tech2])
    desk = services.team_create(name="Desk", members=[tech2])
    services.rate_rule_create(rate=Decimal("110"), team=network, technician=tech)
    services.rate_rule_create(rate=Decimal("90"), team=desk, technician=tech)  # tech not in Desk
    with pytest.raises(ValidationError):
        services.team_set_members(team=desk, members=[tech2, tech])


def test_identical_rules_are_refused_by_the_database_too(in_tenant_a, tech):
    RateRuleFactory(tenant=in_tenant_a, technician=tech, service_type=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        RateRuleFactory(tenant=in_tenant_a, technician=tech, service_type=None)


def test_team_members_must_be_technicians(in_tenant_a, staff_a):
    with pytest.raises(ValidationError) as error:
        services.team_create(name="Mixed", members=[staff_a.user(Role.ACCOUNTANT)])
    assert "members" in error.value.message_dict


# -------------------------------------------------------------------- tickets


def test_tickets_are_numbered_per_tenant(in_tenant_a, acme, hourly, other_tenant_rows):
    first = services.ticket_create(title="Mail down", organization=acme, contract=hourly)
    second = services.ticket_create(title="VPN", organization=acme)
    assert (first.number, second.number) == (1, 2)
    assert Ticket.objects.count() == 2  # tenant B's ticket is not visible


def test_ticket_contract_of_another_customer_is_refused(in_tenant_a, acme):
    other = OrganizationFactory(tenant=in_tenant_a, name="Bistro")
    foreign = ContractFactory(tenant=in_tenant_a, customer=other, name="Bistro hourly")
    with pytest.raises(ValidationError) as error:
        services.ticket_create(title="Mail", organization=acme, contract=foreign)
    assert "Bistro" in error.value.message_dict["contract"][0]
    assert not Ticket.objects.exists()


def test_ticket_contract_billed_to_the_organization_is_allowed(in_tenant_a, acme):
    partner = OrganizationFactory(tenant=in_tenant_a, name="Helios")
    billed_to_partner = ContractFactory(
        tenant=in_tenant_a, customer=acme, billing_organization=partner
    )
    ticket = services.ticket_create(
        title="Via partner", organization=partner, contract=billed_to_partner
    )
    assert ticket.contract == billed_to_partner


def test_ticket_contact_must_belong_to_the_organization(in_tenant_a, acme):
    stranger = ContactFactory(tenant=in_tenant_a)
    with pytest.raises(ValidationError) as error:
        services.ticket_create(title="X", organization=acme, contact=stranger)
    assert "contact" in error.value.message_dict


def test_completing_a_ticket_stamps_it(in_tenant_a, ticket):
    services.ticket_update(ticket=ticket, status=TicketStatus.COMPLETE)
    assert ticket.completed_at is not None
    services.ticket_update(ticket=ticket, status=TicketStatus.IN_PROGRESS)
    assert ticket.completed_at is None


def test_attachment_is_stored(in_tenant_a, ticket):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("log.txt", b"boot log", content_type="text/plain")
    attachment = services.ticket_attachment_add(ticket=ticket, file=upload)
    assert attachment.file.read() == b"boot log"
    with pytest.raises(ValidationError):
        services.ticket_attachment_add(ticket=ticket, file=SimpleUploadedFile("e.txt", b""))


# --------------------------------------------------------------- time entries


def _at(hour, minute=0, day=10):
    return dt.datetime(2026, 1, day, hour, minute, tzinfo=UTC)


@time_machine.travel(dt.datetime(2026, 1, 20, 12, tzinfo=UTC), tick=False)
def test_entry_from_start_and_end(in_tenant_a, ticket, tech, remote):
    entry = services.time_entry_create(
        technician=tech, ticket=ticket, service_type=remote, started_at=_at(9), ended_at=_at(10, 30)
    )
    assert (entry.worked_seconds, entry.work_date) == (5400, D(2026, 1, 10))
    assert entry.contract == ticket.contract  # default from the ticket
    assert entry.billable is True and entry.state == TimeEntryState.SUBMITTED


def test_billable_defaults_from_the_service_type(in_tenant_a, ticket, tech):
    internal = ServiceTypeFactory(tenant=in_tenant_a, name="Internal", default_billable=False)
    entry = services.time_entry_create(
        technician=tech,
        ticket=ticket,
        service_type=internal,
        work_date=D(2026, 1, 5),
        worked_seconds=1800,
    )
    assert entry.billable is False


@time_machine.travel(dt.datetime(2026, 1, 20, 12, tzinfo=UTC), tick=False)
def test_end_before_start_is_refused(in_tenant_a, ticket, tech):
    with pytest.raises(ValidationError) as error:
        services.time_entry_create(
            technician=tech, ticket=ticket, started_at=_at(10), ended_at=_at(9)
        )
    assert error.value.message_dict["ended_at"] == ["The end is before the start."]
    assert not TimeEntry.objects.exists()


@time_machine.travel(dt.datetime(2026, 1, 20, 12, tzinfo=UTC), tick=False)
def test_overlapping_entries_are_refused(in_tenant_a, ticket, tech):
    services.time_entry_create(technician=tech, ticket=ticket, started_at=_at(9), ended_at=_at(10))
    with pytest.raises(ValidationError) as error:
        services.time_entry_create(
            technician=tech, ticket=ticket, started_at=_at(9, 30), ended_at=_at(11)
        )
    assert "overlaps" in error.value.message_dict["started_at"][0]
    assert TimeEntry.objects.count() == 1


def test_entry_ticket_contract_of_another_customer_is_refused(in_tenant_a, ticket, tech):
    other = ContractFactory(tenant=in_tenant_a, name="Someone else's")
    with pytest.raises(ValidationError) as error:
        services.time_entry_create(
            technician=tech,
            ticket=ticket,
            contract=other,
            work_date=D(2026, 1, 5),
            worked_seconds=600,
        )
    assert "contract" in error.value.message_dict
    assert not TimeEntry.objects.exists()


def test_entry_on_a_partner_billed_contract_of_the_same_customer(in_tenant_a, ticket, acme, tech):
    partner = OrganizationFactory(tenant=in_tenant_a, name="Helios")
    via_partner = ContractFactory(tenant=in_tenant_a, customer=acme, billing_organization=partner)
    entry = services.time_entry_create(
        technician=tech,
        ticket=ticket,
        contract=via_partner,
        work_date=D(2026, 1, 5),
        worked_seconds=600,
    )
    assert entry.contract == via_partner


def test_entry_needs_a_contract(in_tenant_a, acme, tech):
    bare = TicketFactory(tenant=in_tenant_a, organization=acme, contract=None)
    with pytest.raises(ValidationError) as error:
        services.time_entry_create(
            technician=tech, ticket=bare, work_date=D(2026, 1, 5), worked_seconds=600
        )
    assert "the ticket has none" in error.value.message_dict["contract"][0]


def test_entry_outside_the_contract_term_is_refused(in_tenant_a, ticket, tech):
    with pytest.raises(ValidationError) as error:
        services.time_entry_create(
            technician=tech, ticket=ticket, work_date=D(2025, 12, 31), worked_seconds=600
        )
    assert "work_date" in error.value.message_dict


@time_machine.travel(dt.datetime(2026, 1, 20, 9, tzinfo=UTC), tick=False)
def test_timer_start_stop_and_one_running_per_technician(in_tenant_a, ticket, tech):
    entry = services.timer_start(technician=tech, ticket=ticket)
    assert entry.is_running
    with pytest.raises(ValidationError) as error:
        services.timer_start(technician=tech, ticket=ticket)
    assert "already running" in error.value.message_dict["timer"][0]
    assert TimeEntry.objects.count() == 1
    with time_machine.travel(dt.datetime(2026, 1, 20, 9, 42, tzinfo=UTC), tick=False):
        stopped = services.timer_stop(technician=tech, summary_note="Fixed the printer")
    assert (stopped.worked_seconds, stopped.summary_note) == (42 * 60, "Fixed the printer")


def test_one_running_timer_is_a_database_constraint(in_tenant_a, ticket, tech):
    start = dt.datetime(2026, 1, 5, 9, tzinfo=UTC)
    TimeEntryFactory(tenant=in_tenant_a, ticket=ticket, technician=tech, started_at=start)
    with pytest.raises(IntegrityError), transaction.atomic():
        TimeEntryFactory(tenant=in_tenant_a, ticket=ticket, technician=tech, started_at=start)


def test_end_before_start_is_a_database_constraint(in_tenant_a, ticket, tech):
    start = dt.datetime(2026, 1, 5, 9, tzinfo=UTC)
    with pytest.raises(IntegrityError), transaction.atomic():
        TimeEntryFactory(
            tenant=in_tenant_a,
            ticket=ticket,
            technician=tech,
            started_at=start,
            ended_at=start - dt.timedelta(minutes=1),
        )


def test_approval_goes_submitted_approved_posted(in_tenant_a, ticket, admin_a):
    entry = TimeEntryFactory(tenant=in_tenant_a, ticket=ticket)
    with pytest.raises(ValidationError):
        services.time_entries_post(entry_ids=[entry.pk], actor=admin_a)  # not approved yet
    services.time_entries_approve(entry_ids=[entry.pk], actor=admin_a)
    entry.refresh_from_db()
    assert (entry.state, entry.approved_by) == (TimeEntryState.APPROVED, admin_a)
    services.time_entries_post(entry_ids=[entry.pk], actor=admin_a)
    entry.refresh_from_db()
    assert entry.state == TimeEntryState.POSTED and entry.posted_at is not None


def test_bulk_approval_is_all_or_nothing(in_tenant_a, ticket, admin_a):
    submitted = TimeEntryFactory(tenant=in_tenant_a, ticket=ticket)
    already = TimeEntryFactory(tenant=in_tenant_a, ticket=ticket, state=TimeEntryState.APPROVED)
    with pytest.raises(ValidationError) as error:
        services.time_entries_approve(entry_ids=[submitted.pk, already.pk], actor=admin_a)
    # The refusal names the entry at fault as a person reads it, not by its id.
    message = error.value.messages[0]
    assert f"#{ticket.number} {ticket.title}" in message
    assert f"not: {already.pk}" not in message
    assert message.count("#") == 1  # the submitted one is not named
    submitted.refresh_from_db()
    assert submitted.state == TimeEntryState.SUBMITTED


def test_technicians_cannot_approve(in_tenant_a, ticket, tech):
    entry = TimeEntryFactory(tenant=in_tenant_a, ticket=ticket)
    with pytest.raises(ValidationError):
        services.time_entries_approve(entry_ids=[entry.pk], actor=tech)


def test_posted_entry_is_frozen(in_tenant_a, ticket, admin_a):
    entry = TimeEntryFactory(tenant=in_tenant_a, ticket=ticket, state=TimeEntryState.POSTED)
    with pytest.raises(ValidationError) as error:
        services.time_entry_update(entry=entry, actor=admin_a, summary_note="changed")
    assert "frozen" in error.value.message_dict["state"][0]
    with pytest.raises(ValidationError):
        services.time_entry_delete(entry=entry, actor=admin_a)


def test_technician_edits_only_own_submitted_entries(in_tenant_a, ticket, tech, tech2):
    mine = TimeEntryFactory(tenant=in_tenant_a, ticket=ticket, technician=tech)
    services.time_entry_update(entry=mine, actor=tech, summary_note="Done")
    with pytest.raises(ValidationError):
        services.time_entry_update(entry=mine, actor=tech2, summary_note="Not mine")
    approved = TimeEntryFactory(
        tenant=in_tenant_a, ticket=ticket, technician=tech, state=TimeEntryState.APPROVED
    )
    with pytest.raises(ValidationError):
        services.time_entry_update(entry=approved, actor=tech, summary_note="Too late")


def test_timesheet_saves_a_week_in_one_transaction(in_tenant_a, ticket, tech, remote):
    week = D(2026, 1, 5)
    rows = [
        {
            "ticket": ticket,
            "contract": None,
            "service_type": remote,
            "seconds": [3600, None, 5400, None, None, None, None],
        }
    ]
    assert services.timesheet_save(technician=tech, week_start=week, rows=rows) == 2
    rows[0]["seconds"] = [1800, None, 0, None, None, None, None]
    services.timesheet_save(technician=tech, week_start=week, rows=rows)
    assert list(TimeEntry.objects.values_list("work_date", "worked_seconds")) == [
        (D(2026, 1, 5), 1800)
    ]
    bad = [
        {
            "ticket": ticket,
            "contract": None,
            "service_type": remote,
            "seconds": [3600, 7200, None, None, None, None, None],
        },
        {
            "ticket": None,
            "contract": None,
            "service_type": None,
            "seconds": [600, None, None, None, None, None, None],
        },
    ]
    with pytest.raises(ValidationError) as error:
        services.timesheet_save(technician=tech, week_start=week, rows=bad)
    assert "row-1" in error.value.message_dict
    assert list(TimeEntry.objects.values_list("worked_seconds", flat=True)) == [1800]


# ------------------------------------------------------------ remote sessions


@pytest.fixture
def session(in_tenant_a, acme, tech):
    from sessions.models import Host, RemoteSession

    host = Host.objects.create(tenant=in_tenant_a, name="Jane_OFFICE_121", organization=acme)
    start = dt.datetime(2026, 1, 5, 9, tzinfo=UTC)
    return RemoteSession.objects.create(
        tenant=in_tenant_a,
        host=host,
        technician=tech,
        started_at=start,
        ended_at=start + dt.timedelta(minutes=15, seconds=18),
        duration_seconds=918,
        comment="Installed Windows updates.",
    )


def test_session_logged_as_time_once(in_tenant_a, session, ticket, tech):
    entry = services.time_entry_log_session(session=session, actor=tech, ticket=ticket)
    assert (entry.worked_seconds, entry.summary_note) == (918, "Installed Windows updates.")
    assert entry.remote_session == session and entry.contract == ticket.contract
    with pytest.raises(ValidationError) as error:
        services.time_entry_log_session(session=session, actor=tech, ticket=ticket)
    assert "already logged" in error.value.message_dict["session"][0]


def test_session_billed_directly_cannot_be_logged(in_tenant_a, session, ticket, tech, line):
    type(session).objects.filter(pk=session.pk).update(invoice_line=line)
    with pytest.raises(ValidationError) as error:
        services.time_entry_log_session(session=session, actor=tech, ticket=ticket)
    assert "billed directly" in error.value.message_dict["session"][0]
    assert not TimeEntry.objects.exists()


def test_session_of_another_customer_does_not_fit_the_contract(in_tenant_a, session, tech):
    foreign = ContractFactory(tenant=in_tenant_a, name="Other customer")
    with pytest.raises(ValidationError) as error:
        services.time_entry_log_session(session=session, actor=tech, contract=foreign)
    assert "contract" in error.value.message_dict


def test_session_entry_keeps_the_sessions_times(in_tenant_a, session, ticket, tech):
    entry = services.time_entry_log_session(session=session, actor=tech, ticket=ticket)
    with pytest.raises(ValidationError):
        services.time_entry_update(entry=entry, actor=tech, worked_seconds=60)


def test_other_tenant_rows_stay_unseen(in_tenant_a, other_tenant_rows):
    assert not Ticket.objects.exists()
    assert not Contract.objects.exists()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("", None),
        ("1.5", 5400),
        ("1,5", 5400),
        ("1:30", 5400),
        ("0:45", 2700),
        ("1:00:05", 3605),  # what an edit form shows for a duration with seconds
        ("1:02:07", 3727),
    ],
)
def test_parse_hours(text, seconds):
    assert services.parse_hours(text) == seconds


@pytest.mark.parametrize("text", ["abc", "1:x", "1:00:x", "-1"])
def test_parse_hours_refuses(text):
    with pytest.raises(ValueError):
        services.parse_hours(text)


# ------------------------------------------------------------- signatures

CREATE_SERVICES = [
    (services.service_type_create, services.SERVICE_TYPE_FIELDS, set()),
    (services.product_create, services.PRODUCT_FIELDS, set()),
    (services.contract_create, services.CONTRACT_FIELDS, set()),
    (services.contract_product_line_add, services.LINE_FIELDS, {"contract"}),
    (services.rate_rule_create, services.RULE_FIELDS, set()),
    (services.ticket_create, services.TICKET_FIELDS, {"created_by"}),
    (services.time_entry_create, services.ENTRY_FIELDS, {"source"}),
]
UPDATE_SERVICES = [
    (services.service_type_update, services.SERVICE_TYPE_FIELDS, {"service_type"}),
    (services.product_update, services.PRODUCT_FIELDS, {"product"}),
    (services.contract_update, services.CONTRACT_FIELDS, {"contract"}),
    (services.contract_product_line_update, services.LINE_FIELDS, {"line"}),
    (services.rate_rule_update, services.RULE_FIELDS, {"rule"}),
    (services.ticket_update, services.TICKET_FIELDS, {"ticket"}),
    (services.time_entry_update, services.ENTRY_FIELDS, {"entry", "actor"}),
]


def _keyword_parameters(service) -> dict[str, inspect.Parameter]:
    parameters = inspect.signature(service).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())
    return dict(parameters)


@pytest.mark.parametrize(
    ("service", "fields", "others"),
    CREATE_SERVICES + UPDATE_SERVICES,
    ids=[service.__name__ for service, *_ in CREATE_SERVICES + UPDATE_SERVICES],
)
def test_services_take_their_fields_as_keywords(service, fields, others):
    # Forms and serializers take their field lists from the ``*_FIELDS`` tuples: a field
    # added there without its keyword here would fail every save with a TypeError.
    assert set(_keyword_parameters(service)) == set(fields) | others


@pytest.mark.parametrize(
    ("service", "fields", "others"),
    UPDATE_SERVICES,
    ids=[service.__name__ for service, *_ in UPDATE_SERVICES],
)
def test_update_fields_default_to_unset(service, fields, others):
    parameters = _keyword_parameters(service)
    assert {name: parameters[name].default for name in fields} == dict.fromkeys(fields, UNSET)


def test_update_changes_only_the_given_fields(in_tenant_a):
    product = ProductFactory(tenant=in_tenant_a, name="Old", description="Kept")
    services.product_update(product=product, name="X")
    product.refresh_from_db()
    assert (product.name, product.description, product.unit_price) == (
        "X",
        "Kept",
        Decimal("25.0000"),
    )


def test_update_none_is_a_value_unset_is_not(in_tenant_a, acme):
    contract = ContractFactory(tenant=in_tenant_a, customer=acme, end_date=D(2026, 12, 31))
    services.contract_update(contract=contract, name="Renamed")
    contract.refresh_from_db()
    assert (contract.name, contract.end_date) == ("Renamed", D(2026, 12, 31))
    services.contract_update(contract=contract, end_date=None)
    contract.refresh_from_db()
    assert (contract.name, contract.end_date) == ("Renamed", None)


def test_unknown_field_is_a_type_error(in_tenant_a, acme):
    product = ProductFactory(tenant=in_tenant_a, name="Old")
    with pytest.raises(TypeError):
        services.product_update(product=product, name="New", colour="red")
    with pytest.raises(TypeError):
        services.product_create(sku="X-1", name="X", colour="red")
    with pytest.raises(TypeError):
        services.contract_create(
            customer=acme, name="C", start_date=D(2026, 1, 1), tenant=in_tenant_a
        )
    product.refresh_from_db()
    assert product.name == "Old"
    assert not Contract.objects.exists()
