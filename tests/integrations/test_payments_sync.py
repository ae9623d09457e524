"""Paid status back: payments made there are recorded here once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integrations.core import services
from integrations.core.models import (
    Connection,
    Delivery,
    DeliveryAction,
    DeliveryStatus,
    SyncedPayment,
)
from invoices.models import Invoice, InvoiceStatus, Payment
from invoices.services import payment_delete

from .conftest import draft, finalise

pytestmark = pytest.mark.django_db


@pytest.fixture
def pushed(in_tenant_a, django_capture_on_commit_callbacks):
    def push():
        with django_capture_on_commit_callbacks(execute=True):
            invoices = finalise(draft(in_tenant_a), draft(in_tenant_a))
        assert all(d.status == DeliveryStatus.DONE for d in Delivery.objects.all())
        return invoices

    return push


@pytest.mark.parametrize("system", ["quickbooks", "xero"])
def test_a_payment_there_is_recorded_once_and_settles_the_invoice(
    system, request, pushed, in_tenant_a
):
    connection = request.getfixturevalue(system)
    fake = request.getfixturevalue("fake_qbo" if system == "quickbooks" else "fake_xero")
    first, second = pushed()
    fake.pay(first.number)
    fake.pay(second.number, "100.00")
    result = services.payments_sync(connection=connection)
    assert (result.recorded, result.problems) == (2, [])
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == InvoiceStatus.PAID and first.amount_paid == first.total
    assert second.status == InvoiceStatus.PARTIALLY_PAID
    assert second.amount_paid == Decimal("100.00")
    # The log compares: their status follows what was paid there.
    pushes = {d.invoice_id: d.their_status for d in Delivery.objects.filter(action="push")}
    assert pushes == {first.pk: "paid", second.pk: "partly paid"}
    # Again: nothing new, nothing recorded twice.
    again = services.payments_sync(connection=connection)
    assert again.recorded == 0
    assert Payment.objects.count() == 2 == SyncedPayment.objects.count()
    sync = Delivery.objects.filter(action=DeliveryAction.SYNC).first()
    assert sync.status == DeliveryStatus.DONE and "0 payment(s) recorded" in sync.summary


def test_a_payment_removed_here_is_not_brought_back(quickbooks, fake_qbo, pushed):
    first, _ = pushed()
    fake_qbo.pay(first.number)
    services.payments_sync(connection=quickbooks)
    payment_delete(payment=Payment.objects.get())
    quickbooks.refresh_from_db()
    quickbooks.sync_cursor = None  # read everything again
    quickbooks.save(update_fields=["sync_cursor"])
    services.payments_sync(connection=quickbooks)
    assert not Payment.objects.exists()
    # Unpaid again (an invoice that took a payment had been delivered: sent).
    assert Invoice.objects.get(pk=first.pk).status == InvoiceStatus.SENT


def test_a_payment_larger_than_the_balance_is_reported_not_recorded(
    quickbooks, fake_qbo, pushed, in_tenant_a
):
    from invoices.models import PaymentMethod
    from invoices.services import payment_record

    first, _ = pushed()
    payment_record(
        invoice=first,
        amount="400.00",
        received_on=first.issue_date,
        method=PaymentMethod.BANK_TRANSFER,
    )
    fake_qbo.pay(first.number)  # the whole 477.00 there
    result = services.payments_sync(connection=quickbooks)
    assert result.recorded == 0
    assert first.number in result.problems[0] and "balance due" in result.problems[0]
    sync = Delivery.objects.filter(action=DeliveryAction.SYNC).first()
    assert sync.status == DeliveryStatus.FAILED and first.number in sync.last_error


def test_a_sync_that_finds_nothing_new_reads_the_same_whatever_the_count(
    quickbooks, fake_qbo, in_tenant_a, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from .conftest import draft, finalise

    def resync_queries(count: int) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            invoices = finalise(*[draft(in_tenant_a) for _ in range(count)])
        for invoice in invoices:
            fake_qbo.pay(invoice.number)
        services.payments_sync(connection=quickbooks)
        quickbooks.refresh_from_db()
        Connection.objects.filter(pk=quickbooks.pk).update(sync_cursor=None)  # read all again
        with CaptureQueriesContext(connection) as context:
            assert services.payments_sync(connection=quickbooks).recorded == 0
        return len(context.captured_queries)

    assert resync_queries(1) == resync_queries(5)
