"""Run and Generate in the background: a Celery task per job, its progress polled by the
batch page (``billing_site.progress``, the mechanism of the session import).

One batch job runs at a time per tenant: two would bill the same items and take the same
invoice numbers, so the second would wait on the first's locks and then fail. A second
Run or Generate is refused at once, saying which job holds the tenant. The batch's own
status stays the durable record of what is done: the services move it by conditional
updates, so a job handed out twice (a worker lost after commit) does nothing the second
time. A job lost before it finished (its worker died) goes stale after
``progress.STALE_AFTER`` and can be started again; nothing of it was written.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from billing_site import progress
from billing_site.money import format_money
from billing_site.tenancy import require_current_tenant

from .models import BatchStatus, InvoiceBatch

logger = logging.getLogger(__name__)

RUN, GENERATE = "run", "generate"
ACTIONS = {RUN: "Run", GENERATE: "Generate"}
# The status a job needs to start, and the status it leaves.
NEEDS = {RUN: BatchStatus.DRAFT, GENERATE: BatchStatus.RUN}
MAKES = {RUN: BatchStatus.RUN, GENERATE: BatchStatus.GENERATED}
REPORT_EVERY = 0.5  # seconds between progress writes within a step


@dataclass
class BatchJob(progress.JobProgress):
    """A Run or Generate of one batch."""

    action: str = RUN
    batch_id: int = 0
    batch_name: str = ""
    errors: list[str] = field(default_factory=list)
    told: bool = False  # its success was shown

    @property
    def label(self) -> str:
        return ACTIONS.get(self.action, self.action)

    @property
    def failed(self) -> bool:
        return self.state == progress.FAILED

    def started(self, tenant) -> dt.datetime:
        return timezone.localtime(
            dt.datetime.fromtimestamp(self.started_at, tz=dt.UTC), tenant.zone
        )


def _tenant_key(tenant_id: int) -> str:
    return f"invoices:batch-job:{tenant_id}"


def _batch_key(tenant_id: int, batch_id: int) -> str:
    return f"invoices:batch-job:{tenant_id}:{batch_id}"


def job_of(batch: InvoiceBatch) -> BatchJob | None:
    """The batch's latest job (running, or how it ended), for a day."""
    return progress.load(_batch_key(batch.tenant_id, batch.pk), BatchJob)


def tell_done(batch: InvoiceBatch, job: BatchJob | None) -> bool:
    """Whether to show ``job``'s success now: once, on the first page after it."""
    if job is None or job.state != progress.DONE or job.told:
        return False
    job.told = True
    progress.save(_batch_key(batch.tenant_id, batch.pk), job)
    return True


def running_job() -> BatchJob | None:
    """The current tenant's batch job in progress, if any."""
    job = progress.load(_tenant_key(require_current_tenant().pk), BatchJob)
    return job if job is not None and job.active else None


def refuse_while_running(batch: InvoiceBatch) -> None:
    """A batch being run or generated keeps its selection and drafts until it is done."""
    job = running_job()
    if job is not None and job.batch_id == batch.pk:
        raise ValidationError(
            {"status": f"“{batch.name}” is being {_doing(job)}: wait until it is done."}
        )


def _doing(job: BatchJob) -> str:
    return "run" if job.action == RUN else "generated"


def _refusal(job: BatchJob, batch: InvoiceBatch, tenant) -> ValidationError:
    since = f"started at {job.started(tenant):%H:%M:%S}, {job.percent} % done"
    if job.batch_id == batch.pk:
        text = (
            f"“{batch.name}” is already being {_doing(job)} ({since}). Wait for it to "
            "finish: this page shows its progress."
        )
    else:
        text = (
            f"Another batch is being {_doing(job)}: “{job.batch_name}” ({since}). One batch "
            "runs or generates at a time, since two would bill the same items and take "
            "the same invoice numbers. Wait for it to finish, then try again."
        )
    return ValidationError({"status": text})


def start(
    *, batch: InvoiceBatch, action: str, actor=None, consolidate: bool | None = None
) -> BatchJob:
    """Queue a Run or Generate of ``batch`` (once this transaction commits) and return its
    progress record. Refused with a ValidationError when the batch is not in the status
    the action needs or another batch job of the tenant is in progress."""
    from .. import tasks
    from . import services

    tenant = require_current_tenant()
    with transaction.atomic():
        # Not locked: a running job holds the batch row until it commits, and a second
        # request must be refused at once (by the progress claim), not wait for it.
        batch = InvoiceBatch.objects.get(pk=batch.pk)
        if batch.status != NEEDS[action]:
            if action == RUN:
                raise ValidationError({"status": f"Batch “{batch.name}” has already been run."})
            if batch.status == BatchStatus.GENERATED:
                raise ValidationError({"status": f"Batch “{batch.name}” is already generated."})
            raise ValidationError({"status": "Run the batch before generating its invoices."})
        job = BatchJob(
            action=action, batch_id=batch.pk, batch_name=batch.name, step="Waiting for a worker"
        )
        holder = progress.claim(_tenant_key(tenant.pk), job)
        if holder is not None:
            raise _refusal(holder, batch, tenant)
        if consolidate is not None:
            services.batch_update(batch=batch, consolidate=consolidate)
        progress.save(_batch_key(tenant.pk, batch.pk), job)
        task = tasks.invoice_batch_run_task if action == RUN else tasks.invoice_batch_generate_task
        ids = (tenant.pk, batch.pk, action, actor.pk if actor is not None else None)
        transaction.on_commit(lambda: _enqueue(task, *ids))
    return job


def _enqueue(task, tenant_id: int, batch_id: int, action: str, actor_id: int | None) -> None:
    try:
        task.delay(tenant_id, batch_id, actor_id)
    except Exception as exc:  # the broker is down: say so rather than wait ten minutes
        if getattr(task.app.conf, "task_always_eager", False):
            raise
        logger.exception("Could not queue the %s of batch %s", action, batch_id)
        _finish(
            tenant_id,
            batch_id,
            _loaded(tenant_id, batch_id, action),
            progress.FAILED,
            f"The task queue could not be reached ({exc.__class__.__name__}); nothing was "
            "done. Try again in a moment.",
        )


def _loaded(tenant_id: int, batch_id: int, action: str) -> BatchJob:
    return progress.load(_batch_key(tenant_id, batch_id), BatchJob) or BatchJob(
        action=action, batch_id=batch_id
    )


def _finish(tenant_id: int, batch_id: int, job: BatchJob, state: str, message: str) -> None:
    job.state, job.message = state, message
    job.step = ""
    progress.save(_batch_key(tenant_id, batch_id), job)
    held = progress.load(_tenant_key(tenant_id), BatchJob)
    if held is not None and held.batch_id == batch_id and held.action == job.action:
        progress.delete(_tenant_key(tenant_id))


class _Reporter:
    """The services' ``report``: writes the progress when the step changes, else at most
    every ``REPORT_EVERY`` seconds (a write to the cache per contract would cost more
    than the step)."""

    def __init__(self, tenant_id: int, job: BatchJob):
        self.keys = (_batch_key(tenant_id, job.batch_id), _tenant_key(tenant_id))
        self.job = job
        self.last = 0.0

    def __call__(self, step: str, done: int, total: int) -> None:
        import time

        job = self.job
        now = time.monotonic()
        if step.split(" (")[0] == job.step.split(" (")[0] and now - self.last < REPORT_EVERY:
            return
        job.step, job.done, job.total = step, done, total
        self.last = now
        for key in self.keys:
            progress.save(key, job)


def execute(*, tenant, batch_id: int, action: str, actor_id: int | None = None) -> BatchJob:
    """Do a queued job (the task's body): the service under a progress reporter; its
    outcome, success or the reason it failed, goes to the progress record (never raised:
    nothing is left to retry, and the page shows it)."""
    from django.contrib.auth import get_user_model

    from . import services

    job = _loaded(tenant.pk, batch_id, action)
    job.state, job.message, job.errors, job.told = progress.RUNNING, "", [], False
    report = _Reporter(tenant.pk, job)
    report("Starting", 0, 100)
    try:
        batch = InvoiceBatch.objects.get(pk=batch_id)
        if batch.status == MAKES[action] or (
            action == RUN and batch.status == BatchStatus.GENERATED
        ):
            # Handed out again after it was done (a worker lost after commit).
            _finish(tenant.pk, batch_id, job, progress.DONE, f"“{batch.name}” is already done.")
            return job
        if action == RUN:
            actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
            made = services.batch_run(batch=batch, created_by=actor, report=report)
            message = f"{len(made):,} draft invoice(s) created: {_totals(made, tenant)}."
        else:
            made = services.batch_generate(batch=batch, report=report)
            numbers = sorted(i.number for i in made)
            if not numbers:
                message = f"“{batch.name}” had no drafts left: no invoice was generated."
            else:
                span = f"{numbers[0]} to {numbers[-1]}" if len(numbers) > 1 else numbers[0]
                message = (
                    f"{len(made):,} invoice(s) generated, numbered {span}: "
                    f"{_totals(made, tenant)}. Their PDFs are being rendered."
                )
    except InvoiceBatch.DoesNotExist:
        _finish(tenant.pk, batch_id, job, progress.FAILED, "The batch was deleted meanwhile.")
    except ValidationError as error:
        job.errors = list(error.messages)[:10]
        _finish(
            tenant.pk,
            batch_id,
            job,
            progress.FAILED,
            "Nothing was written, for this reason:"
            if len(job.errors) == 1
            else "Nothing was written, for these reasons:",
        )
    except Exception as exc:
        logger.exception("The %s of batch %s failed", action, batch_id)
        _finish(
            tenant.pk,
            batch_id,
            job,
            progress.FAILED,
            f"{job.label} stopped on an unexpected error ({exc.__class__.__name__}: "
            f"{str(exc)[:200]}); nothing was written. Try again; if it fails again, "
            "report it with the time it happened.",
        )
    else:
        _finish(tenant.pk, batch_id, job, progress.DONE, message)
    return job


def _totals(invoices, tenant) -> str:
    """Totals per currency in the tenant's locale, e.g. "4 196,40 € and 80,00 $US"."""
    sums: dict[str, Decimal] = {}
    for invoice in invoices:
        sums[invoice.currency] = sums.get(invoice.currency, Decimal(0)) + invoice.total
    locale = tenant.locale or "en_US"
    return " and ".join(
        f"{format_money(total, currency, locale)} in total"
        if len(sums) == 1
        else format_money(total, currency, locale)
        for currency, total in sorted(sums.items())
    )
