"""Template filters of the portal."""

from django import template

from contracts.selectors_portal import seconds_to_hours

register = template.Library()


@register.filter
def hours(seconds) -> str:
    """Seconds as hours with two decimals (5400 -> '1.50'), as in the exports."""
    return f"{seconds_to_hours(seconds):.2f}"
