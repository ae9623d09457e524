"""What is due as of a batch date (DESIGN.md: Due, locked, partial).

Usage (time) is billed in arrears: due once its period's last day is before the batch
date, i.e. worked before the start of the period that contains it. A fee in advance is
due once its period's first day is on or before the date; a block purchase from its
purchase date. Only unbilled items are due, and earlier periods stay due until billed.
A contract is selectable when everything unbilled is due, locked when nothing is, and
partial when some items are due and others wait for an open period.
"""

from __future__ import annotations

import datetime as dt

from ..choices import BillingState, ContractStatus
from ..models import Contract
from .periods import Period, period_containing, period_index, periods_between


def usage_cutoff(contract: Contract, as_of: dt.date) -> dt.date:
    """Time worked before this day is due as of ``as_of`` (its period has ended)."""
    return period_containing(contract, as_of).start


def block_purchase_due(purchased_on: dt.date, as_of: dt.date) -> bool:
    """A prepaid block is invoiced once, from its purchase date."""
    return purchased_on <= as_of


def fee_periods_due(contract: Contract, as_of: dt.date, billed: dict) -> list[Period]:
    """Fee periods due as of ``as_of`` (first day on or before it) that are not billed.
    Suspended contracts accrue no fees; none before the start or after the end.

    ``billed`` holds (count, last period start, exact starts or None) for this fee; when
    the billed periods have no gap, only the periods after the last one are enumerated.
    """
    if contract.status == ContractStatus.SUSPENDED or contract.start_date > as_of:
        return []
    last_day = as_of if contract.end_date is None else min(as_of, contract.end_date)
    count, last, starts = billed.get("count", 0), billed.get("last"), billed.get("starts")
    if last is not None and starts is None and period_index(contract, last) + 1 == count:
        following = period_containing(contract, last).end + dt.timedelta(days=1)
        return periods_between(contract, following, last_day)
    periods = periods_between(contract, contract.start_date, last_day)
    taken = starts or set()
    return [period for period in periods if period.start not in taken]


def billing_state(*, any_due: bool, any_waiting: bool) -> str:
    """Selectable, locked or partial, from whether anything unbilled is due or waits."""
    if not any_due:
        return BillingState.LOCKED
    return BillingState.PARTIAL if any_waiting else BillingState.SELECTABLE
