"""Money: Decimal only, rounded in one place.

Every amount is rounded half-up to its currency's minor unit, taken from Babel's
currency data (2 for EUR/USD/DKK, 0 for JPY, 3 for KWD). Unit prices keep 4 places.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from babel.core import Locale, get_global
from babel.numbers import (
    format_currency,
    format_decimal,
    get_currency_precision,
    list_currencies,
)
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
