"""The line policy: how priced time becomes invoice lines (decision record 0007).

One rule for every figure: the invoice a run writes, the batch page and its details, a
contract's balances and its periods, and the database's sums (``database.py``) all
group time by ``time_line_key`` and price a line by ``time_line_amount``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING

from billing_site.money import (
    line_amount,
    quantize,
    quantize_unit_price,
)

from ..choices import RoundingScope
from ..models import Contract
from .periods import Period
from .rounding import hours

if TYPE_CHECKING:
    from .entries import ContractTime


def time_line_key(
    contract: Contract, ticket_id: int | None, rate: Decimal | None, period: Period
) -> tuple[int, Decimal | None, dt.date | None]:
    """The invoice line a priced time entry is billed on: (ticket or 0, rate, period start).

    One line per ticket and rate; a contract that rounds the whole period bills one line
    per period and rate instead (ticket 0), so the period's rounding, which lands on its
    last entry, stays on the line it was rounded for and the lines add up to the period's
    rounded time × rate to the cent (a line per ticket would round each share again).
    """
    if contract.rounding_scope == RoundingScope.PERIOD:
        return (0, rate, period.start)
    return (ticket_id or 0, rate, None)


def time_line_quantity(charged_seconds: int) -> Decimal:
    """A time line's hours: its total charged seconds converted once (never a sum of
    entries' rounded hours)."""
    return hours(charged_seconds)


def time_line_amount(charged_seconds: int, rate: Decimal | None, currency: str) -> Decimal:
    """A time line's amount: ``time_line_quantity`` × rate (4 places), half-up once. No
    rate prices nothing (the line carries the problem and a run refuses it)."""
    return line_amount(
        time_line_quantity(charged_seconds), quantize_unit_price(rate or 0), currency
    )


def time_line_keys(time: ContractTime) -> list[tuple]:
    """``time_line_key`` of each of a contract's priced entries, in entry order (the
    contract's scope is read once: a batch keys every unbilled entry of the tenant)."""
    if time.contract.rounding_scope == RoundingScope.PERIOD:
        return [
            (0, price.rate, period.start)
            for price, period in zip(time.prices, time.periods, strict=True)
        ]
    return [
        (entry.ticket_id or 0, price.rate, None)
        for entry, price in zip(time.entries, time.prices, strict=True)
    ]


def time_line_amounts(time: ContractTime, cutoff: dt.date) -> tuple[Decimal, Decimal]:
    """(due, waiting) amounts of a contract's priced unbilled time as the invoices will
    bill it: entries worked before ``cutoff`` are due; each side is grouped into lines by
    ``time_line_key`` and every line rounded once."""
    currency = time.contract.currency
    charged: dict[tuple, int] = defaultdict(int)
    for key, entry, billed, included, price in zip(
        time.line_keys, time.entries, time.billed, time.included, time.prices, strict=True
    ):
        if price.billable:
            charged[(entry.work_date < cutoff, key)] += billed - included
    due = waiting = quantize(Decimal("0"), currency)
    for (is_due, (_ticket, rate, _period)), seconds in charged.items():
        amount = time_line_amount(seconds, rate, currency)
        if is_due:
            due += amount
        else:
            waiting += amount
    return due, waiting
