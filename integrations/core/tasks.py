"""Thin Celery tasks of the push engine: ids in, ``services`` does the work."""

from __future__ import annotations

from celery import shared_task

from billing_site.models import Tenant
from billing_site.rls import cross_tenant
from billing_site.tenancy import tenant_context

from .models import Delivery


@shared_task(
    bind=True,
    name="integrations.delivery_run_task",
    # Given back if the worker dies; the attempt's lease and the lookup by number make a
    # second run safe (services module docstring).
    acks_late=True,
    reject_on_worker_lost=True,
)
def delivery_run_task(self, tenant_id: int, delivery_id: int) -> str:
    from . import services

    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_context(tenant):
        result = services.delivery_run(delivery_id=delivery_id)
    if result.retry_in is not None and not self.request.is_eager:
        # Sent now for its retry time (the sweep would also find it, later).
        with tenant_context(tenant):
            services.delivery_mark_queued(delivery_id=delivery_id, retry_in=result.retry_in)
        delivery_run_task.apply_async((tenant_id, delivery_id), countdown=result.retry_in)
    return result.status


@shared_task(name="integrations.deliveries_sweep_task")
def deliveries_sweep_task() -> int:
    """Beat: queue every delivery that is due (a retry time passed, a lost task, a
    worker killed mid-push), tenant by tenant."""
    from integrations.connectwise.services import deliveries_plan_due

    from . import services
    from .models import Connection, ConnectionStatus, Provider

    with cross_tenant():
        tenant_ids = set(
            Delivery.all_tenants.filter(status__in=("pending", "running"))
            .order_by()
            .values_list("tenant_id", flat=True)
            .distinct()
        )
        # Tenants pushing to ConnectWise: the customers' months that came due are planned
        # here (one beat, one tick), then sent with everything else that is due.
        psa = set(
            Connection.all_tenants.filter(
                provider=Provider.CONNECTWISE, status=ConnectionStatus.ACTIVE
            ).values_list("tenant_id", flat=True)
        )
    queued = 0
    for tenant in Tenant.objects.filter(pk__in=tenant_ids | psa).order_by("pk"):
        with tenant_context(tenant):
            if tenant.pk in psa:
                deliveries_plan_due()
            queued += len(services.deliveries_due())
    return queued


@shared_task(name="integrations.payments_sync_task")
def payments_sync_task(tenant_id: int, connection_id: int) -> dict:
    from . import services
    from .models import Connection

    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_context(tenant):
        connection = Connection.objects.get(pk=connection_id)
        result = services.payments_sync(connection=connection)
    return {"recorded": result.recorded, "removed": result.removed, "problems": result.problems}


@shared_task(name="integrations.payments_sync_all_task")
def payments_sync_all_task() -> int:
    """Beat, every ``INTEGRATIONS_SYNC_EVERY`` seconds: one sync task per active connection."""
    from .models import ACCOUNTING_PROVIDERS, Connection, ConnectionStatus

    with cross_tenant():
        rows = list(
            Connection.all_tenants.filter(
                status=ConnectionStatus.ACTIVE, provider__in=ACCOUNTING_PROVIDERS
            ).values_list("tenant_id", "pk")
        )
    count = 0
    for tenant_id, connection_id in rows:
        payments_sync_task.delay(tenant_id, connection_id)
        count += 1
    return count
