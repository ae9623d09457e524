"""``{% audit_history obj %}``: the History section of an object's page, written once.

``{% audit_history contract %}`` lists the entries about the contract and what belongs to it
(its product lines, blocks, rate rules, time entries); ``{% audit_history types="rate_rule" %}``
every entry of a kind (the rate rule list). Shown to the roles that read the audit log.
"""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import urlencode

from babel.numbers import format_decimal
from django import template
from django.urls import reverse

from billing_site.roles import role_can
from billing_site.templatetags.billing import _locale

from .. import selectors
from ..services import target_of

register = template.Library()


@register.inclusion_tag("audit/_history.html", takes_context=True)
def audit_history(context, obj=None, types="", parents=""):
    request = context.get("request")
    membership = getattr(request, "membership", None)
    if membership is None or not role_can(membership.role, selectors.READ_CAPABILITY):
        return {"shown": False}
    kinds = [kind for kind in types.split(",") if kind]
    pairs = [tuple(p.split(":", 1)) for p in parents.split(",") if ":" in p]
    objects = [obj] if obj is not None else []
    rows = list(
        selectors.history_of(*objects, types=kinds, parents=pairs)[: selectors.HISTORY_SIZE + 1]
    )
    query = {}
    if obj is not None:
        target = target_of(obj)
        query = {"object_type": target.type, "object_id": target.id}
    elif len(kinds) == 1:
        query = {"object_type": kinds[0]}
    return {
        "shown": True,
        "entries": rows[: selectors.HISTORY_SIZE],
        "more": len(rows) > selectors.HISTORY_SIZE,
        "log_url": f"{reverse('audit:log')}?{urlencode(query)}" if query else reverse("audit:log"),
    }


# Amounts, rates and hours are kept as the exact decimal text ("95.0000"); shown like
# every other figure on staff pages: in the tenant's locale, two to four places.
_DECIMAL_TEXT = re.compile(r"-?\d+\.\d+")


@register.simple_tag(takes_context=True)
def audit_value(context, value: str) -> str:
    if not isinstance(value, str) or not _DECIMAL_TEXT.fullmatch(value):
        return value
    return format_decimal(
        Decimal(value), format="#,##0.00##", locale=_locale(context), decimal_quantization=False
    )
