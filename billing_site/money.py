"""Money: Decimal only, rounded in one place.

Every amount is rounded half-up to its currency's minor unit, taken from Babel's
currency data (2 for EUR/USD/DKK, 0 for JPY, 3 for KWD). Unit prices keep 4 places.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Context, Decimal, InvalidOperation
from functools import lru_cache

from babel.core import Locale, get_global
from babel.numbers import (
    NumberFormatError,
    format_currency,
    format_decimal,
    get_currency_precision,
    get_group_symbol,
    list_currencies,
)
from babel.numbers import parse_decimal as parse_local_decimal
from django.core.exceptions import ValidationError

UNIT_PRICE_PLACES = 4
_UNIT_PRICE_EXPONENT = Decimal(1).scaleb(-UNIT_PRICE_PLACES)
_KNOWN_CURRENCIES = frozenset(list_currencies())
# Babel lists historic currencies too; accept only those some territory uses today.
_CURRENT_CURRENCIES = (
    frozenset(
        code
        for territory in get_global("territory_currencies").values()
        for code, _start, end, tender in territory
        if end is None and tender
    )
    & _KNOWN_CURRENCIES
)


def validate_currency_code(value: str) -> None:
    if value not in _CURRENT_CURRENCIES:
        raise ValidationError(f"'{value}' is not a current ISO 4217 currency code (e.g. EUR, USD).")


@lru_cache(maxsize=512)
def minor_units(currency: str) -> int:
    """Digits after the decimal point for ``currency`` (Babel's CLDR data, read once per
    currency: batches round tens of thousands of amounts)."""
    return get_currency_precision(currency)


@lru_cache(maxsize=512)
def _minor_exponent(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round an amount half-up to the currency's minor unit (DESIGN.md: Money)."""
    return Decimal(amount).quantize(_minor_exponent(currency), rounding=ROUND_HALF_UP)


def quantize_unit_price(price: Decimal) -> Decimal:
    """Unit prices keep four places, rounded half-up."""
    return Decimal(price).quantize(_UNIT_PRICE_EXPONENT, rounding=ROUND_HALF_UP)


def line_amount(quantity: Decimal, unit_price: Decimal, currency: str) -> Decimal:
    """quantity × unit price, rounded half-up to the currency's minor unit."""
    return quantize(Decimal(quantity) * Decimal(unit_price), currency)


# A number typed by a person fits in far fewer characters; a longer string is refused
# before Decimal reads it (a megabyte of digits is not a price).
MAX_NUMBER_LENGTH = 64


def largest_number(*, max_digits: int, places: int) -> Decimal:
    """The largest value a column of ``max_digits`` digits, ``places`` of them decimals,
    holds: 99999999.99 for (10, 2)."""
    return Decimal(1).scaleb(max_digits - places) - Decimal(1).scaleb(-places)


def largest_amount(currency: str, *, max_digits: int, places: int) -> Decimal:
    """The largest amount in ``currency``'s minor unit a (``max_digits``, ``places``)
    column holds, rounded down: 999999999999999.99 EUR for (18, 3), as 999999999999999.999
    would round up past the column."""
    largest = largest_number(max_digits=max_digits, places=places)
    return largest.quantize(_minor_exponent(currency), rounding=ROUND_DOWN)


def number_rule(*, places: int, maximum: Decimal, minimum: Decimal | None = None) -> str:
    """What a number field accepts, in words: 'from 0 to 99999999.99, 2 decimal places at
    most'. ``minimum`` None: as far below zero as ``maximum`` is above it."""
    low = -Decimal(maximum) if minimum is None else Decimal(minimum)
    if places == 0:
        return f"from {low:f} to {Decimal(maximum):f}, a whole number"
    return f"from {low:f} to {Decimal(maximum):f}, {places} decimal places at most"


def parse_decimal(
    value,
    *,
    places: int,
    maximum: Decimal | None = None,
    max_digits: int | None = None,
    minimum: Decimal | None = None,
    label: str = "value",
) -> Decimal:
    """Untrusted input (a string, int or Decimal) as a Decimal, checked before any
    arithmetic: a finite number from ``minimum`` (default −``maximum``) to ``maximum``
    (default: the largest a ``max_digits`` column holds) with at most ``places`` decimals.
    Raises a ValidationError (code invalid, range or places) whose message says what is
    allowed. The value is returned as given, not rounded.

    Quantizing first is what answered 500: Decimal("1e25").quantize(Decimal("0.0001"))
    needs 30 digits, more than the context's 28, and raises InvalidOperation. Here the
    comparisons are exact and the one quantize runs on a value known to fit.
    """
    if maximum is None:
        if max_digits is None:
            raise TypeError("parse_decimal needs a maximum or max_digits")
        maximum = largest_number(max_digits=max_digits, places=places)
    maximum = Decimal(maximum)
    low = -maximum if minimum is None else Decimal(minimum)
    invalid = ValidationError(
        f"Enter a number {number_rule(places=places, maximum=maximum, minimum=low)}.",
        code="invalid",
    )
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise invalid
    if isinstance(value, str):
        value = value.strip()
        if not value or len(value) > MAX_NUMBER_LENGTH:
            raise invalid
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise invalid from exc
    if not number.is_finite():
        raise invalid
    if not low <= number <= maximum:
        raise ValidationError(f"The {label} must be between {low:f} and {maximum:f}.", code="range")
    # In range, so this precision always suffices; 1e-400 rounds to 0 and is refused.
    context = Context(prec=max(abs(low), maximum).adjusted() + places + 3)
    if number != number.quantize(
        Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=context
    ):
        raise ValidationError(
            f"The {label} has {places} decimal places at most."
            if places
            else f"The {label} is a whole number.",
            code="places",
        )
    return number


_SPACES = "\u0020\u00a0\u2009\u202f"


def delocalize_number(text, locale: str):
    """A number typed the way the locale writes it ("1 650,00" in French, "1.650,00" in
    German, "1,650.00" in English) as the plain text ``parse_decimal`` reads ("1650.00").

    Read by the locale's rules only (Babel, strict: a group separator in the wrong place
    is not guessed at); text those rules do not read is returned as given, so a plain
    "650.00" still reads as itself and anything else gets ``parse_decimal``'s error.
    Any space stands for the locale's space-like group separator, as people type one.
    """
    if not isinstance(text, str) or not text.strip():
        return text
    candidate = text.strip()
    group = get_group_symbol(locale)
    if group in _SPACES:
        candidate = "".join(group if char in _SPACES else char for char in candidate)
    elif group in "’'":
        candidate = candidate.replace("'", group).replace("’", group)
    try:
        number = parse_local_decimal(candidate, locale=locale, strict=True)
    except (NumberFormatError, ValueError):
        return text
    if not number.is_finite():
        return text
    return format(number, "f")


def format_money(amount: Decimal, currency: str, locale: str = "en_US") -> str:
    """Localised display, e.g. '1.234,50 kr.' for da_DK; shows the currency's minor unit."""
    return format_currency(quantize(amount, currency), currency, locale=locale)


@lru_cache(maxsize=8192)
def format_unit_price(price: Decimal, currency: str, locale: str = "en_US") -> str:
    """A unit price as printed in explanations: the currency's minor unit, and up to the
    4 places a unit price keeps only where it has them ('¥9,800', '€133.3333', '€95.00')."""
    return format_currency(
        quantize_unit_price(price).normalize(),
        currency,
        locale=locale,
        decimal_quantization=False,
    )


@lru_cache(maxsize=64)
def _grouping_symbols(locale: str) -> tuple[str, str] | None:
    """(group, decimal) symbols of a locale whose decimal pattern groups by three, the
    common case (en, fr, de, da, it); None for others, which Babel formats itself."""
    parsed = Locale.parse(locale)
    if parsed.decimal_formats.get(None).pattern != "#,##0.###":
        return None
    symbols = parsed.number_symbols["latn"]
    return symbols["group"], symbols["decimal"]


def format_quantity(quantity: Decimal, locale: str = "en_US") -> str:
    """A quantity without trailing zeros, in the locale ('2.25', '0,0508', '1,000').

    Printed on every invoice line a batch writes: the usual locales are formatted here
    from their symbols (the same text as Babel's ``format_decimal``, much faster)."""
    value = Decimal(quantity).normalize()
    symbols = _grouping_symbols(locale)
    if symbols is None or not value.is_finite():
        return format_decimal(value, locale=locale, decimal_quantization=False)
    text = f"{value:,f}"
    group, decimal = symbols
    return text.replace(",", "\0").replace(".", decimal).replace("\0", group)


def currency_choices() -> list[tuple[str, str]]:
    from babel.numbers import get_currency_name

    return sorted(
        (code, f"{code} — {get_currency_name(code, locale='en')}") for code in _CURRENT_CURRENCIES
    )
