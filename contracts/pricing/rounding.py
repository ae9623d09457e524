"""Rounding billable time (DESIGN.md, Time): up to the contract's increment, then at
least its minimum, per entry, per ticket and day, or per period.

A group's rounded total is shared among its entries in date order: the last takes the
rounding, and entries already billed keep the share frozen on them, so later entries
never bill the same rounding twice. Hours are seconds / 3600 to 4 places, half-up.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from billing_site.timeutils import format_duration

from ..choices import RoundingScope
from ..models import Contract, TimeEntry
from .periods import Period

HOUR = Decimal(3600)


QUANTITY_EXPONENT = Decimal("0.0001")


@lru_cache(maxsize=65536)
def hours(seconds: int) -> Decimal:
    """Seconds as hours to 4 places (half-up): the quantity printed on a line.

    Memoised: rounded time takes few distinct values (Decimals are immutable)."""
    return (Decimal(seconds) / HOUR).quantize(QUANTITY_EXPONENT, rounding=ROUND_HALF_UP)


# Pure text of a number of seconds, asked for several times per priced entry.
_duration = lru_cache(maxsize=65536)(format_duration)


def round_seconds(seconds: int, increment_minutes: int, minimum_minutes: int = 0) -> int:
    """Billable time of one rounding unit: up to the increment, then at least the minimum.

    Increment 15: 7 min -> 15 min, 16 min -> 30 min, 15 min -> 15 min. Nothing worked
    is nothing billed (no minimum for zero).
    """
    seconds = int(seconds)
    if seconds <= 0:
        return 0
    step = int(increment_minutes) * 60
    if step > 0:
        seconds = -(-seconds // step) * step
    return max(seconds, int(minimum_minutes) * 60)


def rounding_label(contract: Contract) -> str:
    return rounding_words(
        contract.rounding_increment_minutes,
        contract.rounding_minimum_minutes,
        contract.rounding_scope,
    )


@lru_cache(maxsize=1024)
def rounding_words(increment_minutes: int, minimum_minutes: int, scope: str) -> str:
    """'rounded up to 15 min, minimum 30 min (each time entry)', or 'not rounded'."""
    parts = []
    if increment_minutes:
        parts.append(f"rounded up to {increment_minutes} min")
    if minimum_minutes:
        parts.append(f"minimum {minimum_minutes} min")
    if not parts:
        return "not rounded"
    return ", ".join(parts) + f" ({RoundingScope(scope).label.lower()})"


class _Row:
    """A time entry as the pricing needs it (from the caller or from the context query)."""

    __slots__ = ("billed", "entry", "frozen", "group_note", "included", "period")

    def __init__(self, entry, period: Period):
        self.entry = entry
        self.period = period
        self.billed = 0
        self.included = 0
        self.group_note = ""
        self.frozen = entry.invoice_line_id is not None

    @property
    def sort_key(self):
        e = self.entry
        started = e.started_at or dt.datetime.combine(e.work_date, dt.time.min, tzinfo=dt.UTC)
        return (e.work_date, started, e.pk or 0)


def _frozen_billed(entry: TimeEntry, contract: Contract) -> int:
    if entry.billed_seconds is not None:
        return entry.billed_seconds
    return round_seconds(
        entry.worked_seconds, contract.rounding_increment_minutes, contract.rounding_minimum_minutes
    )


def _allocate(rows: list[_Row], total: int, contract: Contract, note: str) -> None:
    """Share a group's rounded total among its entries; billed ones keep their frozen share.

    Unbilled entries take their worked time in order while the pool lasts; the last one
    takes what remains (the rounding), so the group bills exactly its rounded total.
    """
    rows.sort(key=lambda row: row.sort_key)
    pool = total
    for row in rows:
        if row.frozen:
            row.billed = _frozen_billed(row.entry, contract)
            pool -= row.billed
    pool = max(pool, 0)
    open_rows = [row for row in rows if not row.frozen]
    for index, row in enumerate(open_rows):
        share = pool if index == len(open_rows) - 1 else min(row.entry.worked_seconds, pool)
        row.billed = share
        row.group_note = note
        pool -= share


def _round_rows(rows: list[_Row], contract: Contract) -> None:
    """Billed seconds for the contract's billable rows, by the contract's rounding scope."""
    inc, minimum = contract.rounding_increment_minutes, contract.rounding_minimum_minutes
    scope = contract.rounding_scope
    if scope == RoundingScope.ENTRY:
        for row in rows:
            row.billed = (
                _frozen_billed(row.entry, contract)
                if row.frozen
                else round_seconds(row.entry.worked_seconds, inc, minimum)
            )
        return
    groups: dict[tuple, list[_Row]] = defaultdict(list)
    for row in rows:
        if scope == RoundingScope.TICKET_DAY:
            groups[(row.entry.ticket_id, row.entry.work_date)].append(row)
        else:
            groups[(row.period.start,)].append(row)
    for key, group in groups.items():
        worked = sum(row.entry.worked_seconds for row in group)
        total = round_seconds(worked, inc, minimum)
        what = f"ticket per day {key[1]:%d %b}" if scope == RoundingScope.TICKET_DAY else "period"
        note = (
            f"{what}: {len(group)} entr{'y' if len(group) == 1 else 'ies'}, "
            f"{_duration(worked)} worked -> {_duration(total)} billed"
        )
        _allocate(group, total, contract, note)
