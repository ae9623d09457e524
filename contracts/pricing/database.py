"""Unbilled time priced and summed by the database, for batch figures (PostgreSQL).

A batch's page and details need, per contract, sums of its unbilled time: per ticket
and rate the due entries' count, worked, billed and included seconds and charged hours,
and the amount of all of it. ``contracts.pricing`` computes them entry by entry in
Python, which at a few hundred thousand entries is most of a batch preview. Here one
statement does the per-entry arithmetic and the sums, and Python keeps every rule that
is not arithmetic:

- the rate of each (technician, service type) on a contract (``RateBook``, most
  specific rule wins; the overage rate for retainers and blocks);
- the contract's periods (``periods``) and the day its usage falls due;
- the currency's minor unit and the retainer's included seconds.

The statement rounds each entry up to the contract's increment, then to its minimum
(``rounding.round_seconds``); draws retainer included hours per period and block
balances in date order, around what is already billed (``pools._allocate_included``
and ``pools._draw_block``); and bills each group of entries as one line by the line
policy (``lines.time_line_key``, ``lines.time_line_amount``): the group's charged
seconds as hours to 4 places, times the rate, half-up once to the minor unit. Every one
of those is checked against the Python pricing on generated contracts
(``tests/contracts/test_pricing_equivalence.py``, ``tests/invoices/test_batch_sums_in_database.py``).

It serves contracts that round per entry and whose every entry has a rate; the others
(grouped rounding shares a group's rounding among entries; a missing rate is a problem
listed per entry) are priced in Python. The entries themselves stay in the database: a
contract's ``PricedEntry`` objects are built by ``contracts.pricing`` when its items or
a run need them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Max, Min

from billing_site.money import minor_units, quantize_unit_price
from billing_site.pgarrays import array_literal

from ..choices import ContractType, RoundingScope, TimeEntryState
from ..models import BlockPurchase, Contract, TimeEntry
from .due import usage_cutoff
from .entries import UNBILLED_FACT_FIELDS
from .periods import periods_between
from .rates import RateBook
from .rounding import HOUR

ZERO = Decimal("0")
NO_POOL = "none"
POOLS = {ContractType.RETAINER: "period", ContractType.BLOCK_HOURS: "block"}


@dataclass(slots=True)
class TimeSums:
    """Sums over one group of a contract's unbilled entries (one ticket at one rate)."""

    count: int
    worked: int
    billed: int
    included: int
    quantity: Decimal  # the group's charged seconds as hours, to 4 places, converted once
    line_amount: Decimal  # the group as one line: quantity × rate, half-up once
    first_day: dt.date  # of the earliest entry (the line's period)


@dataclass
class TimeSummary:
    """A contract's unbilled time as the database sums it: the due groups by
    (ticket id or 0, rate, None) — ``lines.time_line_key`` of a contract rounding per
    entry — and counts and the lines' amounts over every unbilled entry."""

    count: int = 0
    any_due: bool = False
    any_waiting: bool = False
    amount: Decimal = ZERO
    due_amount: Decimal = ZERO
    due_groups: dict[tuple[int, Decimal, None], TimeSums] = field(default_factory=dict)


def can_price_in_database() -> bool:
    return connection.vendor == "postgresql"


class _Context(NamedTuple):
    """What ``RateBook.resolve_entry`` reads of an entry."""

    contract_id: int
    technician_id: int | None
    service_type_id: int | None


def summarize_unbilled_time(
    contracts: dict[int, Contract], as_of: dt.date, book: RateBook
) -> dict[int, TimeSummary]:
    """``TimeSummary`` of each contract the database can price (see the module text);
    contracts left out are for ``contracts.pricing``. Four queries: the rate contexts,
    the statement, and setting the planner options for it and back."""
    eligible = {
        cid: contract
        for cid, contract in contracts.items()
        if contract.rounding_scope == RoundingScope.ENTRY
    }
    if not eligible:
        return {}
    from ..selectors import unbilled_time_entries

    # Rate contexts and the dates they span: rates are resolved once per context, and
    # periods are generated over the span (a handful per contract).
    spans: dict[int, list[dt.date]] = {}
    rates: list[tuple[int, int | None, int | None, Decimal]] = []
    for cid, tech, service, first, last in (
        unbilled_time_entries(eligible)
        .values("contract_id", "technician_id", "service_type_id")
        .annotate(first=Min("work_date"), last=Max("work_date"))
        .values_list("contract_id", "technician_id", "service_type_id", "first", "last")
    ):
        contract = eligible[cid]
        if contract.contract_type not in POOLS:  # pools charge their overage rate
            rate = book.resolve_entry(_Context(cid, tech, service), contract).rate
            if rate is None:
                spans[cid] = []  # the Python pricing lists the problem per entry
                continue
            rates.append((cid, tech, service, quantize_unit_price(rate)))
        span = spans.setdefault(cid, [first, last])
        if span:
            span[0], span[1] = min(span[0], first), max(span[1], last)
    unpriceable = {cid for cid, span in spans.items() if not span}
    summaries = {cid: TimeSummary() for cid in eligible if cid not in unpriceable}
    priced = {cid: eligible[cid] for cid in spans if cid not in unpriceable}
    if not priced:
        return summaries

    # Per contract: its terms, due day and rate (a pool's overage rate; the one rate of a
    # contract whose entries all resolve to one, the usual case); per rate context of a
    # contract with several rates: its rate, joined entry by entry. Rates travel as
    # integers of 1/10,000 (unit prices have 4 places) so the statement does integer
    # arithmetic only. Pools need the periods over the span of the contract's entries (a
    # handful per contract).
    rates_of: dict[int, set[Decimal]] = {}
    for cid, _tech, _service, rate in rates:
        rates_of.setdefault(cid, set()).add(rate)
    terms = _Columns(9)
    contexts = _Columns(5)
    periods = _Columns(3)
    rate_keys: dict[Decimal, int] = {}
    uniform, varied, retainers, blocks = [], [], [], []
    for cid, contract in priced.items():
        kind = contract.contract_type
        if kind in POOLS:
            rate = quantize_unit_price(contract.overage_rate or ZERO)
        elif len(rates_of[cid]) == 1:
            (rate,) = rates_of[cid]
            uniform.append(cid)
        else:
            rate = ZERO  # per entry, from its rate context
            varied.append(cid)
        minor = minor_units(contract.currency)
        terms.add(
            cid,
            int(contract.rounding_increment_minutes or 0) * 60,
            int(contract.rounding_minimum_minutes or 0) * 60,
            POOLS.get(kind, NO_POOL),
            int((contract.included_hours or 0) * HOUR) if kind == ContractType.RETAINER else 0,
            usage_cutoff(contract, as_of),
            10 ** (8 - minor),  # quantity × rate, both in 1/10,000, per minor unit
            int(rate.scaleb(4)),
            rate_keys.setdefault(rate, len(rate_keys)),
        )
        if kind not in POOLS:
            continue
        (retainers if kind == ContractType.RETAINER else blocks).append(cid)
        for period in periods_between(contract, *spans[cid]):
            periods.add(cid, period.start, period.end)
    for cid, tech, service, rate in rates:
        if len(rates_of[cid]) > 1 and cid in priced:
            key = rate_keys.setdefault(rate, len(rate_keys))
            contexts.add(cid, tech or 0, service or 0, int(rate.scaleb(4)), key)
    rate_of = {key: rate for rate, key in rate_keys.items()}

    # The tenant's rows are read through its scoped querysets, embedded as subqueries.
    entry_columns = UNBILLED_FACT_FIELDS  # id, contract, ticket, technician, service type,
    # work date, start, worked seconds
    no_entry = (
        "NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::date, "
        "NULL::timestamptz, NULL::int"
    )
    subqueries = {
        "uniform": _subquery(unbilled_time_entries(uniform).values_list(*entry_columns), no_entry),
        "varied": _subquery(unbilled_time_entries(varied).values_list(*entry_columns), no_entry),
        "pooled": _subquery(
            unbilled_time_entries(retainers + blocks).values_list(*entry_columns), no_entry
        ),
        "frozen": _subquery(
            TimeEntry.objects.filter(
                contract_id__in=retainers,
                state=TimeEntryState.POSTED,
                billable=True,
                invoice_line__isnull=False,
            )
            .order_by()
            .values_list("contract_id", "work_date", "included_seconds"),
            "NULL::bigint, NULL::date, NULL::int",
        ),
        "block_used": _subquery(
            TimeEntry.objects.filter(
                contract_id__in=blocks, state=TimeEntryState.POSTED, invoice_line__isnull=False
            )
            .order_by()
            .values_list("contract_id", "included_seconds"),
            "NULL::bigint, NULL::int",
        ),
        "bought": _subquery(
            BlockPurchase.objects.filter(contract_id__in=blocks)
            .order_by()
            .values_list("contract_id", "purchased_on", "hours"),
            "NULL::bigint, NULL::date, NULL::numeric",
        ),
    }
    # Placeholders are positional: parameters follow the statement's order.
    sql = SUMS_SQL.format(**{name: sql for name, (sql, _params) in subqueries.items()})
    params = [*terms.arrays(), *contexts.arrays(), *periods.arrays()]
    for name in ("uniform", "varied", "pooled", "frozen", "block_used", "bought"):
        params.extend(subqueries[name][1])
    with transaction.atomic(), connection.cursor() as cursor:
        # The planner's row estimates for the parameter tables, and for joins on computed
        # keys, are guesses; a nested loop picked on a guess of a few rows would run for
        # minutes over a few hundred thousand entries, while hash and merge joins are
        # never far off here. Disabled plans cost so much that JIT compilation (seconds)
        # would start, so it is off too. Both only for this statement.
        cursor.execute(
            "SELECT current_setting('enable_nestloop'), current_setting('jit'), "
            "set_config('enable_nestloop', 'off', true), set_config('jit', 'off', true)"
        )
        previous = cursor.fetchone()[:2]
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        cursor.execute(
            "SELECT set_config('enable_nestloop', %s, true), set_config('jit', %s, true)",
            previous,
        )

    # Amounts are summed in minor units (integers), then made Decimals once per contract.
    amounts: dict[int, list[int]] = {cid: [0, 0] for cid in priced}  # all, due
    places = {cid: -minor_units(contract.currency) for cid, contract in priced.items()}
    for row in rows:
        cid, ticket, rate_key, due, count, worked, billed, included, hours, amount, first_day = row
        summary = summaries[cid]
        summary.count += count
        amounts[cid][0] += amount
        if due:
            summary.any_due = True
            amounts[cid][1] += amount
            summary.due_groups[(ticket, rate_of[rate_key], None)] = TimeSums(
                count,
                worked,
                billed,
                included,
                Decimal(hours).scaleb(-4),
                Decimal(amount).scaleb(places[cid]),
                first_day,
            )
        else:
            summary.any_waiting = True
    for cid, (amount, due_amount) in amounts.items():
        summaries[cid].amount = Decimal(amount).scaleb(places[cid])
        summaries[cid].due_amount = Decimal(due_amount).scaleb(places[cid])
    return summaries


class _Columns:
    """Rows of a parameter table, sent as one array per column (``unnest``)."""

    def __init__(self, width: int):
        self.columns: list[list] = [[] for _ in range(width)]

    def add(self, *values) -> None:
        for column, value in zip(self.columns, values, strict=True):
            column.append(value)

    def arrays(self) -> list[str]:
        return [array_literal(column) for column in self.columns]


def _subquery(queryset, empty_columns: str) -> tuple[str, tuple]:
    """SQL and parameters of a scoped queryset; a relation with no row if it is empty
    (``__in=[]``)."""
    try:
        return queryset.query.sql_with_params()
    except EmptyResultSet:
        return f"SELECT {empty_columns} WHERE FALSE", ()


# Parameters, in order: the contracts' terms (9 arrays), the rate contexts of contracts
# with several rates (5), the pooled contracts' periods (3), then the subqueries'.
# Quantities and rates are integers of 1/10,000 (hours to 4 places, unit prices to 4
# places), and amounts integers of the currency's minor unit: exact, and far faster than
# numeric.
SUMS_SQL = """
WITH terms AS (
    SELECT * FROM unnest(%s::bigint[], %s::int[], %s::int[], %s::text[], %s::bigint[],
                         %s::date[], %s::bigint[], %s::bigint[], %s::int[])
        AS k(contract_id, step, minimum, pool, included, cutoff, per_minor, rate, rate_key)
),
contexts AS (
    SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::int[])
        AS c(contract_id, technician_id, service_type_id, rate, rate_key)
),
periods AS (
    SELECT * FROM unnest(%s::bigint[], %s::date[], %s::date[])
        AS p(contract_id, period_start, period_end)
),
uniform AS (
@UNIFORM@),
varied AS (
@VARIED@),
pooled_entries AS (
    -- Retainer and block entries, billed as above, with their period and pool: per
    -- period for a retainer, the whole contract for a block.
    SELECT e.id, e.contract_id, COALESCE(e.ticket_id, 0) AS ticket_id, e.worked_seconds,
           e.work_date, COALESCE(e.started_at, e.work_date::timestamp AT TIME ZONE 'UTC') AS started,
           p.period_start, CASE WHEN k.pool = 'period' THEN p.period_start END AS pool_key,
           k.per_minor, k.rate, k.rate_key,
           e.work_date < k.cutoff AS due,
           CASE WHEN e.worked_seconds <= 0 THEN 0
                ELSE GREATEST(CASE WHEN k.step > 0
                                   THEN (e.worked_seconds + k.step - 1) / k.step * k.step
                                   ELSE e.worked_seconds END,
                              k.minimum)
           END::bigint AS billed
    FROM ({pooled}) AS e(id, contract_id, ticket_id, technician_id, service_type_id,
                        work_date, started_at, worked_seconds)
    JOIN terms k ON k.contract_id = e.contract_id
    JOIN periods p ON p.contract_id = e.contract_id
     AND e.work_date BETWEEN p.period_start AND p.period_end
),
used_in_period AS (
    -- Included seconds already billed in each retainer period.
    SELECT p.contract_id, p.period_start, SUM(f.included_seconds) AS used
    FROM ({frozen}) AS f(contract_id, work_date, included_seconds)
    JOIN periods p ON p.contract_id = f.contract_id
     AND f.work_date BETWEEN p.period_start AND p.period_end
    GROUP BY p.contract_id, p.period_start
),
block_used AS (
    SELECT contract_id, SUM(included_seconds) AS used
    FROM ({block_used}) AS b(contract_id, included_seconds)
    GROUP BY contract_id
),
bought AS (
    SELECT contract_id, purchased_on, TRUNC(hours * 3600)::bigint AS seconds
    FROM ({bought}) AS b(contract_id, purchased_on, hours)
),
caps AS MATERIALIZED (
    -- What the pool holds for an entry of the period: a retainer's included seconds
    -- less those billed in the period; a block's purchases made by the period's end less
    -- all block time billed. Never below zero. Materialised: one row per period, not per
    -- entry.
    SELECT p.contract_id, p.period_start,
           GREATEST(0, COALESCE(r.included - u.used, r.included,
                                b.seconds - COALESCE(bu.used, 0), 0))::bigint AS cap
    FROM periods p
    LEFT JOIN terms r ON r.contract_id = p.contract_id AND r.pool = 'period'
    LEFT JOIN used_in_period u ON u.contract_id = p.contract_id
     AND u.period_start = p.period_start
    LEFT JOIN LATERAL (SELECT SUM(seconds) AS seconds FROM bought
                       WHERE bought.contract_id = p.contract_id
                         AND bought.purchased_on <= p.period_end) b ON r.contract_id IS NULL
    LEFT JOIN block_used bu ON bu.contract_id = p.contract_id
),
drawn AS (
    SELECT e.*, k.cap,
           SUM(e.billed) OVER (PARTITION BY e.contract_id, e.pool_key
                               ORDER BY e.work_date, e.started, e.id
                               ROWS UNBOUNDED PRECEDING)::bigint AS upto
    FROM pooled_entries e
    JOIN caps k ON k.contract_id = e.contract_id AND k.period_start = e.period_start
),
pooled AS (
    -- Entries draw the pool one by one in date order. With C the running billed time
    -- and K the cap (never decreasing in that order), the pool drawn after entry i is
    -- C_i + min(0, min over k <= i of (K_k - C_k)); an entry's draw is the difference.
    SELECT contract_id, ticket_id, rate_key, due, worked_seconds, billed, work_date, rate,
           per_minor,
           (upto + LEAST(0, MIN(cap - upto) OVER (w ROWS UNBOUNDED PRECEDING)))
           - (upto - billed + LEAST(0, COALESCE(MIN(cap - upto) OVER (
                 w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)))::bigint AS included
    FROM drawn
    WINDOW w AS (PARTITION BY contract_id, pool_key ORDER BY work_date, started, id)
)
-- Each group is one invoice line (``lines.time_line_key``): its hours come from its
-- total charged seconds, to 4 places half-up, and its amount is hours × rate half-up
-- once (``lines.time_line_amount``).
SELECT g.contract_id, g.ticket_id, g.rate_key, g.due, g.entries, g.worked, g.billed,
       g.included, q.quantity, (q.quantity * g.rate + g.per_minor / 2) / g.per_minor,
       g.first_day
FROM (
    SELECT * FROM uniform
    UNION ALL
    SELECT * FROM varied
    UNION ALL
    SELECT contract_id, ticket_id, rate_key, due, COUNT(*), SUM(worked_seconds)::bigint,
           SUM(billed)::bigint, SUM(included)::bigint, MAX(rate), MAX(per_minor),
           MIN(work_date)
    FROM pooled
    GROUP BY 1, 2, 3, 4
) AS g(contract_id, ticket_id, rate_key, due, entries, worked, billed, included, rate,
       per_minor, first_day)
CROSS JOIN LATERAL (SELECT ((g.billed - g.included) * 10000 + 1800) / 3600 AS quantity) q
"""

# The two branches for contracts without a pool differ only in where an entry's rate
# comes from: the contract's terms (one rate) or its rate context (several).
_UNPOOLED_BRANCH = """
    -- Contracts without a pool whose entries @WHOSE@: each entry's billed time is
    -- charged. Billed: up to the increment, then at least the minimum (nothing worked
    -- bills nothing).
    SELECT e.contract_id, COALESCE(e.ticket_id, 0) AS ticket_id, @R@.rate_key,
           e.work_date < k.cutoff AS due, COUNT(*) AS entries,
           SUM(e.worked_seconds)::bigint AS worked, SUM(b.billed)::bigint AS billed,
           0::bigint AS included,
           MAX(@R@.rate) AS rate, MAX(k.per_minor) AS per_minor,  -- one each per group
           MIN(e.work_date) AS first_day
    FROM ({@SOURCE@}) AS e(id, contract_id, ticket_id, technician_id, service_type_id,
                           work_date, started_at, worked_seconds)
    JOIN terms k ON k.contract_id = e.contract_id@JOIN@
    CROSS JOIN LATERAL (
        SELECT CASE WHEN e.worked_seconds <= 0 THEN 0
                    ELSE GREATEST(CASE WHEN k.step > 0
                                       THEN (e.worked_seconds + k.step - 1) / k.step * k.step
                                       ELSE e.worked_seconds END,
                                  k.minimum)
               END::bigint AS billed
    ) b
    GROUP BY 1, 2, 3, 4
"""
_CONTEXT_JOIN = """
    JOIN contexts c ON c.contract_id = e.contract_id
     AND c.technician_id = COALESCE(e.technician_id, 0)
     AND c.service_type_id = COALESCE(e.service_type_id, 0)"""


def _unpooled_branch(whose: str, source: str, rate_from: str, join: str = "") -> str:
    return (
        _UNPOOLED_BRANCH.replace("@WHOSE@", whose)
        .replace("@SOURCE@", source)
        .replace("@R@", rate_from)
        .replace("@JOIN@", join)
    )


SUMS_SQL = SUMS_SQL.replace(
    "@UNIFORM@", _unpooled_branch("share one rate (in the terms)", "uniform", "k")
).replace(
    "@VARIED@",
    _unpooled_branch("have rates by technician or service type", "varied", "c", _CONTEXT_JOIN),
)
