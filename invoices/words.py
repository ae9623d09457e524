"""The words of the lines invoices make themselves: a remote session, a session
invoice's adjustment, a hand-made line, a credit line.

Facts builder and renderer side by side, as in ``contracts.pricing.words``; registered
with ``billing_site.line_text`` in ``InvoicesConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from billing_site.line_text import OWN, LineWords, can_render, plural, register, render
from billing_site.money import format_money, format_quantity, format_unit_price
from billing_site.timeutils import format_duration, to_zone

from .models import CreditDisposition

SESSION, SESSION_ADJUSTMENT, MANUAL, CREDIT = "session", "session_adjustment", "manual", "credit"


# ------------------------------------------------------------------------ facts


def session_facts(*, session, zone: str, rate_source: str) -> dict[str, Any]:
    """``rate_source`` is how the rate was chosen, as the rule read when priced (the rule
    may be changed or deleted later; the line keeps what it was billed by)."""
    return {
        "text": SESSION,
        "session": session.pk,
        "host": session.host.name,
        "comment": session.comment.strip(),
        "zone": zone,
        "rate_source": rate_source,
    }


def session_adjustment_facts(
    *, suggested, agreed: Decimal, seconds: int, tax_rate: Decimal | None
) -> dict[str, Any]:
    """``suggested``: the session lines' totals; ``tax_rate``: percent, None untaxed."""
    return {
        "text": SESSION_ADJUSTMENT,
        "suggested": [str(suggested.subtotal), str(suggested.tax_total), str(suggested.total)],
        "agreed": str(agreed),
        "seconds": seconds,
        "tax_rate": None if tax_rate is None else str(tax_rate.normalize()),
    }


def manual_facts() -> dict[str, Any]:
    return {"text": MANUAL}


def credit_facts(
    *, line, invoice_number: str, items: int, completed: bool, disposition: str
) -> dict[str, Any]:
    """A credit line for (part of) ``line`` of invoice ``invoice_number``: it carries the
    credited line's facts (its description is theirs) and what became of its items."""
    credited = {key: value for key, value in (line.facts or {}).items() if key != OWN}
    facts = {
        "text": CREDIT,
        "credited": credited,
        "credited_quantity": str(line.quantity),
        "invoice": invoice_number,
        "items": items,
        "completed": completed,
        "disposition": disposition,
    }
    if (line.facts or {}).get(OWN):
        facts[OWN] = list(line.facts[OWN])
    return facts


# -------------------------------------------------------------------- renderers


def render_session(facts: Mapping[str, Any], line, currency: str, locale: str) -> LineWords:
    zone = facts.get("zone") or "UTC"
    start, end = to_zone(line.started_at, zone), to_zone(line.ended_at, zone)
    when = f"{start:%Y-%m-%d %H:%M:%S} – {end:%Y-%m-%d %H:%M:%S} ({zone})" if start and end else ""
    host = facts.get("host", "")
    return LineWords(
        description=facts.get("comment") or _("Remote support session"),
        explanation=(
            f"Session #{facts.get('session')} on {host}, {when}, "
            f"{format_duration(line.worked_seconds)}; "
            f"{format_quantity(line.quantity, locale)} h × "
            f"{format_unit_price(line.unit_price, currency, locale)}/h "
            f"({facts.get('rate_source', '')}), rounded half-up to "
            f"{format_money(line.amount, currency, locale)}."
        ),
        group_label=host,
    )


def render_session_adjustment(
    facts: Mapping[str, Any], line, currency: str, locale: str
) -> LineWords:
    def money(value) -> str:
        return format_money(Decimal(value), currency, locale)

    subtotal, tax, total = facts["suggested"]
    duration = format_duration(facts.get("seconds"))
    difference = Decimal(line.amount)
    sign = "+" if difference >= 0 else "−"
    if facts.get("tax_rate") is not None:
        text = (
            f"Suggested {money(total)} ({money(subtotal)} + {facts['tax_rate']} % tax "
            f"{money(tax)}; billable {duration} at the hourly rate, rounded per session); "
            f"amount due set to {money(facts['agreed'])} tax included; difference "
            f"{sign}{money(abs(difference))} before tax."
        )
    else:
        text = (
            f"Suggested {money(total)} (billable {duration} at the hourly rate, rounded per "
            f"session); amount due set to {money(facts['agreed'])}; difference "
            f"{sign}{money(abs(difference))}."
        )
    return LineWords(_("Adjustment to the agreed amount due"), text)


def render_manual(facts: Mapping[str, Any], line, currency: str, locale: str) -> LineWords:
    # A person's description and heading: what they typed.
    return LineWords(line.description, "Added by hand.", line.group_label)


def render_credit(facts: Mapping[str, Any], line, currency: str, locale: str) -> LineWords:
    credited = facts.get("credited") or {}
    # The credited line's words, from its facts and the credit line's own figures (a
    # person's words on it were copied with it: ``own``).
    if can_render(credited):
        base = render(credited, line, currency=currency, locale=locale)
    else:
        base = LineWords(line.description, "", line.group_label)
    of = format_quantity(Decimal(facts.get("credited_quantity") or 0), locale)
    text = (
        f"Credits {format_quantity(line.quantity, locale)} of {of} {line.unit or 'unit(s)'} "
        f"of invoice {facts.get('invoice', '')}."
        + _items_sentence(
            facts.get("items", 0),
            completed=bool(facts.get("completed")),
            disposition=facts.get("disposition", ""),
            number=facts.get("invoice", ""),
        )
    )
    return LineWords(base.description, text, base.group_label)


def _items_sentence(count: int, *, completed: bool, disposition: str, number: str) -> str:
    """What became of a credited line's items."""
    if not count:
        return ""
    items = plural(count, "item", "items")
    one = count == 1
    if not completed:
        stay = "stays" if one else "stay"
        return f" Its {items} {stay} billed by {number} (the line is credited in part)."
    verb, they, stay = ("is", "it", "stays") if one else ("are", "they", "stay")
    if disposition == CreditDisposition.RELEASE:
        return f" Its {items} {verb} released to be billed again."
    return f" Its {items} {verb} written off: {they} {stay} billed by {number}."


def register_renderers() -> None:
    register(SESSION, render_session)
    register(SESSION_ADJUSTMENT, render_session_adjustment)
    register(MANUAL, render_manual)
    register(CREDIT, render_credit)
