"""A batch plans a contract's time lines from its priced columns, or — once one of its
items is excluded — from its items one by one. On random contracts of every type, scope
and rounding, both paths must plan the same lines, entries and figures, to the cent."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from billing_site.testing.factories import OrganizationFactory
from contracts.choices import ContractType, RoundingScope
from invoices.batches import selectors as batch_selectors
from invoices.batches import services as batch_services
from invoices.batches.models import BatchExclusion
from tests.contracts.factories import (
    BlockPurchaseFactory,
    ContractFactory,
    RateRuleFactory,
    TicketFactory,
    technician,
)

from .batch_factories import posted

TRAITS = {
    ContractType.HOURLY: {},
    ContractType.RETAINER: {"retainer": True},
    ContractType.BLOCK_HOURS: {"block": True},
    ContractType.RECURRING: {"recurring": True},
}


def random_contracts(tenant, rng: random.Random, count: int) -> None:
    techs = [technician(tenant), technician(tenant, f"{tenant.slug}-second")]
    RateRuleFactory(tenant=tenant, rate=Decimal("97.5000"), currency="EUR", service_type=None)
    RateRuleFactory(
        tenant=tenant,
        rate=Decimal("133.3333"),
        currency="EUR",
        technician=techs[1],
        service_type=None,
    )
    customer = OrganizationFactory(tenant=tenant, currency="EUR")
    for index in range(count):
        kind = rng.choice(list(TRAITS))
        contract = ContractFactory(
            tenant=tenant,
            customer=customer,
            name=f"Random {index}",
            start_date=dt.date(2026, 1, rng.choice([1, 15, 31])),
            rounding_scope=rng.choice(list(RoundingScope)),
            rounding_increment_minutes=rng.choice([0, 6, 15, 30]),
            rounding_minimum_minutes=rng.choice([0, 30]),
            taxable=rng.random() < 0.7,
            **TRAITS[kind],
        )
        if kind == ContractType.BLOCK_HOURS:
            BlockPurchaseFactory(tenant=tenant, contract=contract, hours=Decimal("3.00"))
        tickets = [
            TicketFactory(tenant=tenant, organization=customer, contract=contract) for _ in range(3)
        ]
        for _ in range(rng.randint(2, 14)):
            posted(
                rng.choice(tickets),
                contract.start_date + dt.timedelta(days=rng.randrange(0, 75)),
                str(Decimal(rng.randrange(1, 600)) / 100),
                billable=rng.random() > 0.15,
                tech=rng.choice(techs),
            )


def planned(preview) -> dict[int, list[tuple]]:
    return {
        row.contract.pk: [
            (
                line.description,
                line.quantity,
                line.unit_price,
                line.amount,
                line.worked_seconds,
                line.billed_seconds,
                line.period,
                [p.entry_id for p in line.entries],
                line.problems,
            )
            for line in row.lines
        ]
        for row in preview.rows
    }


@pytest.mark.parametrize("seed", [3, 17, 2026])
def test_column_and_item_paths_plan_the_same_lines(in_tenant_a, seed):
    random_contracts(in_tenant_a, random.Random(seed), 10)
    batch = batch_services.batch_create(name=f"Random {seed}", as_of=dt.date(2026, 4, 1))
    by_columns = batch_selectors.batch_preview(batch)
    # An excluded key that matches no item sends every contract down the item path and
    # changes no selection.
    for row in by_columns.rows:
        BatchExclusion.objects.create(
            tenant=in_tenant_a, batch=batch, contract=row.contract, kind="time", item_key="time:0"
        )
    by_items = batch_selectors.batch_preview(batch)
    assert all(row.excluded_keys for row in by_items.rows)
    assert planned(by_items) == planned(by_columns)
    assert by_items.details == by_columns.details
    assert any(line.entries for row in by_columns.rows for line in row.lines)
    for row_c, row_i in zip(by_columns.rows, by_items.rows, strict=True):
        assert (row_c.total_balance, row_c.state, row_c.problems) == (
            row_i.total_balance,
            row_i.state,
            row_i.problems,
        )
