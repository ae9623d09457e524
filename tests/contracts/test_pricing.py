"""Pricing rules, each on its own (DESIGN.md: Time, Contract types, Rates)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from billing_site.testing.factories import OrganizationFactory
from contracts.choices import QuantityMode, RoundingScope, TimeEntryState
from contracts.models import TimeEntry
from contracts.pricing import (
    block_balances,
    contract_period_amount,
    contract_period_amounts,
    explain_session,
    explain_time_entry,
    load_rate_book,
    price_time_entries,
    round_seconds,
)
from contracts.pricing.periods import Period

from .factories import (
    BlockPurchaseFactory,
    ContractFactory,
    ContractProductLineFactory,
    ProductFactory,
    RateRuleFactory,
    ServiceTypeFactory,
    TeamFactory,
    TeamMemberFactory,
    TicketFactory,
    TimeEntryFactory,
    bill_entries,
)

D = dt.date
JAN_10 = dt.date(2026, 1, 10)
JAN = Period(D(2026, 1, 1), D(2026, 1, 31))
MIN = 60


def posted(contract, seconds, *, day=JAN_10, ticket=None, **extra):
    return TimeEntryFactory(
        tenant=contract.tenant,
        contract=contract,
        ticket=ticket,
        worked_seconds=seconds,
        work_date=day,
        state=TimeEntryState.POSTED,
        **extra,
    )


def fresh(entries):
    """Entries as the batch engine would load them."""
    return list(TimeEntry.objects.filter(pk__in=[e.pk for e in entries]))


# ----------------------------------------------------------------- rounding


@pytest.mark.parametrize(
    ("minutes", "billed"),
    [(7, 15), (16, 30), (15, 15), (1, 15), (0, 0)],
)
def test_round_up_to_the_increment(minutes, billed):
    assert round_seconds(minutes * MIN, 15) == billed * MIN


def test_seconds_past_a_step_round_up():
    assert round_seconds(15 * MIN + 18, 15) == 30 * MIN


def test_minimum_applies_after_rounding():
    assert round_seconds(5 * MIN, 15, 30) == 30 * MIN
    assert round_seconds(40 * MIN, 15, 30) == 45 * MIN
    assert round_seconds(5 * MIN, 0, 30) == 30 * MIN


def test_no_increment_keeps_the_raw_seconds():
    assert round_seconds(7 * MIN + 5, 0) == 7 * MIN + 5


def _rounded_contract(tenant, scope, **extra):
    return ContractFactory(
        tenant=tenant, rounding_increment_minutes=15, rounding_scope=scope, **extra
    )


def test_scope_each_entry(in_tenant_a):
    contract = _rounded_contract(in_tenant_a, RoundingScope.ENTRY)
    ticket = TicketFactory(tenant=in_tenant_a, organization=contract.customer, contract=contract)
    a, b = posted(contract, 7 * MIN, ticket=ticket), posted(contract, 16 * MIN, ticket=ticket)
    priced = price_time_entries(fresh([a, b]))
    assert priced[a.pk].billed_seconds == 15 * MIN
    assert priced[b.pk].billed_seconds == 30 * MIN
    # 0.25 h and 0.5 h at the tenant default 100.0000
    assert priced[a.pk].amount == Decimal("25.00")
    assert priced[b.pk].amount == Decimal("50.00")


def test_scope_each_ticket_per_day(in_tenant_a):
    contract = _rounded_contract(in_tenant_a, RoundingScope.TICKET_DAY)
    ticket = TicketFactory(tenant=in_tenant_a, organization=contract.customer, contract=contract)
    other = TicketFactory(tenant=in_tenant_a, organization=contract.customer, contract=contract)
    a = posted(contract, 7 * MIN, ticket=ticket)
    b = posted(contract, 7 * MIN, ticket=ticket)
    c = posted(contract, 7 * MIN, ticket=ticket, day=D(2026, 1, 11))
    d = posted(contract, 7 * MIN, ticket=other)
    priced = price_time_entries(fresh([a, b, c, d]))
    # Same ticket, same day: 14 min together -> 15 min, shared 7 + 8.
    assert priced[a.pk].billed_seconds + priced[b.pk].billed_seconds == 15 * MIN
    assert priced[c.pk].billed_seconds == 15 * MIN
    assert priced[d.pk].billed_seconds == 15 * MIN


def test_scope_whole_period(in_tenant_a):
    contract = _rounded_contract(in_tenant_a, RoundingScope.PERIOD)
    entries = [posted(contract, 7 * MIN, day=D(2026, 1, day)) for day in (5, 12, 19)]
    february = posted(contract, 7 * MIN, day=D(2026, 2, 2))
    priced = price_time_entries(fresh([*entries, february]))
    assert sum(priced[e.pk].billed_seconds for e in entries) == 30 * MIN  # 21 min -> 30 min
    assert priced[february.pk].billed_seconds == 15 * MIN


def test_group_rounding_does_not_depend_on_the_selection(in_tenant_a):
    contract = _rounded_contract(in_tenant_a, RoundingScope.PERIOD)
    a = posted(contract, 7 * MIN, day=D(2026, 1, 5))
    b = posted(contract, 7 * MIN, day=D(2026, 1, 6))
    alone = price_time_entries(fresh([b]))[b.pk]
    together = price_time_entries(fresh([a, b]))[b.pk]
    assert alone.billed_seconds == together.billed_seconds == 8 * MIN


def test_entry_posted_after_its_group_was_billed_adds_only_the_difference(in_tenant_a):
    from invoices.models import Invoice, InvoiceLine

    contract = _rounded_contract(in_tenant_a, RoundingScope.TICKET_DAY)
    ticket = TicketFactory(tenant=in_tenant_a, organization=contract.customer, contract=contract)
    first = posted(contract, 7 * MIN, ticket=ticket)
    invoice = Invoice.objects.create(
        tenant=in_tenant_a, currency="EUR", seller_name="MSP", bill_to_name="ACME"
    )
    line = InvoiceLine.objects.create(tenant=in_tenant_a, invoice=invoice, description="Time")
    assert bill_entries(line, fresh([first])) == 1
    late = posted(contract, 5 * MIN, ticket=ticket)
    assert price_time_entries(fresh([late]))[late.pk].billed_seconds == 0  # 12 min is still 15
    later = posted(contract, 10 * MIN, ticket=ticket)
    priced = price_time_entries(fresh([late, later]))
    assert priced[late.pk].billed_seconds + priced[later.pk].billed_seconds == 15 * MIN


def test_non_billable_entry_costs_nothing(in_tenant_a):
    contract = ContractFactory(tenant=in_tenant_a)
    entry = posted(contract, 3600, billable=False)
    priced = price_time_entries(fresh([entry]))[entry.pk]
    assert (priced.billed_seconds, priced.amount) == (0, Decimal("0.00"))


# ------------------------------------------------------ contract type amounts


def test_hourly_period_is_the_sum_of_priced_entries(in_tenant_a):
    contract = ContractFactory(tenant=in_tenant_a, rounding_increment_minutes=15)
    posted(contract, 50 * MIN)  # -> 1 h
    posted(contract, 20 * MIN, day=D(2026, 1, 20))  # -> 30 min
    posted(contract, 60 * MIN, day=D(2026, 2, 3))  # another period
    result = contract_period_amount(contract, JAN)
    assert result.amount == Decimal("150.00")
    assert result.billed_seconds == 90 * MIN
    assert "total €150.00 before tax" in result.explanation


def test_retainer_acceptance_example(in_tenant_a):
    """Fee 500 for 5 h included, overage 120/h; 6.5 h posted billable + 1 h non-billable."""
    contract = ContractFactory(tenant=in_tenant_a, retainer=True)
    posted(contract, 3 * 3600, day=D(2026, 1, 5))
    posted(contract, 2 * 3600, day=D(2026, 1, 12))
    posted(contract, 90 * MIN, day=D(2026, 1, 19))
    posted(contract, 3600, day=D(2026, 1, 20), billable=False)
    TimeEntryFactory(
        tenant=in_tenant_a, contract=contract, ticket=None, work_date=D(2026, 1, 21)
    )  # submitted: not billed
    result = contract_period_amount(contract, JAN)
    assert result.amount == Decimal("680.00")
    overage = next(line for line in result.lines if line.kind == "overage")
    assert (overage.quantity, overage.amount) == (Decimal("1.5000"), Decimal("180.00"))
    assert result.included_seconds == 5 * 3600


def test_retainer_unused_hours_do_not_roll_over(in_tenant_a):
    contract = ContractFactory(tenant=in_tenant_a, retainer=True)
    posted(contract, 3600, day=D(2026, 1, 5))  # 4 h unused in January
    posted(contract, 6 * 3600, day=D(2026, 2, 5))
    january, february = contract_period_amounts(
        [(contract, JAN), (contract, Period(D(2026, 2, 1), D(2026, 2, 28)))]
    )
    assert january.amount == Decimal("500.00")
    assert february.amount == Decimal("620.00")  # 1 h overage, nothing carried over


def test_retainer_included_hours_count_rounded_time(in_tenant_a):
    contract = ContractFactory(tenant=in_tenant_a, retainer=True, rounding_increment_minutes=60)
    for day in range(5, 11):  # six entries of 10 min -> 1 h each
        posted(contract, 10 * MIN, day=D(2026, 1, day))
    assert contract_period_amount(contract, JAN).amount == Decimal("620.00")


def test_block_hours_invoiced_when_bought_then_drawn_down(in_tenant_a):
    contract = ContractFactory(tenant=in_tenant_a, block=True)
    BlockPurchaseFactory(tenant=in_tenant_a, contract=contract, purchased_on=D(2026, 1, 1))
    posted(contract, 4 * 3600, day=D(2026, 1, 10))
    january = contract_period_amount(contract, JAN)
    assert january.amount == Decimal("900.00")  # the block; 4 h drawn at no charge
    posted(contract, 8 * 3600, day=D(2026, 2, 10))
    february = contract_period_amount(contract, Period(D(2026, 2, 1), D(2026, 2, 28)))
    # 6 h left in the block, 2 h beyond at 110
    assert february.amount == Decimal("220.00")
    assert block_balances([contract])[contract.pk].remaining_hours == Decimal("0.0000")


def test_block_top_up_in_the_period_covers_its_time(in_tenant_a):
    contract = ContractFactory(tenant=in_tenant_a, block=True)
    BlockPurchaseFactory(tenant=in_tenant_a, contract=contract, purchased_on=D(2026, 1, 1))
    posted(contract, 12 * 3600, day=D(2026, 1, 10))
    BlockPurchaseFactory(
        tenant=in_tenant_a, contract=contract, purchased_on=D(2026, 1, 25), price=Decimal("850")
    )
    result = contract_period_amount(contract, JAN)
    assert result.amount == Decimal("1750.00")  # two blocks, no overage
    assert block_balances([contract])[contract.pk].remaining_hours == Decimal("8.0000")


def test_recurring_products_fixed_and_per_device(in_tenant_a):
    from sessions.models import Host

    contract = ContractFactory(tenant=in_tenant_a, recurring=True)
    ContractProductLineFactory(
        tenant=in_tenant_a,
        contract=contract,
        product=ProductFactory(tenant=in_tenant_a, unit_price=Decimal("25")),
        quantity=Decimal("2"),
    )
    ContractProductLineFactory(
        tenant=in_tenant_a,
        contract=contract,
        product=ProductFactory(tenant=in_tenant_a, unit_price=Decimal("15.5")),
        quantity_mode=QuantityMode.PER_DEVICE,
    )
    for index, active in enumerate([True, True, True, False]):
        Host.objects.create(
            tenant=in_tenant_a,
            name=f"PC-{index}",
            organization=contract.customer,
            is_active=active,
        )
    Host.objects.create(tenant=in_tenant_a, name="Other-PC", organization=None)
    result = contract_period_amount(contract, JAN)
    assert result.amount == Decimal("96.50")  # 2 × 25 + 3 × 15.50


def test_recurring_in_a_foreign_currency_needs_its_own_price(in_tenant_a):
    dkk = OrganizationFactory(tenant=in_tenant_a, currency="DKK")
    contract = ContractFactory(tenant=in_tenant_a, customer=dkk, recurring=True)
    ContractProductLineFactory(tenant=in_tenant_a, contract=contract)
    result = contract_period_amount(contract, JAN)
    assert result.problems and "DKK" in result.problems[0]


def test_amounts_round_half_up_to_the_currency(in_tenant_a):
    jpy = OrganizationFactory(tenant=in_tenant_a, currency="JPY")
    contract = ContractFactory(tenant=in_tenant_a, customer=jpy)
    RateRuleFactory(
        tenant=in_tenant_a,
        contract=contract,
        currency="JPY",
        rate=Decimal("9999"),
        service_type=None,
    )
    entry = posted(contract, 20 * MIN)  # 0.3333 h × 9999 = 3332.67 -> 3333
    assert price_time_entries(fresh([entry]))[entry.pk].amount == Decimal("3333")


# ------------------------------------------------------------- rate precedence


@pytest.fixture
def scoped(in_tenant_a, acme, tech):
    contract = ContractFactory(tenant=in_tenant_a, customer=acme)
    service = ServiceTypeFactory(tenant=in_tenant_a, name="On-site")
    team = TeamFactory(tenant=in_tenant_a, name="Field")
    TeamMemberFactory(tenant=in_tenant_a, team=team, user=tech)
    entry = posted(contract, 3600, technician=tech, service_type=service)
    return {
        "contract": contract,
        "organization": acme,
        "technician": tech,
        "team": team,
        "service_type": service,
        "entry": entry,
    }


def _rule(tenant, rate, **scopes):
    scopes.setdefault("service_type", None)
    return RateRuleFactory(tenant=tenant, rate=Decimal(rate), **scopes)


def _rate_of(entry):
    return price_time_entries(fresh([entry]))[entry.pk].rate


ORDER = ["contract", "organization", "technician", "team", "service_type"]


@pytest.mark.parametrize(("higher", "lower"), list(itertools.pairwise(ORDER)))
def test_adjacent_scopes_precedence(scoped, in_tenant_a, higher, lower):
    _rule(in_tenant_a, "70", **{lower: scoped[lower]})
    _rule(in_tenant_a, "90", **{higher: scoped[higher]})
    assert _rate_of(scoped["entry"]) == Decimal("90.0000")


def test_a_higher_scope_beats_any_combination_of_lower_ones(scoped, in_tenant_a):
    _rule(
        in_tenant_a,
        "70",
        organization=scoped["organization"],
        technician=scoped["technician"],
        team=scoped["team"],
        service_type=scoped["service_type"],
    )
    _rule(in_tenant_a, "90", contract=scoped["contract"])
    assert _rate_of(scoped["entry"]) == Decimal("90.0000")


def test_more_scopes_at_the_same_level_win(scoped, in_tenant_a):
    _rule(in_tenant_a, "80", technician=scoped["technician"])
    _rule(in_tenant_a, "85", technician=scoped["technician"], service_type=scoped["service_type"])
    assert _rate_of(scoped["entry"]) == Decimal("85.0000")


def test_a_rule_matches_only_when_every_scope_matches(scoped, in_tenant_a):
    other_service = ServiceTypeFactory(tenant=in_tenant_a, name="Project")
    _rule(in_tenant_a, "150", contract=scoped["contract"], service_type=other_service)
    _rule(in_tenant_a, "60", service_type=scoped["service_type"])
    assert _rate_of(scoped["entry"]) == Decimal("60.0000")


def test_tenant_default_is_the_fallback(scoped, in_tenant_a):
    _rule(in_tenant_a, "60", service_type=ServiceTypeFactory(tenant=in_tenant_a, name="Other"))
    priced = price_time_entries(fresh([scoped["entry"]]))[scoped["entry"].pk]
    assert (priced.rate, priced.rate_source) == (Decimal("100.0000"), "tenant_default")
    assert priced.amount == Decimal("100.00")


def test_rules_in_another_currency_never_match(scoped, in_tenant_a):
    _rule(in_tenant_a, "700", contract=None, technician=scoped["technician"], currency="DKK")
    assert _rate_of(scoped["entry"]) == Decimal("100.0000")


def test_foreign_currency_without_a_rule_reports_a_missing_rate(in_tenant_a):
    dkk = OrganizationFactory(tenant=in_tenant_a, currency="DKK")
    contract = ContractFactory(tenant=in_tenant_a, customer=dkk)
    entry = posted(contract, 3600)
    priced = price_time_entries(fresh([entry]))[entry.pk]
    assert priced.amount is None and "DKK" in priced.problem


def test_explain_lists_matching_rules_and_the_winner(scoped, in_tenant_a):
    team_rule = _rule(in_tenant_a, "80", team=scoped["team"])
    contract_rule = _rule(in_tenant_a, "95", contract=scoped["contract"])
    _rule(in_tenant_a, "50", service_type=ServiceTypeFactory(tenant=in_tenant_a, name="Other"))
    result = explain_time_entry(scoped["entry"])
    assert result.winner == contract_rule
    assert result.matches == [contract_rule, team_rule]


def test_explain_a_session_uses_the_hosts_organization(in_tenant_a, acme, tech):
    from sessions.models import Host, RemoteSession

    host = Host.objects.create(tenant=in_tenant_a, name="Jane_OFFICE_121", organization=acme)
    start = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
    session = RemoteSession.objects.create(
        tenant=in_tenant_a,
        host=host,
        technician=tech,
        started_at=start,
        ended_at=start + dt.timedelta(minutes=15, seconds=18),
        duration_seconds=918,
    )
    rule = _rule(in_tenant_a, "88", organization=acme)
    result = explain_session(session)
    assert result.winner == rule and result.rate == Decimal("88.0000")


# ------------------------------------------------------------- query counts


def _bulk_entries(tenant, contracts, per_contract):
    entries = []
    for contract in contracts:
        for index in range(per_contract):
            entries.append(posted(contract, (10 + index) * MIN, day=D(2026, 1, 1 + index % 28)))
    return entries


@pytest.mark.parametrize("kind", ["hourly", "retainer", "block"])
def test_pricing_query_count_does_not_grow(in_tenant_a, django_assert_num_queries, kind):
    traits = {"hourly": {}, "retainer": {"retainer": True}, "block": {"block": True}}[kind]
    _rule(in_tenant_a, "90", service_type=ServiceTypeFactory(tenant=in_tenant_a))

    def run(count):
        contracts = [
            ContractFactory(tenant=in_tenant_a, rounding_scope=RoundingScope.TICKET_DAY, **traits)
            for _ in range(count)
        ]
        entries = _bulk_entries(in_tenant_a, contracts, count)
        loaded = list(TimeEntry.objects.filter(pk__in=[e.pk for e in entries]))
        return loaded

    small, large = run(2), run(6)
    baseline = _count_queries(small)
    assert baseline <= 6
    with django_assert_num_queries(baseline):
        price_time_entries(large)


def _count_queries(entries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        price_time_entries(entries)
    return len(captured.captured_queries)


def test_period_amounts_query_count_does_not_grow(in_tenant_a, django_assert_num_queries):
    def build(count):
        pairs = []
        for _ in range(count):
            for traits in ({}, {"retainer": True}, {"block": True}, {"recurring": True}):
                contract = ContractFactory(tenant=in_tenant_a, **traits)
                if traits.get("recurring"):
                    ContractProductLineFactory(
                        tenant=in_tenant_a,
                        contract=contract,
                        quantity_mode=QuantityMode.PER_DEVICE,
                    )
                if traits.get("block"):
                    BlockPurchaseFactory(tenant=in_tenant_a, contract=contract)
                if not traits.get("recurring"):
                    posted(contract, 3600)
                pairs.append((contract, JAN))
        return pairs

    small, large = build(1), build(5)
    book = load_rate_book()
    with django_assert_num_queries(7):
        contract_period_amounts(small, book=book)
    with django_assert_num_queries(7):
        contract_period_amounts(large, book=book)


def test_other_tenants_rules_never_apply(in_tenant_a, tenant_b):
    RateRuleFactory(tenant=tenant_b, currency="EUR", service_type=None, rate=Decimal("999"))
    contract = ContractFactory(tenant=in_tenant_a)
    entry = posted(contract, 3600)
    assert _rate_of(entry) == Decimal("100.0000")
