"""How a remote session is priced on a session invoice.

One line per session: quantity = hours (duration / 3600, 4 places, half-up), unit
price = the hourly rate, amount = quantity × rate rounded half-up to the currency.
The suggested amount due is the sum of those lines, i.e. billable duration × rate
with the rounding the Money rules prescribe (per line, never on the total).

``session_hourly_rate`` is the single place a session's rate comes from: the rate
rules of the contracts app, resolved most-specific-first, with the tenant default
as the fallback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError

from billing_site.money import line_amount, quantize_unit_price
from contracts.pricing import RateBook, RateContext, describe_rule, load_rate_book

SECONDS_PER_HOUR = Decimal("3600")
HOURS_EXPONENT = Decimal("0.0001")


@dataclass(frozen=True)
class HourlyRate:
    amount: Decimal
    currency: str
    source: str  # how the rate was chosen, kept in the line's explanation


@dataclass(frozen=True)
class PlannedSessionLine:
    """A session invoice line before it is saved."""

    session: object
    hours: Decimal
    rate: HourlyRate
    amount: Decimal

    @property
    def seconds(self) -> int:
        return self.session.duration_seconds


def session_hourly_rate(session, *, currency: str, book: RateBook) -> HourlyRate:
    """The hourly rate for ``session`` in ``currency``, from the tenant's rate rules.

    Scopes that apply to a session: the host's organization, the technician and their
    teams (a session has no contract or service type until it is logged as time). The
    most specific matching rule wins; the tenant default is the fallback in its currency.
    """
    organization_id = session.host.organization_id
    technician_id = session.technician_id
    resolution = book.resolve(
        RateContext(
            currency=currency,
            organization_id=organization_id,
            technician_id=technician_id,
            team_ids=book.teams_of(technician_id),
        )
    )
    if resolution.rate is None:
        raise ValidationError({"currency": resolution.explanation})
    source = (
        describe_rule(resolution.rule) if resolution.rule is not None else "tenant default rate"
    )
    return HourlyRate(amount=quantize_unit_price(resolution.rate), currency=currency, source=source)


def session_hours(seconds: int) -> Decimal:
    """Billed quantity in hours: seconds / 3600, four places, half-up."""
    return (Decimal(seconds) / SECONDS_PER_HOUR).quantize(HOURS_EXPONENT, rounding=ROUND_HALF_UP)


def plan_session_lines(sessions: Iterable, *, currency: str) -> list[PlannedSessionLine]:
    """Price each session in ``currency``; refuses a rate in another currency."""
    planned = []
    book = load_rate_book()  # all rules once: no query per session
    for session in sessions:
        rate = session_hourly_rate(session, currency=currency, book=book)
        hours = session_hours(session.duration_seconds)
        planned.append(
            PlannedSessionLine(
                session=session,
                hours=hours,
                rate=rate,
                amount=line_amount(hours, rate.amount, currency),
            )
        )
    return planned
