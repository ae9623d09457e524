"""On PostgreSQL a batch preview has the database sum the time of the contracts it can
price (``contracts.pricing.database``); a run prices every entry in Python
(``contracts.pricing``). On random contracts — every type, cycle, anchor, increment and
minimum, three currencies (0, 2 and 3 minor digits), rates by technician, pools drawn
before (frozen history from an earlier run) and entries added late to billed periods —
both must give the same lines, balances, states and details, to the cent."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing_site.testing.factories import OrganizationFactory
from contracts.choices import BillingCycle, ContractType, RoundingScope
from contracts.models import TimeEntry
from invoices.batches import selectors as batch_selectors
from invoices.batches import services as batch_services
from tests.contracts.factories import (
    BlockPurchaseFactory,
    ContractFactory,
    RateRuleFactory,
    TicketFactory,
    technician,
)

from .batch_factories import posted
from .test_batch_paths import TRAITS, planned

# The equivalence tests compare the database sums with the Python pricing, and the sums
# exist on PostgreSQL only (elsewhere every preview prices in Python, which the rest of
# the suite covers). The fixed pool cases below run on every database.
needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the database sums time on PostgreSQL only"
)

# (currency, rate of the first technician, rate of the second); NOK has no rule for the
# first technician and is not the tenant's currency: that time has no rate.
CURRENCIES = [
    ("EUR", Decimal("97.5000"), Decimal("133.3333")),
    ("JPY", Decimal("12345.0000"), Decimal("9999.5000")),
    ("KWD", Decimal("31.1250"), Decimal("45.3335")),
    ("NOK", None, Decimal("990.0000")),
]


def random_world(
    tenant, rng: random.Random, count: int, *, rules: bool = True, every_kind: bool = False
) -> list:
    """``count`` random contracts with time; ``every_kind``: types and rounding scopes
    in turn (12 contracts cover every pair) rather than drawn."""
    techs = [technician(tenant), technician(tenant, f"{tenant.slug}-second")]
    customers = {}
    for currency, first, second in CURRENCIES:
        if rules and first is not None:
            RateRuleFactory(tenant=tenant, rate=first, currency=currency, service_type=None)
        if rules:
            RateRuleFactory(
                tenant=tenant,
                rate=second,
                currency=currency,
                technician=techs[1],
                service_type=None,
            )
        customers[currency] = OrganizationFactory(tenant=tenant, currency=currency)
    contracts = []
    for index in range(count):
        kind = list(TRAITS)[index % 4] if every_kind else rng.choice(list(TRAITS))
        scopes = [RoundingScope.ENTRY] * 4 + list(RoundingScope)
        scope = list(RoundingScope)[index % 3] if every_kind else rng.choice(scopes)
        currency = rng.choice([c for c, *_ in CURRENCIES] + ["EUR", "EUR"])
        contract = ContractFactory(
            tenant=tenant,
            customer=customers[currency],
            billing_organization=customers[currency],
            name=f"Random {index}",
            start_date=dt.date(2025, 12, rng.choice([1, 15, 31])),
            billing_cycle=rng.choice([BillingCycle.MONTHLY] * 3 + [BillingCycle.QUARTERLY]),
            anchor_day=rng.choice([1, 10, 28, 31]),
            rounding_scope=scope,
            rounding_increment_minutes=rng.choice([0, 1, 6, 15, 30]),
            rounding_minimum_minutes=rng.choice([0, 0, 30, 60]),
            taxable=rng.random() < 0.7,
            **TRAITS[kind],
        )
        if kind == ContractType.RETAINER:
            contract.included_hours = Decimal(rng.choice(["0.00", "1.50", "3.00", "7.25"]))
            contract.overage_rate = Decimal(rng.choice(["120.0000", "87.1234", "0.0000"]))
            contract.save()
        if kind == ContractType.BLOCK_HOURS:
            for _ in range(rng.randint(0, 3)):
                BlockPurchaseFactory(
                    tenant=tenant,
                    contract=contract,
                    hours=Decimal(rng.choice(["0.75", "2.00", "3.33"])),
                    purchased_on=dt.date(2025, 12, 1) + dt.timedelta(days=rng.randrange(0, 120)),
                )
        contract.random_tickets = [
            TicketFactory(tenant=tenant, organization=contract.customer, contract=contract)
            for _ in range(rng.randint(1, 3))
        ]
        # One contract in three has time by the first technician only: one rate for all
        # its entries. The others mix both technicians' rates.
        contract.random_techs = techs[:1] if index % 3 == 0 else techs
        contracts.append(contract)
        add_time(contract, rng, dt.date(2025, 12, 1), 75, rng.randint(2, 16), contract.random_techs)
    return contracts


def add_time(contract, rng, first: dt.date, days: int, count: int, techs) -> None:
    for _ in range(count):
        entry = posted(
            rng.choice(contract.random_tickets),
            # Few distinct days: entries of one day draw a pool in start-time order.
            first + dt.timedelta(days=rng.randrange(0, days, 15)),
            str(Decimal(rng.choice([0, rng.randrange(1, 800)])) / 100),
            billable=rng.random() > 0.1,
            tech=rng.choice(techs),
        )
        if entry.worked_seconds and rng.random() < 0.7:
            # Some entries have a start time: the day's entries draw pools in that order.
            started = dt.datetime.combine(
                entry.work_date, dt.time(rng.randrange(0, 24), 0), tzinfo=dt.UTC
            )
            TimeEntry.objects.filter(pk=entry.pk).update(
                started_at=started,
                ended_at=started + dt.timedelta(seconds=entry.worked_seconds),
            )


def figures(preview) -> tuple:
    """Per-contract figures, details and lines (with their entries) of a preview. The
    figures are read first: reading a summed line's entries prices its contract."""
    rows = {
        row.contract.pk: (
            row.total_balance,
            row.selected_balance,
            row.state,
            row.item_count,
            row.problems,
            row.billing_state.due_amount,
        )
        for row in preview.rows
    }
    return rows, preview.details, planned(preview)


@needs_postgresql
@pytest.mark.parametrize("seed", [5, 11, 2027])
def test_database_sums_equal_the_python_pricing(in_tenant_a, seed):
    rng = random.Random(seed)
    contracts = random_world(in_tenant_a, rng, 24)

    # An earlier batch bills what was due by February: pools are partly drawn, and
    # billed entries keep their billed and included time.
    first = batch_services.batch_create(name="January", as_of=dt.date(2026, 2, 1))
    for contract in contracts:
        if contract.currency == "NOK":  # time without a rate: a run refuses it
            batch_services.batch_selection_set(batch=first, contract=contract, include=False)
    batch_services.batch_run(batch=first)
    # Late entries in billed periods, and new ones up to the next batch; some retainers
    # now include fewer hours than their billed periods already drew.
    for contract in contracts:
        if contract.contract_type == ContractType.RETAINER and rng.random() < 0.5:
            contract.included_hours = Decimal("0.50")
            contract.save()
        add_time(
            contract, rng, dt.date(2025, 12, 20), 100, rng.randint(0, 6), contract.random_techs
        )

    batch = batch_services.batch_create(name="March", as_of=dt.date(2026, 3, 1))
    summed = batch_selectors.batch_preview(batch)
    itemized = batch_selectors.batch_preview(batch, itemized=True)

    in_database = [row for row in summed.rows if row.billing_state.summed_in_database]
    assert len(in_database) >= len(contracts) // 3
    assert any(row.lines for row in in_database)
    # Both ways a contract without a pool gets its rate: one for all its entries (carried
    # with its terms), or several by technician (joined entry by entry).
    rates_due = [
        {rate for _ticket, rate, _period in row.billing_state.summary.due_groups}
        for row in in_database
        if row.contract.contract_type not in (ContractType.RETAINER, ContractType.BLOCK_HOURS)
    ]
    assert any(len(rates) == 1 for rates in rates_due)
    assert any(len(rates) > 1 for rates in rates_due)
    assert not any(row.billing_state.summary is not None for row in itemized.rows)
    assert figures(summed) == figures(itemized)


@needs_postgresql
def test_a_line_summed_by_the_database_lists_its_entries_when_read(in_tenant_a):
    rng = random.Random(8)
    random_world(in_tenant_a, rng, 6)
    batch = batch_services.batch_create(name="March", as_of=dt.date(2026, 3, 1))
    summed = batch_selectors.batch_preview(batch)
    itemized = batch_selectors.batch_preview(batch, itemized=True)
    for row_s, row_i in zip(summed.rows, itemized.rows, strict=True):
        assert [[p.entry_id for p in line.entries] for line in row_s.lines] == [
            [p.entry_id for p in line.entries] for line in row_i.lines
        ]
        assert [(i.item.key, i.item.amount, i.selected) for i in row_s.items] == [
            (i.item.key, i.item.amount, i.selected) for i in row_i.items
        ]


@needs_postgresql
def test_the_summed_preview_reads_a_constant_number_of_queries(in_tenant_a):
    rng = random.Random(9)
    random_world(in_tenant_a, rng, 12, every_kind=True)
    batch = batch_services.batch_create(name="March", as_of=dt.date(2026, 3, 1))
    with CaptureQueriesContext(connection) as few:
        batch_selectors.batch_preview(batch)
    random_world(in_tenant_a, rng, 20, rules=False)
    with CaptureQueriesContext(connection) as many:
        preview = batch_selectors.batch_preview(batch)
    assert len(many) == len(few)
    assert sum(row.billing_state.summed_in_database for row in preview.rows) >= 16


def retainer_including(tenant, hours: str):
    """A monthly retainer from January 2026 including ``hours``, not rounded."""
    contract = ContractFactory(
        tenant=tenant, start_date=dt.date(2026, 1, 1), rounding_increment_minutes=0, retainer=True
    )
    contract.included_hours = Decimal(hours)
    contract.save()
    return contract


def time_lines_on_both_paths(batch) -> list[dict]:
    """{ticket id: (quantity, amount)} of the first contract's time lines, as the
    database sums them (PostgreSQL) and as the Python pricing does."""
    previews = [
        batch_selectors.batch_preview(batch),
        batch_selectors.batch_preview(batch, itemized=True),
    ]
    summed = previews[0].rows[0].billing_state.summed_in_database
    assert summed == (connection.vendor == "postgresql")
    return [
        {line.ticket_id: (line.quantity, line.amount) for line in p.rows[0].lines if line.ticket_id}
        for p in previews
    ]


def test_a_pool_is_drawn_in_start_time_order_on_both_paths(in_tenant_a):
    contract = retainer_including(in_tenant_a, "1.00")
    late, early = (
        TicketFactory(tenant=in_tenant_a, organization=contract.customer, contract=contract)
        for _ in range(2)
    )
    # Entered in this order, worked in the other: the earlier start draws the hour.
    for ticket, hour in ((late, 15), (early, 9)):
        entry = posted(ticket, dt.date(2026, 2, 3), "1.0")
        started = dt.datetime(2026, 2, 3, hour, tzinfo=dt.UTC)
        TimeEntry.objects.filter(pk=entry.pk).update(
            started_at=started, ended_at=started + dt.timedelta(hours=1)
        )
    batch = batch_services.batch_create(name="March", as_of=dt.date(2026, 3, 1))
    expected = {
        late.pk: (Decimal("1.0000"), Decimal("120.00")),
        early.pk: (Decimal("0.0000"), Decimal("0.00")),
    }
    assert time_lines_on_both_paths(batch) == [expected, expected]


def test_a_pool_already_drawn_beyond_its_hours_gives_nothing_more(in_tenant_a):
    contract = retainer_including(in_tenant_a, "3.00")
    ticket = TicketFactory(tenant=in_tenant_a, organization=contract.customer, contract=contract)
    posted(ticket, dt.date(2026, 1, 10), "2.5")
    batch_services.batch_run(
        batch=batch_services.batch_create(name="January", as_of=dt.date(2026, 2, 1))
    )
    # The retainer now includes 1 h a month, and 1 h more is logged late in January.
    contract.included_hours = Decimal("1.00")
    contract.save()
    posted(ticket, dt.date(2026, 1, 20), "1.0")
    batch = batch_services.batch_create(name="March", as_of=dt.date(2026, 3, 1))
    expected = {ticket.pk: (Decimal("1.0000"), Decimal("120.00"))}
    assert time_lines_on_both_paths(batch) == [expected, expected]
