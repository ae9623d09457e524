"""What the provider clients hand back to the engine, whatever the provider."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class RemoteDocument:
    """An invoice or credit note as the other system holds it."""

    external_id: str
    number: str
    total: Decimal | None
    status: str  # their words: "open", "paid", "voided", Xero's AUTHORISED, …


@dataclass(frozen=True)
class RemotePayment:
    """Money applied to one of our invoices over there."""

    external_id: str  # unique per connection: the payment and the invoice it applies to
    invoice_external_id: str
    amount: Decimal
    received_on: dt.date
    reference: str
    deleted: bool = False


# A double keeps any decimal of up to 15 significant digits exactly.
EXACT_DIGITS = 15


def json_number(value: Decimal) -> float:
    """An amount, quantity or price as a JSON number, exactly our Decimal: one with more
    significant digits than a JSON number keeps is refused rather than rounded."""
    from .errors import Refused

    digits = value.normalize().as_tuple().digits
    if len(digits) > EXACT_DIGITS:
        raise Refused(
            f"{value} has more than {EXACT_DIGITS} significant digits and cannot be sent exactly."
        )
    return float(value)
