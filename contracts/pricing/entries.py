"""Pricing time entries, set-wise: each entry's billed time (``rounding``), the part a
pool covers (``pools``), its rate (``rates``) and what is charged, for any set of
entries, in a constant number of queries. Retainers and blocks charge time beyond the
pool at the contract's overage rate; other contracts at the resolved rate rule.

Frozen history: an entry already billed keeps the ``billed_seconds`` and
``included_seconds`` stored when it was claimed; new entries in the same group, period
or block are priced around them, so later rounding or balance never bills twice.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import NamedTuple

from django.db.models import Q

from billing_site.money import (
    format_money,
    format_quantity,
    format_unit_price,
    line_amount,
    quantize,
    quantize_unit_price,
)

from ..choices import ContractType, RoundingScope, TimeEntryState
from ..models import Contract, TimeEntry
from .periods import Period, cycle_key, period_containing
from .pools import _allocate_included, _block_facts, _draw_block
from .rates import RateBook, RateResolution, load_rate_book
from .rounding import HOUR, _duration, _frozen_billed, _round_rows, _Row, hours, rounding_label


class EntryPrice:
    """The part of an entry's price that depends only on the contract's terms, the rate
    and the billed/included seconds: thousands of entries share one instance."""

    __slots__ = (
        "_text",
        "amount",
        "billable",
        "charged_quantity",
        "currency",
        "problem",
        "quantity",
        "rate",
        "rate_source",
        "rule_id",
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
        text: str | Callable[[], str] = "",
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
        self._text = text

    @property
    def text(self) -> str:
        """How the price was made (rule, pool, amount); built on first read."""
        if callable(self._text):
            self._text = self._text()
        return self._text


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

    __slots__ = ("_line_keys", "billed", "contract", "entries", "included", "periods", "prices")

    def __init__(self, contract: Contract, entries: list, periods: list[Period]):
        self.contract = contract
        self.entries = entries
        self.periods = periods
        self.billed: list[int] = []
        self.included: list[int] = []
        self.prices: list[EntryPrice] = []
        self._line_keys: list[tuple] | None = None

    @property
    def line_keys(self) -> list[tuple]:
        """Each entry's invoice line (``lines.time_line_keys``), worked out once."""
        if self._line_keys is None:
            from .lines import time_line_keys

            self._line_keys = time_line_keys(self)
        return self._line_keys

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
    """(explanation after the worked/billed time, as a function building it, rate, amount,
    source, rule id, problem) of a billable entry: retainers and blocks charge time beyond
    the pool at the overage rate; other contracts at the resolved rate rule. The text is
    built only when read (a batch prices hundreds of thousands of entries and shows the
    explanation of a few)."""
    charged_quantity = hours(charged)
    problem = ""
    rule_id = None
    if resolution is None:
        rate = overage_rate or Decimal("0")
        source = "overage"
    else:
        rate, source = resolution.rate, resolution.source
        rule_id = resolution.rule.pk if resolution.rule else None
        if rate is None:
            problem = resolution.explanation
    amount = None
    if rate is not None:
        rate = quantize_unit_price(rate)
        amount = line_amount(charged_quantity, rate, currency)

    def text() -> str:
        parts = [label]
        if resolution is None:
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
            parts.append(resolution.explanation)
        if rate is not None and (charged or not included):
            parts.append(
                f"{format_quantity(charged_quantity, locale)} h × "
                f"{format_unit_price(rate, currency, locale)}/h = "
                f"{format_money(amount, currency, locale)}"
            )
        return "; ".join(parts)

    return text, rate, amount, source, rule_id, problem
