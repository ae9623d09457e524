"""The words of the lines contracts bill: time, a retainer fee, a product, a block.

Each kind has a facts builder (what a line keeps, plain JSON) and its renderer
(registered with ``billing_site.line_text`` in ``ContractsConfig.ready``). The batch
preview, the contract page and the invoice all print these, so a contract line's wording
lives here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from billing_site.line_text import LineWords, format_day, period_words, plural, register
from billing_site.money import format_quantity, format_unit_price
from billing_site.timeutils import format_duration

from .rounding import rounding_words

TIME, RETAINER_FEE, PRODUCT, BLOCK = "time", "retainer_fee", "product", "block"

# What time beyond a pool is billed against (translated when a line is worded: a
# description is in its document's language, ``billing_site.line_text``).
POOL_WORDS = {"included": "included hours", "block": "the block"}


def _pool_words(pool: str) -> str | None:
    if pool == "included":
        return _("included hours")
    if pool == "block":
        return _("the block")
    return None


# ------------------------------------------------------------------------ facts


def time_facts(
    *,
    contract_name: str,
    ticket: tuple[int, str] | None,
    period_scope: bool,
    entries: int,
    tickets: int,
    pool: str | None,
    included_seconds: int,
    rounding: tuple[int, int, str],
) -> dict[str, Any]:
    """A time line: one ticket's (or, rounded per period, one period's) entries at one
    rate. ``pool`` is "included" or "block" for time beyond a retainer's hours or a block."""
    facts: dict[str, Any] = {"text": TIME, "contract": contract_name, "entries": entries}
    if period_scope:
        facts.update(period_scope=True, tickets=tickets, rounding=list(rounding))
    elif ticket is not None:
        facts["ticket"] = [ticket[0], ticket[1]]
    if pool:
        facts["pool"] = pool
        if included_seconds:
            facts["included"] = included_seconds
    return facts


def retainer_fee_facts(*, contract_name: str, included_hours: Decimal) -> dict[str, Any]:
    return {"text": RETAINER_FEE, "contract": contract_name, "included_hours": str(included_hours)}


def product_facts(*, contract_name: str, product_name: str, per_device: bool) -> dict[str, Any]:
    facts = {"text": PRODUCT, "contract": contract_name, "product": product_name}
    if per_device:
        facts["per_device"] = True
    return facts


def block_facts(*, contract_name: str, hours: Decimal, purchased_on) -> dict[str, Any]:
    return {
        "text": BLOCK,
        "contract": contract_name,
        "hours": str(hours),
        "purchased_on": purchased_on.isoformat(),
    }


# -------------------------------------------------------------------- renderers


def time_label(facts: Mapping[str, Any], line, locale: str) -> str:
    """'#42 Printer offline', 'Work 01 Nov 2026 – 30 Nov 2026', or 'Work on the contract'."""
    if facts.get("period_scope"):
        return _("Work %(period)s") % {
            "period": period_words(line.period_start, line.period_end, locale)
        }
    ticket = facts.get("ticket")
    return f"#{ticket[0]} {ticket[1]}" if ticket else _("Work on the contract")


def render_time(facts: Mapping[str, Any], line, currency: str, locale: str) -> LineWords:
    label = time_label(facts, line, locale)
    pool = POOL_WORDS.get(facts.get("pool", ""))
    pool_words = _pool_words(facts.get("pool", ""))
    worked, billed = line.worked_seconds or 0, line.billed_seconds or 0
    parts = [plural(facts.get("entries", 0), "time entry", "time entries")]
    if facts.get("period_scope"):
        parts.append(f" on {plural(facts.get('tickets', 0), 'ticket', 'tickets')}")
    parts.append(f": {format_duration(worked)} worked, {format_duration(billed)} billed")
    if facts.get("period_scope"):
        parts.append(f" (the period's time {rounding_words(*facts['rounding'])}, on this one line)")
    if pool and facts.get("included"):
        parts.append(f", {format_duration(facts['included'])} from {pool} (no extra charge)")
    parts.append(
        f"; {format_quantity(line.quantity, locale)} h × "
        f"{format_unit_price(line.unit_price, currency, locale)}/h."
    )
    return LineWords(
        description=_("%(label)s — time beyond %(pool)s") % {"label": label, "pool": pool_words}
        if pool
        else _("%(label)s — time") % {"label": label},
        explanation="".join(parts),
        group_label=f"{facts.get('contract', '')} · {label}",
    )


def render_retainer_fee(facts: Mapping[str, Any], line, currency: str, locale: str) -> LineWords:
    included = format_quantity(Decimal(facts.get("included_hours") or 0), locale)
    return LineWords(
        description=_("Retainer fee %(period)s")
        % {"period": period_words(line.period_start, line.period_end, locale)},
        explanation=f"in advance; covers {included} h, unused hours do not roll over",
        group_label=facts.get("contract", ""),
    )


def product_quantity_words(per_device: bool) -> str:
    return "per device: active hosts" if per_device else "fixed quantity"


def render_product(facts: Mapping[str, Any], line, currency: str, locale: str) -> LineWords:
    period = period_words(line.period_start, line.period_end, locale)
    return LineWords(
        description=f"{facts.get('product', '')} {period}".strip(),
        explanation=(
            f"in advance; {format_quantity(line.quantity, locale)} × "
            f"{format_unit_price(line.unit_price or 0, currency, locale)} "
            f"({product_quantity_words(bool(facts.get('per_device')))})"
        ),
        group_label=facts.get("contract", ""),
    )


def render_block(facts: Mapping[str, Any], line, currency: str, locale: str) -> LineWords:
    hours = format_quantity(Decimal(facts.get("hours") or 0), locale)
    bought = format_day(dt.date.fromisoformat(facts["purchased_on"]), locale)
    return LineWords(
        description=_("Block of %(hours)s h bought %(date)s") % {"hours": hours, "date": bought},
        explanation=f"{hours} h prepaid, invoiced once when bought",
        group_label=facts.get("contract", ""),
    )


def register_renderers() -> None:
    register(TIME, render_time)
    register(RETAINER_FEE, render_retainer_fee)
    register(PRODUCT, render_product)
    register(BLOCK, render_block)
