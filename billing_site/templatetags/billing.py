"""Template filters for money, durations and zones, shared by every app."""

from decimal import Decimal, InvalidOperation

from django import template
from django.utils.html import format_html

from billing_site.money import format_money
from billing_site.timeutils import format_duration, to_zone

register = template.Library()

ICONS = {
    "home": "⌂",
    "building": "▦",
    "monitor": "▣",
    "clock": "◷",
    "list": "☰",
    "file": "▤",
    "layers": "◫",
    "ticket": "✎",
    "check": "✓",
    "rate": "¤",
    "box": "▧",
    "users": "☺",
    "plug": "⇄",
    "lock": "⚿",
    "gear": "⚙",
}


@register.simple_tag
def icon(name: str) -> str:
    return format_html('<span class="icon" aria-hidden="true">{}</span>', ICONS.get(name, "•"))


@register.simple_tag(takes_context=True)
def money(context, amount, currency=None):
    """Amount in the tenant's locale and the given (or tenant's) currency."""
    if amount is None or amount == "":
        return ""
    request = context.get("request")
    tenant = getattr(request, "tenant", None) or context.get("tenant")
    locale = getattr(tenant, "locale", None) or "en_US"
    currency = currency or getattr(tenant, "currency", None) or "EUR"
    try:
        return format_money(Decimal(str(amount)), currency, locale)
    except (InvalidOperation, ValueError):
        return str(amount)


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
