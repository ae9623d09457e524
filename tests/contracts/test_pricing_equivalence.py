"""The database accelerator and the Python reference give the same figures, to the cent.

On PostgreSQL ``contract_billing_state(sum_in_database=True)`` has the database price
and sum the unbilled time of the contracts it can (``contracts.pricing.database``);
``sum_in_database=False`` prices every entry in Python (``contracts.pricing``). On
generated worlds of 20 contracts — every type and rounding scope in turn, 0-, 2- and
3-decimal currencies, entries of 0, 1, 59 and 61 s, anchors 29–31, pools and blocks,
history billed by an earlier run and entries logged late into billed periods — both
must agree on each contract's balance, due amount, state and item count, and on every
due line group (count, worked, billed, included, quantity, amount).
"""

from __future__ import annotations

from collections import Counter

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from hypothesis import HealthCheck, Phase, given, settings

from contracts.selectors import contract_billing_state
from invoices.batches import services as batch_services
from invoices.batches.selectors import TimeGroup, selected_subtotal
from tests.invoices.generated_worlds import (
    CURRENCIES,
    KINDS,
    Cast,
    add_late_entries,
    build_world,
    fewer_included_hours,
    world_specs,
)

# The database sums time on PostgreSQL only; elsewhere every figure is the Python one.
needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the database sums time on PostgreSQL only"
)

CONTRACTS_PER_WORLD = 20
WORLDS = 52  # 1,040 contracts a run


def due_groups(state) -> dict[tuple, tuple]:
    """{line key: (count, worked, billed, included, quantity, amount)} of the due time,
    as the database summed it or as the batch engine groups the Python-priced entries."""
    if state.summed_in_database:
        return {
            key: (s.count, s.worked, s.billed, s.included, s.quantity, s.line_amount)
            for key, s in state.summary.due_groups.items()
        }
    contract = state.contract
    return {
        key: (
            group.count,
            group.worked,
            group.billed,
            group.included,
            group.quantity,
            selected_subtotal(contract, [], {key: group}),
        )
        for key, group in TimeGroup.from_columns(state.time, state.usage_cutoff).items()
    }


def figures(state) -> dict[str, object]:
    summed = state.summed_in_database
    result = {
        "unbilled balance": state.total_amount,
        "due now": state.due_amount,
        "state": state.state,
        "items": state.item_count,
        "awaiting posting": state.unposted_entries,
        "problems": state.problems,
        "due groups": dict(sorted(due_groups(state).items(), key=repr)),
    }
    # Reading the figures priced no entry: they are the database's own.
    assert state.summed_in_database == summed
    return result


def run_earlier(as_of) -> None:
    batch = batch_services.batch_create(name="Earlier", as_of=as_of)
    try:
        batch_services.batch_run(batch=batch)
    except ValidationError as error:
        if "Nothing is selected" not in str(error):
            raise


@needs_postgresql
def test_database_sums_equal_the_python_pricing_on_generated_contracts(in_tenant_a):
    cast = Cast.make(in_tenant_a)
    seen: Counter = Counter()

    @settings(
        max_examples=WORLDS,
        deadline=None,
        database=None,
        # No shrinking: a world is 20 contracts and shrinking one takes minutes; the
        # failure message already names the contracts that differ, with their terms.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        world=world_specs(
            min_contracts=CONTRACTS_PER_WORLD, max_contracts=CONTRACTS_PER_WORLD, every_kind=True
        )
    )
    def check(world):
        # Each world in a savepoint, rolled back: the next one starts from the cast.
        with transaction.atomic():
            built = build_world(in_tenant_a, world, cast)
            if world.earlier is not None:
                run_earlier(world.earlier)
                add_late_entries(in_tenant_a, world, built, cast)
                fewer_included_hours(world, built)
            contracts = [item.contract for item in built]
            in_database = contract_billing_state(contracts, world.as_of, sum_in_database=True)
            in_python = contract_billing_state(contracts, world.as_of, sum_in_database=False)
            failures = []
            for item in built:
                cid = item.contract.pk
                summed = in_database[cid].summed_in_database
                database, python = figures(in_database[cid]), figures(in_python[cid])
                seen["contracts"] += 1
                if summed:
                    seen["summed"] += 1
                    seen[item.spec.kind] += 1
                    seen[item.spec.currency] += 1
                    seen["summed due groups"] += len(database["due groups"])
                differ = [name for name in python if database[name] != python[name]]
                if differ:
                    failures.append(
                        item.describe(world.as_of)
                        + "\n"
                        + "\n".join(
                            f"  ✗ {name}: database {database[name]} / python {python[name]}"
                            for name in differ
                        )
                    )
            if failures:
                pytest.fail(
                    f"as of {world.as_of}, earlier run {world.earlier}, "
                    f"{len(failures)} of {len(built)} contracts differ\n\n"
                    + "\n\n".join(failures[:5]),
                    pytrace=False,
                )
            transaction.set_rollback(True)

    check()
    # The run compared enough contracts, and the database summed every type and currency.
    assert seen["contracts"] >= 1000, seen
    assert seen["summed"] >= seen["contracts"] // 4, seen
    # Typically 300–360 due groups summed in the database; the floor leaves room for chance.
    assert seen["summed due groups"] >= 200, seen
    assert all(seen[kind] > 0 for kind in KINDS), seen
    assert all(seen[currency] > 0 for currency in CURRENCIES), seen
