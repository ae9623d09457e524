"""Billing periods: cycle and anchor day, clamping to the month's last day (DESIGN.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from contracts.pricing.periods import (
    Period,
    contract_periods,
    period_containing,
    period_index,
    periods_between,
)

D = dt.date


@dataclass
class Terms:
    start_date: dt.date
    billing_cycle: str = "monthly"
    anchor_day: int = 1
    end_date: dt.date | None = None


def test_monthly_from_the_15th_runs_15th_to_14th():
    terms = Terms(D(2026, 1, 15), anchor_day=15)
    assert period_containing(terms, D(2026, 1, 15)) == Period(D(2026, 1, 15), D(2026, 2, 14))
    assert period_containing(terms, D(2026, 2, 14)) == Period(D(2026, 1, 15), D(2026, 2, 14))
    assert period_containing(terms, D(2026, 2, 15)) == Period(D(2026, 2, 15), D(2026, 3, 14))


def test_start_before_the_anchor_day_falls_in_the_period_begun_the_month_before():
    terms = Terms(D(2026, 1, 10), anchor_day=15)
    assert period_containing(terms, D(2026, 1, 10)) == Period(D(2025, 12, 15), D(2026, 1, 14))


def test_calendar_month_ends_on_the_31st():
    terms = Terms(D(2026, 1, 1), anchor_day=1)
    assert period_containing(terms, D(2026, 1, 20)) == Period(D(2026, 1, 1), D(2026, 1, 31))


@pytest.mark.parametrize(
    ("year", "last_day"),
    [(2026, 28), (2028, 29)],
    ids=["non-leap", "leap"],
)
def test_february_period(year, last_day):
    terms = Terms(D(year, 1, 1), anchor_day=1)
    assert period_containing(terms, D(year, 2, 10)) == Period(D(year, 2, 1), D(year, 2, last_day))


@pytest.mark.parametrize(
    ("year", "feb_day"),
    [(2026, 28), (2028, 29)],
    ids=["non-leap", "leap"],
)
def test_anchor_31_clamps_to_the_last_day_and_comes_back(year, feb_day):
    terms = Terms(D(year, 1, 31), anchor_day=31)
    periods = contract_periods(terms, D(year, 4, 30))
    assert periods[0] == Period(D(year, 1, 31), D(year, 2, feb_day - 1))
    assert periods[1] == Period(D(year, 2, feb_day), D(year, 3, 30))
    assert periods[2] == Period(D(year, 3, 31), D(year, 4, 29))
    assert periods[3] == Period(D(year, 4, 30), D(year, 5, 30))


def test_anchor_30_in_february():
    terms = Terms(D(2026, 1, 30), anchor_day=30)
    assert period_containing(terms, D(2026, 2, 27)) == Period(D(2026, 1, 30), D(2026, 2, 27))
    assert period_containing(terms, D(2026, 2, 28)) == Period(D(2026, 2, 28), D(2026, 3, 29))


def test_quarterly_and_yearly_cycles():
    quarterly = Terms(D(2026, 1, 1), billing_cycle="quarterly", anchor_day=1)
    assert period_containing(quarterly, D(2026, 5, 5)) == Period(D(2026, 4, 1), D(2026, 6, 30))
    yearly = Terms(D(2026, 3, 15), billing_cycle="yearly", anchor_day=15)
    assert period_containing(yearly, D(2027, 3, 14)) == Period(D(2026, 3, 15), D(2027, 3, 14))
    assert period_containing(yearly, D(2027, 3, 15)) == Period(D(2027, 3, 15), D(2028, 3, 14))


def test_contract_periods_stop_at_the_end_date():
    terms = Terms(D(2026, 1, 1), end_date=D(2026, 3, 10))
    assert [p.start for p in contract_periods(terms, D(2026, 12, 31))] == [
        D(2026, 1, 1),
        D(2026, 2, 1),
        D(2026, 3, 1),
    ]


def test_periods_between_and_index():
    terms = Terms(D(2026, 1, 15), anchor_day=15)
    periods = periods_between(terms, D(2026, 2, 1), D(2026, 4, 20))
    assert [p.start for p in periods] == [
        D(2026, 1, 15),
        D(2026, 2, 15),
        D(2026, 3, 15),
        D(2026, 4, 15),
    ]
    assert period_index(terms, D(2026, 1, 20)) == 0
    assert period_index(terms, D(2026, 4, 15)) == 3


def test_usage_due_after_the_last_day_fee_due_from_the_first():
    period = Period(D(2026, 1, 1), D(2026, 1, 31))
    assert not period.usage_due(D(2026, 1, 31))
    assert period.usage_due(D(2026, 2, 1))
    assert not period.fee_due(D(2025, 12, 31))
    assert period.fee_due(D(2026, 1, 1))
