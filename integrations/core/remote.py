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


def json_number(value: Decimal) -> float:
    """An amount as a JSON number; amounts (at most 15 significant digits) survive the
    float exactly, so what is sent is our Decimal to the cent."""
    return float(value)
