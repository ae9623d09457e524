"""What a contract's periods cost under its type (the contract page): hourly time,
retainer fee and overage, block purchases and overage, recurring product lines (fixed
or per device); and block balances. Time is grouped and rounded by the line policy
(``lines``), so a period's amount is what its invoices bill.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count

from billing_site.line_text import render
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

from ..choices import ContractType, ItemKind, QuantityMode, TimeEntryState
from ..models import BlockPurchase, Contract, ContractProductLine, TimeEntry
from .entries import PricedEntry, price_time_entries
from .lines import time_line_amount, time_line_key, time_line_quantity
from .periods import InPeriod, Period
from .pools import _block_facts
from .rates import RateBook, load_rate_book
from .rounding import hours, rounding_label
from .words import block_facts, product_facts, retainer_fee_facts


@dataclass
class AmountLine(InPeriod):
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
    period: Period | None = None
    # A fee, product or block line's facts: its words are the invoice line's (``words``).
    facts: dict = field(default_factory=dict)


def _worded(line: AmountLine, currency: str) -> AmountLine:
    """``line`` with the description and explanation its invoice line will have."""
    words = render(line.facts, line, currency=currency, locale=_tenant_locale())
    line.description, line.explanation = words.description, words.explanation
    return line


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


def product_line_quantity(
    line: ContractProductLine, devices: dict[int, int], contract: Contract
) -> Decimal:
    """Per device: the customer's active hosts now; else the line's fixed quantity."""
    if line.quantity_mode == QuantityMode.PER_DEVICE:
        return Decimal(devices.get(contract.customer_id, 0))
    return line.quantity


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
        _worded(
            AmountLine(
                kind=ItemKind.RETAINER_FEE,
                description="",
                quantity=Decimal("1"),
                unit_price=fee,
                amount=line_amount(Decimal("1"), fee, contract.currency),
                period=result.period,
                facts=retainer_fee_facts(contract_name=contract.name, included_hours=included),
            ),
            contract.currency,
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
                _worded(
                    AmountLine(
                        kind=ItemKind.BLOCK,
                        description="",
                        quantity=Decimal("1"),
                        unit_price=price,
                        amount=line_amount(Decimal("1"), price, contract.currency),
                        block_purchase_id=purchase.pk,
                        period=period,
                        facts=block_facts(
                            contract_name=contract.name,
                            hours=purchase.hours,
                            purchased_on=purchase.purchased_on,
                        ),
                    ),
                    contract.currency,
                )
            )
    _included_line(result, billable, "Time drawn from the block")
    _overage_line(result, contract, items, "the block balance")


def _product_lines(result, contract, lines, devices, tenant_currency) -> None:
    for line in lines:
        price, problem = product_line_price(line, contract, tenant_currency)
        quantity = product_line_quantity(line, devices, contract)
        if price is None:
            result.problems.append(problem)
            price = Decimal("0")
        result.lines.append(
            _worded(
                AmountLine(
                    kind=ItemKind.PRODUCT,
                    description="",
                    sku=line.product.sku,
                    quantity=quantity,
                    unit_price=price,
                    amount=line_amount(quantity, price, contract.currency),
                    product_line_id=line.pk,
                    period=result.period,
                    facts=product_facts(
                        contract_name=contract.name,
                        product_name=line.product.name,
                        per_device=line.quantity_mode == QuantityMode.PER_DEVICE,
                    ),
                ),
                contract.currency,
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
