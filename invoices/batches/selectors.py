"""Reads of the invoice batch engine: what a batch would bill, set-wise.

Everything here builds on ``contracts.selectors.contract_billing_state`` (unbilled items,
priced, due or waiting, per contract) and never re-prices anything: it applies the
batch's exclusions, turns the selected items into planned invoice lines and sums them.
The same planner feeds the preview (batch details) and the run, so the details always
equal the drafts a run creates, to the cent. A preview sums each contract's selection
without building its lines (they are built when read); on PostgreSQL the time of most
contracts comes summed from the database (``contracts.pricing.database``), a run prices every
entry (``itemized=True``). Docs: ``docs/decisions/0006-batch-performance.md``.

Query count: a constant number of queries whatever the number of contracts and items
(contracts, exclusions, tickets, plus the dozen of ``contract_billing_state``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from operator import attrgetter, itemgetter

from django.db.models import Count, Q, QuerySet

from billing_site.collector import pauses_collector
from billing_site.line_text import LineWords, render
from billing_site.money import (
    line_amount,
    quantize,
    quantize_unit_price,
)
from billing_site.tenancy import require_current_tenant
from billing_site.timeutils import format_duration
from contracts.choices import BillingState, ChargeKind, ContractStatus, ContractType, ItemKind
from contracts.models import BlockPurchase, Contract, PeriodCharge, Ticket, TimeEntry
from contracts.pricing import (
    ContractTime,
    PricedEntry,
    load_rate_book,
    time_line_amount,
    time_line_key,
    time_line_quantity,
)
from contracts.pricing.periods import InPeriod, Period, period_containing
from contracts.pricing.words import time_facts
from contracts.selectors import (
    BillableItem,
    ContractBillingState,
    contract_billing_state,
    unbilled_time_entries,
)

from ..models import Invoice, InvoiceLine, InvoiceStatus, LineKind
from ..totals import compute_totals
from .models import BatchExclusion, BatchInvoice, InvoiceBatch

STATE_ICONS = {
    BillingState.SELECTABLE: "check",
    BillingState.LOCKED: "lock",
    BillingState.PARTIAL: "half",
}
ZERO = Decimal("0")
ITEM_LABELS = dict(ItemKind.choices)


# ------------------------------------------------------------------ planned lines


@dataclass
class PlannedLine(InPeriod):
    """An invoice line a run will create, with the items it claims. Its words are
    rendered from ``facts`` (``billing_site.line_text``), as the invoice line's are."""

    contract_id: int
    kind: str
    currency: str
    locale: str
    facts: dict
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    taxable: bool
    tax_rate: Decimal
    unit: str = ""
    sku: str = ""
    worked_seconds: int | None = None
    billed_seconds: int | None = None
    ticket_id: int | None = None
    period: Period | None = None
    time: TimeGroup | None = field(default=None, repr=False)
    # (charge kind, period, product line id) of a periodic fee materialised as a PeriodCharge.
    fee: tuple[str, Period, int | None] | None = None
    block_purchase_id: int | None = None
    # Why an item of the line cannot be priced (a run refuses to bill it).
    problems: list[str] = field(default_factory=list)

    @cached_property
    def words(self) -> LineWords:
        return render(self.facts, self, currency=self.currency, locale=self.locale)

    @property
    def description(self) -> str:
        return self.words.description

    @property
    def explanation(self) -> str:
        return self.words.explanation

    @property
    def group_label(self) -> str:
        return self.words.group_label

    @property
    def entries(self) -> list[PricedEntry]:
        """The time entries the line bills, priced (built when first read)."""
        return self.time.entries if self.time is not None else []

    def claims(self) -> list[tuple[int, int, int]]:
        """(entry id, billed seconds, included seconds) of the entries a run claims."""
        return self.time.claims() if self.time is not None else []


@dataclass
class PlannedInvoice:
    """One draft a run creates: one contract, or (consolidated) one billing organization
    and currency."""

    key: tuple
    organization_id: int
    currency: str
    rows: list[ContractRow] = field(default_factory=list, repr=False)

    @property
    def contract_ids(self) -> list[int]:
        return [row.contract.pk for row in self.rows]

    @property
    def lines(self) -> list[PlannedLine]:
        """The invoice's lines, contract after contract (built when first read)."""
        return [line for row in self.rows for line in row.lines]

    @property
    def totals(self):
        # A contract's lines share its tax rate, so tax per rate on the contracts'
        # subtotals equals tax per rate on their lines: the details need no line.
        return compute_totals([row.subtotal_line for row in self.rows], self.currency)


@dataclass(frozen=True, slots=True)
class SubtotalLine:
    """A contract's selected lines as one priced line (``totals.PricedLine``): their
    amounts, already rounded, summed; the contract's tax."""

    quantity: Decimal
    taxable: bool
    tax_rate: Decimal
    unit_price: Decimal = Decimal("1")


class TimeGroup:
    """The selected time entries of one invoice line (one ticket at one rate): their
    sums, and the entries themselves built only when read (a run claims them).

    Made from a contract's priced columns (``from_columns``, the usual case: no entry is
    built) or from priced entries (``from_priced``, when items are excluded one by one).
    """

    __slots__ = (
        "_entries",
        "_first_day",
        "_first_period",
        "_indices",
        "_key",
        "_sorted",
        "_state",
        "_time",
        "amount",
        "billed",
        "count",
        "included",
        "quantity",
        "tickets",
        "worked",
    )

    def __init__(self, count, worked, billed, included, first_period, tickets=frozenset()):
        self.count = count
        self.worked = worked
        self.billed = billed
        self.included = included
        # The line policy: hours from the group's charged seconds, converted once.
        self.quantity = time_line_quantity(billed - included)
        # The tickets of a line that spans several (a period's line); else empty.
        self.tickets: frozenset[int] = tickets
        self._first_period: Period | None = first_period
        self._first_day: dt.date | None = None
        # The line's amount when the database computed it (summed groups), else None.
        self.amount: Decimal | None = None
        self._entries: list[PricedEntry] | None = None
        self._time: ContractTime | None = None
        self._indices: list[int] = []
        self._sorted = False
        self._state: ContractBillingState | None = None
        self._key: tuple = ()

    @property
    def entries(self) -> list[PricedEntry]:
        """The line's entries in a stable order (period, then entry id), whichever way
        the group was made: a run lists them in this order in the line's explanation."""
        if self._entries is None:
            if self._time is None and self._state is not None:
                # Summed by the database: price the contract's entries now and pick this
                # group's (the same key, the same due entries).
                state = self._state
                same = TimeGroup.from_columns(state.time, state.usage_cutoff)[self._key]
                self._time, self._indices = same._time, same._indices
            time = self._time
            self._entries = [time.priced(index) for index in self._indices]
        if not self._sorted:
            self._entries.sort(key=_period_and_id)
            self._sorted = True
        return self._entries

    @property
    def first_period(self) -> Period:
        """The period of the group's earliest entry (the line's period); for a summed
        group worked out when first read."""
        if self._first_period is None:
            self._first_period = period_containing(self._state.contract, self._first_day)
        return self._first_period

    def problems(self) -> list[str]:
        return [p.problem for p in self.entries if p.problem]

    def claims(self) -> list[tuple[int, int, int]]:
        """(entry id, billed seconds, included seconds) of each entry, what a run
        freezes on the entries it claims: read from the priced columns when the group
        has them, with no priced entry built."""
        if self._entries is None and self._time is not None:
            time = self._time
            entries, billed, included = time.entries, time.billed, time.included
            return [(entries[i].pk, billed[i], included[i]) for i in self._indices]
        return [(p.entry_id, p.billed_seconds, p.included_seconds) for p in self.entries]

    @staticmethod
    def from_columns(time: ContractTime, cutoff: dt.date) -> dict[tuple, TimeGroup]:
        """Groups of the contract's entries worked before ``cutoff`` (due), one per
        invoice line (``time_line_key``). Sums straight from the columns: no per-entry
        object is built."""
        entries, periods, keys = time.entries, time.periods, time.line_keys
        by_key: dict[tuple, list[int]] = {}
        for index, entry in enumerate(entries):
            if entry.work_date < cutoff:
                key = keys[index]
                indices = by_key.get(key)
                if indices is None:
                    by_key[key] = [index]
                else:
                    indices.append(index)
        billed, included = time.billed, time.included
        groups = {}
        for key, indices in by_key.items():
            # C-level picking and summing: this runs over every unbilled entry of a batch.
            pick = itemgetter(*indices) if len(indices) > 1 else _single(indices[0])
            group = groups[key] = TimeGroup(
                len(indices),
                sum(map(_WORKED, pick(entries))),
                sum(pick(billed)),
                sum(pick(included)),
                min(pick(periods), key=_START),
                _tickets(key, pick(entries)),
            )
            group._time, group._indices = time, indices
        return groups

    @staticmethod
    def from_summary(state: ContractBillingState) -> dict[tuple, TimeGroup]:
        """Groups of the due entries as the database summed them (``state.summary``);
        the entries are priced only if read."""
        groups = {}
        for key, sums in state.summary.due_groups.items():
            group = groups[key] = TimeGroup(
                sums.count, sums.worked, sums.billed, sums.included, None
            )
            group._state, group._key = state, key
            group._first_day, group.amount = sums.first_day, sums.line_amount
        return groups

    @staticmethod
    def from_priced(
        contract: Contract, time: Iterable[tuple[int | None, PricedEntry]]
    ) -> dict[tuple, TimeGroup]:
        """Groups of explicitly selected (ticket id, priced entry) pairs, one per invoice
        line (``time_line_key``)."""
        by_key: dict[tuple, list[PricedEntry]] = defaultdict(list)
        tickets: dict[tuple, set[int]] = defaultdict(set)
        for ticket_id, priced in time:
            key = time_line_key(contract, ticket_id, priced.rate, priced.period)
            by_key[key].append(priced)
            if key[2] is not None and ticket_id:
                tickets[key].add(ticket_id)
        groups = {}
        for key, entries in by_key.items():
            group = groups[key] = TimeGroup(
                len(entries),
                sum(p.worked_seconds for p in entries),
                sum(p.billed_seconds for p in entries),
                sum(p.included_seconds for p in entries),
                min((p.period for p in entries), key=_START),
                frozenset(tickets.get(key, ())),
            )
            group._entries = entries
        return groups


_WORKED = attrgetter("worked_seconds")
_START = attrgetter("start")


def _tickets(key: tuple, entries) -> frozenset[int]:
    """The tickets of a line keyed by period (several tickets); empty for a ticket's line."""
    if key[2] is None:
        return frozenset()
    return frozenset(entry.ticket_id for entry in entries if entry.ticket_id)


def _period_and_id(priced: PricedEntry) -> tuple:
    return (priced.period.start, priced.entry_id)


def _single(index: int):
    """``itemgetter`` of one index, returning a 1-tuple like that of several does."""
    return lambda sequence: (sequence[index],)


def _tax(contract: Contract) -> tuple[bool, Decimal]:
    """Tax only on taxable contracts, at the contract's rate (DESIGN.md, Money)."""
    if contract.taxable and contract.tax_rate:
        return True, Decimal(contract.tax_rate)
    return False, ZERO


def _tenant_locale() -> str:
    return require_current_tenant().locale or "en_US"


def _item_price(item: BillableItem, currency: str) -> tuple[Decimal, Decimal]:
    """(unit price, amount) of a fee, product or block line."""
    price = quantize_unit_price(item.unit_price or ZERO)
    return price, line_amount(item.quantity, price, currency)


def _time_price(group: TimeGroup, rate: Decimal | None, currency: str) -> tuple[Decimal, Decimal]:
    """(unit price, amount) of a time line, by the line policy (``time_line_amount``)."""
    return quantize_unit_price(rate or ZERO), time_line_amount(
        group.billed - group.included, rate, currency
    )


def selected_subtotal(
    contract: Contract, items: Iterable[BillableItem], time_groups: dict[tuple, TimeGroup]
) -> Decimal:
    """The sum of the amounts of ``plan_contract_lines``, without building the lines."""
    currency = contract.currency
    amounts = [_item_price(item, currency)[1] for item in items]
    amounts += [
        _time_price(group, key[1], currency)[1] if group.amount is None else group.amount
        for key, group in time_groups.items()
    ]
    return quantize(sum(amounts, ZERO), currency)


def plan_contract_lines(
    contract: Contract,
    items: Iterable[BillableItem],
    time_groups: dict[tuple[int, Decimal | None], TimeGroup],
    tickets: dict[int, tuple[int, str]],
) -> list[PlannedLine]:
    """Invoice lines for a contract's selected items, in print order: fees, blocks,
    products, then time grouped by ticket (and rate). ``items`` are the selected fees,
    products and blocks; ``time_groups`` the selected time entries by (ticket, rate).

    A fee, product or block is one line. Time entries of one ticket at one rate are one
    line whose quantity is their charged (billed minus included) hours, amount = hours ×
    rate rounded half-up once; worked and billed time are kept on the line, and each
    entry's billed and included time on the entry when claimed. Time covered by included
    hours or a block is on the line at no charge, so it is billed (and never reappears).
    """
    currency = contract.currency
    taxable, tax_rate = _tax(contract)
    locale = _tenant_locale()
    common = {
        "contract_id": contract.pk,
        "currency": currency,
        "locale": locale,
        "taxable": taxable,
        "tax_rate": tax_rate,
    }
    fees: list[PlannedLine] = []
    for item in items:
        price, amount = _item_price(item, currency)
        line = PlannedLine(
            **common,
            kind=LineKind.BLOCK,
            facts=item.facts,
            quantity=item.quantity,
            unit_price=price,
            amount=amount,
            sku=item.sku,
            period=item.period,
            problems=[item.problem] if item.problem else [],
        )
        if item.kind == ItemKind.RETAINER_FEE:
            line.kind, line.unit = LineKind.FEE, "period"
            line.fee = (ChargeKind.RETAINER_FEE, item.period, None)
        elif item.kind == ItemKind.PRODUCT:
            line.kind = LineKind.PRODUCT
            line.fee = (ChargeKind.PRODUCT, item.period, item.product_line_id)
        else:
            line.block_purchase_id = item.block_purchase_id
        fees.append(line)
    order = {LineKind.FEE: 0, LineKind.BLOCK: 1, LineKind.PRODUCT: 2}
    fees.sort(
        key=lambda line: (order[line.kind], line.period.start if line.period else dt.date.min)
    )

    pooled = contract.contract_type in (ContractType.RETAINER, ContractType.BLOCK_HOURS)
    pool = None
    if pooled:
        pool = "included" if contract.contract_type == ContractType.RETAINER else "block"
    rounding = (
        contract.rounding_increment_minutes,
        contract.rounding_minimum_minutes,
        contract.rounding_scope,
    )
    time_lines = []
    for (ticket_id, rate, period_start), group in sorted(
        time_groups.items(),
        key=lambda kv: (
            kv[0][2] or dt.date.min,
            tickets.get(kv[0][0], (0, ""))[0],
            kv[0][1] or 0,
        ),
    ):
        price, amount = _time_price(group, rate, currency)
        time_lines.append(
            PlannedLine(
                **common,
                kind=LineKind.OVERAGE if pooled else LineKind.TIME,
                # Each entry's own figures (billed, from the pool) are frozen on the entry
                # when the line claims it; the invoice page lists them under the line.
                facts=time_facts(
                    contract_name=contract.name,
                    ticket=tickets.get(ticket_id),
                    period_scope=period_start is not None,
                    entries=group.count,
                    tickets=len(group.tickets) if period_start is not None else 0,
                    pool=pool,
                    included_seconds=group.included,
                    rounding=rounding,
                ),
                quantity=group.quantity,
                unit="h",
                unit_price=price,
                amount=amount,
                worked_seconds=group.worked,
                billed_seconds=group.billed,
                ticket_id=ticket_id or None,
                period=group.first_period,
                time=group,
                problems=[] if rate is not None else group.problems(),
            )
        )
    return fees + time_lines


# ---------------------------------------------------------------------- preview


@dataclass(slots=True)
class ItemRow:
    item: BillableItem
    selected: bool

    @property
    def selectable(self) -> bool:
        return self.item.due

    @property
    def kind_label(self) -> str:
        return ITEM_LABELS.get(self.item.kind, self.item.kind)


@dataclass(eq=False)
class ContractRow:
    """One contract on the batch page.

    The page, the details and a run need only the per-contract figures and the planned
    lines; the per-item rows (``items``) are built only when read — for a contract shown
    expanded — from the contract's billing state.
    """

    contract: Contract
    billing_state: ContractBillingState = field(repr=False)
    excluded: bool
    excluded_keys: frozenset[str]
    # The selected fees, products and blocks, and time by (ticket, rate).
    selected_others: list[BillableItem] = field(repr=False)
    selected_time: dict[tuple[int, Decimal | None], TimeGroup] = field(repr=False)
    tickets: TicketLabels = field(repr=False)
    # Drafts (of other batches) holding items of the contract (``attach_holds``).
    holds: list[Hold] = field(default_factory=list, repr=False)

    @property
    def held_only(self) -> bool:
        """Nothing unbilled, because drafts hold it: not "period still open"."""
        return bool(self.holds) and self.item_count == 0

    @cached_property
    def selected_balance(self) -> Decimal:
        return selected_subtotal(self.contract, self.selected_others, self.selected_time)

    @property
    def has_lines(self) -> bool:
        return bool(self.selected_others or self.selected_time)

    @property
    def subtotal_line(self) -> SubtotalLine:
        taxable, tax_rate = _tax(self.contract)
        return SubtotalLine(self.selected_balance, taxable, tax_rate)

    @property
    def worked_seconds(self) -> int:
        """Time worked on the selected entries."""
        return sum(group.worked for group in self.selected_time.values())

    @property
    def ticket_ids(self) -> set[int]:
        ids = {ticket for ticket, _rate, _period in self.selected_time if ticket}
        for group in self.selected_time.values():
            ids |= group.tickets
        return ids

    @cached_property
    def lines(self) -> list[PlannedLine]:
        """The invoice lines of the selection (built when first read: a run, a test; the
        page and the details need only the figures above)."""
        return plan_contract_lines(
            self.contract, self.selected_others, self.selected_time, self.tickets.get()
        )

    @property
    def problems(self) -> list[str]:
        """Why selected items cannot be priced (a run refuses to bill them)."""
        return [problem for line in self.lines for problem in line.problems]

    @property
    def state(self) -> str:
        return self.billing_state.state

    @property
    def total_balance(self) -> Decimal:
        return self.billing_state.total_amount

    @property
    def unposted_entries(self) -> int:
        return self.billing_state.unposted_entries

    @property
    def icon(self) -> str:
        return STATE_ICONS[self.state]

    @property
    def state_label(self) -> str:
        return BillingState(self.state).label

    @property
    def item_count(self) -> int:
        return self.billing_state.item_count

    @property
    def all_items(self) -> list[BillableItem]:
        return self.billing_state.items

    def is_selected(self, item: BillableItem) -> bool:
        return not self.excluded and _selected(item, self.excluded_keys)

    @property
    def selected_items(self) -> list[BillableItem]:
        return [item for item in self.all_items if self.is_selected(item)]

    @cached_property
    def items(self) -> list[ItemRow]:
        return [ItemRow(item, self.is_selected(item)) for item in self.all_items]


@dataclass
class CurrencyDetails:
    """Batch details of one currency (amounts in different currencies are never added)."""

    currency: str
    invoices: int = 0
    billable: Decimal = ZERO
    tax_rows: dict[Decimal, Decimal] = field(default_factory=dict)
    tax: Decimal = ZERO
    total: Decimal = ZERO


@dataclass
class BatchDetails:
    invoices_to_create: int
    unbilled_tickets: int
    worked_seconds: int
    currencies: list[CurrencyDetails]

    @property
    def hours_worked(self) -> str:
        return format_duration(self.worked_seconds)


@dataclass
class BatchPreview:
    batch: InvoiceBatch
    rows: list[ContractRow]
    invoices: list[PlannedInvoice]
    details: BatchDetails

    def row(self, contract_id: int) -> ContractRow | None:
        return next((row for row in self.rows if row.contract.pk == contract_id), None)


def _selected(item: BillableItem, excluded_keys: frozenset[str]) -> bool:
    """A batch bills an item when it is due and not excluded (DESIGN.md, Due)."""
    return item.due and item.key not in excluded_keys


def batch_list() -> QuerySet[InvoiceBatch]:
    return (
        InvoiceBatch.objects.select_related("created_by")
        .annotate(invoice_count=Count("links"))
        .order_by("-as_of", "-created_at", "-id")
    )


def batch_contracts(
    *, contract_ids: Iterable[int] | None = None, parties_in_full: bool = True
) -> QuerySet[Contract]:
    """Contracts a batch bills: every active contract (with customer and bill-to).

    ``parties_in_full=False``: of the customer and bill-to only their names (all the
    batch page shows): 8,000 full organizations cost about 0.06 s to build at the
    benchmark's size. A run writes the bill-to's details on its invoices: in full.
    """
    queryset = Contract.objects.filter(status=ContractStatus.ACTIVE).select_related(
        "customer", "billing_organization"
    )
    if not parties_in_full:
        own = [field.name for field in Contract._meta.concrete_fields]
        queryset = queryset.only(*own, "customer__name", "billing_organization__name")
    if contract_ids is not None:
        queryset = queryset.filter(pk__in=list(contract_ids))
    return queryset.order_by("customer__name", "name", "id")


def batch_exclusions(batch: InvoiceBatch) -> tuple[set[int], dict[int, frozenset[str]]]:
    """(contracts excluded whole, contract -> item keys excluded): one query."""
    whole, items = set(), defaultdict(set)
    for contract_id, key in BatchExclusion.objects.filter(batch=batch).values_list(
        "contract_id", "item_key"
    ):
        if key:
            items[contract_id].add(key)
        else:
            whole.add(contract_id)
    return whole, {cid: frozenset(keys) for cid, keys in items.items()}


class TicketLabels:
    """(number, title) of the tickets the contracts' unbilled time is on, read with one
    query the first time a line is built (the database finds the tickets, rather than a
    set built over every entry)."""

    def __init__(self, contract_ids: Iterable[int]):
        self._contract_ids = list(contract_ids)
        self._loaded: dict[int, tuple[int, str]] | None = None

    def get(self) -> dict[int, tuple[int, str]]:
        if self._loaded is None:
            entries = unbilled_time_entries(self._contract_ids).values("ticket_id")
            self._loaded = {
                pk: (n, t)
                for pk, n, t in Ticket.objects.filter(pk__in=entries).values_list(
                    "id", "number", "title"
                )
            }
        return self._loaded


def plan_invoices(rows: Iterable[ContractRow], *, consolidate: bool) -> list[PlannedInvoice]:
    """Group the contracts' planned lines into drafts: one per contract, or one per
    billing organization and currency when consolidated. Stable order."""
    invoices: dict[tuple, PlannedInvoice] = {}
    for row in rows:
        if not row.has_lines:
            continue
        contract = row.contract
        if consolidate:
            key = (contract.billing_organization_id, contract.currency)
        else:
            key = (contract.billing_organization_id, contract.currency, contract.pk)
        planned = invoices.get(key)
        if planned is None:
            planned = invoices[key] = PlannedInvoice(
                key, contract.billing_organization_id, contract.currency
            )
        planned.rows.append(row)
    return list(invoices.values())


def summarize(rows: list[ContractRow], invoices: list[PlannedInvoice]) -> BatchDetails:
    """Batch details (Atera): invoices to create, unbilled tickets, hours worked, and per
    currency the billable amount, tax per rate (per invoice, rounded once) and total."""
    tickets, worked = set(), 0
    for row in rows:
        worked += row.worked_seconds
        tickets |= row.ticket_ids
    currencies: dict[str, CurrencyDetails] = {}
    for planned in invoices:
        details = currencies.setdefault(
            planned.currency,
            CurrencyDetails(planned.currency, billable=quantize(ZERO, planned.currency)),
        )
        totals = planned.totals
        details.invoices += 1
        details.billable += totals.subtotal
        for tax_row in totals.tax_rows:
            details.tax_rows[tax_row.rate] = details.tax_rows.get(tax_row.rate, ZERO) + tax_row.tax
        details.tax += totals.tax_total
        details.total += totals.total
    for details in currencies.values():
        details.tax = quantize(details.tax, details.currency)
        details.total = quantize(details.total, details.currency)
        details.tax_rows = dict(sorted(details.tax_rows.items()))
    return BatchDetails(
        invoices_to_create=len(invoices),
        unbilled_tickets=len(tickets),
        worked_seconds=worked,
        currencies=[currencies[c] for c in sorted(currencies)],
    )


@pauses_collector
def batch_preview(
    batch: InvoiceBatch,
    *,
    contract_ids: Iterable[int] | None = None,
    consolidate: bool | None = None,
    itemized: bool = False,
) -> BatchPreview:
    """Every active contract's unbilled items as of the batch date with the batch's
    selection applied (everything due, minus exclusions), the drafts a run would create
    and the batch details. Constant number of queries.

    By default the database sums the time of the contracts it can price
    (``contracts.pricing.database``; the page and details need only sums), and a contract's
    entries are priced only when its items or a line's entries are read.
    ``itemized=True`` prices every entry up front, for callers that read them all (a
    run, the API listing every item), so that reading them costs no further query.
    It makes millions of small objects: the cyclic collector sleeps meanwhile.
    """
    contracts = list(batch_contracts(contract_ids=contract_ids, parties_in_full=itemized))
    states = contract_billing_state(
        contracts, batch.as_of, book=load_rate_book(), sum_in_database=not itemized
    )
    whole, excluded = batch_exclusions(batch)
    tickets = TicketLabels(states.keys())
    rows = []
    no_keys: frozenset[str] = frozenset()
    for contract in contracts:
        state = states[contract.pk]
        contract_out = contract.pk in whole
        keys = excluded.get(contract.pk, no_keys)
        if contract_out:
            others, time = [], {}
        elif keys:
            selected = [item for item in state.items if _selected(item, keys)]
            others = [item for item in selected if item.kind != ItemKind.TIME]
            time = TimeGroup.from_priced(
                contract, ((i.ticket_id, i.priced) for i in selected if i.kind == ItemKind.TIME)
            )
        else:
            # No item is excluded (the usual case): sum the priced columns, with no item
            # or priced entry built.
            others = [item for item in state.other_items if item.due]
            if state.summed_in_database:
                time = TimeGroup.from_summary(state)
            else:
                time = TimeGroup.from_columns(state.time, state.usage_cutoff)
        rows.append(
            ContractRow(
                contract=contract,
                billing_state=state,
                excluded=contract_out,
                excluded_keys=keys,
                selected_others=others,
                selected_time=time,
                tickets=tickets,
            )
        )
    invoices = plan_invoices(
        rows, consolidate=batch.consolidate if consolidate is None else consolidate
    )
    return BatchPreview(
        batch=batch, rows=rows, invoices=invoices, details=summarize(rows, invoices)
    )


def filter_rows(
    rows: list[ContractRow],
    *,
    customer_id: int | None = None,
    billing_organization_id: int | None = None,
    contract_type: str = "",
    state: str = "",
) -> list[ContractRow]:
    """The page's filters (the batch details always cover the whole selection)."""
    out = rows
    if customer_id:
        out = [r for r in out if r.contract.customer_id == customer_id]
    if billing_organization_id:
        out = [r for r in out if r.contract.billing_organization_id == billing_organization_id]
    if contract_type:
        out = [r for r in out if r.contract.contract_type == contract_type]
    if state:
        out = [r for r in out if r.state == state]
    return out


def batch_invoices(batch: InvoiceBatch) -> QuerySet[Invoice]:
    """The batch's invoices, in the order they are (or will be) numbered."""
    return (
        Invoice.objects.filter(batch_links__batch=batch)
        .select_related("organization")
        .annotate(line_count=Count("lines"))
        .order_by("bill_to_name", "currency", "id")
    )


def invoices_for_export(*, batch: InvoiceBatch | None = None, ids: Iterable[int] = ()):
    """Final invoices of a batch, or of an explicit id selection (scoped: unknown ids of
    another tenant simply do not match)."""
    queryset = Invoice.objects.all()
    condition = Q()
    if batch is not None:
        condition &= Q(batch_links__batch=batch)
    ids = list(ids)
    if ids:
        condition &= Q(pk__in=ids)
    return queryset.filter(condition).order_by("number", "id")


# ------------------------------------------------------------- contracts and drafts


@dataclass(frozen=True, slots=True)
class ContractName:
    contract_id: int
    name: str
    customer_name: str


@dataclass(slots=True)
class Hold:
    """A draft invoice holding items of a contract (its lines claim them): the contract's
    share of the draft and the batch it belongs to, if any."""

    invoice_id: int
    bill_to_name: str
    currency: str
    period_start: dt.date | None
    period_end: dt.date | None
    batch_id: int | None
    batch_name: str
    amount: Decimal = ZERO


def _claims(**conditions) -> QuerySet:
    """(contract id, invoice line id, invoice id) of every claimed item matching
    ``conditions`` (lookups through ``invoice_line``): time entries, period fees and
    block purchases, in one query."""
    fields = ("contract_id", "invoice_line_id", "invoice_line__invoice_id")
    parts = [
        model.objects.filter(invoice_line__isnull=False, **conditions)
        .order_by()
        .values_list(*fields)
        .distinct()
        for model in (TimeEntry, PeriodCharge, BlockPurchase)
    ]
    return parts[0].union(*parts[1:])


def invoice_contracts(invoice_ids: Iterable[int]) -> dict[int, list[ContractName]]:
    """The contracts each invoice bills (through the items its lines claim), by invoice,
    in name order: a draft named by its contracts. Two queries whatever the count."""
    ids = list(invoice_ids)
    if not ids:
        return {}
    pairs = {(iid, cid) for cid, _line, iid in _claims(invoice_line__invoice_id__in=ids)}
    names = {
        pk: ContractName(pk, name, customer)
        for pk, name, customer in Contract.objects.filter(
            pk__in={cid for _iid, cid in pairs}
        ).values_list("id", "name", "customer__name")
    }
    out: dict[int, list[ContractName]] = defaultdict(list)
    for iid, cid in pairs:
        out[iid].append(names[cid])
    for contracts in out.values():
        contracts.sort(key=lambda c: (c.customer_name, c.name, c.contract_id))
    return dict(out)


def contract_holds(contract_ids: Iterable[int]) -> dict[int, list[Hold]]:
    """Draft invoices holding items of these contracts, by contract: which draft, of
    which batch, for how much of the contract's work. A contract whose items are all on
    drafts has nothing unbilled, which is not the same as a period still open.
    Three queries whatever the count."""
    ids = list(contract_ids)
    if not ids:
        return {}
    claims = list(_claims(contract_id__in=ids, invoice_line__invoice__status=InvoiceStatus.DRAFT))
    if not claims:
        return {}
    amounts = dict(
        InvoiceLine.objects.filter(pk__in={line for _c, line, _i in claims}).values_list(
            "id", "amount"
        )
    )
    drafts = {}
    for pk, name, currency, start, end, batch_id, batch_name in Invoice.objects.filter(
        pk__in={iid for _c, _l, iid in claims}
    ).values_list(
        "id",
        "bill_to_name",
        "currency",
        "period_start",
        "period_end",
        "batch_links__batch_id",
        "batch_links__batch__name",
    ):
        drafts[pk] = (name, currency, start, end, batch_id, batch_name or "")
    holds: dict[tuple[int, int], Hold] = {}
    counted: set[tuple[int, int]] = set()
    for cid, line_id, iid in claims:
        hold = holds.get((cid, iid))
        if hold is None:
            hold = holds[(cid, iid)] = Hold(iid, *drafts[iid])
        if (cid, line_id) not in counted:  # a line claims many items; count it once
            counted.add((cid, line_id))
            hold.amount += amounts.get(line_id, ZERO)
    out: dict[int, list[Hold]] = defaultdict(list)
    for (cid, _iid), hold in sorted(
        holds.items(), key=lambda kv: (kv[0][0], kv[1].batch_name, kv[0][1])
    ):
        out[cid].append(hold)
    return dict(out)


def attach_contracts(invoices: Iterable[Invoice]) -> list[Invoice]:
    """Set ``contracts`` (``invoice_contracts``) on the invoices shown (a page)."""
    invoices = list(invoices)
    names = invoice_contracts(invoice.pk for invoice in invoices)
    for invoice in invoices:
        invoice.contracts = names.get(invoice.pk, [])
    return invoices


def attach_holds(rows: Iterable[ContractRow]) -> None:
    """Set ``holds`` on the rows shown (a page of them)."""
    rows = list(rows)
    holds = contract_holds(row.contract.pk for row in rows)
    for row in rows:
        row.holds = holds.get(row.contract.pk, [])


@dataclass
class GeneratePlan:
    """What generating a run batch does: how many drafts become how many invoices, and
    their totals per currency, as finalising computes them (merged drafts are totalled
    as one invoice: tax per rate rounded once per invoice)."""

    drafts: int
    consolidate: bool
    totals: dict[str, Decimal] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def invoices(self) -> int:
        return sum(self.counts.values())

    @property
    def currencies(self) -> list[tuple[str, int, Decimal]]:
        return [(c, self.counts[c], self.totals[c]) for c in sorted(self.counts)]


def generate_plan(batch: InvoiceBatch, *, consolidate: bool) -> GeneratePlan:
    """The invoices ``batch_generate`` would make of the batch's drafts (two queries)."""
    drafts = list(
        Invoice.objects.filter(batch_links__batch=batch, status=InvoiceStatus.DRAFT)
        .order_by()
        .values_list("id", "organization_id", "currency")
    )
    key_of = {
        pk: (org, currency) if consolidate else (pk, currency) for pk, org, currency in drafts
    }
    lines: dict[tuple, list] = defaultdict(list)
    for line in InvoiceLine.objects.filter(invoice_id__in=list(key_of)).only(
        "invoice_id", "quantity", "unit_price", "taxable", "tax_rate"
    ):
        lines[key_of[line.invoice_id]].append(line)
    plan = GeneratePlan(drafts=len(drafts), consolidate=consolidate)
    for key in dict.fromkeys(key_of.values()):
        currency = key[1]
        total = compute_totals(lines.get(key, []), currency).total
        plan.totals[currency] = plan.totals.get(currency, quantize(ZERO, currency)) + total
        plan.counts[currency] = plan.counts.get(currency, 0) + 1
    return plan


def batch_link_exists(batch: InvoiceBatch, invoice: Invoice) -> bool:
    return BatchInvoice.objects.filter(batch=batch, invoice=invoice).exists()
