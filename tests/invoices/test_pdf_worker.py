"""PDFs through a real Redis broker and real Celery workers on PostgreSQL: a generate whose
render tasks were lost is rendered by beat's sweep, a worker killed in the middle of a
render has its task handed out again after the visibility timeout, and renders racing a
payment or each other on two connections write one PDF."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections, transaction

from billing_site.tenancy import tenant_context
from billing_site.testing.workers import Worker, wait_for
from invoices import services
from invoices.models import Invoice, InvoiceStatus, PdfStatus

from .factories import InvoiceFactory, InvoiceLineFactory

ROOT = Path(__file__).resolve().parents[2]
# Redis database 6 is this module's own: every test here empties it first.
BROKER = os.environ.get("PDF_TEST_BROKER_URL", "redis://127.0.0.1:6379/6")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("worker_database"),
]


@pytest.fixture(autouse=True)
def frozen_now():
    """Real time here: the workers run on the real clock (overrides the frozen one)."""
    yield None


def generate_and_lose_the_enqueue(tenant, count: int) -> list[int]:
    """Finalise ``count`` drafts at once (what a batch generate does); the web process is
    killed right after commit: the render tasks queued for after commit never leave it."""
    with tenant_context(tenant):
        drafts = []
        for index in range(count):
            draft = InvoiceFactory(tenant=tenant, draft=True, bill_to_name=f"Customer {index}")
            InvoiceLineFactory(tenant=tenant, invoice=draft, description=f"Backup {index}")
            drafts.append(draft)
        with transaction.atomic():
            finals = services.invoices_finalize(invoices=drafts)
            assert len(connection.run_on_commit) >= count
            connection.run_on_commit = []  # the process dies before the callbacks run
    return [invoice.pk for invoice in finals]


def states(ids) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in Invoice.all_tenants.filter(pk__in=ids).values_list("pdf_status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def stored_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "invoices"
    return sorted(p for p in root.rglob("*.pdf")) if root.exists() else []


@pytest.mark.broker
def test_a_generate_whose_render_tasks_were_lost_is_rendered_by_the_sweep(
    tenant_a, tenant_b, redis_broker, tmp_path
):
    ids = generate_and_lose_the_enqueue(tenant_a, 12) + generate_and_lose_the_enqueue(tenant_b, 3)
    assert states(ids) == {PdfStatus.PENDING: 15}
    assert redis_broker.llen("celery") == 0  # nothing reached the broker

    # Back up: a worker with beat, the sweep every second, stale after two seconds.
    worker = Worker(
        tmp_path, broker=BROKER, beat=True, PDF_SWEEP_EVERY="1", PDF_PENDING_RETRY_AFTER="2"
    )
    try:
        wait_for(
            lambda: states(ids) == {PdfStatus.READY: 15},
            timeout=180,
            what="every PDF to be ready",
            worker=worker,
        )
    finally:
        worker.stop()
    assert len(stored_files()) == 15  # one file each: no render was written twice
    ready = Invoice.all_tenants.filter(pk__in=ids)
    assert not ready.exclude(pdf_error="").exists()
    assert not ready.filter(pdf_queued_at__isnull=False).exists()


@pytest.mark.broker
def test_a_worker_killed_in_the_middle_of_a_render_has_its_task_handed_out_again(
    tenant_a, tenant_b, redis_broker, tmp_path
):
    import psycopg2
    from celery import Celery

    (invoice_id,) = generate_and_lose_the_enqueue(tenant_a, 1)
    db = connection.settings_dict
    blocker = psycopg2.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        host=db["HOST"],
        port=db["PORT"],
    )
    # Hold the invoice's row: the worker's render blocks on it, so it is surely mid-task
    # when it is killed.
    blocker_cursor = blocker.cursor()
    blocker_cursor.execute("SELECT id FROM invoices_invoice WHERE id = %s FOR UPDATE", [invoice_id])
    short = {"BROKER_VISIBILITY_TIMEOUT": "4", "PDF_PENDING_RETRY_AFTER": "3600"}
    client_app = Celery(broker=BROKER, set_as_current=False)
    first = Worker(tmp_path, broker=BROKER, **short)
    second = None
    try:
        client_app.send_task("invoices.invoice_render_pdf_task", args=[tenant_a.pk, invoice_id])

        def worker_waits_on_the_row():
            # Asked on the test's own connection: a transaction sees a frozen snapshot of
            # pg_stat_activity, autocommit a fresh one each time.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                return cursor.fetchone()[0] >= 1

        wait_for(worker_waits_on_the_row, timeout=60, what="the render to start", worker=first)
        first.kill()
        # The task was taken but never acknowledged: Redis keeps it aside, invisible.
        assert redis_broker.hlen("unacked") == 1
        blocker.rollback()
        time.sleep(1)
        assert states([invoice_id]) == {PdfStatus.PENDING: 1}

        time.sleep(4)  # past the visibility timeout: the next worker takes it back
        second = Worker(tmp_path, broker=BROKER, **short)
        wait_for(
            lambda: states([invoice_id]) == {PdfStatus.READY: 1},
            timeout=90,
            what="the redelivered render",
            worker=second,
        )
    finally:
        if first.process.poll() is None:
            first.kill()
        if second is not None:
            second.stop()
        blocker.close()
        client_app.close()
    assert redis_broker.hlen("unacked") == 0
    assert len(stored_files()) == 1


# --- Two connections, no broker ---------------------------------------------------------


def in_thread(tenant, job):
    """Run ``job`` on its own thread and database connection, committed when it returns."""
    outcome = {}

    def run():
        try:
            with tenant_context(tenant):
                outcome["value"] = job()
        except Exception as exc:  # reported to the test below
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def pending_invoice(tenant) -> Invoice:
    (invoice_id,) = generate_and_lose_the_enqueue(tenant, 1)
    return Invoice.all_tenants.get(pk=invoice_id)


def test_a_payment_committed_by_another_connection_mid_render_keeps_the_pdf(tenant_a, tenant_b):
    invoice = pending_invoice(tenant_a)

    def payment_on_another_connection():
        in_thread(
            tenant_a,
            lambda: services.payment_record(
                invoice=invoice,
                amount="10.00",
                received_on=dt.date.today(),
                method="bank_transfer",
            ),
        )

    with tenant_context(tenant_a):
        status = services.invoice_pdf_render(
            invoice_id=invoice.pk, before_store=payment_on_another_connection
        )
    invoice.refresh_from_db()
    assert status == PdfStatus.READY
    assert (invoice.pdf_status, invoice.status) == (PdfStatus.READY, InvoiceStatus.PARTIALLY_PAID)
    assert len(stored_files()) == 1


def test_two_renders_of_one_version_at_once_write_one_pdf(tenant_a, tenant_b):
    invoice = pending_invoice(tenant_a)
    both_rendered = threading.Barrier(2, timeout=60)
    results = []

    def render():
        return services.invoice_pdf_render(invoice_id=invoice.pk, before_store=both_rendered.wait)

    threads = [
        threading.Thread(target=lambda: results.append(in_thread(tenant_a, render)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert results == [PdfStatus.READY, PdfStatus.READY]
    invoice.refresh_from_db()
    assert invoice.pdf_status == PdfStatus.READY
    # The loser removed its file: the one stored is the one the invoice names.
    assert [
        f"invoices/{p.relative_to(Path(settings.MEDIA_ROOT) / 'invoices')}" for p in stored_files()
    ] == [invoice.pdf.name]
