"""Template filters for money, durations and zones, shared by every app."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from billing_site.icons import icon_markup
from billing_site.money import format_money, format_quantity, format_unit_price
from billing_site.timeutils import format_duration, to_zone

register = template.Library()


@register.simple_tag
def icon(name: str, label: str = "") -> str:
    """An SVG icon from the local set (``billing_site/icons.py``), hidden from assistive
    technology; ``label`` gives words to an icon that stands without visible text."""
    svg = format_html(
        '<svg class="icon icon-{}" viewBox="0 0 24 24" width="16" height="16" fill="none" '
        'stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" '
        'aria-hidden="true" focusable="false">{}</svg>',
        name,
        mark_safe(icon_markup(name)),  # noqa: S308 - our own vendored SVG files
    )
    if label:
        return format_html('{}<span class="visually-hidden">{}</span>', svg, label)
    return svg


def _tenant(context):
    request = context.get("request")
    return getattr(request, "tenant", None) or context.get("tenant")


def _locale(context) -> str:
    return getattr(_tenant(context), "locale", None) or "en_US"


def _decimal(value) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


@register.simple_tag(takes_context=True)
def money(context, amount, currency=None):
    """Amount in the tenant's locale and the given (or tenant's) currency."""
    if amount is None or amount == "":
        return ""
    currency = currency or getattr(_tenant(context), "currency", None) or "EUR"
    number = _decimal(amount)
    return str(amount) if number is None else format_money(number, currency, _locale(context))


@register.simple_tag(takes_context=True)
def unit_price(context, price, currency=None):
    """A unit price or rate in the tenant's locale: the currency's minor unit, and up to the
    four places a unit price keeps where it has them ('95,00 €', '133,3333 €')."""
    if price is None or price == "":
        return ""
    currency = currency or getattr(_tenant(context), "currency", None) or "EUR"
    number = _decimal(price)
    return str(price) if number is None else format_unit_price(number, currency, _locale(context))


@register.simple_tag(takes_context=True)
def quantity(context, value, places=None):
    """A quantity (hours, units) in the tenant's locale without trailing zeros ('1,5');
    ``places`` rounds it first (2 for hours shown as a balance)."""
    if value is None or value == "":
        return ""
    number = _decimal(value)
    if number is None:
        return str(value)
    if places is not None:
        number = number.quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_UP)
    return format_quantity(number, _locale(context))


@register.simple_tag(takes_context=True)
def tax_rate(context, rate):
    """A percentage in the tenant's locale without trailing zeros: '20 %', '7,65 %'."""
    if rate is None or rate == "":
        return ""
    number = _decimal(rate)
    return str(rate) if number is None else f"{format_quantity(number, _locale(context))} %"


@register.filter
def duration(seconds) -> str:
    return format_duration(seconds)


@register.filter
def in_zone(value, zone):
    """Wall-clock time in ``zone``; naive, so later ``|date`` filters do not convert it again."""
    if not zone or value is None:
        return value
    return to_zone(value, zone).replace(tzinfo=None)


@register.filter
def person(user, empty: str = "—") -> str:
    """A user's full name, else username; ``empty`` when there is nobody."""
    if user is None or user == "":
        return empty
    return user.get_full_name() or user.username


@register.filter
def percent(rate) -> str:
    """A tax rate without trailing zeros: 21.0000 -> '21 %', 7.6500 -> '7.65 %'."""
    if rate is None or rate == "":
        return ""
    try:
        value = Decimal(str(rate))
    except InvalidOperation:
        return str(rate)
    text = f"{value.normalize():f}" if value.is_finite() else str(value)
    return f"{text} %"
