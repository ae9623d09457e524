"""A rate and hours that each fit their columns can multiply past an amount column: a
batch run refuses the contract by name, before anything is written (never a database
error)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from contracts.models import TimeEntry
from invoices.batches import services as batch_services
from invoices.models import Invoice, InvoiceLine
from tests.invoices.test_line_policy import hourly, post, ticket_of


def test_a_line_past_the_amount_column_is_refused_by_name(in_tenant_a):
    # 50,000,000,000,000 per hour is a legal rate; 20 hours of it is not an amount.
    contract = hourly(in_tenant_a, "50000000000000", name="Enormous rate")
    post(contract, 20 * 3600, ticket=ticket_of(contract))
    batch = batch_services.batch_create(name="January", as_of=dt.date(2026, 2, 2))
    with pytest.raises(ValidationError) as refused:
        batch_services.batch_run(batch=batch)
    (message,) = refused.value.message_dict["items"]
    assert message.startswith("Enormous rate: a line of ")
    assert "more than an invoice amount holds (999999999999999.99)" in message
    assert not Invoice.objects.exists() and not InvoiceLine.objects.exists()
    assert not TimeEntry.objects.filter(invoice_line__isnull=False).exists()


def test_a_line_below_the_limit_is_billed(in_tenant_a):
    contract = hourly(in_tenant_a, "50000000000000")
    post(contract, 19 * 3600, ticket=ticket_of(contract))
    batch = batch_services.batch_create(name="January", as_of=dt.date(2026, 2, 2))
    (draft,) = batch_services.batch_run(batch=batch)
    assert draft.lines.get().amount == Decimal("950000000000000")
