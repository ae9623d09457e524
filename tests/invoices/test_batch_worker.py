"""Run and Generate of an invoice batch through a real Redis broker and a real Celery
worker on PostgreSQL: the page queues the job and stays usable while the worker runs it,
polls its progress (the worker writes it to the shared cache), refuses a second Run
clearly, shows a refused run's reason, and lists the drafts, then the numbered invoices,
once the worker is done."""

from __future__ import annotations

import os
import re
import time
import uuid

import environ
import psycopg2
import pytest
from django.db import connection
from django.urls import reverse

from billing_site.celery import app as celery_app
from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.workers import Worker, wait_for
from invoices.batches import services as batch_services
from invoices.models import Invoice, InvoiceStatus

from .batch_factories import AS_OF, build_world

# Redis database 8 is this module's own broker and cache: every test here empties it first.
BROKER = os.environ.get("BATCH_TEST_BROKER_URL", "redis://127.0.0.1:6379/8")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.broker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("worker_database"),
]


@pytest.fixture(autouse=True)
def frozen_now():
    """Real time here: the worker runs on the real clock (overrides the frozen one)."""
    yield None


@pytest.fixture
def through_the_broker(settings, redis_broker):
    """What the pages queue goes through Redis to the worker (not in-process), and both
    sides read progress from one cache, as web processes and workers do when deployed.

    The queue and the cache's keys are this test's own (named ``own``): other test runs
    on the machine use the same Redis database, and their workers or their batches'
    progress (same tenant and batch ids, another database) must not meet these."""
    own = f"batch-test-{uuid.uuid4().hex[:12]}"
    cache_url = f"{BROKER}?key_prefix={own}"
    settings.CACHES = {"default": environ.Env.cache_url_config(cache_url)}
    conf = celery_app.conf
    saved = (conf.task_always_eager, conf.broker_url, conf.task_default_queue)
    try:
        conf.update(
            CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=BROKER, CELERY_TASK_DEFAULT_QUEUE=own
        )
        renew_connections(celery_app)
        sent_to = celery_app.amqp.producer_pool.connections.connection.as_uri()
        assert sent_to == BROKER, sent_to
        yield {"queue": own, "CACHE_URL": cache_url}
    finally:
        # Restored whatever happened: later tests on this process queue as before.
        conf.update(
            CELERY_TASK_ALWAYS_EAGER=saved[0],
            CELERY_BROKER_URL=saved[1],
            CELERY_TASK_DEFAULT_QUEUE=saved[2],
        )
        renew_connections(celery_app)


def renew_connections(app) -> None:
    """The app sends through the connection and producer pools it made on its first send,
    whatever the broker setting says later (an earlier test on this process may have sent
    to REDIS_URL's broker): forget them, so the next send takes the broker set now. They
    stay open in kombu's registry (one per broker), ready for when it is set back."""
    app._pool = None
    app.amqp._producer_pool = None


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("\xa0", " ").strip()


def job_of(browser, batch) -> dict:
    url = reverse("invoices:batch-progress", args=[batch.pk])
    return browser.get(url, {"format": "json"}).json()["job"] or {}


def locked_row(table: str, pk: int):
    """Another connection holding a row (``FOR UPDATE``) until it rolls back."""
    db = connection.settings_dict
    blocker = psycopg2.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        host=db["HOST"],
        port=db["PORT"],
    )
    blocker.cursor().execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE", [pk])
    return blocker


def test_run_and_generate_on_a_worker_with_progress(
    client_as, staff_a, tenant_a, tmp_path, through_the_broker
):
    world = build_world(tenant_a)
    with tenant_context(tenant_a):
        too_early = batch_services.batch_create(name="January", as_of=AS_OF.replace(month=1))
        batch = batch_services.batch_create(name="March 2026", as_of=AS_OF)
    browser = client_as(staff_a.user(Role.BILLING_ADMIN))
    worker = Worker(
        tmp_path,
        broker=BROKER,
        queue=through_the_broker["queue"],
        CACHE_URL=through_the_broker["CACHE_URL"],
    )
    blocker = None
    try:
        # Its start, not the jobs, is what a loaded machine slows down: wait for it apart.
        worker.wait_ready()
        # Refused by the service in the worker: the page says why.
        browser.post(reverse("invoices:batch-run", args=[too_early.pk]))
        failed = wait_for(
            lambda: job_of(browser, too_early).get("state") == "failed",
            timeout=120,
            what="the refused run",
            worker=worker,
        )
        assert failed
        page = text(browser.get(reverse("invoices:batch-detail", args=[too_early.pk])).text)
        assert "Run failed Nothing was written, for this reason: Nothing is selected" in page

        # Hold one of the entries the run claims: the worker's run stops at that step.
        blocker = locked_row("contracts_timeentry", world.entries["dupont"].pk)
        browser.post(reverse("invoices:batch-run", args=[batch.pk]))
        wait_for(
            lambda: "items billed" in job_of(browser, batch).get("step", ""),
            timeout=120,
            what="the run to reach its claims",
            worker=worker,
        )
        job = job_of(browser, batch)
        assert job["state"] == "running" and job["percent"] == 80
        assert re.fullmatch(r"Marking \d+ items billed", job["step"])

        # Meanwhile the page answers at once, with the progress and no selection.
        started = time.monotonic()
        detail = browser.get(reverse("invoices:batch-detail", args=[batch.pk])).text
        assert time.monotonic() - started < 5
        assert 'value="80"' in detail and job["step"] in text(detail)
        assert 'hx-trigger="every 1s"' in detail
        assert 'aria-label="Include ACME support"' not in detail
        # A second Run is refused, naming the one in progress.
        again = text(browser.post(reverse("invoices:batch-run", args=[batch.pk]), follow=True).text)
        assert "“March 2026” is already being run (started at" in again
        assert "80 % done). Wait for it to finish" in again
        with tenant_context(tenant_a):
            assert not Invoice.objects.exists()  # nothing is written until it is done

        blocker.rollback()
        wait_for(
            lambda: job_of(browser, batch).get("state") == "done",
            timeout=120,
            what="the run to finish",
            worker=worker,
        )
        poll = browser.get(
            reverse("invoices:batch-progress", args=[batch.pk]), HTTP_HX_REQUEST="true"
        )
        assert poll["HX-Refresh"] == "true"
        page = text(browser.get(reverse("invoices:batch-detail", args=[batch.pk])).text)
        assert "Done 5 draft invoice(s) created: €1,928.00 and $80.00." in page
        assert "ACME support 01 Feb 2026 – 28 Feb 2026 Draft 2 €200.00 €40.00 €240.00" in page

        # Generate, confirmed, on the worker too.
        browser.post(
            reverse("invoices:batch-generate", args=[batch.pk]),
            {"consolidate": "on", "confirm": "1"},
        )
        wait_for(
            lambda: (
                job_of(browser, batch).get("state") == "done"
                and job_of(browser, batch).get("action") == "generate"
            ),
            timeout=120,
            what="the generate to finish",
            worker=worker,
        )
        page = text(browser.get(reverse("invoices:batch-detail", args=[batch.pk])).text)
        assert (
            "4 invoice(s) generated, numbered INV-2026-00001 to INV-2026-00004: €1,928.00 "
            "and $80.00." in page
        )
    finally:
        if blocker is not None:
            blocker.close()
        worker.stop()
    assert "invoices.invoice_batch_run_task" in worker.output()
    with tenant_context(tenant_a):
        finals = list(Invoice.objects.filter(batch_links__batch=batch).order_by("number"))
    assert [(i.number, str(i.total)) for i in finals] == [
        ("INV-2026-00001", "240.000"),
        ("INV-2026-00002", "1298.000"),
        ("INV-2026-00003", "390.000"),
        ("INV-2026-00004", "80.000"),
    ]
    assert all(i.status == InvoiceStatus.FINAL for i in finals)
