"""Pricing: rounded time, resolved rates, amounts — set-wise, for the batch engine.

Public functions (all reads, all a constant number of queries whatever the row count):

- ``round_seconds(seconds, increment_minutes, minimum_minutes)`` — the rounding rule.
- ``load_rate_book()`` -> ``RateBook`` — every rate rule of the tenant and team
  memberships, loaded once (2 queries); ``RateBook.resolve(RateContext)`` is pure Python.
- ``price_time_entries(entries, *, book=None)`` -> ``dict[entry_id, PricedEntry]`` —
  quantity (rounded time, by the contract's rule and scope), rate, amount in the
  contract's currency, the rule used and an explanation, for any set of entries.
- ``contract_period_amounts(contract_periods)`` -> ``list[PeriodAmount]`` — what each
  (contract, period) costs under its type (hourly, retainer, block hours, recurring).
- ``explain_time_entry(entry)`` / ``explain_session(session)`` — the matching rules and
  the winner, for the explain view.

Rules (DESIGN.md): billable time is rounded up to the contract's increment, with an
optional minimum, per entry, per ticket and day, or per period; included hours and
blocks count billed (rounded) time; overage uses the contract's overage rate, hourly
work the rate rules; amounts are quantity × unit price rounded half-up to the
currency's minor unit, the quantity being the billed hours to 4 places (the figure
printed on the invoice, so the line multiplies out exactly).

Frozen history: an entry already billed keeps the ``billed_seconds`` and
``included_seconds`` stored when it was claimed; new entries in the same group, period
or block are priced around them, so later rounding or balance never bills twice.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import NamedTuple

from django.db.models import Count, Q, Sum

from billing_site.money import (
    format_money,
    format_quantity,
    format_unit_price,
    line_amount,
    quantize,
    quantize_unit_price,
)
from billing_site.tenancy import require_current_tenant
from billing_site.timeutils import format_duration

from .choices import ContractType, ItemKind, QuantityMode, RoundingScope, TimeEntryState
from .models import BlockPurchase, Contract, ContractProductLine, RateRule, TeamMember, TimeEntry
from .periods import Period, cycle_key, period_containing

HOUR = Decimal(3600)
QUANTITY_EXPONENT = Decimal("0.0001")
SCOPE_LABELS = {
    "contract": "contract",
    "organization": "organization",
    "technician": "technician",
    "team": "team",
    "service_type": "service type",
}


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


# ------------------------------------------------------------------ line policy
#
# One rule for how priced time becomes invoice lines, read by every figure: the invoice a
# run writes, the batch page and its details, a contract's balances and its periods.
# docs/decisions/0007-line-policy.md says why.


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


def time_line_amounts(time: ContractTime, cutoff: dt.date) -> tuple[Decimal, Decimal]:
    """(due, waiting) amounts of a contract's priced unbilled time as the invoices will
    bill it: entries worked before ``cutoff`` are due; each side is grouped into lines by
    ``time_line_key`` and every line rounded once."""
    contract, currency = time.contract, time.contract.currency
    charged: dict[tuple, int] = defaultdict(int)
    entries, billed, included, prices, periods = (
        time.entries,
        time.billed,
        time.included,
        time.prices,
        time.periods,
    )
    for index, entry in enumerate(entries):
        price = prices[index]
        if not price.billable:
            continue
        key = time_line_key(contract, entry.ticket_id, price.rate, periods[index])
        charged[(entry.work_date < cutoff, *key)] += billed[index] - included[index]
    due = waiting = quantize(Decimal("0"), currency)
    for (is_due, _ticket, rate, _period), seconds in charged.items():
        amount = time_line_amount(seconds, rate, currency)
        if is_due:
            due += amount
        else:
            waiting += amount
    return due, waiting


def rounding_label(contract: Contract) -> str:
    parts = []
    if contract.rounding_increment_minutes:
        parts.append(f"rounded up to {contract.rounding_increment_minutes} min")
    if contract.rounding_minimum_minutes:
        parts.append(f"minimum {contract.rounding_minimum_minutes} min")
    if not parts:
        return "not rounded"
    return ", ".join(parts) + f" ({contract.get_rounding_scope_display().lower()})"


# --------------------------------------------------------------------------- rates


@dataclass(frozen=True)
class RateContext:
    """What a rate rule is matched against."""

    currency: str
    contract_id: int | None = None
    organization_id: int | None = None
    technician_id: int | None = None
    team_ids: frozenset[int] = frozenset()
    service_type_id: int | None = None


@dataclass(frozen=True)
class RateResolution:
    rate: Decimal | None
    rule: RateRule | None
    source: str  # "rule", "tenant_default" or "missing"
    matches: tuple[RateRule, ...]
    explanation: str


def rule_matches(rule: RateRule, context: RateContext) -> bool:
    """Every scope the rule names matches the item, and the currencies agree."""
    if rule.currency != context.currency:
        return False
    if rule.contract_id is not None and rule.contract_id != context.contract_id:
        return False
    if rule.organization_id is not None and rule.organization_id != context.organization_id:
        return False
    if rule.technician_id is not None and rule.technician_id != context.technician_id:
        return False
    if rule.team_id is not None and rule.team_id not in context.team_ids:
        return False
    return rule.service_type_id is None or rule.service_type_id == context.service_type_id


def specificity(rule: RateRule) -> tuple[bool, ...]:
    """Lexicographic key: contract, organization, technician, team, service type named."""
    return rule.scope_key


def describe_rule(rule: RateRule, locale: str = "en_US") -> str:
    return (
        f"rule #{rule.pk} ({rule.scope_label}) "
        f"{format_unit_price(rule.rate, rule.currency, locale)}/h"
    )


class RateBook:
    """All rate rules of the tenant and who is in which team: loaded once, resolved in Python."""

    def __init__(self, rules: Iterable[RateRule], teams_by_user: dict[int, frozenset[int]], tenant):
        self.rules = list(rules)
        self.teams_by_user = teams_by_user
        self.default_rate = tenant.default_hourly_rate
        self.default_currency = tenant.currency
        # Explanations print rates as the tenant's invoices print money.
        self.locale = getattr(tenant, "locale", "") or "en_US"
        # Most specific first once (ties, which saving refuses, by id): matching keeps order.
        self._ordered = sorted(
            self.rules, key=lambda rule: (tuple(not flag for flag in specificity(rule)), rule.pk)
        )
        # Resolutions per distinct context: a batch resolves the same few thousand contexts
        # for hundreds of thousands of entries. The book is read-only once loaded.
        self._resolved: dict[RateContext, RateResolution] = {}
        self._by_entry: dict[tuple, RateResolution] = {}

    def teams_of(self, user_id: int | None) -> frozenset[int]:
        return self.teams_by_user.get(user_id, frozenset()) if user_id else frozenset()

    def matching(self, context: RateContext) -> list[RateRule]:
        """Matching rules, most specific first (ties, which saving refuses, by id)."""
        return [rule for rule in self._ordered if rule_matches(rule, context)]

    def resolve(self, context: RateContext) -> RateResolution:
        resolution = self._resolved.get(context)
        if resolution is None:
            resolution = self._resolved[context] = self._resolve(context)
        return resolution

    def resolve_entry(self, entry, contract: Contract) -> RateResolution:
        """``resolve`` for a time entry on ``contract``, memoised on the fields the
        context is made of (teams follow from the technician)."""
        key = (
            contract.currency,
            entry.contract_id,
            contract.customer_id,
            entry.technician_id,
            entry.service_type_id,
        )
        resolution = self._by_entry.get(key)
        if resolution is None:
            context = entry_rate_context(entry, contract, self)
            resolution = self._by_entry[key] = self.resolve(context)
        return resolution

    def _resolve(self, context: RateContext) -> RateResolution:
        matches = self.matching(context)
        if matches:
            winner = matches[0]
            return RateResolution(
                winner.rate,
                winner,
                "rule",
                tuple(matches),
                f"rate {format_unit_price(winner.rate, winner.currency, self.locale)}/h "
                f"from {describe_rule(winner, self.locale)}",
            )
        if context.currency == self.default_currency:
            return RateResolution(
                self.default_rate,
                None,
                "tenant_default",
                (),
                f"rate {format_unit_price(self.default_rate, self.default_currency, self.locale)}"
                "/h (tenant default, no rule matched)",
            )
        return RateResolution(
            None,
            None,
            "missing",
            (),
            f"no rate rule in {context.currency} matches and the tenant default is in "
            f"{self.default_currency}: add a rate rule in {context.currency}",
        )


def load_rate_book() -> RateBook:
    """The tenant's rate rules (with their scope objects) and team memberships: 2 queries."""
    tenant = require_current_tenant()
    rules = RateRule.objects.select_related(
        "contract", "organization", "technician", "team", "service_type"
    ).order_by("id")
    teams: dict[int, set[int]] = defaultdict(set)
    for user_id, team_id in TeamMember.objects.values_list("user_id", "team_id"):
        teams[user_id].add(team_id)
    return RateBook(rules, {user: frozenset(ids) for user, ids in teams.items()}, tenant)


def entry_rate_context(entry: TimeEntry, contract: Contract, book: RateBook) -> RateContext:
    return RateContext(
        currency=contract.currency,
        contract_id=contract.pk,
        organization_id=contract.customer_id,
        technician_id=entry.technician_id,
        team_ids=book.teams_of(entry.technician_id),
        service_type_id=entry.service_type_id,
    )


# ------------------------------------------------------------------- time entries


class EntryPrice:
    """The part of an entry's price that depends only on the contract's terms, the rate
    and the billed/included seconds: thousands of entries share one instance."""

    __slots__ = (
        "amount",
        "billable",
        "charged_quantity",
        "currency",
        "problem",
        "quantity",
        "rate",
        "rate_source",
        "rule_id",
        "text",
    )

    def __init__(
        self,
        *,
        currency: str,
        billable: bool,
        quantity: Decimal,
        charged_quantity: Decimal,
        rate: Decimal | None,
        amount: Decimal | None,
        rule_id: int | None,
        rate_source: str,  # rule, tenant_default, overage, missing, non_billable
        problem: str = "",
        text: str = "",
    ):
        self.currency = currency
        self.billable = billable
        self.quantity = quantity
        self.charged_quantity = charged_quantity
        self.rate = rate
        self.amount = amount
        self.rule_id = rule_id
        self.rate_source = rate_source
        self.problem = problem
        self.text = text


class PricedEntry:
    """One time entry, priced. ``amount`` is what the entry adds to an invoice.

    ``billed_seconds`` is the rounded time counted for the entry; ``included_seconds``
    of it is covered by retainer included hours or a block (charged by the fee or block
    line, at no extra charge here); ``charged_seconds`` = billed − included is charged at
    ``rate`` (rate rule for hourly work, overage rate for retainers and blocks).
    ``rate``/``amount`` are None when no rate exists (see ``problem``). Read-only.

    A batch builds one per unbilled entry (hundreds of thousands): the entry's own
    figures are slots, the rest is read from the shared ``EntryPrice``, and the
    explanation — which only a run or a detail view reads — is built on first access.
    """

    __slots__ = (
        "_explanation",
        "billed_seconds",
        "contract_id",
        "entry_id",
        "included_seconds",
        "is_billed",
        "period",
        "price",
        "worked_seconds",
    )

    def __init__(
        self,
        entry_id: int,
        contract_id: int,
        period: Period,
        worked_seconds: int,
        billed_seconds: int,
        included_seconds: int,
        price: EntryPrice,
        is_billed: bool = False,
        explanation: str | None = None,
    ):
        self.entry_id = entry_id
        self.contract_id = contract_id
        self.period = period
        self.worked_seconds = worked_seconds
        self.billed_seconds = billed_seconds
        self.included_seconds = included_seconds
        self.price = price
        self.is_billed = is_billed
        self._explanation = explanation

    @property
    def charged_seconds(self) -> int:
        return self.billed_seconds - self.included_seconds

    @property
    def currency(self) -> str:
        return self.price.currency

    @property
    def billable(self) -> bool:
        return self.price.billable

    @property
    def quantity(self) -> Decimal:
        return self.price.quantity

    @property
    def charged_quantity(self) -> Decimal:
        return self.price.charged_quantity

    @property
    def rate(self) -> Decimal | None:
        return self.price.rate

    @property
    def amount(self) -> Decimal | None:
        return self.price.amount

    @property
    def rule_id(self) -> int | None:
        return self.price.rule_id

    @property
    def rate_source(self) -> str:
        return self.price.rate_source

    @property
    def problem(self) -> str:
        return self.price.problem

    @property
    def explanation(self) -> str:
        """How the entry was priced (worked -> billed time, then rule, pool and amount)."""
        text = self._explanation
        if text is None and not self.price.billable:
            text = self._explanation = (
                f"{_duration(self.worked_seconds)} worked, non-billable: not charged"
            )
        if text is None:
            text = self._explanation = (
                f"{_duration(self.worked_seconds)} worked -> "
                f"{_duration(self.billed_seconds)} billed; {self.price.text}"
            )
        return text

    def __repr__(self) -> str:
        return (
            f"PricedEntry(entry_id={self.entry_id}, billed_seconds={self.billed_seconds}, "
            f"included_seconds={self.included_seconds}, amount={self.amount})"
        )


class ContractTime:
    """A contract's priced time entries as columns: ``entries[i]`` worked in
    ``periods[i]`` is billed ``billed[i]`` seconds, ``included[i]`` of them from a pool,
    at ``prices[i]``.

    A batch prices every unbilled entry of the tenant and its figures need only sums of
    these columns; a ``PricedEntry`` is built for an entry only when asked (``priced``),
    for the contracts shown item by item and for a run.
    """

    __slots__ = ("billed", "contract", "entries", "included", "periods", "prices")

    def __init__(self, contract: Contract, entries: list, periods: list[Period]):
        self.contract = contract
        self.entries = entries
        self.periods = periods
        self.billed: list[int] = []
        self.included: list[int] = []
        self.prices: list[EntryPrice] = []

    def __len__(self) -> int:
        return len(self.entries)

    def priced(self, index: int) -> PricedEntry:
        entry = self.entries[index]
        return PricedEntry(
            entry.pk,
            entry.contract_id,
            self.periods[index],
            entry.worked_seconds,
            self.billed[index],
            self.included[index],
            self.prices[index],
            entry.invoice_line_id is not None,
        )


# Columns of a time entry that pricing reads, in ``EntryFacts`` order.
ENTRY_FACT_FIELDS = (
    "id",
    "contract_id",
    "ticket_id",
    "technician_id",
    "service_type_id",
    "work_date",
    "started_at",
    "worked_seconds",
    "billable",
    "invoice_line_id",
    "billed_seconds",
    "included_seconds",
)


class EntryFacts(NamedTuple):
    """A time entry as pricing reads it, from ``values_list(*ENTRY_FACT_FIELDS)``.

    A batch prices hundreds of thousands of entries; building a model instance per row
    costs several times what the pricing itself does, and a named tuple is built from a
    row at C speed. ``price_time_entries`` accepts these and ``TimeEntry`` instances
    alike (same attribute names).
    """

    pk: int
    contract_id: int
    ticket_id: int | None
    technician_id: int
    service_type_id: int | None
    work_date: dt.date
    started_at: dt.datetime | None
    worked_seconds: int
    billable: bool
    invoice_line_id: int | None
    billed_seconds: int | None
    included_seconds: int | None


# The columns that vary among unbilled posted billable entries: reading fewer columns of
# every unbilled entry is most of what a batch preview's fetch costs.
UNBILLED_FACT_FIELDS = ENTRY_FACT_FIELDS[:8]


def entry_facts(queryset, *, unbilled: bool = False) -> list[EntryFacts]:
    """The queryset's entries as ``EntryFacts`` (its ordering is the caller's choice).
    ``unbilled=True`` promises every row is posted, billable and unbilled."""
    make = EntryFacts._make
    if unbilled:
        rest = (True, None, None, None)
        return [make(row + rest) for row in queryset.values_list(*UNBILLED_FACT_FIELDS)]
    return [make(row) for row in queryset.values_list(*ENTRY_FACT_FIELDS)]


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


def _allocate_included(rows: list[_Row], available: int) -> None:
    """Draw included hours in chronological order; billed rows keep their frozen share."""
    for row in sorted(rows, key=lambda r: r.sort_key):
        if row.frozen:
            row.included = row.entry.included_seconds or 0
            continue
        row.included = min(row.billed, max(available, 0))
        available -= row.included


def price_time_entries(
    entries: Iterable[TimeEntry | EntryFacts],
    *,
    book: RateBook | None = None,
    contracts: dict[int, Contract] | None = None,
    complete: bool = False,
) -> dict[int, PricedEntry]:
    """Price a set of time entries under their contracts (see ``price_contract_time``):
    one ``PricedEntry`` per entry, by entry id. Constant number of queries."""
    return {
        entry.pk: time.priced(index)
        for time in price_contract_time(
            entries, book=book, contracts=contracts, complete=complete
        ).values()
        for index, entry in enumerate(time.entries)
    }


def price_contract_time(
    entries: Iterable[TimeEntry | EntryFacts],
    *,
    book: RateBook | None = None,
    contracts: dict[int, Contract] | None = None,
    complete: bool = False,
) -> dict[int, ContractTime]:
    """Price a set of time entries under their contracts. Constant number of queries.

    Rounding groups (ticket per day, period), retainer included hours and block
    balances are computed over every posted billable entry they involve — not just the
    ones passed — so an entry's price does not depend on which others are selected.
    Entries passed that are not posted are priced as if posted (previews).

    ``entries`` may be ``TimeEntry`` instances or ``EntryFacts`` rows. ``contracts``
    (id -> Contract) spares looking them up. ``complete=True`` promises that the entries
    include every unbilled posted billable entry of their contracts (as
    ``contract_billing_state`` reads them): the context query then reads only billed
    entries, instead of reading the unbilled ones a second time.
    """
    entries = [entry for entry in entries if entry.pk is not None]
    if not entries:
        return {}
    book = book or load_rate_book()
    contracts = _contracts_for(entries, contracts)
    by_contract: dict[int, list] = defaultdict(list)
    for entry in entries:
        by_contract[entry.contract_id].append(entry)
    # Each entry's period, in the order of ``by_contract[cid]``; contracts on the same
    # cycle share the day -> period map (many entries share a day).
    periods: dict[int, list[Period]] = {}
    cycle_days: dict[tuple, dict[dt.date, Period]] = defaultdict(dict)
    for cid, group in by_contract.items():
        contract = contracts[cid]
        days = cycle_days[cycle_key(contract)]
        day_list = [entry.work_date for entry in group]
        for day in set(day_list).difference(days):
            days[day] = period_containing(contract, day)
        periods[cid] = [days[day] for day in day_list]

    # Context: posted billable entries sharing a period, group or block with those passed.
    # Contracts rounding per entry with no pool price each entry on its own.
    needs_context = {
        cid
        for cid in by_contract
        if contracts[cid].rounding_scope != RoundingScope.ENTRY
        or contracts[cid].contract_type in (ContractType.RETAINER, ContractType.BLOCK_HOURS)
    }
    rows_by_contract: dict[int, dict[int, _Row]] = defaultdict(dict)
    block_ids = {
        cid for cid in needs_context if contracts[cid].contract_type == ContractType.BLOCK_HOURS
    }
    if needs_context:
        context_periods = {period for cid in needs_context for period in periods[cid]}
        first = min(period.start for period in context_periods)
        last = max(period.end for period in context_periods)
        condition = Q(contract_id__in=needs_context, work_date__gte=first, work_date__lte=last)
        if complete:
            # Every unbilled row is among those passed: only billed (frozen) rows can be
            # missing from the groups, periods and blocks.
            condition &= Q(invoice_line__isnull=False)
        elif block_ids:
            condition |= Q(
                contract_id__in=block_ids, invoice_line__isnull=True, work_date__lte=last
            )
        # Results do not depend on row order (groups are sorted by date): no ORDER BY.
        context = entry_facts(
            TimeEntry.objects.filter(
                condition, state=TimeEntryState.POSTED, billable=True
            ).order_by()
        )
        for other in context:
            contract = contracts[other.contract_id]
            rows_by_contract[other.contract_id][other.pk] = _Row(
                other, period_containing(contract, other.work_date)
            )
        for cid in needs_context:
            rows = rows_by_contract[cid]
            for entry, period in zip(by_contract[cid], periods[cid], strict=True):
                # The caller's instance wins (it may carry unsaved previews of its fields).
                if entry.billable:
                    rows[entry.pk] = _Row(entry, period)
                else:
                    rows.pop(entry.pk, None)

    block_purchases, block_used = _block_facts(block_ids)
    for cid, rows in rows_by_contract.items():
        contract = contracts[cid]
        all_rows = list(rows.values())
        _round_rows(all_rows, contract)
        if contract.contract_type == ContractType.RETAINER:
            included = int((contract.included_hours or 0) * HOUR)
            by_period: dict[Period, list[_Row]] = defaultdict(list)
            for row in all_rows:
                by_period[row.period].append(row)
            for group in by_period.values():
                used = sum(row.entry.included_seconds or 0 for row in group if row.frozen)
                _allocate_included([r for r in group if not r.frozen], included - used)
                for row in group:
                    if row.frozen:
                        row.included = row.entry.included_seconds or 0
        elif contract.contract_type == ContractType.BLOCK_HOURS:
            _draw_block(all_rows, block_purchases.get(cid, []), block_used.get(cid, 0))

    result: dict[int, ContractTime] = {}
    prices: dict[tuple, EntryPrice] = {}  # shared by the entries of one call
    for cid, group in by_contract.items():
        contract = contracts[cid]
        time = result[cid] = ContractTime(contract, group, periods[cid])
        if cid in needs_context:
            _price_rows(time, rows_by_contract[cid], book, prices)
        else:
            _price_each_entry(time, book, prices)
    return result


def _price_rows(time: ContractTime, rows: dict[int, _Row], book, prices) -> None:
    """Entries whose billed and included time the rows hold (rounding groups, pools)."""
    contract = time.contract
    pooled = contract.contract_type in (ContractType.RETAINER, ContractType.BLOCK_HOURS)
    not_billable = _not_billable_price(contract)
    own: dict[tuple, EntryPrice] = {}
    billed_column, included_column, price_column = time.billed, time.included, time.prices
    for entry in time.entries:
        row = rows.get(entry.pk)
        if row is None:
            billed_column.append(0)
            included_column.append(0)
            price_column.append(not_billable)
            continue
        billed = row.billed
        included = min(row.included, billed)
        # Retainers and blocks charge time beyond the pool at the overage rate.
        resolution = None if pooled else book.resolve_entry(entry, contract)
        key = (id(resolution), row.group_note, included, billed)
        price = own.get(key)
        if price is None:
            price = own[key] = _entry_price(
                contract, resolution, row.group_note, included, billed, prices, book.locale
            )
        billed_column.append(billed)
        included_column.append(included)
        price_column.append(price)


def _price_each_entry(time: ContractTime, book, prices) -> None:
    """Entries of a contract that rounds each entry on its own and has no pool: an
    entry's price depends on its worked time and rate context alone (memoised)."""
    contract = time.contract
    step = int(contract.rounding_increment_minutes or 0) * 60
    minimum = int(contract.rounding_minimum_minutes or 0) * 60
    not_billable = None
    billed_column, price_column = time.billed, time.prices
    # Prices by rate context, then billed seconds; most entries of a contract share the
    # technician and service type of the one before, so that lookup is skipped.
    by_context: dict[tuple, tuple[RateResolution, dict[int, EntryPrice]]] = {}
    last_context = own = resolution = None
    for entry in time.entries:
        if not entry.billable:
            not_billable = not_billable or _not_billable_price(contract)
            billed_column.append(0)
            price_column.append(not_billable)
            continue
        worked = entry.worked_seconds
        if entry.invoice_line_id is not None:
            billed = _frozen_billed(entry, contract)
        elif worked <= 0:
            billed = 0
        else:
            # ``round_seconds``, inlined: this runs for every unbilled entry of a batch.
            billed = -(-worked // step) * step if step else worked
            if billed < minimum:
                billed = minimum
        context = (entry.technician_id, entry.service_type_id)
        if context != last_context:
            known = by_context.get(context)
            if known is None:
                known = by_context[context] = (book.resolve_entry(entry, contract), {})
            resolution, own = known
            last_context = context
        price = own.get(billed)
        if price is None:
            price = own[billed] = _entry_price(
                contract, resolution, "", 0, billed, prices, book.locale
            )
        billed_column.append(billed)
        price_column.append(price)
    time.included = [0] * len(billed_column)


def _not_billable_price(contract: Contract) -> EntryPrice:
    currency = contract.currency
    return EntryPrice(
        currency=currency,
        billable=False,
        quantity=Decimal("0.0000"),
        charged_quantity=Decimal("0.0000"),
        rate=Decimal("0"),
        amount=quantize(Decimal("0"), currency),
        rule_id=None,
        rate_source="non_billable",
    )


def _contracts_for(entries: list, known: dict[int, Contract] | None = None) -> dict[int, Contract]:
    contracts: dict[int, Contract] = {}
    missing = set()
    for entry in entries:
        cid = entry.contract_id
        if cid in contracts:
            continue
        if known is not None and cid in known:
            contracts[cid] = known[cid]
        elif isinstance(entry, TimeEntry) and TimeEntry.contract.is_cached(entry):
            contracts[cid] = entry.contract
        else:
            missing.add(cid)
    missing -= set(contracts)
    if missing:
        contracts.update(Contract.objects.in_bulk(missing))
    return contracts


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


def _terms(contract: Contract) -> tuple:
    """What an entry's price text and amount read from its contract."""
    return (
        contract.contract_type,
        contract.currency,
        contract.overage_rate,
        contract.rounding_increment_minutes,
        contract.rounding_minimum_minutes,
        contract.rounding_scope,
    )


def _entry_price(
    contract: Contract,
    resolution: RateResolution | None,
    group_note: str,
    included: int,
    billed: int,
    prices: dict,
    locale: str = "en_US",
) -> EntryPrice:
    """The shared part of an entry's price (memoised in ``prices``, one dict per
    ``price_time_entries`` call): it depends only on the contract's terms, the rate
    resolution (None for the overage rate of a pool) and the billed/included seconds."""
    # Contracts on the same terms and rate share prices (a resolution's text names its rule).
    rate_key = None if resolution is None else (resolution.rate, resolution.explanation)
    key = (_terms(contract), group_note, rate_key, included, billed, locale)
    price = prices.get(key)
    if price is None:
        charged = billed - included
        label = group_note or rounding_label(contract)
        text, rate, amount, source, rule_id, problem = _price_tail(
            label,
            contract.contract_type,
            contract.currency,
            contract.overage_rate,
            resolution,
            included,
            charged,
            locale,
        )
        price = prices[key] = EntryPrice(
            currency=contract.currency,
            billable=True,
            quantity=hours(billed),
            charged_quantity=hours(charged),
            rate=rate,
            amount=amount,
            rule_id=rule_id,
            rate_source=source,
            problem=problem,
            text=text,
        )
    return price


def _price_tail(
    label, kind, currency, overage_rate, resolution, included, charged, locale="en_US"
) -> tuple:
    """(explanation after the worked/billed time, rate, amount, source, rule id, problem)
    of a billable entry: retainers and blocks charge time beyond the pool at the overage
    rate; other contracts at the resolved rate rule."""
    charged_quantity = hours(charged)
    parts = [label]
    problem = ""
    rule_id = None
    if resolution is None:
        rate = overage_rate or Decimal("0")
        source = "overage"
        if included:
            pool, line = (
                ("included hours", "fee")
                if kind == ContractType.RETAINER
                else ("the block", "block")
            )
            parts.append(f"{_duration(included)} from {pool} (charged by the {line} line)")
        if charged:
            parts.append(
                f"{_duration(charged)} overage at {format_unit_price(rate, currency, locale)}/h"
            )
    else:
        rate, source = resolution.rate, resolution.source
        rule_id = resolution.rule.pk if resolution.rule else None
        parts.append(resolution.explanation)
        if rate is None:
            problem = resolution.explanation
    amount = None
    if rate is not None:
        rate = quantize_unit_price(rate)
        amount = line_amount(charged_quantity, rate, currency)
        if charged or not included:
            parts.append(
                f"{format_quantity(charged_quantity, locale)} h × "
                f"{format_unit_price(rate, currency, locale)}/h = "
                f"{format_money(amount, currency, locale)}"
            )
    return "; ".join(parts), rate, amount, source, rule_id, problem


# --------------------------------------------------------------- period amounts


@dataclass
class AmountLine:
    """One component of a period's amount (fee, product, block, time, included, overage)."""

    kind: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    explanation: str = ""
    sku: str = ""
    entry_ids: tuple[int, ...] = ()
    product_line_id: int | None = None
    block_purchase_id: int | None = None


@dataclass
class PeriodAmount:
    """What one period of one contract costs before tax, with a short explanation."""

    contract_id: int
    period: Period
    currency: str
    lines: list[AmountLine] = field(default_factory=list)
    worked_seconds: int = 0
    billed_seconds: int = 0
    included_seconds: int = 0
    overage_seconds: int = 0
    explanation: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def amount(self) -> Decimal:
        return quantize(sum((line.amount for line in self.lines), Decimal("0")), self.currency)


def device_counts(customer_ids: Iterable[int]) -> dict[int, int]:
    """Active hosts per customer organization: one aggregate query."""
    from sessions.models import Host

    ids = set(customer_ids)
    if not ids:
        return {}
    return dict(
        Host.objects.filter(organization_id__in=ids, is_active=True)
        .values("organization_id")
        .annotate(n=Count("id"))
        .values_list("organization_id", "n")
    )


def product_line_price(line: ContractProductLine, contract: Contract, tenant_currency: str):
    """(unit price, problem): catalog prices are in the tenant's currency."""
    if line.unit_price is not None:
        return quantize_unit_price(line.unit_price), ""
    if contract.currency != tenant_currency:
        return None, (
            f"{line.product.sku}: the catalog price is in {tenant_currency}; set a unit price "
            f"in {contract.currency} on the contract line"
        )
    return quantize_unit_price(line.product.unit_price), ""


def product_line_quantity(line: ContractProductLine, devices: dict[int, int], contract: Contract):
    if line.quantity_mode == QuantityMode.PER_DEVICE:
        return Decimal(devices.get(contract.customer_id, 0)), "per device: active hosts"
    return line.quantity, "fixed quantity"


def contract_period_amounts(
    contract_periods: Iterable[tuple[Contract, Period]], *, book: RateBook | None = None
) -> list[PeriodAmount]:
    """Amount of each (contract, period) under the contract's type. Constant queries.

    hourly: the sum of the period's priced posted billable entries; retainer: the fee
    plus overage beyond the included hours (unused hours do not roll over); block hours:
    blocks bought in the period plus overage beyond the balance; recurring: product
    lines × quantity (per device: the customer's active hosts now), plus any time.
    Billed and unbilled items alike: this is the period's whole amount.
    """
    pairs = list(contract_periods)
    if not pairs:
        return []
    tenant = require_current_tenant()
    book = book or load_rate_book()
    contracts = {contract.pk: contract for contract, _period in pairs}
    first = min(period.start for _c, period in pairs)
    last = max(period.end for _c, period in pairs)
    entries = list(
        TimeEntry.objects.filter(
            contract_id__in=contracts,
            state=TimeEntryState.POSTED,
            work_date__gte=first,
            work_date__lte=last,
        )
    )
    for entry in entries:
        entry.contract = contracts[entry.contract_id]
    priced = price_time_entries(entries, book=book)
    by_key: dict[tuple[int, dt.date], list[tuple[TimeEntry, PricedEntry]]] = defaultdict(list)
    for entry in entries:
        item = priced[entry.pk]
        by_key[(entry.contract_id, item.period.start)].append((entry, item))

    recurring = [c for c in contracts.values() if c.contract_type == ContractType.RECURRING]
    lines_by_contract: dict[int, list[ContractProductLine]] = defaultdict(list)
    if recurring:
        for line in ContractProductLine.objects.filter(
            contract_id__in=[c.pk for c in recurring]
        ).select_related("product"):
            lines_by_contract[line.contract_id].append(line)
    devices = device_counts(
        c.customer_id
        for c in recurring
        if any(line.quantity_mode == QuantityMode.PER_DEVICE for line in lines_by_contract[c.pk])
    )
    blocks = [c.pk for c in contracts.values() if c.contract_type == ContractType.BLOCK_HOURS]
    purchases = defaultdict(list)
    if blocks:
        for purchase in BlockPurchase.objects.filter(contract_id__in=blocks):
            purchases[purchase.contract_id].append(purchase)

    results = []
    for contract, period in pairs:
        result = PeriodAmount(contract.pk, period, contract.currency)
        items = sorted(by_key.get((contract.pk, period.start), []), key=lambda p: p[0].work_date)
        billable = [p for _e, p in items if p.billable]
        result.worked_seconds = sum(p.worked_seconds for _e, p in items)
        result.billed_seconds = sum(p.billed_seconds for p in billable)
        result.included_seconds = sum(p.included_seconds for p in billable)
        result.overage_seconds = sum(p.charged_seconds for p in billable)
        kind = contract.contract_type
        if kind == ContractType.RETAINER:
            _retainer_lines(result, contract, billable, items)
        elif kind == ContractType.BLOCK_HOURS:
            _block_lines(result, contract, billable, items, purchases[contract.pk], period)
        else:
            if kind == ContractType.RECURRING:
                _product_lines(
                    result, contract, lines_by_contract[contract.pk], devices, tenant.currency
                )
            _time_lines(result, contract, items)
        result.explanation = _period_explanation(result, contract)
        results.append(result)
    return results


def contract_period_amount(contract: Contract, period: Period) -> PeriodAmount:
    """One contract's amount for one period (see ``contract_period_amounts``)."""
    return contract_period_amounts([(contract, period)])[0]


def _charged_lines(result: PeriodAmount, contract: Contract, items, kind: str, label: str):
    """The period's charged time as the invoices bill it (``time_line_key``): one line
    per ticket (or period) and rate, each rounded once."""
    groups: dict[tuple, list[PricedEntry]] = defaultdict(list)
    for entry, priced in items:
        if priced.billable and priced.charged_seconds:
            key = time_line_key(contract, entry.ticket_id, priced.rate, priced.period)
            groups[key].append(priced)
    locale = _tenant_locale()
    for (_ticket, rate, _period), members in groups.items():
        for priced in members:
            if priced.amount is None:
                result.problems.append(f"Time entry {priced.entry_id}: {priced.problem}")
        seconds = sum(priced.charged_seconds for priced in members)
        price = quantize_unit_price(rate or 0)
        result.lines.append(
            AmountLine(
                kind=kind,
                description=label,
                quantity=time_line_quantity(seconds),
                unit_price=price,
                amount=time_line_amount(seconds, rate, contract.currency),
                explanation=(
                    f"{format_duration(seconds)} at "
                    f"{format_unit_price(price, contract.currency, locale)}/h"
                ),
                entry_ids=tuple(priced.entry_id for priced in members),
            )
        )


def _time_lines(result: PeriodAmount, contract: Contract, items) -> None:
    _charged_lines(result, contract, items, ItemKind.TIME, "Time")


def _overage_line(result: PeriodAmount, contract: Contract, items, pool_label: str) -> None:
    _charged_lines(result, contract, items, "overage", f"Overage beyond {pool_label}")


def _tenant_locale() -> str:
    return getattr(require_current_tenant(), "locale", "") or "en_US"


def _included_line(result: PeriodAmount, billable, label: str) -> None:
    used = sum(p.included_seconds for p in billable)
    if used:
        result.lines.append(
            AmountLine(
                kind="included",
                description=label,
                quantity=hours(used),
                unit_price=Decimal("0"),
                amount=Decimal("0"),
                explanation=f"{format_duration(used)} covered, no extra charge",
                entry_ids=tuple(p.entry_id for p in billable if p.included_seconds),
            )
        )


def _retainer_lines(result: PeriodAmount, contract: Contract, billable, items) -> None:
    fee = quantize_unit_price(contract.retainer_fee or 0)
    included = contract.included_hours or Decimal("0")
    result.lines.append(
        AmountLine(
            kind=ItemKind.RETAINER_FEE,
            description=f"Retainer fee {result.period.label}",
            quantity=Decimal("1"),
            unit_price=fee,
            amount=line_amount(Decimal("1"), fee, contract.currency),
            explanation=(
                f"covers {format_quantity(included, _tenant_locale())} h per period; "
                "unused hours do not roll over"
            ),
        )
    )
    included_text = format_quantity(included, _tenant_locale())
    _included_line(result, billable, f"Included hours used (of {included_text} h)")
    _overage_line(result, contract, items, f"{included_text} h included")


def _block_lines(
    result: PeriodAmount, contract: Contract, billable, items, purchases, period
) -> None:
    for purchase in purchases:
        if purchase.purchased_on in period:
            price = quantize_unit_price(purchase.price)
            result.lines.append(
                AmountLine(
                    kind=ItemKind.BLOCK,
                    description=(
                        f"Block of {format_quantity(purchase.hours, _tenant_locale())} h "
                        f"bought {purchase.purchased_on:%d %b %Y}"
                    ),
                    quantity=Decimal("1"),
                    unit_price=price,
                    amount=line_amount(Decimal("1"), price, contract.currency),
                    explanation="invoiced once, when bought",
                    block_purchase_id=purchase.pk,
                )
            )
    _included_line(result, billable, "Time drawn from the block")
    _overage_line(result, contract, items, "the block balance")


def _product_lines(result, contract, lines, devices, tenant_currency) -> None:
    for line in lines:
        price, problem = product_line_price(line, contract, tenant_currency)
        quantity, how = product_line_quantity(line, devices, contract)
        if price is None:
            result.problems.append(problem)
            price = Decimal("0")
        result.lines.append(
            AmountLine(
                kind=ItemKind.PRODUCT,
                description=line.product.name,
                sku=line.product.sku,
                quantity=quantity,
                unit_price=price,
                amount=line_amount(quantity, price, contract.currency),
                explanation=(
                    f"{format_quantity(quantity, _tenant_locale())} × "
                    f"{format_unit_price(price, contract.currency, _tenant_locale())} ({how})"
                ),
                product_line_id=line.pk,
            )
        )


def _period_explanation(result: PeriodAmount, contract: Contract) -> str:
    parts = [f"{contract.get_contract_type_display()} {result.period.label}"]
    if result.billed_seconds:
        parts.append(
            f"{format_duration(result.billed_seconds)} billable time ({rounding_label(contract)})"
        )
    if contract.contract_type == ContractType.RETAINER:
        parts.append(
            f"{format_duration(result.included_seconds)} of "
            f"{format_quantity(contract.included_hours or 0, _tenant_locale())} h included used"
        )
    if result.overage_seconds and contract.contract_type in (
        ContractType.RETAINER,
        ContractType.BLOCK_HOURS,
    ):
        parts.append(f"{format_duration(result.overage_seconds)} overage")
    parts.append(
        f"total {format_money(result.amount, result.currency, _tenant_locale())} before tax"
    )
    return "; ".join(parts)


# ------------------------------------------------------------------- block balance


@dataclass(frozen=True)
class BlockBalance:
    contract_id: int
    purchased_seconds: int
    used_seconds: int  # billed (frozen) plus posted unbilled, rounded

    @property
    def remaining_seconds(self) -> int:
        return max(self.purchased_seconds - self.used_seconds, 0)

    @property
    def remaining_hours(self) -> Decimal:
        return hours(self.remaining_seconds)

    @property
    def purchased_hours(self) -> Decimal:
        return hours(self.purchased_seconds)

    @property
    def used_hours(self) -> Decimal:
        return hours(self.used_seconds)


def block_balances(
    contracts: Iterable[Contract], *, book: RateBook | None = None
) -> dict[int, BlockBalance]:
    """Remaining prepaid hours of block contracts: purchases minus time drawn (billed time
    as frozen, posted unbilled time as it would be billed now). Constant queries."""
    blocks = {c.pk: c for c in contracts if c.contract_type == ContractType.BLOCK_HOURS}
    if not blocks:
        return {}
    purchases, used = _block_facts(set(blocks))
    open_entries = list(
        TimeEntry.objects.filter(
            contract_id__in=blocks,
            state=TimeEntryState.POSTED,
            billable=True,
            invoice_line__isnull=True,
        )
    )
    for entry in open_entries:
        entry.contract = blocks[entry.contract_id]
    priced = price_time_entries(open_entries, book=book) if open_entries else {}
    drawn = defaultdict(int)
    for item in priced.values():
        drawn[item.contract_id] += item.included_seconds
    return {
        cid: BlockBalance(
            cid,
            sum(seconds for _day, seconds in purchases.get(cid, [])),
            used.get(cid, 0) + drawn[cid],
        )
        for cid in blocks
    }


# ------------------------------------------------------------------------- explain


@dataclass
class RateExplanation:
    """Which rules match an item and which one wins (for the explain view and API)."""

    subject: str
    context: RateContext
    matches: list[RateRule]
    winner: RateRule | None
    rate: Decimal | None
    source: str
    explanation: str
    facts: list[tuple[str, str]]
    applied_note: str = ""


def _explain(subject: str, context: RateContext, facts, book: RateBook) -> RateExplanation:
    resolution = book.resolve(context)
    return RateExplanation(
        subject=subject,
        context=context,
        matches=list(resolution.matches),
        winner=resolution.rule,
        rate=resolution.rate,
        source=resolution.source,
        explanation=resolution.explanation,
        facts=facts,
    )


def explain_time_entry(entry: TimeEntry, *, book: RateBook | None = None) -> RateExplanation:
    """Matching rules and the winner for a time entry, in its contract's currency."""
    book = book or load_rate_book()
    contract = entry.contract
    context = entry_rate_context(entry, contract, book)
    teams = ", ".join(str(team) for team in entry.technician.teams.filter(pk__in=context.team_ids))
    facts = [
        ("Contract", str(contract)),
        ("Organization", str(contract.customer)),
        ("Technician", entry.technician.get_full_name() or entry.technician.username),
        ("Teams", teams or "—"),
        ("Service type", str(entry.service_type or "—")),
        ("Currency", contract.currency),
    ]
    result = _explain(f"Time entry {entry.pk}", context, facts, book)
    if contract.contract_type in (ContractType.RETAINER, ContractType.BLOCK_HOURS):
        result.applied_note = (
            f"This {contract.get_contract_type_display().lower()} contract bills time beyond its "
            f"{'included hours' if contract.contract_type == ContractType.RETAINER else 'block'} "
            "at its overage rate "
            f"{format_unit_price(contract.overage_rate or 0, contract.currency, book.locale)}/h; "
            "rate rules "
            "price hourly work."
        )
    return result


def explain_session(session, *, book: RateBook | None = None) -> RateExplanation:
    """Matching rules and the winner for a remote session (organization = the host's owner).

    A session logged as a time entry is priced as that entry; otherwise it is priced in
    the currency of the host's organization (else the tenant's).
    """
    book = book or load_rate_book()
    linked = getattr(session, "time_entry", None)
    if linked is not None:
        result = explain_time_entry(linked, book=book)
        result.subject = f"Session {session.pk} (logged as time entry {linked.pk})"
        return result
    organization = session.host.organization
    currency = organization.currency if organization else book.default_currency
    technician = session.technician
    context = RateContext(
        currency=currency,
        organization_id=organization.pk if organization else None,
        technician_id=technician.pk if technician else None,
        team_ids=book.teams_of(technician.pk if technician else None),
    )
    facts = [
        ("Host", str(session.host)),
        ("Organization", str(organization or "—")),
        ("Technician", (technician.get_full_name() or technician.username) if technician else "—"),
        ("Currency", currency),
    ]
    return _explain(f"Session {session.pk}", context, facts, book)
