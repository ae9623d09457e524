"""Reads of the contracts app. Querysets are scoped to the current tenant by the default
managers; each selector does its joins and aggregates so callers never query per row.

The batch engine's entry point is ``contract_billing_state(contracts, as_of)``: every
unbilled item of each contract (time entries, retainer fees, recurring products, block
purchases), priced, each marked due or waiting, and the contract's state (selectable,
locked, partial) — for any number of contracts in a constant number of queries.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property, lru_cache

from django.contrib.auth import get_user_model
from django.db.models import Count, Max, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from billing_site.line_text import render
from billing_site.money import (
    line_amount,
    quantize,
    quantize_unit_price,
)
from billing_site.tenancy import require_current_tenant
from billing_site.timeutils import format_duration

from .choices import (
    UNPOSTED_STATES,
    ChargeKind,
    ContractStatus,
    ContractType,
    ItemKind,
    QuantityMode,
    TicketStatus,
    TimeEntryState,
)
from .models import (
    BlockPurchase,
    Contract,
    ContractProductLine,
    PeriodCharge,
    Product,
    RateRule,
    ServiceType,
    Team,
    TeamMember,
    Ticket,
    TicketAttachment,
    TimeEntry,
)
from .pricing import (
    ContractTime,
    EntryFacts,
    PricedEntry,
    RateBook,
    device_counts,
    entry_facts,
    load_rate_book,
    price_contract_time,
    product_line_price,
    product_line_quantity,
    time_line_amounts,
)
from .pricing.database import TimeSummary, can_price_in_database, summarize_unbilled_time
from .pricing.due import billing_state, block_purchase_due, fee_periods_due, usage_cutoff
from .pricing.periods import InPeriod, Period, period_containing, period_index
from .pricing.words import block_facts, product_facts, retainer_fee_facts

ZERO = Decimal("0")

# ------------------------------------------------------------------ catalog


def service_type_list(*, active: bool | None = None) -> QuerySet[ServiceType]:
    queryset = ServiceType.objects.all()
    if active is not None:
        queryset = queryset.filter(is_active=active)
    return queryset.order_by("name", "id")


def product_list(*, search: str = "", active: bool | None = None) -> QuerySet[Product]:
    queryset = Product.objects.all()
    if search:
        queryset = queryset.filter(Q(sku__istartswith=search) | Q(name__icontains=search))
    if active is not None:
        queryset = queryset.filter(is_active=active)
    return queryset.order_by("sku", "id")


def team_list() -> QuerySet[Team]:
    members = TeamMember.objects.select_related("user").order_by("user__username")
    return (
        Team.objects.annotate(member_count=Count("memberships"))
        .prefetch_related(Prefetch("memberships", queryset=members))
        .order_by("name", "id")
    )


def technician_choices():
    """Users with a technician membership in the current tenant (team members, timers)."""
    from billing_site.models import User
    from billing_site.roles import Role

    tenant = require_current_tenant()
    return User.objects.filter(
        memberships__tenant=tenant, memberships__role=Role.TECHNICIAN
    ).order_by("first_name", "last_name", "username")


def staff_choices():
    """Staff users of the current tenant (assigned resource, time entry technician)."""
    from billing_site.models import User
    from billing_site.roles import STAFF_ROLES

    tenant = require_current_tenant()
    return (
        User.objects.filter(memberships__tenant=tenant, memberships__role__in=STAFF_ROLES)
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


# ---------------------------------------------------------------- contracts


def contract_list(
    *,
    search: str = "",
    customer=None,
    billing_organization=None,
    contract_type: str = "",
    status: str = "",
) -> QuerySet[Contract]:
    queryset = Contract.objects.select_related("customer", "billing_organization").annotate(
        ticket_count=Count("tickets", distinct=True)
    )
    if search:
        queryset = queryset.filter(
            Q(name__icontains=search)
            | Q(customer__name__icontains=search)
            | Q(billing_organization__name__icontains=search)
        )
    if customer is not None:
        queryset = queryset.filter(customer=customer)
    if billing_organization is not None:
        queryset = queryset.filter(billing_organization=billing_organization)
    if contract_type:
        queryset = queryset.filter(contract_type=contract_type)
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("customer__name", "name", "id")


def contract_choices(*, organization=None) -> QuerySet[Contract]:
    """Contracts work can be logged on: for an organization, those of which it is the
    customer or the billing organization."""
    queryset = Contract.objects.select_related("customer").exclude(status=ContractStatus.SUSPENDED)
    if organization is not None:
        queryset = queryset.filter(Q(customer=organization) | Q(billing_organization=organization))
    return queryset.order_by("customer__name", "name")


# ------------------------------------------------------------ billing state


@dataclass(slots=True)
class BillableItem(InPeriod):
    """One unbilled item of a contract as of a batch date.

    ``key`` is stable across requests ("time:12", "retainer_fee:2026-01-01",
    "product:7:2026-01-01", "block:3") so a batch can store the admin's selection.
    ``amount`` is None only when the item cannot be priced (see ``problem``).
    """

    kind: str
    key: str
    contract_id: int
    due: bool
    due_on: dt.date
    description: str
    quantity: Decimal
    unit_price: Decimal | None
    amount: Decimal | None
    explanation: str
    period: Period | None = None
    time_entry_id: int | None = None
    ticket_id: int | None = None
    product_line_id: int | None = None
    block_purchase_id: int | None = None
    sku: str = ""
    worked_seconds: int = 0
    billed_seconds: int = 0
    priced: PricedEntry | None = None
    problem: str = ""
    # What a fee, product or block line's words are made of (``pricing.words``).
    facts: dict = field(default_factory=dict)


class WordedItem(BillableItem):
    """A fee, product or block item. Its description and explanation are the words its
    invoice line will have, rendered from its facts by the same renderer when first read:
    a batch holds thousands of fee periods and shows the words of the few expanded."""

    __slots__ = ("_currency", "_locale", "_words")

    def __init__(
        self,
        *,
        currency: str,
        locale: str,
        kind: str,
        key: str,
        contract_id: int,
        due: bool,
        due_on: dt.date,
        facts: dict,
        quantity: Decimal,
        unit_price: Decimal | None,
        amount: Decimal | None,
        period: Period | None,
        product_line_id: int | None = None,
        block_purchase_id: int | None = None,
        sku: str = "",
        problem: str = "",
    ):
        self.kind, self.key, self.contract_id = kind, key, contract_id
        self.due, self.due_on, self.facts, self.period = due, due_on, facts, period
        self.quantity, self.unit_price, self.amount = quantity, unit_price, amount
        self.product_line_id, self.block_purchase_id = product_line_id, block_purchase_id
        self.sku, self.problem = sku, problem
        self.time_entry_id = self.ticket_id = self.priced = None
        self.worked_seconds = self.billed_seconds = 0
        self._currency, self._locale, self._words = currency, locale, None

    def _rendered(self):
        if self._words is None:
            self._words = render(self.facts, self, currency=self._currency, locale=self._locale)
        return self._words

    @property
    def description(self) -> str:
        return self._rendered().description

    @property
    def explanation(self) -> str:
        return self._rendered().explanation


class TimeItem(BillableItem):
    """A time entry's item. Its key, description and explanation are built on first read:
    a batch holds one per unbilled entry (hundreds of thousands) and its page and details
    read only the amounts, while the texts are shown for the few contracts expanded."""

    __slots__ = ("_label", "_work_date")

    def __init__(self, contract_id, due, due_on, priced, ticket_id, label, work_date):
        self.kind = ItemKind.TIME
        self.contract_id = contract_id
        self.due = due
        self.due_on = due_on
        self.quantity = priced.charged_quantity
        self.unit_price = priced.rate
        self.amount = priced.amount
        self.period = priced.period
        self.time_entry_id = priced.entry_id
        self.ticket_id = ticket_id
        self.product_line_id = None
        self.block_purchase_id = None
        self.sku = ""
        self.worked_seconds = priced.worked_seconds
        self.billed_seconds = priced.billed_seconds
        self.priced = priced
        self.problem = priced.problem
        self._label = label
        self._work_date = work_date

    @property
    def key(self) -> str:
        return f"time:{self.time_entry_id}"

    @property
    def description(self) -> str:
        return f"{self._label}, {self._work_date:%d %b %Y}, {_duration(self.billed_seconds)}"

    @property
    def explanation(self) -> str:
        return self.priced.explanation


@dataclass(eq=False)
class ContractBillingState:
    """A contract's unbilled items as of ``as_of`` and its batch state.

    Time entries are kept as the contract's priced columns (``time``) and become
    ``TimeItem`` rows only when ``items`` is read (a contract shown expanded, the API, a
    selection by key): a batch holds every unbilled entry of the tenant, and its page,
    details and run need only the priced figures. Fees, products and block purchases are
    in ``other_items``. The cached figures are read once ``contract_billing_state`` has
    returned the state complete.
    """

    contract: Contract
    as_of: dt.date
    other_items: list[BillableItem] = field(default_factory=list)
    # Usage of entries worked before this day is due (their period has ended).
    usage_cutoff: dt.date = dt.date.min
    unposted_entries: int = 0  # submitted or approved, not billable until posted
    labels: EntryLabels | None = field(default=None, repr=False)
    # Set when the database summed the contract's time (``contracts.pricing.database``): the
    # figures come from it, and the priced entries are built only if ``time`` is read.
    summary: TimeSummary | None = field(default=None, repr=False)
    book: RateBook | None = field(default=None, repr=False)
    _time: ContractTime | None = field(default=None, repr=False)

    @property
    def time(self) -> ContractTime:
        """The contract's unbilled entries, priced (``contracts.pricing``)."""
        if self._time is None:
            if self.summary is not None and self.summary.count:
                self._time = price_contract_time(
                    _unbilled_entries([self.contract.pk]),
                    book=self.book,
                    contracts={self.contract.pk: self.contract},
                    complete=True,
                ).get(self.contract.pk)
            if self._time is None:
                self._time = ContractTime(self.contract, [], [])
        return self._time

    @time.setter
    def time(self, value: ContractTime) -> None:
        self._time = value

    @property
    def summed_in_database(self) -> bool:
        """The figures are the database's sums and no entry has been priced here."""
        return self.summary is not None and self._time is None

    @cached_property
    def time_entries(self) -> list[tuple[EntryFacts, PricedEntry]]:
        """(entry, priced entry) of each unbilled time entry."""
        time = self.time
        return [(entry, time.priced(index)) for index, entry in enumerate(time.entries)]

    @cached_property
    def items(self) -> list[BillableItem]:
        """Every unbilled item, in due order (then kind and key)."""
        tickets, technicians = self.labels.get() if self.labels else ({}, {})
        one_day = dt.timedelta(days=1)
        cid, cutoff = self.contract.pk, self.usage_cutoff
        items = list(self.other_items)
        for entry, priced in self.time_entries:
            ticket = tickets.get(entry.ticket_id, "") if entry.ticket_id else ""
            items.append(
                TimeItem(
                    cid,
                    entry.work_date < cutoff,
                    priced.period.end + one_day,
                    priced,
                    entry.ticket_id,
                    f"{ticket}{technicians.get(entry.technician_id, '')}",
                    entry.work_date,
                )
            )
        items.sort(key=lambda item: (item.due_on, item.kind, item.key))
        return items

    @property
    def due_items(self) -> list[BillableItem]:
        return [item for item in self.items if item.due]

    @property
    def waiting_items(self) -> list[BillableItem]:
        return [item for item in self.items if not item.due]

    @property
    def item_count(self) -> int:
        if self.summed_in_database:
            return len(self.other_items) + self.summary.count
        return len(self.other_items) + len(self.time)

    @cached_property
    def state(self) -> str:
        cutoff = self.usage_cutoff
        due = waiting = False
        for item in self.other_items:
            if item.due:
                due = True
            else:
                waiting = True
        if self.summed_in_database:
            due, waiting = due or self.summary.any_due, waiting or self.summary.any_waiting
        for entry in [] if self.summed_in_database else self.time.entries:
            if entry.work_date < cutoff:
                due = True
            else:
                waiting = True
            if due and waiting:
                break
        return billing_state(any_due=due, any_waiting=waiting)

    def _sum(self, amounts: Iterable[Decimal | None]) -> Decimal:
        total = sum((amount or ZERO for amount in amounts), ZERO)
        return quantize(total, self.contract.currency)

    @cached_property
    def _time_amounts(self) -> tuple[Decimal, Decimal]:
        """(due, waiting) amounts of the unbilled time, as invoice lines would bill it
        (``pricing.time_line_amounts``; the database's sums follow the same policy)."""
        if self.summed_in_database:
            return self.summary.due_amount, self.summary.amount - self.summary.due_amount
        return time_line_amounts(self.time, self.usage_cutoff)

    @cached_property
    def total_amount(self) -> Decimal:
        """Every unbilled amount (Atera's total balance): due and waiting items, each side
        billed as its invoice lines will bill it."""
        return self._sum([item.amount for item in self.other_items] + list(self._time_amounts))

    @property
    def due_amount(self) -> Decimal:
        """What is due now (pre-selected in a batch): the amount its invoice would bill."""
        due_others = [item.amount for item in self.other_items if item.due]
        return self._sum([*due_others, self._time_amounts[0]])

    @property
    def problems(self) -> list[str]:
        # The database sums only time that has a rate everywhere: no time problem.
        if self.summed_in_database or not any(
            price.problem for price in self.time.prices
        ):  # the usual case: spare building the items
            return [item.problem for item in self.other_items if item.problem]
        return [item.problem for item in self.items if item.problem]


# Pure text of a number of seconds: one per item description.
_duration = lru_cache(maxsize=65536)(format_duration)


class EntryLabels:
    """Ticket labels (``#12 Title · ``) and technician names of the time entries of a set
    of contracts, read (2 queries) the first time an item text needs them: a batch page
    shows the items of a few contracts, while its figures need no text at all. The
    database picks the tickets and technicians (subqueries), so no id list is sent."""

    def __init__(self, contract_ids: list[int]):
        self._contract_ids = contract_ids
        self._loaded: tuple[dict, dict] | None = None

    def get(self) -> tuple[dict[int, str], dict[int, str]]:
        if self._loaded is None:
            entries = TimeEntry.objects.filter(contract_id__in=self._contract_ids).order_by()
            tickets = {
                pk: f"#{number} {title} · "  # same text as ``Ticket.reference`` and title
                for pk, number, title in Ticket.objects.filter(
                    pk__in=entries.values("ticket_id")
                ).values_list("id", "number", "title")
            }
            technicians = {
                user.pk: user.get_full_name() or user.username
                for user in get_user_model()
                .objects.filter(pk__in=entries.values("technician_id"))
                .only("id", "first_name", "last_name", "username")
            }
            self._loaded = (tickets, technicians)
        return self._loaded


def unbilled_time_entries(contract_ids: Iterable[int]) -> QuerySet[TimeEntry]:
    """The entries a batch bills: posted, billable, unbilled, on these contracts."""
    return TimeEntry.objects.filter(
        contract_id__in=list(contract_ids),
        state=TimeEntryState.POSTED,
        billable=True,
        invoice_line__isnull=True,
    ).order_by()


def _unbilled_entries(contract_ids) -> list[EntryFacts]:
    """Unbilled posted billable entries of the contracts as ``EntryFacts``: plain rows
    rather than model instances, since a batch reads every unbilled entry and instances
    cost several times the pricing itself. Unordered: items are sorted when built, and
    an invoice line's entries when it lists them."""
    return entry_facts(unbilled_time_entries(contract_ids), unbilled=True)


def _billed_fee_index(contract_ids: set[int]) -> dict[tuple, dict]:
    """Billed fee periods per (contract, kind, product line): 1 query, +1 when gaps exist."""
    index: dict[tuple, dict] = {}
    rows = (
        PeriodCharge.objects.filter(contract_id__in=contract_ids, invoice_line__isnull=False)
        .values("contract_id", "kind", "product_line_id")
        .annotate(count=Count("id"), last=Max("period_start"))
    )
    for row in rows:
        index[(row["contract_id"], row["kind"], row["product_line_id"])] = {
            "count": row["count"],
            "last": row["last"],
        }
    return index


def _load_gap_starts(index: dict[tuple, dict], contracts: dict[int, Contract]) -> None:
    gaps = [
        key
        for key, facts in index.items()
        if period_index(contracts[key[0]], facts["last"]) + 1 != facts["count"]
    ]
    if not gaps:
        return
    for key in gaps:
        index[key]["starts"] = set()
    rows = PeriodCharge.objects.filter(
        contract_id__in={key[0] for key in gaps}, invoice_line__isnull=False
    ).values_list("contract_id", "kind", "product_line_id", "period_start")
    for contract_id, kind, line_id, start in rows:
        key = (contract_id, kind, line_id)
        if key in index and "starts" in index[key]:
            index[key]["starts"].add(start)


def contract_billing_state(
    contracts: Iterable[Contract],
    as_of: dt.date,
    *,
    book: RateBook | None = None,
    sum_in_database: bool = False,
) -> dict[int, ContractBillingState]:
    """Unbilled items and batch state of each contract as of ``as_of`` (DESIGN.md).

    Due: usage (posted billable time) once its period's last day is before ``as_of``;
    a retainer fee or recurring product once its period's first day is on or before
    ``as_of``; a block purchase from its purchase date. Only unbilled items; earlier
    periods stay due until billed. Selectable: everything unbilled is due; locked:
    nothing is due; partial: some due, some waiting. Suspended contracts accrue no fees.
    A constant number of queries (about a dozen) whatever the number of contracts.

    ``sum_in_database`` (PostgreSQL): the contracts' time figures are summed by the
    database where it can (``contracts.pricing.database``), and their entries are priced only
    if read — for a page of many contracts whose items few are shown.
    """
    contracts = {contract.pk: contract for contract in contracts}
    if not contracts:
        return {}
    tenant = require_current_tenant()
    locale = tenant.locale or "en_US"
    book = book or load_rate_book()
    labels = EntryLabels(list(contracts))
    states = {
        cid: ContractBillingState(
            contract,
            as_of,
            # Usage is due once its period has ended before the batch date.
            usage_cutoff=usage_cutoff(contract, as_of),
            labels=labels,
            book=book,
        )
        for cid, contract in contracts.items()
    }
    summaries = (
        summarize_unbilled_time(contracts, as_of, book)
        if sum_in_database and can_price_in_database()
        else {}
    )
    for cid, summary in summaries.items():
        states[cid].summary = summary
    in_python = [cid for cid in contracts if cid not in summaries]
    if in_python:
        # ``complete``: these are all the unbilled posted billable entries of the contracts.
        priced = price_contract_time(
            _unbilled_entries(in_python), book=book, contracts=contracts, complete=True
        )
        for cid, time in priced.items():
            states[cid].time = time

    # The unposted states by name rather than "not posted": the index of unposted entries
    # then finds the few there are instead of a scan reading every entry.
    unposted = (
        TimeEntry.objects.filter(
            contract_id__in=contracts,
            state__in=UNPOSTED_STATES,
        )
        .values("contract_id")
        .annotate(n=Count("id"))
        .values_list("contract_id", "n")
    )
    for cid, count in unposted:
        states[cid].unposted_entries = count

    fee_contracts = {
        cid: c
        for cid, c in contracts.items()
        if c.contract_type in (ContractType.RETAINER, ContractType.RECURRING)
    }
    if fee_contracts:
        index = _billed_fee_index(set(fee_contracts))
        _load_gap_starts(index, fee_contracts)
        _fee_items(states, fee_contracts, index, as_of, tenant.currency, locale)

    blocks = [cid for cid, c in contracts.items() if c.contract_type == ContractType.BLOCK_HOURS]
    if blocks:
        for purchase in BlockPurchase.objects.filter(
            contract_id__in=blocks, invoice_line__isnull=True
        ).order_by("purchased_on", "id"):
            contract = contracts[purchase.contract_id]
            price = quantize_unit_price(purchase.price)
            states[contract.pk].other_items.append(
                WordedItem(
                    currency=contract.currency,
                    locale=locale,
                    kind=ItemKind.BLOCK,
                    key=f"block:{purchase.pk}",
                    contract_id=contract.pk,
                    due=block_purchase_due(purchase.purchased_on, as_of),
                    due_on=purchase.purchased_on,
                    facts=block_facts(
                        contract_name=contract.name,
                        hours=purchase.hours,
                        purchased_on=purchase.purchased_on,
                    ),
                    quantity=Decimal("1"),
                    unit_price=price,
                    amount=line_amount(Decimal("1"), price, contract.currency),
                    period=period_containing(contract, purchase.purchased_on),
                    block_purchase_id=purchase.pk,
                )
            )
    return states


def _fee_items(states, fee_contracts, index, as_of, tenant_currency, locale) -> None:
    recurring = [c for c in fee_contracts.values() if c.contract_type == ContractType.RECURRING]
    lines: dict[int, list[ContractProductLine]] = defaultdict(list)
    if recurring:
        for line in ContractProductLine.objects.filter(
            contract_id__in=[c.pk for c in recurring]
        ).select_related("product"):
            lines[line.contract_id].append(line)
    devices = device_counts(
        c.customer_id
        for c in recurring
        if any(line.quantity_mode == QuantityMode.PER_DEVICE for line in lines[c.pk])
    )
    for cid, contract in fee_contracts.items():
        state = states[cid]
        if contract.contract_type == ContractType.RETAINER:
            fee = quantize_unit_price(contract.retainer_fee or 0)
            billed = index.get((cid, ChargeKind.RETAINER_FEE, None), {})
            facts = retainer_fee_facts(
                contract_name=contract.name, included_hours=contract.included_hours or 0
            )
            for period in fee_periods_due(contract, as_of, billed):
                state.other_items.append(
                    WordedItem(
                        currency=contract.currency,
                        locale=locale,
                        kind=ItemKind.RETAINER_FEE,
                        key=f"retainer_fee:{period.start.isoformat()}",
                        contract_id=cid,
                        due=True,
                        due_on=period.start,
                        facts=facts,
                        quantity=Decimal("1"),
                        unit_price=fee,
                        amount=line_amount(Decimal("1"), fee, contract.currency),
                        period=period,
                    )
                )
            continue
        for line in lines[cid]:
            price, problem = product_line_price(line, contract, tenant_currency)
            quantity = product_line_quantity(line, devices, contract)
            billed = index.get((cid, ChargeKind.PRODUCT, line.pk), {})
            facts = product_facts(
                contract_name=contract.name,
                product_name=line.product.name,
                per_device=line.quantity_mode == QuantityMode.PER_DEVICE,
            )
            for period in fee_periods_due(contract, as_of, billed):
                state.other_items.append(
                    WordedItem(
                        currency=contract.currency,
                        locale=locale,
                        kind=ItemKind.PRODUCT,
                        key=f"product:{line.pk}:{period.start.isoformat()}",
                        contract_id=cid,
                        due=True,
                        due_on=period.start,
                        facts=facts,
                        quantity=quantity,
                        unit_price=price,
                        amount=None
                        if price is None
                        else line_amount(quantity, price, contract.currency),
                        period=period,
                        product_line_id=line.pk,
                        sku=line.product.sku,
                        problem=problem,
                    )
                )


# ------------------------------------------------------------------ tickets


def ticket_list(
    *,
    search: str = "",
    status: str = "",
    include_completed: bool = True,
    organization=None,
    contract=None,
    assigned_to=None,
) -> QuerySet[Ticket]:
    queryset = Ticket.objects.select_related(
        "organization", "contract", "contact", "assigned_to"
    ).annotate(
        worked_seconds=Coalesce(Sum("time_entries__worked_seconds"), 0),
    )
    if search:
        term = search.lstrip("#")
        condition = Q(title__icontains=search) | Q(organization__name__icontains=search)
        if term.isdigit():
            condition |= Q(number=int(term))
        queryset = queryset.filter(condition)
    if status:
        queryset = queryset.filter(status=status)
    elif not include_completed:
        queryset = queryset.exclude(status=TicketStatus.COMPLETE)
    if organization is not None:
        queryset = queryset.filter(organization=organization)
    if contract is not None:
        queryset = queryset.filter(contract=contract)
    if assigned_to is not None:
        queryset = queryset.filter(assigned_to=assigned_to)
    return queryset.order_by("-number")


def ticket_work_history(ticket: Ticket) -> list[dict]:
    """Time entries and attachments of a ticket, newest first by when the work was done,
    in two queries.

    A timed entry is placed at its start; one logged as a day and a duration at the
    start of that day in the tenant's zone (not when it was typed in, which may be days
    later); a file when it was uploaded. Equal times keep one order: by kind, then id.
    """
    zone = require_current_tenant().zone
    entries = TimeEntry.objects.filter(ticket=ticket).select_related(
        "technician", "service_type", "contract", "contract__billing_organization"
    )
    attachments = TicketAttachment.objects.filter(ticket=ticket).select_related("uploaded_by")
    history = [
        {
            "kind": "time",
            "at": e.started_at or dt.datetime.combine(e.work_date, dt.time(), tzinfo=zone),
            "order": (1, e.pk),
            "entry": e,
        }
        for e in entries
    ]
    history += [
        {"kind": "file", "at": a.uploaded_at, "order": (0, a.pk), "attachment": a}
        for a in attachments
    ]
    history.sort(key=lambda item: (item["at"], item["order"]), reverse=True)
    return history


# ------------------------------------------------------------- time entries


def time_entry_list(
    *,
    state: str = "",
    technician=None,
    organization=None,
    contract=None,
    ticket=None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    billable: bool | None = None,
) -> QuerySet[TimeEntry]:
    queryset = TimeEntry.objects.select_related(
        "technician", "service_type", "ticket", "contract", "contract__customer"
    )
    if state:
        queryset = queryset.filter(state=state)
    if technician is not None:
        queryset = queryset.filter(technician=technician)
    if organization is not None:
        queryset = queryset.filter(contract__customer=organization)
    if contract is not None:
        queryset = queryset.filter(contract=contract)
    if ticket is not None:
        queryset = queryset.filter(ticket=ticket)
    if date_from is not None:
        queryset = queryset.filter(work_date__gte=date_from)
    if date_to is not None:
        queryset = queryset.filter(work_date__lte=date_to)
    if billable is not None:
        queryset = queryset.filter(billable=billable)
    return queryset.order_by("-work_date", "-started_at", "-id")


@dataclass
class TimeTotals:
    """Hours and amounts of a set of time entries (a queue, a selection)."""

    count: int = 0
    worked_seconds: int = 0
    billable_seconds: int = 0
    # Per currency, as invoices would bill the entries; sorted by currency.
    amounts: list[tuple[str, Decimal]] = field(default_factory=list)
    # Billable entries no rate prices (their invoice line would be refused).
    unpriced: int = 0


def time_entry_totals(entries: QuerySet[TimeEntry]) -> TimeTotals:
    """The entries' worked and billable time, and their amount by the billing code itself:
    priced as posted (``price_contract_time``) and grouped into invoice lines, each rounded
    once (``time_line_amounts``), so the figure is the one a batch would bill. A constant
    number of queries whatever the count."""
    facts = entry_facts(entries.order_by())
    totals = TimeTotals(count=len(facts))
    for fact in facts:
        totals.worked_seconds += fact.worked_seconds
        if fact.billable:
            totals.billable_seconds += fact.worked_seconds
    amounts: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for time in price_contract_time(facts).values():
        # Every entry is worked before the end of time: all of it counts as due.
        due, _waiting = time_line_amounts(time, dt.date.max)
        amounts[time.contract.currency] += due
        totals.unpriced += sum(1 for price in time.prices if price.billable and price.rate is None)
    totals.amounts = sorted(amounts.items())
    return totals


def running_timer(*, technician) -> TimeEntry | None:
    return (
        TimeEntry.objects.select_related("ticket", "contract", "service_type")
        .filter(technician=technician, started_at__isnull=False, ended_at__isnull=True)
        .first()
    )


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


@dataclass
class TimesheetRow:
    ticket: Ticket | None
    contract: Contract
    service_type: ServiceType | None
    cells: list[dict]  # per day: {"seconds", "entry", "locked", "other_seconds"}
    billable: bool = True

    @property
    def key(self) -> tuple:
        """What tells rows apart (``services.timesheet_save`` finds a row's entries by it)."""
        return (
            self.ticket.pk if self.ticket else None,
            self.contract.pk,
            self.service_type.pk if self.service_type else None,
            self.billable,
        )

    @property
    def total_seconds(self) -> int:
        return sum(cell["seconds"] + cell["other_seconds"] for cell in self.cells)


def timesheet_week(*, technician, start: dt.date) -> list[TimesheetRow]:
    """The technician's week as grid rows (ticket/contract, service type, billable or
    not) × Mon–Sun.

    A cell edits the technician's timesheet entry of that row and day; time from the
    timer, sessions or manual entries shows beside it and is not edited here.
    """
    days = [start + dt.timedelta(days=i) for i in range(7)]
    entries = TimeEntry.objects.filter(
        technician=technician, work_date__gte=days[0], work_date__lte=days[-1]
    ).select_related("ticket", "contract", "contract__customer", "service_type")
    rows: dict[tuple, TimesheetRow] = {}
    for entry in entries.order_by("work_date", "id"):
        key = (entry.ticket_id, entry.contract_id, entry.service_type_id, entry.billable)
        row = rows.get(key)
        if row is None:
            row = rows[key] = TimesheetRow(
                entry.ticket,
                entry.contract,
                entry.service_type,
                [{"seconds": 0, "entry": None, "locked": False, "other_seconds": 0} for _ in days],
                entry.billable,
            )
        cell = row.cells[(entry.work_date - start).days]
        if entry.source == "timesheet" and cell["entry"] is None:
            cell["entry"] = entry
            cell["seconds"] = entry.worked_seconds
            cell["locked"] = entry.state != TimeEntryState.SUBMITTED
        else:
            cell["other_seconds"] += entry.worked_seconds
    return sorted(
        rows.values(),
        key=lambda r: (
            str(r.contract.customer),
            r.ticket.number if r.ticket else 0,
            not r.billable,
        ),
    )


# ---------------------------------------------------------------- rate rules


def rate_rule_list(*, currency: str = "") -> QuerySet[RateRule]:
    queryset = RateRule.objects.select_related(
        "contract", "contract__customer", "organization", "technician", "team", "service_type"
    )
    if currency:
        queryset = queryset.filter(currency=currency)
    return queryset.order_by("currency", "id")


def rate_rules_by_specificity(rules: Iterable[RateRule]) -> list[RateRule]:
    """Rules, most specific first (the precedence the resolver applies)."""
    return sorted(rules, key=lambda r: (tuple(not f for f in r.scope_key), r.currency, r.pk))
