"""Invoice arithmetic, pure (no database): line amounts, tax per rate, totals.

DESIGN.md, Money: every line amount is quantity × unit price rounded half-up to the
currency's minor unit; tax is computed per invoice per tax rate on the sum of that
rate's taxable line amounts and rounded once; total = sum of lines + sum of tax.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from billing_site.money import line_amount, quantize

HUNDRED = Decimal("100")


class PricedLine(Protocol):
    quantity: Decimal
    unit_price: Decimal
    taxable: bool
    tax_rate: Decimal


@dataclass(frozen=True)
class TaxRow:
    """Tax of one rate: ``rate`` percent of ``base`` (that rate's taxable lines)."""

    rate: Decimal
    base: Decimal
    tax: Decimal


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    tax_rows: tuple[TaxRow, ...]
    tax_total: Decimal
    total: Decimal


def line_total(line: PricedLine, currency: str) -> Decimal:
    """The line's amount: quantity × unit price, rounded half-up once."""
    return line_amount(line.quantity, line.unit_price, currency)


def compute_totals(lines: Iterable[PricedLine], currency: str) -> Totals:
    """Subtotal, tax per rate (rounded once per rate, never per line) and total."""
    zero = quantize(Decimal("0"), currency)
    subtotal = zero
    bases: dict[Decimal, Decimal] = {}
    for line in lines:
        amount = line_total(line, currency)
        subtotal += amount
        if line.taxable:
            rate = Decimal(line.tax_rate).normalize()
            bases[rate] = bases.get(rate, zero) + amount
    rows = tuple(
        TaxRow(rate=rate, base=base, tax=quantize(base * rate / HUNDRED, currency))
        for rate, base in sorted(bases.items())
    )
    tax_total = sum((row.tax for row in rows), zero)
    return Totals(subtotal=subtotal, tax_rows=rows, tax_total=tax_total, total=subtotal + tax_total)
