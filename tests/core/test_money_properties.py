"""Generated cases (hypothesis) for the money rules, against an exact oracle (fractions).

DESIGN.md, Money: amounts round half-up to the currency's minor unit (0 for JPY, 2 for
EUR, 3 for KWD); a line amount is quantize(quantity × unit price); tax is computed per
rate on that rate's taxable line amounts and rounded once; total = subtotal + tax. And
untrusted numbers are parsed without ever raising anything but a ValidationError.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from math import floor

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from billing_site.money import (
    largest_number,
    line_amount,
    minor_units,
    parse_decimal,
    quantize,
    quantize_unit_price,
)
from invoices.totals import compute_totals

PLACES = {"JPY": 0, "EUR": 2, "KWD": 3}
CURRENCIES = st.sampled_from(sorted(PLACES))
RATES = st.sampled_from([Decimal(r) for r in ("0", "5.5", "7.65", "19.6", "20", "21", "25")])
SETTINGS = settings(max_examples=300, deadline=None)


def half_up(value: Fraction, places: int) -> Decimal:
    """The oracle: ``value`` rounded half away from zero to ``places``, exactly."""
    scale = 10**places
    magnitude = floor(abs(value) * scale + Fraction(1, 2))
    signed = -magnitude if value < 0 else magnitude
    return Decimal(signed).scaleb(-places)


def decimals(places: int, magnitude: int = 10**12):
    """Decimals with up to ``places`` decimals, within ±``magnitude``."""
    return st.integers(-magnitude * 10**places, magnitude * 10**places).map(
        lambda n: Decimal(n).scaleb(-places)
    )


@dataclass(frozen=True)
class Line:
    quantity: Decimal
    unit_price: Decimal
    taxable: bool
    tax_rate: Decimal


lines = st.builds(
    Line,
    quantity=decimals(4, 10**4).filter(lambda q: q != 0),
    unit_price=decimals(4, 10**6),
    taxable=st.booleans(),
    tax_rate=RATES,
)


def test_minor_units_come_from_babel():
    assert {code: minor_units(code) for code in PLACES} == PLACES


@SETTINGS
@given(amount=decimals(6), currency=CURRENCIES)
def test_quantize_rounds_half_up_to_the_minor_unit(amount, currency):
    places = PLACES[currency]
    rounded = quantize(amount, currency)
    assert rounded == half_up(Fraction(amount), places)
    assert rounded.as_tuple().exponent == -places
    assert abs(Fraction(rounded) - Fraction(amount)) <= Fraction(1, 2 * 10**places)
    assert quantize(rounded, currency) == rounded  # idempotent


@SETTINGS
@given(units=st.integers(-(10**9), 10**9), currency=CURRENCIES)
def test_a_half_rounds_away_from_zero(units, currency):
    places = PLACES[currency]
    # units + 0.5 minor units: never the banker's even neighbour.
    amount = (Decimal(units) + Decimal("0.5")).scaleb(-places)
    expected = Decimal(units + (1 if units >= 0 else 0)).scaleb(-places)
    assert quantize(amount, currency) == expected
    assert quantize(-amount, currency) == -expected


@SETTINGS
@given(quantity=decimals(4, 10**5), price=decimals(6, 10**7), currency=CURRENCIES)
def test_line_amount_is_the_rounded_product(quantity, price, currency):
    amount = line_amount(quantity, price, currency)
    assert amount == quantize(quantity * price, currency)
    assert amount == half_up(Fraction(quantity) * Fraction(price), PLACES[currency])
    assert quantize_unit_price(price) == half_up(Fraction(price), 4)


@SETTINGS
@given(items=st.lists(lines, max_size=12), currency=CURRENCIES)
def test_tax_per_rate_is_rounded_once_and_total_is_subtotal_plus_tax(items, currency):
    places = PLACES[currency]
    totals = compute_totals(items, currency)
    amounts = [half_up(Fraction(i.quantity) * Fraction(i.unit_price), places) for i in items]
    assert totals.subtotal == sum(amounts, Decimal(0))
    bases: dict[Decimal, Decimal] = {}
    for item, amount in zip(items, amounts, strict=True):
        if item.taxable:
            bases[item.tax_rate.normalize()] = bases.get(item.tax_rate.normalize(), 0) + amount
    assert [(row.rate, row.base) for row in totals.tax_rows] == sorted(bases.items())
    for row in totals.tax_rows:
        # Once per rate on the exact base, never a sum of per-line roundings.
        assert row.tax == half_up(Fraction(row.base) * Fraction(row.rate) / 100, places)
    assert totals.tax_total == sum((row.tax for row in totals.tax_rows), Decimal(0))
    assert totals.total == totals.subtotal + totals.tax_total
    for figure in (totals.subtotal, totals.tax_total, totals.total):
        assert figure.as_tuple().exponent == -places


@pytest.mark.parametrize(("max_digits", "places"), [(18, 4), (14, 4), (10, 2), (18, 3)])
def test_largest_number_fills_the_column(max_digits, places):
    largest = largest_number(max_digits=max_digits, places=places)
    digits = largest.as_tuple()
    assert len(digits.digits) == max_digits and set(digits.digits) == {9}
    assert digits.exponent == -places


@SETTINGS
@given(text=st.one_of(st.text(max_size=80), st.from_regex(r"-?\d{0,40}(\.\d{0,40})?(e-?\d{1,4})?")))
def test_parse_decimal_refuses_any_text_with_a_validation_error(text):
    try:
        number = parse_decimal(text, places=4, max_digits=18)
    except ValidationError as error:
        assert error.code in {"invalid", "range", "places"} and error.messages
    else:
        assert number.is_finite()
        assert abs(number) <= largest_number(max_digits=18, places=4)
        assert number == number.quantize(Decimal("0.0001"))


@SETTINGS
@given(value=st.decimals(allow_nan=True, allow_infinity=True), places=st.sampled_from([0, 2, 4]))
def test_parse_decimal_accepts_exactly_what_fits(value, places):
    maximum = largest_number(max_digits=14, places=places)
    fits = (
        value.is_finite()
        and abs(value) <= maximum
        and Fraction(value) * 10**places == floor(Fraction(value) * 10**places)
    )
    try:
        number = parse_decimal(str(value), places=places, max_digits=14)
    except ValidationError:
        assert not fits
    else:
        assert fits and number == value
