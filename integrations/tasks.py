"""Celery finds the tasks here (autodiscovery); they live in ``core.tasks``: one engine
for every provider, which differs only in its client and mapping."""

from .core.tasks import (  # noqa: F401
    deliveries_sweep_task,
    delivery_run_task,
    payments_sync_all_task,
    payments_sync_task,
)
