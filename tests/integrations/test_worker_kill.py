"""A generated batch pushed by a real Celery worker through Redis, on PostgreSQL: the
worker is killed (SIGKILL) after QuickBooks stored an invoice and before we recorded it;
once a worker is back, every invoice is in QuickBooks exactly once."""

from __future__ import annotations

import os

import pytest
from django.db import connection, transaction

from billing_site.tenancy import tenant_context
from billing_site.testing.workers import Worker, wait_for
from integrations.core.models import Delivery, DeliveryStatus

from .conftest import connect, draft, map_system
from .fakes import FakeQuickBooks

BROKER = os.environ.get("INTEGRATIONS_TEST_BROKER_URL", "redis://127.0.0.1:6379/7")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.broker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("worker_database"),
]


def test_a_worker_killed_mid_push_leaves_exactly_one_invoice_each(
    tenant_a, settings, redis_broker, tmp_path, token_key
):
    from celery import Celery

    fake = FakeQuickBooks().start()
    settings.QUICKBOOKS = fake.settings(settings.QUICKBOOKS)
    env = {
        **fake.env(),
        "INTEGRATIONS_KEYS": token_key,
        # Short clocks: the killed attempt's lease ends after 6 s, the broker hands an
        # unacknowledged task out again after 4 s, beat's sweep runs every second.
        "INTEGRATIONS_LEASE_SECONDS": "6",
        "BROKER_VISIBILITY_TIMEOUT": "4",
        "INTEGRATIONS_SWEEP_EVERY": "1",
        "INTEGRATIONS_REQUEUE_AFTER": "3",
        "PDF_SWEEP_EVERY": "3600",
    }
    with tenant_context(tenant_a):
        connect("quickbooks")
        map_system("quickbooks")
        drafts = [draft(tenant_a) for _ in range(5)]
        from invoices.services import invoices_finalize

        with transaction.atomic():
            finals = invoices_finalize(invoices=drafts)
            connection.run_on_commit = []  # sent below, to the real broker
        deliveries = list(Delivery.objects.order_by("pk"))
    assert len(deliveries) == 5
    numbers = {invoice.number for invoice in finals}

    client_app = Celery(broker=BROKER, set_as_current=False)
    fake.hold_creates = 8.0  # stores the invoice, then answers only after 8 s
    first = Worker(tmp_path, broker=BROKER, **env)
    second = None
    try:
        for delivery in deliveries:
            client_app.send_task("integrations.delivery_run_task", args=[tenant_a.pk, delivery.pk])
        assert fake.creates_seen.wait(60), first.output()
        first.kill()  # QuickBooks has the invoice; we never recorded it
        fake.hold_creates = 0
        assert len(fake.invoices()) == 1
        killed_number = fake.invoices()[0]["DocNumber"]
        with tenant_context(tenant_a):
            killed = Delivery.objects.get(invoice__number=killed_number)
        assert killed.status == DeliveryStatus.RUNNING and not killed.external_id

        second = Worker(tmp_path, broker=BROKER, beat=True, **env)

        def all_done():
            return Delivery.all_tenants.filter(status=DeliveryStatus.DONE).count() == 5

        wait_for(all_done, timeout=120, what="every push to be delivered", worker=second)
    finally:
        if first.process.poll() is None:
            first.kill()
        if second is not None:
            second.stop()
        client_app.close()
        fake.stop()

    remote = fake.invoices()
    assert sorted(r["DocNumber"] for r in remote) == sorted(numbers)  # one each, none missing
    with tenant_context(tenant_a):
        by_number = {d.invoice.number: d for d in Delivery.objects.select_related("invoice")}
    for row in remote:
        assert by_number[row["DocNumber"]].external_id == row["Id"]
    killed = by_number[killed_number]
    assert killed.attempts >= 2
    assert "already in QuickBooks" in killed.summary
