"""Races on PostgreSQL (two connections): one running timer, items billed exactly once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction

from billing_site.tenancy import tenant_context
from contracts import services
from contracts.choices import ChargeKind, TimeEntryState
from contracts.models import PeriodCharge, TimeEntry
from contracts.pricing.periods import Period

from .factories import (
    ContractFactory,
    TicketFactory,
    TimeEntryFactory,
    bill_entries,
    bill_fee,
    technician,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: row locks and concurrent connections")


def race(tenant, *jobs):
    """Run the jobs at once, each in its own thread and connection; return their outcomes."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list = [None] * len(jobs)

    def run(index, job):
        try:
            with tenant_context(tenant):
                barrier.wait()
                outcomes[index] = job()
        except ValidationError as error:
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _lines(tenant, count):
    from invoices.models import Invoice, InvoiceLine

    invoice = Invoice.all_tenants.create(
        tenant=tenant, currency="EUR", seller_name="MSP", bill_to_name="ACME"
    )
    return [
        InvoiceLine.all_tenants.create(tenant=tenant, invoice=invoice, description=f"Line {i}")
        for i in range(count)
    ]


def test_two_timers_started_at_once_leave_one_running(tenant_a):
    tech = technician(tenant_a)
    ticket = TicketFactory(tenant=tenant_a)
    now = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
    outcomes = race(
        tenant_a,
        lambda: services.timer_start(technician=tech, ticket=ticket, now=now),
        lambda: services.timer_start(technician=tech, ticket=ticket, now=now),
    )
    assert sum(isinstance(o, TimeEntry) for o in outcomes) == 1
    assert sum(isinstance(o, ValidationError) for o in outcomes) == 1
    assert TimeEntry.all_tenants.filter(ended_at__isnull=True).count() == 1


def in_transaction(job):
    def run():
        with transaction.atomic():
            return job()

    return run


def test_a_fee_period_is_billed_once_when_two_runs_race(tenant_a):
    contract = ContractFactory(tenant=tenant_a, retainer=True)
    first, second = _lines(tenant_a, 2)
    period = Period(dt.date(2026, 1, 1), dt.date(2026, 1, 31))
    with tenant_context(tenant_a):
        PeriodCharge.objects.create(
            tenant=tenant_a,
            contract=contract,
            kind=ChargeKind.RETAINER_FEE,
            period_start=period.start,
            period_end=period.end,
        )

    def bill(line):
        return in_transaction(lambda: bill_fee(line, contract, ChargeKind.RETAINER_FEE, period))

    outcomes = race(tenant_a, bill(first), bill(second))
    assert sorted(outcomes) == [0, 1]
    charge = PeriodCharge.all_tenants.get()
    assert charge.invoice_line_id in (first.pk, second.pk)


def test_time_entries_are_billed_once_when_two_runs_race(tenant_a):
    contract = ContractFactory(tenant=tenant_a)
    entries = [
        TimeEntryFactory(
            tenant=tenant_a,
            contract=contract,
            ticket=None,
            state=TimeEntryState.POSTED,
            work_date=dt.date(2026, 1, day),
        )
        for day in (5, 6, 7)
    ]
    first, second = _lines(tenant_a, 2)
    outcomes = race(
        tenant_a,
        in_transaction(lambda: bill_entries(first, entries)),
        in_transaction(lambda: bill_entries(second, entries)),
    )
    # The claim waits on the winner's row locks, then finds every entry taken.
    assert sorted(outcomes) == [0, 3]
    assert set(TimeEntry.all_tenants.values_list("invoice_line_id", flat=True)) in (
        {first.pk},
        {second.pk},
    )
