"""Celery tasks of the sessions app: thin, ids only; the services do the work."""

from __future__ import annotations

import logging

from celery import shared_task

from billing_site.models import Tenant
from billing_site.tenancy import tenant_context

logger = logging.getLogger(__name__)


@shared_task(name="sessions.teamviewer_pull_task")
def teamviewer_pull_task(tenant_id: int) -> str:
    """ "Pull now": one tenant's pull from TeamViewer. Its outcome (imported, refused rows,
    or the API's error in words) is kept on the connection, not raised."""
    from . import services

    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_context(tenant):
        outcome = services.teamviewer_pull(tenant=tenant)
    return outcome.status if outcome is not None else "not connected"


@shared_task(name="sessions.teamviewer_pull_all_task")
def teamviewer_pull_all_task() -> dict[str, int]:
    """Beat, every ``TEAMVIEWER_PULL_EVERY`` seconds: pull every tenant with a TeamViewer
    connection, one by one. Each pull asks from its own cursor (less a day), so a run
    missed while beat was down is caught up by the next one."""
    from . import selectors, services

    totals = {"tenants": 0, "sessions_created": 0, "failed": 0}
    tenant_ids = selectors.tenant_ids_with_teamviewer_across_all_tenants()
    for tenant in Tenant.objects.filter(pk__in=tenant_ids).order_by("pk"):
        totals["tenants"] += 1
        try:
            with tenant_context(tenant):
                outcome = services.teamviewer_pull(tenant=tenant)
        except Exception:  # one tenant's surprise must not stop the other tenants' pulls
            logger.exception("TeamViewer pull of tenant %s failed", tenant.pk)
            totals["failed"] += 1
            continue
        if outcome is not None and outcome.ok:
            totals["sessions_created"] += outcome.sessions_created
        elif outcome is not None:
            totals["failed"] += 1
    return totals


@shared_task(name="sessions.session_import_run_task")
def session_import_run_task(tenant_id: int, import_id: int, actor_id: int | None = None) -> str:
    """A big staged session log, imported streamed with progress (``bulk_import.run``);
    the outcome (imported, or the rows refused) is in the progress record, not raised."""
    from . import bulk_import

    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_context(tenant):
        return bulk_import.run(tenant=tenant, import_id=import_id, actor_id=actor_id).state
