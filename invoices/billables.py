"""What an invoice line can bill, and the one way to release billed items.

Every item model listed here points at the line that billed it through a nullable
``invoice_line`` foreign key: one column, so an item is on at most one line (the
database keeps "billed once"). Items are claimed with a conditional update
(``... WHERE invoice_line IS NULL``) and released by setting the column back to NULL
when a draft (or one of its lines) is deleted, an invoice is voided or a line is
fully credited. Apps with billable items add their model here ("app_label.ModelName"),
with the columns frozen at billing time that a release must clear as well.
"""

from __future__ import annotations

from django.apps import apps
from django.db import models

# label -> columns frozen when the item is billed, cleared on release so the item is
# priced afresh by the next invoice (a time entry's rounded and included seconds).
BILLABLE_MODELS: dict[str, tuple[str, ...]] = {
    "support_sessions.RemoteSession": (),
    "contracts.TimeEntry": ("billed_seconds", "included_seconds"),
    "contracts.PeriodCharge": (),
    "contracts.BlockPurchase": (),
}


def billable_models() -> list[type[models.Model]]:
    return [apps.get_model(label) for label in BILLABLE_MODELS]


def release_items(*, lines: models.QuerySet) -> int:
    """Unbill every item billed by ``lines`` (a scoped InvoiceLine queryset).

    Runs inside the caller's transaction; returns how many items were released.
    """
    released = 0
    for label, frozen in BILLABLE_MODELS.items():
        model = apps.get_model(label)
        cleared = dict.fromkeys(frozen)
        released += model.objects.filter(invoice_line__in=lines).update(
            invoice_line=None, **cleared
        )
    return released


def items_billed_count(*, lines: models.QuerySet) -> int:
    """How many items ``lines`` bill (shown before a line is deleted or credited)."""
    return sum(
        apps.get_model(label).objects.filter(invoice_line__in=lines).count()
        for label in BILLABLE_MODELS
    )
