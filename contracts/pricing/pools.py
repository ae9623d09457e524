"""Pools (DESIGN.md, Contract types): retainer included hours per period and prepaid
block balances, drawn by billed (rounded) time in date and start-time order, around what
is already billed. Unused included hours do not roll over; a block purchase counts for
the periods ending on or after its date.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db.models import Sum

from ..choices import TimeEntryState
from ..models import BlockPurchase, TimeEntry
from .rounding import HOUR, _Row


def _allocate_included(rows: list[_Row], available: int) -> None:
    """Draw included hours in chronological order; billed rows keep their frozen share."""
    for row in sorted(rows, key=lambda r: r.sort_key):
        if row.frozen:
            row.included = row.entry.included_seconds or 0
            continue
        row.included = min(row.billed, max(available, 0))
        available -= row.included


def _block_facts(
    block_ids: set[int],
) -> tuple[dict[int, list[tuple[dt.date, int]]], dict[int, int]]:
    """Purchases (date, seconds) and block time already billed, per block contract: 2 queries."""
    if not block_ids:
        return {}, {}
    purchases: dict[int, list[tuple[dt.date, int]]] = defaultdict(list)
    for cid, day, purchased in BlockPurchase.objects.filter(contract_id__in=block_ids).values_list(
        "contract_id", "purchased_on", "hours"
    ):
        purchases[cid].append((day, int(purchased * HOUR)))
    # Billed entries are posted (a check constraint): naming the state lets PostgreSQL
    # read the (tenant, contract, state) index instead of every billed row of the tenant.
    used = dict(
        TimeEntry.objects.filter(
            contract_id__in=block_ids, state=TimeEntryState.POSTED, invoice_line__isnull=False
        )
        .values("contract_id")
        .annotate(seconds=Sum("included_seconds"))
        .values_list("contract_id", "seconds")
    )
    return purchases, {cid: seconds or 0 for cid, seconds in used.items()}


def _draw_block(rows: list[_Row], purchases: list[tuple[dt.date, int]], used: int) -> None:
    """Unbilled time draws the balance down in date order; purchases made by the end of an
    entry's period count for it (usage is billed after the period ends)."""
    drawn = used
    for row in sorted(rows, key=lambda r: r.sort_key):
        if row.frozen:
            row.included = row.entry.included_seconds or 0
            continue
        bought = sum(seconds for day, seconds in purchases if day <= row.period.end)
        row.included = min(row.billed, max(bought - drawn, 0))
        drawn += row.included
