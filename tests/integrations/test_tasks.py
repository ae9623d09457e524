"""The beat tasks (run in-process here; the worker test runs them on a real worker)."""

from __future__ import annotations

import datetime as dt

import pytest

from integrations.core.models import Delivery, DeliveryAction, DeliveryStatus
from integrations.core.tasks import deliveries_sweep_task, payments_sync_all_task
from invoices.models import InvoiceStatus

from .conftest import draft, finalise

pytestmark = pytest.mark.django_db


def test_the_sweep_sends_a_lost_push_once_its_task_is_overdue(
    quickbooks, fake_qbo, in_tenant_a, settings, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to("2026-03-20 11:00:00Z", tick=False)
    (invoice,) = finalise(draft(in_tenant_a))  # its task never left: no commit callbacks ran
    delivery = Delivery.objects.get(invoice=invoice)
    assert delivery.queued_at is not None
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep_task() == 0  # queued a moment ago: left to its task
    time_machine.move_to(
        dt.datetime(2026, 3, 20, 11, 0, tzinfo=dt.UTC)
        + dt.timedelta(seconds=settings.INTEGRATIONS_REQUEUE_AFTER + 1),
        tick=False,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep_task() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DONE
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep_task() == 0  # done: never again
    assert len(fake_qbo.invoices()) == 1


def test_the_payment_sync_runs_for_every_active_connection(
    quickbooks, xero, fake_qbo, fake_xero, in_tenant_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first, second = finalise(draft(in_tenant_a), draft(in_tenant_a))
    fake_qbo.pay(first.number)
    fake_xero.pay(second.number)
    assert payments_sync_all_task() == 2
    for invoice in (first, second):
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid == invoice.total
    assert (
        Delivery.objects.filter(action=DeliveryAction.SYNC, status=DeliveryStatus.DONE).count() == 2
    )


def test_quickbooks_refuses_numbers_longer_than_it_keeps(quickbooks, fake_qbo, in_tenant_a):
    in_tenant_a.invoice_prefix = "NORTHWIND-IT-"
    in_tenant_a.save(update_fields=["invoice_prefix"])
    (invoice,) = finalise(draft(in_tenant_a))
    delivery = Delivery.objects.get(invoice=invoice)
    from integrations.core import services

    services.delivery_run(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert f"at most 21 characters of an invoice number; {invoice.number} has 23" in (
        delivery.last_error
    )
    assert fake_qbo.invoices() == []
