"""Generated billing worlds for the figure tests: Hypothesis strategies that describe
contracts of every type, rounding scope and currency with their time, and a builder that
writes one world into a tenant (a few bulk inserts, so a test can build hundreds).

A world is plain data (``WorldSpec`` -> ``ContractSpec`` -> ``EntrySpec``) so that a
failing example prints as terms a reader can check by hand; ``describe`` renders a
contract's terms and time for assertion messages.

What is drawn: hourly, retainer (fee, included hours, overage rate), block hours
(purchases of odd sizes on any day) and recurring (product lines) contracts; rounding
per entry, per ticket and day, or per period, increments 0/1/6/15/30 min, minimums
0/15/30/60 min; EUR, JPY and KWD (2, 0 and 3 minor digits); monthly or quarterly cycles
with anchors 1, 15, 29, 30 and 31; rates such as 133.3333 by contract, sometimes a second
one for the second technician; entries of 0, 1, 59, 61 s and ordinary lengths, on few
distinct days (so ticket-per-day groups form), with or without a start time, some
without a ticket, some not billable or not posted. A world may first be billed as of an
earlier date (frozen history), with entries logged late into billed periods after it,
and retainers whose included hours drop after that run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from hypothesis import strategies as st

from billing_site.models import Organization
from contracts.choices import BillingCycle, ContractType, RoundingScope, TimeEntryState
from contracts.models import (
    BlockPurchase,
    Contract,
    ContractProductLine,
    Product,
    RateRule,
    Ticket,
    TimeEntry,
)
from tests.contracts.factories import technician

KINDS = (
    ContractType.HOURLY,
    ContractType.RETAINER,
    ContractType.BLOCK_HOURS,
    ContractType.RECURRING,
)
SCOPES = (RoundingScope.ENTRY, RoundingScope.TICKET_DAY, RoundingScope.PERIOD)
CURRENCIES = ("EUR", "JPY", "KWD")  # 2, 0 and 3 minor digits
ANCHORS = (1, 15, 29, 30, 31)
INCREMENTS = (0, 1, 6, 15, 30)
MINIMUMS = (0, 0, 15, 30, 60)
STARTS = (
    dt.date(2025, 12, 1),
    dt.date(2025, 12, 15),
    dt.date(2025, 12, 31),
    dt.date(2026, 1, 1),
    dt.date(2026, 1, 29),
    dt.date(2026, 1, 30),
    dt.date(2026, 1, 31),
)
AS_OF = (dt.date(2026, 3, 1), dt.date(2026, 3, 16), dt.date(2026, 3, 31))
EARLIER = (dt.date(2026, 1, 16), dt.date(2026, 2, 1), dt.date(2026, 2, 28))
RATES = ("133.3333", "97.5000", "100.0000", "45.3335", "66.6667", "12345.6789", "0.0100")
SECONDS = (0, 1, 59, 61, 900, 1800, 3600, 5400)
# Entries are dated up to this many days after the batch date (work logged ahead).
AHEAD = 3


@dataclass(frozen=True)
class EntrySpec:
    """A time entry: ``ticket`` indexes the contract's tickets (None: on the contract
    itself), ``day`` indexes the contract's work days."""

    ticket: int | None
    day: int
    seconds: int
    second_technician: bool = False
    start_hour: int | None = None
    billable: bool = True
    posted: bool = True
    late: bool = False  # logged after the earlier batch ran (if the world has one)


@dataclass(frozen=True)
class ContractSpec:
    kind: str
    scope: str
    increment: int
    minimum: int
    currency: str
    start: dt.date
    anchor: int
    cycle: str
    rate: Decimal
    second_rate: Decimal | None  # the second technician's rate; None: one rate for all
    tickets: int
    days: tuple[int, ...]  # days after the start the entries fall on
    entries: tuple[EntrySpec, ...]
    taxable: bool
    tax_rate: Decimal
    retainer_fee: Decimal | None = None
    included_hours: Decimal | None = None
    overage_rate: Decimal | None = None
    purchases: tuple[tuple[int, Decimal, Decimal], ...] = ()  # (day, hours, price)
    products: tuple[tuple[Decimal, Decimal], ...] = ()  # (quantity, unit price)


@dataclass(frozen=True)
class WorldSpec:
    as_of: dt.date
    contracts: tuple[ContractSpec, ...]
    shared_billing: bool = False  # contracts of one currency bill one organization
    earlier: dt.date | None = None  # a batch run as of this date before late entries
    fewer_included: bool = False  # after that run, retainers include 0.50 h


def decimals(*values: str):
    return st.sampled_from([Decimal(value) for value in values])


@st.composite
def entry_specs(draw, *, tickets: int, days: int) -> EntrySpec:
    seconds = draw(st.one_of(st.sampled_from(SECONDS), st.integers(1, 4 * 3600)))
    return EntrySpec(
        ticket=draw(st.one_of(st.none(), st.integers(0, tickets - 1))),
        day=draw(st.integers(0, days - 1)),
        seconds=seconds,
        second_technician=draw(st.booleans()),
        start_hour=draw(st.one_of(st.none(), st.integers(0, 22))) if seconds else None,
        billable=draw(st.sampled_from([True] * 7 + [False])),
        posted=draw(st.sampled_from([True] * 9 + [False])),
        late=draw(st.sampled_from([False, False, True])),
    )


@st.composite
def contract_specs(
    draw, *, kind: str | None = None, scope: str | None = None, max_entries: int = 8
) -> ContractSpec:
    kind = kind or draw(st.sampled_from(KINDS))
    tickets = draw(st.integers(1, 3))
    days = tuple(draw(st.lists(st.integers(0, 125), min_size=1, max_size=4)))
    spec = {
        "kind": kind,
        "scope": scope or draw(st.sampled_from(SCOPES)),
        "increment": draw(st.sampled_from(INCREMENTS)),
        "minimum": draw(st.sampled_from(MINIMUMS)),
        "currency": draw(st.sampled_from(CURRENCIES)),
        "start": draw(st.sampled_from(STARTS)),
        "anchor": draw(st.sampled_from(ANCHORS)),
        "cycle": draw(st.sampled_from([BillingCycle.MONTHLY] * 3 + [BillingCycle.QUARTERLY])),
        "rate": draw(decimals(*RATES)),
        "second_rate": draw(st.one_of(st.none(), decimals(*RATES))),
        "tickets": tickets,
        "days": days,
        "entries": tuple(
            draw(st.lists(entry_specs(tickets=tickets, days=len(days)), max_size=max_entries))
        ),
        "taxable": draw(st.booleans()),
        "tax_rate": draw(decimals("20.0000", "5.5000", "7.7500", "0.0000")),
    }
    if kind == ContractType.RETAINER:
        spec["retainer_fee"] = draw(decimals("500.0000", "333.3333", "0.0000"))
        spec["included_hours"] = draw(decimals("0.00", "0.25", "0.50", "1.50", "3.00", "7.25"))
        spec["overage_rate"] = draw(decimals("120.0000", "87.1234", "133.3333", "0.0000"))
    elif kind == ContractType.BLOCK_HOURS:
        spec["overage_rate"] = draw(decimals("110.0000", "133.3333", "45.3335", "0.0000"))
        spec["purchases"] = tuple(
            draw(
                st.lists(
                    st.tuples(
                        st.integers(0, 125),
                        decimals("0.25", "0.75", "2.00", "3.33"),
                        decimals("900.0000", "333.3333", "0.0000"),
                    ),
                    max_size=3,
                )
            )
        )
    elif kind == ContractType.RECURRING:
        spec["products"] = tuple(
            draw(
                st.lists(
                    st.tuples(decimals("1", "2", "3.5"), decimals("45.0000", "19.9999", "0.3333")),
                    max_size=2,
                )
            )
        )
    return ContractSpec(**spec)


@st.composite
def world_specs(
    draw, *, min_contracts: int = 1, max_contracts: int = 5, every_kind: bool = False
) -> WorldSpec:
    """A world; ``every_kind``: its first 12 contracts take every (type, scope) pair in
    turn, the others are drawn."""
    count = draw(st.integers(min_contracts, max_contracts))
    contracts = []
    for index in range(count):
        if every_kind and index < len(KINDS) * len(SCOPES):
            kind, scope = KINDS[index % len(KINDS)], SCOPES[index // len(KINDS)]
            contracts.append(draw(contract_specs(kind=kind, scope=scope)))
        else:
            contracts.append(draw(contract_specs()))
    earlier = draw(st.one_of(st.none(), st.sampled_from(EARLIER)))
    return WorldSpec(
        as_of=draw(st.sampled_from(AS_OF)),
        contracts=tuple(contracts),
        shared_billing=draw(st.booleans()),
        earlier=earlier,
        fewer_included=earlier is not None and draw(st.booleans()),
    )


# ------------------------------------------------------------------------ building


@dataclass
class Cast:
    """Rows every world of a test shares (made once per test, outside the examples):
    two technicians and two catalog products."""

    technicians: tuple
    products: tuple

    @classmethod
    def make(cls, tenant) -> Cast:
        techs = (technician(tenant), technician(tenant, f"{tenant.slug}-second"))
        products = tuple(
            Product.objects.create(
                tenant=tenant, sku=f"GEN-{n}", name=f"Managed service {n}", unit_price=0
            )
            for n in (1, 2)
        )
        return cls(techs, products)


@dataclass
class Built:
    """A contract as built, with the spec it came from."""

    contract: Contract
    spec: ContractSpec
    tickets: list

    def day(self, entry: EntrySpec, as_of: dt.date) -> dt.date:
        return work_day(self.spec, self.spec.days[entry.day], as_of)

    def describe(self, as_of: dt.date) -> str:
        return describe(self.spec, as_of, self.contract)


def work_day(spec: ContractSpec, offset: int, as_of: dt.date) -> dt.date:
    """The day ``offset`` days after the start, wrapped into [start, as_of + AHEAD]."""
    span = (as_of - spec.start).days + AHEAD + 1
    return spec.start + dt.timedelta(days=offset % max(span, 1))


def build_world(tenant, world: WorldSpec, cast: Cast) -> list[Built]:
    """Write ``world`` into ``tenant``: organizations, contracts, rate rules (by
    contract, the second technician's more specific), tickets, purchases, product lines
    and every entry that is not ``late`` (see ``add_late_entries``)."""
    specs = world.contracts
    customers = Organization.objects.bulk_create(
        [
            Organization(
                tenant=tenant,
                name=f"Customer {index}",
                company_number=f"GEN-{index:04d}",
                currency=spec.currency,
                time_zone="UTC",
            )
            for index, spec in enumerate(specs)
        ]
    )
    bill_to = {}
    if world.shared_billing:
        for currency in sorted({spec.currency for spec in specs}):
            bill_to[currency] = Organization.objects.create(
                tenant=tenant,
                name=f"Partner {currency}",
                company_number=f"GEN-P-{currency}",
                currency=currency,
                time_zone="UTC",
            )
    contracts = Contract.objects.bulk_create(
        [
            Contract(
                tenant=tenant,
                customer=customer,
                billing_organization=bill_to.get(spec.currency, customer),
                name=f"Generated {index}",
                contract_type=spec.kind,
                start_date=spec.start,
                anchor_day=spec.anchor,
                billing_cycle=spec.cycle,
                currency=spec.currency,
                taxable=spec.taxable,
                tax_rate=spec.tax_rate,
                rounding_increment_minutes=spec.increment,
                rounding_minimum_minutes=spec.minimum,
                rounding_scope=spec.scope,
                retainer_fee=spec.retainer_fee,
                included_hours=spec.included_hours,
                overage_rate=spec.overage_rate,
                block_hours=Decimal("10.00") if spec.kind == ContractType.BLOCK_HOURS else None,
                block_price=Decimal("900.0000") if spec.kind == ContractType.BLOCK_HOURS else None,
            )
            for index, (spec, customer) in enumerate(zip(specs, customers, strict=True))
        ]
    )
    rules, tickets, purchases, lines = [], [], [], []
    for contract, spec in zip(contracts, specs, strict=True):
        rules.append(
            RateRule(tenant=tenant, rate=spec.rate, currency=spec.currency, contract=contract)
        )
        if spec.second_rate is not None:
            rules.append(
                RateRule(
                    tenant=tenant,
                    rate=spec.second_rate,
                    currency=spec.currency,
                    contract=contract,
                    technician=cast.technicians[1],
                )
            )
        for _ in range(spec.tickets):
            tickets.append(
                Ticket(
                    tenant=tenant,
                    number=len(tickets) + 1,
                    title=f"Ticket {len(tickets) + 1}",
                    organization=contract.customer,
                    contract=contract,
                )
            )
        for offset, hours, price in spec.purchases:
            purchases.append(
                BlockPurchase(
                    tenant=tenant,
                    contract=contract,
                    purchased_on=work_day(spec, offset, world.as_of),
                    hours=hours,
                    price=price,
                )
            )
        for product, (quantity, price) in zip(cast.products, spec.products, strict=False):
            lines.append(
                ContractProductLine(
                    tenant=tenant,
                    contract=contract,
                    product=product,
                    quantity=quantity,
                    unit_price=price,
                )
            )
    RateRule.objects.bulk_create(rules)
    tickets = Ticket.objects.bulk_create(tickets)
    BlockPurchase.objects.bulk_create(purchases)
    ContractProductLine.objects.bulk_create(lines)
    built, position = [], 0
    for contract, spec in zip(contracts, specs, strict=True):
        built.append(Built(contract, spec, tickets[position : position + spec.tickets]))
        position += spec.tickets
    _add_entries(tenant, world, built, cast, late=world.earlier is None)
    return built


def add_late_entries(tenant, world: WorldSpec, built: list[Built], cast: Cast) -> None:
    """The entries logged after the earlier batch ran (nothing if the world has none)."""
    if world.earlier is not None:
        _add_entries(tenant, world, built, cast, late=True, only_late=True)


def _add_entries(tenant, world, built, cast, *, late: bool, only_late: bool = False) -> None:
    rows = []
    for item in built:
        for entry in item.spec.entries:
            if (only_late and not entry.late) or (entry.late and not late):
                continue
            day = item.day(entry, world.as_of)
            started = ended = None
            if entry.start_hour is not None and entry.seconds:
                started = dt.datetime.combine(day, dt.time(entry.start_hour), tzinfo=dt.UTC)
                ended = started + dt.timedelta(seconds=entry.seconds)
            rows.append(
                TimeEntry(
                    tenant=tenant,
                    ticket=None if entry.ticket is None else item.tickets[entry.ticket],
                    contract=item.contract,
                    technician=cast.technicians[int(entry.second_technician)],
                    work_date=day,
                    started_at=started,
                    ended_at=ended,
                    worked_seconds=entry.seconds,
                    billable=entry.billable,
                    state=TimeEntryState.POSTED if entry.posted else TimeEntryState.APPROVED,
                )
            )
    TimeEntry.objects.bulk_create(rows)


def fewer_included_hours(world: WorldSpec, built: list[Built]) -> None:
    """Retainers now include 0.50 h a period (after some periods were billed)."""
    if not world.fewer_included:
        return
    for item in built:
        if item.contract.contract_type == ContractType.RETAINER:
            item.contract.included_hours = Decimal("0.50")
            Contract.objects.filter(pk=item.contract.pk).update(included_hours=Decimal("0.50"))


def describe(spec: ContractSpec, as_of: dt.date, contract: Contract | None = None) -> str:
    """The contract's terms and time, for a failure message."""
    rounding = f"increment {spec.increment} min, minimum {spec.minimum} min, scope {spec.scope}"
    rates = f"rate {spec.rate}/h"
    if spec.second_rate is not None:
        rates += f" (second technician {spec.second_rate}/h)"
    parts = [
        f"contract {contract.pk if contract else '?'}: {spec.kind} in {spec.currency}, "
        f"{spec.cycle} from {spec.start} (anchor {spec.anchor}); {rounding}; {rates}; "
        f"tax {spec.tax_rate if spec.taxable else 'none'}"
    ]
    if spec.kind == ContractType.RETAINER:
        included = contract.included_hours if contract else spec.included_hours
        parts.append(
            f"  fee {spec.retainer_fee} covering {included} h, overage {spec.overage_rate}/h"
        )
    if spec.kind == ContractType.BLOCK_HOURS:
        bought = ", ".join(
            f"{hours} h for {price} on {work_day(spec, day, as_of)}"
            for day, hours, price in spec.purchases
        )
        parts.append(f"  overage {spec.overage_rate}/h; blocks: {bought or 'none'}")
    if spec.products:
        parts.append("  products: " + ", ".join(f"{qty} × {price}" for qty, price in spec.products))
    for entry in spec.entries:
        flags = [
            f"ticket {entry.ticket}" if entry.ticket is not None else "no ticket",
            "second technician" if entry.second_technician else "first technician",
        ]
        if entry.start_hour is not None:
            flags.append(f"started {entry.start_hour:02d}:00")
        flags += [
            flag
            for flag, on in (
                ("not billable", not entry.billable),
                ("not posted", not entry.posted),
                ("late", entry.late),
            )
            if on
        ]
        parts.append(
            f"  entry {work_day(spec, spec.days[entry.day], as_of)} {entry.seconds} s "
            f"({', '.join(flags)})"
        )
    return "\n".join(parts)
