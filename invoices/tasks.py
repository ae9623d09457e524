"""Celery tasks of the invoices app: thin, ids only, idempotent."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from billing_site.models import Tenant
from billing_site.tenancy import tenant_context

MAX_RETRIES = 5


def _backoff(retries: int) -> int:
    # A countdown longer than the visibility timeout would be handed out twice by Redis.
    return min(10 * 2**retries, 600, settings.BROKER_VISIBILITY_TIMEOUT // 2)


@shared_task(
    bind=True,
    name="invoices.invoice_render_pdf_task",
    max_retries=MAX_RETRIES,
    # Acknowledged only once done, and given back if the worker dies mid-render: the
    # render is idempotent (``services.invoice_pdf_render``), so running it again is safe.
    acks_late=True,
    reject_on_worker_lost=True,
    # Killed past this (prefork pool); the visibility timeout is set above it.
    time_limit=settings.PDF_RENDER_TIME_LIMIT,
)
def invoice_render_pdf_task(self, tenant_id: int, invoice_id: int) -> str:
    """Render and store an invoice's PDF; storage errors are retried with backoff and,
    once retries are spent, recorded on the invoice as failed.

    Run in-process (no broker), there is no worker to come back later: a storage
    error is recorded at once, so the page offers "Render again" instead of waiting.
    """
    from . import services

    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_context(tenant):
        try:
            return services.invoice_pdf_render(invoice_id=invoice_id)
        except OSError as exc:
            if self.request.is_eager or self.request.retries >= self.max_retries:
                services.invoice_pdf_mark_failed(
                    invoice_id=invoice_id, error=f"{exc.__class__.__name__}: {exc}"
                )
                return "failed"
            raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc


@shared_task(name="invoices.invoice_pdf_sweep_task")
def invoice_pdf_sweep_task() -> dict[str, int]:
    """Beat, every ``PDF_SWEEP_EVERY`` seconds: queue again every PDF pending for longer
    than ``PDF_PENDING_RETRY_AFTER`` (its task was lost), tenant by tenant."""
    from . import selectors, services

    older_than = dt.timedelta(seconds=settings.PDF_PENDING_RETRY_AFTER)
    cutoff = timezone.now() - older_than
    tenant_ids = selectors.tenant_ids_with_stale_pdfs_across_all_tenants(cutoff=cutoff)
    requeued = 0
    for tenant in Tenant.objects.filter(pk__in=tenant_ids).order_by("pk"):
        with tenant_context(tenant):
            requeued += len(services.invoice_pdfs_requeue_stale(older_than=older_than).requeued)
    return {"tenants": len(tenant_ids), "requeued": requeued}


@shared_task(
    bind=True,
    name="invoices.invoice_email_send_task",
    max_retries=MAX_RETRIES,
    # Given back if the worker dies before the server took the message.
    acks_late=True,
    reject_on_worker_lost=True,
)
def invoice_email_send_task(self, tenant_id: int, email_id: int) -> str:
    """Send one queued invoice e-mail; a temporary refusal is retried with backoff and
    recorded as failed once retries are spent (at once without a worker)."""
    from .emails import services

    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_context(tenant):
        try:
            return services.invoice_email_deliver(email_id=email_id)
        except services.TryAgain as exc:
            if self.request.is_eager or self.request.retries >= self.max_retries:
                services.invoice_email_give_up(
                    email_id=email_id, error=f"The mail server did not take it: {exc}"
                )
                return "failed"
            raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc


@shared_task(name="invoices.receivables_daily_task")
def receivables_daily_task() -> dict[str, int]:
    """Beat, every ``RECEIVABLES_RUN_EVERY`` seconds: each tenant's daily run (overdue
    marks, reminders). Every run works out "today" in the tenant's own zone and does only
    what today has not done yet, so running it hourly makes a new day start within the
    hour wherever the tenant is, and a run missed while beat was down is caught up once."""
    from .receivables import services

    totals: dict[str, int] = {"tenants": 0}
    for tenant in Tenant.objects.order_by("pk"):
        with tenant_context(tenant):
            done = services.receivables_daily()
        totals["tenants"] += 1
        for key, value in done.items():
            totals[key] = totals.get(key, 0) + value
    return totals


def _batch_job(tenant_id: int, batch_id: int, action: str, actor_id: int | None) -> str:
    from .batches import jobs

    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_context(tenant):
        return jobs.execute(
            tenant=tenant, batch_id=batch_id, action=action, actor_id=actor_id
        ).state


# Run and Generate of an invoice batch with progress the batch page polls
# (``batches.jobs.execute``); the outcome is in the progress record, not raised. Handed
# out again (a worker lost), they do nothing twice: the batch's status moves by
# conditional update.


@shared_task(name="invoices.invoice_batch_run_task")
def invoice_batch_run_task(tenant_id: int, batch_id: int, actor_id: int | None = None) -> str:
    """Run a batch into draft invoices (``batches.services.batch_run``)."""
    return _batch_job(tenant_id, batch_id, "run", actor_id)


@shared_task(name="invoices.invoice_batch_generate_task")
def invoice_batch_generate_task(tenant_id: int, batch_id: int, actor_id: int | None = None) -> str:
    """Generate a run batch's invoices (``batches.services.batch_generate``)."""
    return _batch_job(tenant_id, batch_id, "generate", actor_id)
