"""PDFs are never pending forever: the pending state is the durable record of work to do,
a sweep queues lost renders again, a render writes only for the version it read, and
"Render again" works on pending as well as failed PDFs (page and API)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from billing_site.celery import app as celery_app
from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from invoices import services, tasks
from invoices.models import Invoice, InvoiceStatus, PdfStatus
from invoices.tasks import invoice_pdf_sweep_task, invoice_render_pdf_task

from .factories import InvoiceFactory, InvoiceLineFactory

API = "/api/v1/invoices/"
RETRY_AFTER = dt.timedelta(seconds=settings.PDF_PENDING_RETRY_AFTER)


def drafts_of(tenant, count: int) -> list[Invoice]:
    drafts = []
    for index in range(count):
        draft = InvoiceFactory(tenant=tenant, draft=True, bill_to_name=f"Customer {index}")
        InvoiceLineFactory(tenant=tenant, invoice=draft, description=f"Managed backup {index}")
        drafts.append(draft)
    return drafts


def generate_and_lose_the_enqueue(tenant, count, capture) -> list[int]:
    """Finalise ``count`` drafts as a batch generate does; the process dies right after
    commit, so the render tasks queued for after commit never reach the broker."""
    with tenant_context(tenant):
        drafts = drafts_of(tenant, count)
        with capture(execute=False) as lost:
            finals = services.invoices_finalize(invoices=drafts)
    assert len(lost) == count  # one render per invoice was waiting for the commit
    return [invoice.pk for invoice in finals]


def pdf_states(ids) -> list[tuple[str, bool]]:
    return [
        (status, bool(name))
        for status, name in Invoice.all_tenants.filter(pk__in=ids)
        .order_by("pk")
        .values_list("pdf_status", "pdf")
    ]


def pending_invoice(tenant, **fields) -> Invoice:
    """A final invoice whose render was queued just now."""
    now = timezone.now()
    fields = {"pdf_pending_since": now, "pdf_queued_at": now, **fields}
    invoice = InvoiceFactory(tenant=tenant, pdf_status=PdfStatus.PENDING, **fields)
    InvoiceLineFactory(tenant=tenant, invoice=invoice, description="Managed backup")
    return invoice


# --- The sweep ------------------------------------------------------------------------


def test_lost_enqueues_after_a_generate_are_rendered_by_the_sweep(
    tenant_a, tenant_b, frozen_now, django_capture_on_commit_callbacks
):
    ids_a = generate_and_lose_the_enqueue(tenant_a, 6, django_capture_on_commit_callbacks)
    ids_b = generate_and_lose_the_enqueue(tenant_b, 2, django_capture_on_commit_callbacks)
    assert pdf_states(ids_a + ids_b) == [(PdfStatus.PENDING, False)] * 8
    finalized = Invoice.all_tenants.get(pk=ids_a[0])
    assert finalized.pdf_pending_since == finalized.pdf_queued_at == finalized.finalized_at

    # Not yet stale: a render queued a moment ago may simply be waiting for a worker.
    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert invoice_pdf_sweep_task.delay().get() == {"tenants": 0, "requeued": 0}
    assert queued == []

    frozen_now.shift(RETRY_AFTER + dt.timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert invoice_pdf_sweep_task.delay().get() == {"tenants": 2, "requeued": 8}
    assert pdf_states(ids_a + ids_b) == [(PdfStatus.READY, True)] * 8
    ready = Invoice.all_tenants.get(pk=ids_b[0])
    assert (ready.pdf_pending_since, ready.pdf_queued_at, ready.pdf_error) == (None, None, "")
    assert ready.pdf.name.startswith(f"invoices/2026/03/{ready.number}-")


def test_two_sweeps_queue_each_lost_render_once(
    tenant_a, tenant_b, frozen_now, django_capture_on_commit_callbacks
):
    ids = generate_and_lose_the_enqueue(tenant_a, 3, django_capture_on_commit_callbacks)
    frozen_now.shift(RETRY_AFTER + dt.timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=False) as first:
        assert invoice_pdf_sweep_task.delay().get()["requeued"] == 3
        # The second sweep finds them freshly queued: nothing to do.
        assert invoice_pdf_sweep_task.delay().get()["requeued"] == 0
    assert len(first) == 3
    # Both the sweep's task and a late original one run: one file per invoice.
    for callback in first:
        callback()
    for pk in ids:
        invoice_render_pdf_task.delay(tenant_a.pk, pk)
    assert pdf_states(ids) == [(PdfStatus.READY, True)] * 3
    stored = {name for name in Invoice.all_tenants.filter(pk__in=ids).values_list("pdf", flat=True)}
    media = settings.MEDIA_ROOT / "invoices" / "2026" / "03"
    assert {f"invoices/2026/03/{path.name}" for path in media.iterdir()} == stored


def test_the_sweep_leaves_drafts_and_other_states_alone(
    tenant_a, tenant_b, frozen_now, django_capture_on_commit_callbacks
):
    with tenant_context(tenant_a):
        draft = InvoiceFactory(tenant=tenant_a, draft=True, pdf_status=PdfStatus.PENDING)
        failed = InvoiceFactory(tenant=tenant_a, pdf_status=PdfStatus.FAILED, pdf_error="x")
    frozen_now.shift(RETRY_AFTER * 2)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert invoice_pdf_sweep_task.delay().get() == {"tenants": 0, "requeued": 0}
    assert queued == []
    assert Invoice.all_tenants.get(pk=draft.pk).pdf_status == PdfStatus.PENDING
    assert Invoice.all_tenants.get(pk=failed.pk).pdf_status == PdfStatus.FAILED


def test_pending_before_the_sweep_existed_counts_as_stale(
    tenant_a, tenant_b, django_capture_on_commit_callbacks
):
    # Rows pending from before the migration have no pdf_queued_at.
    invoice = pending_invoice(tenant_a, pdf_queued_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        assert invoice_pdf_sweep_task.delay().get() == {"tenants": 1, "requeued": 1}
    assert pdf_states([invoice.pk]) == [(PdfStatus.READY, True)]


def test_the_sweep_needs_a_tenant_for_its_tenant_step(tenant_a, tenant_b):
    from billing_site.tenancy import TenantNotSet

    with pytest.raises(TenantNotSet):
        services.invoice_pdfs_requeue_stale(older_than=RETRY_AFTER)


# --- A render writes only for the version it read -------------------------------------


def test_a_payment_while_rendering_keeps_the_pdf(tenant_a, tenant_b):
    invoice = pending_invoice(tenant_a)

    def payment_arrives():
        services.payment_record(
            invoice=invoice,
            amount="40.00",
            received_on=dt.date(2026, 3, 19),
            method="bank_transfer",
        )

    with tenant_context(tenant_a):
        status = services.invoice_pdf_render(invoice_id=invoice.pk, before_store=payment_arrives)
    invoice.refresh_from_db()
    assert status == PdfStatus.READY
    assert (invoice.pdf_status, invoice.status) == (PdfStatus.READY, InvoiceStatus.PARTIALLY_PAID)
    assert invoice.amount_paid == Decimal("40.000") and invoice.pdf.storage.exists(invoice.pdf.name)


def test_marking_sent_while_rendering_keeps_the_pdf(tenant_a, tenant_b):
    invoice = pending_invoice(tenant_a)
    with tenant_context(tenant_a):
        status = services.invoice_pdf_render(
            invoice_id=invoice.pk,
            before_store=lambda: services.invoice_mark_sent(invoice=invoice),
        )
    invoice.refresh_from_db()
    assert status == PdfStatus.READY
    assert (invoice.pdf_status, invoice.status) == (PdfStatus.READY, InvoiceStatus.SENT)


def test_a_void_while_rendering_discards_the_old_render_and_renders_void(
    tenant_a, tenant_b, django_capture_on_commit_callbacks
):
    invoice = pending_invoice(tenant_a)
    with tenant_context(tenant_a), django_capture_on_commit_callbacks(execute=False) as queued:
        status = services.invoice_pdf_render(
            invoice_id=invoice.pk,
            before_store=lambda: services.invoice_void(invoice=invoice, reason="Wrong company"),
        )
    invoice.refresh_from_db()
    # The render read the final invoice; the void asked for a new version meanwhile.
    assert status == PdfStatus.PENDING and invoice.pdf_status == PdfStatus.PENDING
    assert not invoice.pdf
    media = settings.MEDIA_ROOT / "invoices"
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))  # no orphan
    for callback in queued:
        callback()  # the render the void queued
    invoice.refresh_from_db()
    assert (invoice.status, invoice.pdf_status) == (InvoiceStatus.VOID, PdfStatus.READY)


def test_a_render_that_keeps_killing_its_worker_is_marked_failed(tenant_a, tenant_b):
    # Started the maximum number of times without finishing: redelivered after each death.
    invoice = pending_invoice(tenant_a, pdf_attempts=services.PDF_MAX_RENDER_STARTS)
    assert invoice_render_pdf_task.delay(tenant_a.pk, invoice.pk).get() == PdfStatus.FAILED
    invoice.refresh_from_db()
    assert invoice.pdf_status == PdfStatus.FAILED
    assert "started 3 times without finishing" in invoice.pdf_error


def test_a_storage_retry_does_not_count_as_a_lost_worker(tenant_a, tenant_b, settings, tmp_path):
    invoice = pending_invoice(tenant_a)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    settings.MEDIA_ROOT = blocker
    with tenant_context(tenant_a), pytest.raises(OSError):
        services.invoice_pdf_render(invoice_id=invoice.pk)
    invoice.refresh_from_db()
    assert (invoice.pdf_status, invoice.pdf_attempts) == (PdfStatus.PENDING, 0)


# --- Render again: services, page, API -------------------------------------------------


def test_render_again_on_a_pending_pdf_requeues_the_same_version(
    tenant_a, tenant_b, frozen_now, django_capture_on_commit_callbacks
):
    invoice = pending_invoice(tenant_a, pdf_version=4, pdf_attempts=2)
    frozen_now.shift(dt.timedelta(minutes=10))
    with tenant_context(tenant_a), django_capture_on_commit_callbacks(execute=False) as queued:
        done = services.invoice_pdf_request(invoice=invoice)
    assert (done.previous_status, done.new_version) == (PdfStatus.PENDING, False)
    assert len(queued) == 1
    invoice.refresh_from_db()
    assert (invoice.pdf_version, invoice.pdf_attempts) == (4, 0)
    assert invoice.pdf_queued_at == dt.datetime(2026, 3, 20, 11, 10, tzinfo=dt.UTC)


def test_render_again_on_a_failed_pdf_asks_for_a_new_version(
    tenant_a, tenant_b, django_capture_on_commit_callbacks
):
    invoice = InvoiceFactory(tenant=tenant_a, pdf_status=PdfStatus.FAILED, pdf_version=2)
    with tenant_context(tenant_a), django_capture_on_commit_callbacks(execute=False):
        done = services.invoice_pdf_request(invoice=invoice)
    assert (done.previous_status, done.new_version) == (PdfStatus.FAILED, True)
    invoice.refresh_from_db()
    assert (invoice.pdf_status, invoice.pdf_version, invoice.pdf_error) == (
        PdfStatus.PENDING,
        3,
        "",
    )
    assert invoice.pdf_pending_since is not None


@pytest.fixture
def admin_client(admin_a, client_as):
    return client_as(admin_a)


def render_url(invoice) -> str:
    return reverse("invoices:invoice-pdf-render", args=[invoice.pk])


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (PdfStatus.PENDING, "The pending PDF of {} is queued for rendering again."),
        (PdfStatus.FAILED, "A new PDF of {} is queued for rendering (it was failed)."),
    ],
)
def test_render_again_from_the_page(
    tenant_a, tenant_b, admin_client, django_capture_on_commit_callbacks, state, message
):
    invoice = pending_invoice(tenant_a)
    Invoice.all_tenants.filter(pk=invoice.pk).update(pdf_status=state, pdf_error="boom")
    page = admin_client.get(reverse("invoices:invoice-detail", args=[invoice.pk]))
    assert f'action="{render_url(invoice)}"' in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(render_url(invoice), follow=True)
    assert response.status_code == 200
    assert message.format(invoice.number) in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.pdf_status == PdfStatus.READY  # rendered once the request committed


def test_render_again_roles_and_tenants_on_the_page(tenant_a, tenant_b, staff_a, client_as):
    invoice = pending_invoice(tenant_a)
    accountant = client_as(staff_a.user(Role.ACCOUNTANT))
    page = accountant.get(reverse("invoices:invoice-detail", args=[invoice.pk])).content.decode()
    assert "Rendering PDF" in page and render_url(invoice) not in page  # read-only
    assert accountant.post(render_url(invoice)).status_code == 403
    other = pending_invoice(tenant_b)
    client = client_as(staff_a.user(Role.BILLING_ADMIN))
    assert client.post(render_url(other)).status_code == 404
    assert Invoice.all_tenants.get(pk=other.pk).pdf_queued_at == other.pdf_queued_at


@pytest.mark.parametrize(
    ("state", "new_version", "detail"),
    [
        (PdfStatus.PENDING, False, "The pending PDF of {} is queued for rendering again."),
        (PdfStatus.FAILED, True, "A new PDF of {} is queued for rendering (it was failed)."),
    ],
)
def test_render_again_through_the_api(
    tenant_a,
    tenant_b,
    admin_a,
    api_as,
    django_capture_on_commit_callbacks,
    state,
    new_version,
    detail,
):
    invoice = pending_invoice(tenant_a)
    Invoice.all_tenants.filter(pk=invoice.pk).update(pdf_status=state)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(admin_a).post(f"{API}{invoice.pk}/render-pdf/")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["id"] == invoice.pk and body["number"] == invoice.number
    assert (body["pdf_status"], body["previous_pdf_status"]) == ("pending", state)
    assert body["new_version"] is new_version
    assert body["detail"] == detail.format(invoice.number)
    assert body["pdf_pending_since"]
    invoice.refresh_from_db()
    assert invoice.pdf_status == PdfStatus.READY  # rendered once the request committed


def test_render_again_api_roles_tenants_and_drafts(tenant_a, tenant_b, staff_a, api_as, admin_a):
    invoice = pending_invoice(tenant_a)
    accountant = api_as(staff_a.user(Role.ACCOUNTANT))
    assert accountant.get(f"{API}{invoice.pk}/").json()["pdf_status"] == "pending"
    assert accountant.post(f"{API}{invoice.pk}/render-pdf/").status_code == 403
    admin = api_as(admin_a)
    other = pending_invoice(tenant_b)
    assert admin.post(f"{API}{other.pk}/render-pdf/").status_code == 404
    draft = InvoiceFactory(tenant=tenant_a, draft=True)
    response = admin.post(f"{API}{draft.pk}/render-pdf/")
    assert response.status_code == 400
    assert "finalise the invoice first" in response.json()["status"][0]


# --- Celery settings that bring a killed worker's task back -----------------------------


def test_the_render_task_is_redelivered_if_its_worker_dies():
    conf = celery_app.conf
    timeout = conf.broker_transport_options["visibility_timeout"]
    assert timeout == settings.BROKER_VISIBILITY_TIMEOUT
    assert 60 <= timeout <= 900  # minutes, not Redis' default hour
    task = celery_app.tasks["invoices.invoice_render_pdf_task"]
    assert task.acks_late is True and task.reject_on_worker_lost is True
    # The task's hard limit and every retry countdown end before Redis hands it out again.
    assert task.time_limit == settings.PDF_RENDER_TIME_LIMIT < timeout
    assert max(tasks._backoff(n) for n in range(task.max_retries + 1)) < timeout


def test_beat_runs_the_sweep_every_minute_or_two():
    entry = celery_app.conf.beat_schedule["invoice-pdf-sweep"]
    assert entry["task"] in celery_app.tasks
    assert entry["task"] == invoice_pdf_sweep_task.name
    assert 30 <= entry["schedule"] <= 120
    assert entry["schedule"] <= settings.PDF_PENDING_RETRY_AFTER
