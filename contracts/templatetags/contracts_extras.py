"""Small template helpers of the contracts pages."""

from django import template

register = template.Library()


@register.filter
def person(user) -> str:
    """A user's full name, else the username; a dash for nobody."""
    if not user or not hasattr(user, "get_full_name"):
        return "—"
    return user.get_full_name() or user.username
