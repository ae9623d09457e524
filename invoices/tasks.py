"""Celery tasks of the invoices app: thin, ids only, idempotent."""

from __future__ import annotations

from celery import shared_task

from billing_site.models import Tenant
from billing_site.tenancy import tenant_context

MAX_RETRIES = 5


def _backoff(retries: int) -> int:
    return min(10 * 2**retries, 600)


@shared_task(bind=True, name="invoices.invoice_render_pdf_task", max_retries=MAX_RETRIES)
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
