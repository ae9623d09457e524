"""A line's words — description, explanation, heading — rendered from its facts.

A line made by the product (a batch's time and fee lines, a session line, a credit line)
keeps the *facts* its words are made of, as plain JSON on the line (``facts``): which
ticket, period, product or session, how many entries, which rounding, what was credited.
Its quantity, unit price, amount, times and service period are the line's own columns.
The words are rendered from both when the line is shown, in the locale asked for (the
invoice's), so the same stored line can be printed in another language later and its
explanation always matches its figures (an edited quantity shows in it).

Each app registers the renderers of the lines it makes from its ``AppConfig.ready()``
(``register``), as it registers its billable models. A line without facts (typed by a
person, or made before lines kept them) shows its stored words; a person's edit of a
generated line's description or heading is kept as typed (``facts["own"]``).

The batch preview, the contract page and the invoice read the same renderers: a line's
words are written in one place. A description and a heading are translated into the
active language (``gettext``): the invoice document renders them with its language
active; pages, with none, read English.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

from babel.dates import format_date


@dataclass(frozen=True)
class LineWords:
    description: str
    explanation: str
    group_label: str = ""


class LineFigures(Protocol):
    """What a renderer reads of a line besides its facts (an ``InvoiceLine`` or a line a
    batch plans)."""

    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    worked_seconds: int | None
    billed_seconds: int | None
    period_start: dt.date | None
    period_end: dt.date | None


Renderer = Callable[[Mapping[str, Any], Any, str, str], LineWords]
# (facts, line, currency, locale) -> words

_RENDERERS: dict[str, Renderer] = {}

# Facts keys a person overrode: their stored words win over the rendered ones.
OWN = "own"
OWN_WORDS = ("description", "group_label")


def register(text: str, renderer: Renderer) -> None:
    """Register the renderer of lines whose facts say ``{"text": text, ...}``."""
    known = _RENDERERS.get(text)
    if known is not None and known is not renderer:
        raise RuntimeError(f"Line text {text!r} already has a renderer")
    _RENDERERS[text] = renderer


def can_render(facts: Mapping[str, Any] | None) -> bool:
    return bool(facts) and facts.get("text") in _RENDERERS


def render(facts: Mapping[str, Any], line: Any, *, currency: str, locale: str) -> LineWords:
    """The words of facts ``facts`` for ``line``'s figures."""
    return _RENDERERS[facts["text"]](facts, line, currency, locale)


def line_words(
    line: Any, *, currency: str, locale: str, stored: LineWords | None = None
) -> LineWords:
    """The words of ``line`` (with ``facts``, ``description``, ``explanation`` and
    ``group_label``) in ``locale``: rendered from its facts when it has them, its stored
    words otherwise and where a person wrote them."""
    stored = stored or LineWords(line.description, line.explanation, line.group_label)
    facts = line.facts
    if not can_render(facts):
        return stored
    words = render(facts, line, currency=currency, locale=locale)
    own = facts.get(OWN) or ()
    if own:
        words = LineWords(
            description=stored.description if "description" in own else words.description,
            explanation=words.explanation,
            group_label=stored.group_label if "group_label" in own else words.group_label,
        )
    return words


def with_own_words(facts: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """``facts`` with ``names`` marked as a person's words."""
    if not facts:
        return dict(facts)
    own = sorted({*(facts.get(OWN) or ()), *names})
    return {**facts, OWN: own}


# --------------------------------------------------------------- shared wording


@lru_cache(maxsize=4096)
def format_day(day: dt.date, locale: str) -> str:
    """A day in running text: '03 Nov 2026' in English, the locale's month name else.

    Memoised: a batch words thousands of lines with the same few period ends, and
    Babel's date formatting is the slow part of a line's words."""
    return format_date(day, "dd MMM yyyy", locale=locale)


def period_words(start: dt.date | None, end: dt.date | None, locale: str) -> str:
    """A service period in running text: '01 Nov 2026 – 30 Nov 2026'."""
    if start is None:
        return ""
    return f"{format_day(start, locale)} – {format_day(end or start, locale)}"


def plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"
