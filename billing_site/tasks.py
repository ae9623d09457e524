"""Core tasks."""

from celery import shared_task
from django.db import connection


@shared_task(name="billing_site.worker_probe_task")
def worker_probe_task() -> dict:
    """Run by a worker to prove the path web -> broker -> worker -> database works."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        (value,) = cursor.fetchone()
    return {"database": "ok" if value == 1 else "error"}


@shared_task(name="billing_site.forget_expired_idempotency_keys_task")
def forget_expired_idempotency_keys_task() -> int:
    """Beat, hourly: every tenant's idempotency keys past their keeping time."""
    from .api.idempotency import forget_expired_keys

    return forget_expired_keys()
