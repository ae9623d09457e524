"""How a remote session is priced on a session invoice.

One line per session, by the line policy (``contracts.pricing.lines``): quantity =
hours (duration / 3600, 4 places, half-up, converted once), unit price = the hourly
rate, amount = quantity × rate rounded half-up to the currency.
The suggested amount due is the sum of those lines, i.e. billable duration × rate
with the rounding the Money rules prescribe (per line, never on the total).

``session_hourly_rate`` is the single place a session's rate comes from: the rate
rules of the contracts app, resolved most-specific-first, with the tenant default
as the fallback.

Tax (DESIGN.md, Money): every line of a session invoice (the sessions and an
adjustment to an agreed amount) has the same tax treatment, ``SessionTax``: taxable
at the organization's rate, else the tenant's default rate, unless the tenant bills
session work untaxed; the user may change both for one invoice. ``plan_session_invoice``
computes every figure of the invoice with ``totals.compute_totals`` (tax per rate on
the sum of the taxable lines, rounded once): the form's suggestion and the saved
invoice come from it, so they agree to the cent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError

from billing_site.models import TAX_RATE_PLACES, Organization
from billing_site.money import minor_units, quantize, quantize_unit_price
from billing_site.selectors import organization_tax_rate
from billing_site.tenancy import require_current_tenant
from contracts.pricing import (
    RateBook,
    RateContext,
    describe_rule,
    load_rate_book,
    time_line_amount,
    time_line_quantity,
)

from .totals import HUNDRED, Totals, compute_totals

TAX_RATE_EXPONENT = Decimal(1).scaleb(-TAX_RATE_PLACES)


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
        describe_rule(resolution.rule, book.locale)
        if resolution.rule is not None
        else "tenant default rate"
    )
    return HourlyRate(amount=quantize_unit_price(resolution.rate), currency=currency, source=source)


def plan_session_lines(sessions: Iterable, *, currency: str) -> list[PlannedSessionLine]:
    """Price each session in ``currency``; refuses a rate in another currency."""
    planned = []
    book = load_rate_book()  # all rules once: no query per session
    for session in sessions:
        rate = session_hourly_rate(session, currency=currency, book=book)
        # A session is one line, priced by the line policy from its seconds.
        seconds = session.duration_seconds
        planned.append(
            PlannedSessionLine(
                session=session,
                hours=time_line_quantity(seconds),
                rate=rate,
                amount=time_line_amount(seconds, rate.amount, currency),
            )
        )
    return planned


# --- Tax and totals ---------------------------------------------------------------------


@dataclass(frozen=True)
class SessionTax:
    """How every line of a session invoice is taxed: at ``rate`` percent when
    ``taxable``. ``rate`` is the chosen rate either way (the form shows it); the lines
    of an untaxed invoice carry rate 0 (``line_rate``)."""

    taxable: bool
    rate: Decimal

    def __post_init__(self):
        object.__setattr__(self, "rate", Decimal(self.rate).quantize(TAX_RATE_EXPONENT))

    @property
    def line_rate(self) -> Decimal:
        return self.rate if self.taxable else Decimal("0").quantize(TAX_RATE_EXPONENT)


def session_invoice_tax(
    *,
    organization: Organization | None,
    taxable: bool | None = None,
    rate: Decimal | None = None,
) -> SessionTax:
    """The tax of a session invoice billed to ``organization`` (a validated ``rate``).

    ``rate`` left out: the organization's tax rate, else the tenant's default
    (``organization_tax_rate``). ``taxable`` left out: yes when a rate is given, else
    the tenant's "session work is taxable" setting.
    """
    if taxable is None:
        taxable = True if rate is not None else require_current_tenant().session_work_taxable
    if rate is None:
        rate = organization_tax_rate(organization=organization)
    return SessionTax(taxable=bool(taxable), rate=rate)


@dataclass(frozen=True)
class PricedLine:
    """A line as the totals see it (``totals.PricedLine``)."""

    quantity: Decimal
    unit_price: Decimal
    taxable: bool
    tax_rate: Decimal


@dataclass(frozen=True)
class SessionInvoicePlan:
    """Every figure of a session invoice before it is saved.

    ``suggested`` totals the session lines alone (what the form suggests);
    ``adjustment`` is the amount before tax of the line that brings the invoice to an
    agreed amount due (None: no such line); ``totals`` is what the invoice totals.
    """

    currency: str
    tax: SessionTax
    lines: tuple[PlannedSessionLine, ...]
    suggested: Totals
    adjustment: Decimal | None
    totals: Totals


def _priced(quantity: Decimal, unit_price: Decimal, tax: SessionTax) -> PricedLine:
    return PricedLine(
        quantity=quantity, unit_price=unit_price, taxable=tax.taxable, tax_rate=tax.line_rate
    )


def _adjustment_for(
    agreed: Decimal, *, priced: list[PricedLine], subtotal: Decimal, currency: str, tax: SessionTax
) -> Decimal:
    """The adjustment (before tax, taxed like the sessions) that makes the total
    exactly ``agreed``.

    The total is base + tax(base), rounded once; it rises by one or two minor units
    per minor unit of base, so the base is within one unit of agreed / (1 + rate) and
    some totals cannot be reached: those are refused with the nearest ones.
    """
    if not tax.taxable:
        return agreed - subtotal
    unit = Decimal(1).scaleb(-minor_units(currency))
    estimate = quantize(agreed * HUNDRED / (HUNDRED + tax.rate), currency)
    reached = {}
    for step in (0, -1, 1, -2, 2):
        difference = estimate + step * unit - subtotal
        adjustment = _priced(Decimal("1"), quantize_unit_price(difference), tax)
        total = compute_totals([*priced, adjustment], currency).total
        if total == agreed:
            return difference
        reached[total] = difference
    below = max((total for total in reached if total < agreed), default=None)
    above = min((total for total in reached if total > agreed), default=None)
    nearest = " and ".join(f"{total} {currency}" for total in (below, above) if total is not None)
    raise ValidationError(
        {
            "amount_due": (
                f"With {tax.rate.normalize():f} % tax no amount before tax gives a total of "
                f"exactly {agreed} {currency}; the nearest totals are {nearest}."
            )
        }
    )


def plan_session_invoice(
    lines: Iterable[PlannedSessionLine],
    *,
    currency: str,
    tax: SessionTax,
    amount_due: Decimal | None = None,
) -> SessionInvoicePlan:
    """The session invoice's figures: each session line taxed per ``tax``, totals by
    ``compute_totals``; with ``amount_due`` (the agreed total, tax included) different
    from the suggested total, an adjustment line taxed like the sessions makes up the
    difference, so the lines and their tax add up to exactly that amount."""
    lines = tuple(lines)
    priced = [_priced(line.hours, line.rate.amount, tax) for line in lines]
    suggested = compute_totals(priced, currency)
    if amount_due is None or amount_due == suggested.total:
        return SessionInvoicePlan(currency, tax, lines, suggested, None, suggested)
    adjustment = _adjustment_for(
        amount_due, priced=priced, subtotal=suggested.subtotal, currency=currency, tax=tax
    )
    totals = compute_totals(
        [*priced, _priced(Decimal("1"), quantize_unit_price(adjustment), tax)], currency
    )
    return SessionInvoicePlan(currency, tax, lines, suggested, adjustment, totals)
