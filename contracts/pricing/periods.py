"""Billing periods of a contract (DESIGN.md: Due, locked, partial).

Periods follow the contract's cycle (1, 3 or 12 months) from its anchor day: monthly
from the 15th runs 15th to 14th; an anchor of 29–31 means the month's last day in a
shorter month (31 Jan -> 28/29 Feb -> 31 Mar), through ``billing_site.timeutils``.

Period boundaries are ``b_k = add_months(base, k × cycle, day=anchor)`` where ``base``
is the last anchor date on or before the contract's start (so every period is a full
cycle and the first one contains the start date). Periods are pure date arithmetic:
no query, no state.

Stored days outside the storable range (rows from before it was enforced) are clamped
(``computable_date``) before any arithmetic, so a contract, entry or purchase dated
9999-12-31 gets a period at the calendar's end instead of a 500 on every page that
prices it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import NamedTuple, Protocol

from billing_site.timeutils import add_months, clamp_day, computable_date

from ..choices import CYCLE_MONTHS, BillingCycle

ONE_DAY = dt.timedelta(days=1)


class HasCycle(Protocol):
    start_date: dt.date
    end_date: dt.date | None
    billing_cycle: str
    anchor_day: int


@dataclass(frozen=True, order=True)
class Period:
    """A billing period: both ends included."""

    start: dt.date
    end: dt.date

    def __contains__(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    @cached_property
    def label(self) -> str:
        # Cached on the instance (outside the dataclass fields, so equality is unchanged):
        # memoised periods are shared by every entry of the period.
        return f"{self.start:%d %b %Y} – {self.end:%d %b %Y}"

    def usage_due(self, as_of: dt.date) -> bool:
        """Usage (time) is billed in arrears: due once the last day is before ``as_of``."""
        return self.end < as_of

    def fee_due(self, as_of: dt.date) -> bool:
        """A fee is billed in advance: due once the first day is on or before ``as_of``."""
        return self.start <= as_of


class InPeriod:
    """``period_start`` / ``period_end`` of something billed for a ``period`` (None when
    it has none): what a line's words read, on a planned line and on an item alike."""

    period: Period | None

    @property
    def period_start(self) -> dt.date | None:
        return self.period.start if self.period is not None else None

    @property
    def period_end(self) -> dt.date | None:
        return self.period.end if self.period is not None else None


def _months(contract: HasCycle) -> int:
    return CYCLE_MONTHS[BillingCycle(contract.billing_cycle)]


def _base(contract: HasCycle) -> dt.date:
    """The last anchor date on or before the contract's start."""
    start, anchor = contract.start_date, contract.anchor_day
    base = clamp_day(start.year, start.month, anchor)
    if base > start:
        base = add_months(base, -1, day=anchor)
    return base


def _boundary(contract: HasCycle, base: dt.date, index: int) -> dt.date:
    return add_months(base, index * _months(contract), day=contract.anchor_day)


def _index_of(contract: HasCycle, base: dt.date, day: dt.date) -> int:
    months = _months(contract)
    index = ((day.year - base.year) * 12 + (day.month - base.month)) // months
    # Month arithmetic is off by at most one period around the anchor day; settle it.
    while _boundary(contract, base, index) > day:
        index -= 1
    while _boundary(contract, base, index + 1) <= day:
        index += 1
    return index


def _period(contract: HasCycle, base: dt.date, index: int) -> Period:
    return Period(_boundary(contract, base, index), _boundary(contract, base, index + 1) - ONE_DAY)


class _Cycle(NamedTuple):
    """The terms a period depends on (a hashable stand-in for the contract)."""

    start_date: dt.date
    billing_cycle: str
    anchor_day: int


@lru_cache(maxsize=65536)
def _cycle_period(cycle: _Cycle, index: int) -> Period:
    # One instance per period of a cycle: the days of a period share it.
    return _period(cycle, _base(cycle), index)


@lru_cache(maxsize=65536)
def _period_containing(cycle: _Cycle, day: dt.date) -> Period:
    return _cycle_period(cycle, _index_of(cycle, _base(cycle), day))


def cycle_key(contract: HasCycle) -> _Cycle:
    """What a contract's periods depend on: contracts with equal keys share periods."""
    return _Cycle(computable_date(contract.start_date), contract.billing_cycle, contract.anchor_day)


def period_containing(contract: HasCycle, day: dt.date) -> Period:
    """The period of ``contract``'s cycle that contains ``day`` (any day, even off-term).

    Memoised on (start date, cycle, anchor day, day): pricing asks this for every time
    entry, and contracts on the same terms share the answer. ``Period`` is immutable.
    """
    return _period_containing(cycle_key(contract), computable_date(day))


def periods_between(contract: HasCycle, first: dt.date, last: dt.date) -> list[Period]:
    """Periods overlapping [first, last], in order (memoised per period of the cycle:
    batches ask this for thousands of contracts on a few cycles)."""
    first, last = computable_date(first), computable_date(last)
    if last < first:
        return []
    cycle = cycle_key(contract)
    index = _index_of(cycle, _base(cycle), first)
    periods = []
    while True:
        period = _cycle_period(cycle, index)
        periods.append(period)
        # Stop at the period holding ``last``: the one after it may start past year 9999.
        if period.end >= last:
            return periods
        index += 1


def period_index(contract: HasCycle, day: dt.date) -> int:
    """Number of the period containing ``day``, counted from the one containing the start (0)."""
    cycle = cycle_key(contract)
    base = _base(cycle)
    return _index_of(cycle, base, computable_date(day)) - _index_of(cycle, base, cycle.start_date)


def contract_periods(contract: HasCycle, until: dt.date) -> list[Period]:
    """The contract's periods from the one containing its start up to the one containing
    ``until`` (stopping at the end date, if any)."""
    last = until if contract.end_date is None else min(until, contract.end_date)
    return periods_between(contract, contract.start_date, last)


def iter_periods(contract: HasCycle) -> Iterator[Period]:
    """Every period of the contract from its start, for as long as the caller reads."""
    cycle = cycle_key(contract)
    base = _base(cycle)
    index = _index_of(cycle, base, cycle.start_date)
    while True:
        period = _period(cycle, base, index)
        if contract.end_date is not None and period.start > contract.end_date:
            return
        yield period
        index += 1
