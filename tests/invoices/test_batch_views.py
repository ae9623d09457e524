"""Batch pages in the browser: the Atera flow with htmx selection, roles, tenant wall."""

from __future__ import annotations

import pytest
from django.urls import reverse

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from contracts.models import TimeEntry
from invoices.batches.models import InvoiceBatch
from invoices.models import Invoice, InvoiceStatus

from .batch_factories import AS_OF, build_world

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def world(tenant_a):
    return build_world(tenant_a)


def detail(batch):
    return reverse("invoices:batch-detail", args=[batch.pk])


def test_atera_flow_in_the_browser(
    client_as, admin_a, world, tenant_a, django_capture_on_commit_callbacks
):
    browser = client_as(admin_a)
    assert browser.get(reverse("invoices:batch-list")).status_code == 200
    response = browser.post(
        reverse("invoices:batch-list"), {"name": "March 2026", "as_of": "2026-03-01"}
    )
    assert response.status_code == 302
    with tenant_context(tenant_a):
        batch = InvoiceBatch.objects.get(name="March 2026")
    page = browser.get(detail(batch))
    html = page.content.decode()
    assert page.status_code == 200
    for text in (
        "ACME support",
        "Bistro retainer",
        "Harbor support",
        "Locked",
        "Partial",
        "Selectable",
        "€1,770.00",
        "€158.00",
        "€1,928.00",
        "12 h 30 min",
    ):
        assert text in html, text

    # Expand a contract (htmx): its items, the waiting one locked.
    items = browser.get(reverse("invoices:batch-contract", args=[batch.pk, world.acme.pk]), **HTMX)
    assert items.status_code == 200
    assert (
        "Printer offline" in items.content.decode() and "due 01 Apr 2026" in items.content.decode()
    )

    # Exclude the March retainer fee: the row and the details update in one response.
    changed = browser.post(
        reverse("invoices:batch-selection", args=[batch.pk]),
        {"contract": world.bistro.pk, "item": "retainer_fee:2026-03-01", "include": "0"},
        **HTMX,
    )
    body = changed.content.decode()
    assert changed.status_code == 200
    assert f'id="contract-{world.bistro.pk}"' in body and 'hx-swap-oob="true"' in body
    assert "€680.00" in body and "€1,270.00" in body and "€108.00" in body

    # Filters.
    filtered = browser.get(detail(batch), {"state": "locked"})
    assert "Harbor support" in filtered.content.decode()
    assert "Bistro retainer" not in filtered.content.decode()

    # Run is a background job, queued after commit (here run in-process).
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(reverse("invoices:batch-run", args=[batch.pk]))
    assert response.status_code == 302
    with tenant_context(tenant_a):
        drafts = list(Invoice.objects.filter(batch_links__batch=batch))
        assert len(drafts) == 5
        acme = next(i for i in drafts if i.bill_to_name == "ACME")
    page = browser.get(detail(batch)).content.decode()
    assert "Generate invoices" in page and "Delete" in page
    # Double click on Run: nothing new.
    with django_capture_on_commit_callbacks(execute=True):
        again = browser.post(reverse("invoices:batch-run", args=[batch.pk]), follow=True)
    assert "has already been run" in again.content.decode()
    with tenant_context(tenant_a):
        assert Invoice.objects.count() == 5

    browser.post(reverse("invoices:batch-invoice-delete", args=[batch.pk, acme.pk]))
    with tenant_context(tenant_a):
        assert not Invoice.objects.filter(pk=acme.pk).exists()
        assert TimeEntry.objects.get(pk=world.entries["acme1"].pk).invoice_line_id is None

    generate = reverse("invoices:batch-generate", args=[batch.pk])
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(generate, {"consolidate": "on", "confirm": "1"})
        browser.post(generate, {"consolidate": "on", "confirm": "1"})
    with tenant_context(tenant_a):
        final = list(Invoice.objects.filter(batch_links__batch=batch).order_by("number"))
    assert [(i.bill_to_name, i.currency, str(i.total)) for i in final] == [
        ("Bistro Lumière", "EUR", "748.000"),
        ("Helios IT Partners", "EUR", "390.000"),
        ("Helios IT Partners", "USD", "80.000"),
    ]
    assert all(i.status == InvoiceStatus.FINAL for i in final)
    url = reverse("invoices:batch-export", args=[batch.pk])
    # MSP-DEV-2026-00001 is longer than QuickBooks Desktop keeps: refused, saying what to do.
    refused = browser.get(url, {"format": "iif"})
    assert refused.status_code == 400
    assert "at most 11 characters" in refused.content.decode()
    assert "shorten numbers" in refused.content.decode()
    export = browser.get(url, {"format": "iif", "shorten_numbers": "on"})
    assert export.status_code == 200
    assert export.content.startswith(b"!TRNS")
    ids = ",".join(str(i.pk) for i in final)
    csv_file = browser.get(reverse("invoices:invoice-export"), {"format": "csv", "ids": ids})
    assert csv_file.status_code == 200 and b"MSP-DEV" in csv_file.content


def test_roles(client_as, staff_a, world):
    admin = client_as(staff_a.user(Role.BILLING_ADMIN))
    admin.post(reverse("invoices:batch-list"), {"name": "X", "as_of": "2026-03-01"})
    batch = InvoiceBatch.all_tenants.get(name="X")
    tech = client_as(staff_a.user(Role.TECHNICIAN))
    assert tech.get(reverse("invoices:batch-list")).status_code == 403
    assert tech.get(detail(batch)).status_code == 403
    accountant = client_as(staff_a.user(Role.ACCOUNTANT))
    page = accountant.get(detail(batch))
    assert page.status_code == 200
    assert "Run</button>" not in page.content.decode()
    assert accountant.post(reverse("invoices:batch-run", args=[batch.pk])).status_code == 403
    assert not Invoice.all_tenants.exists()


def test_tenant_b_gets_404(client_as, admin_a, staff_b, world):
    client_as(admin_a).post(reverse("invoices:batch-list"), {"name": "X", "as_of": "2026-03-01"})
    batch = InvoiceBatch.all_tenants.get(name="X")
    other = client_as(staff_b.user(Role.BILLING_ADMIN))
    assert other.get(detail(batch)).status_code == 404
    assert other.post(reverse("invoices:batch-run", args=[batch.pk])).status_code == 404
    listing = other.get(reverse("invoices:batch-list")).content.decode()
    assert "No invoice batch yet" in listing


def test_page_queries_do_not_grow_with_contracts(
    client_as, admin_a, world, tenant_a, django_assert_max_num_queries
):
    from .test_batch_services import build_world_more

    browser = client_as(admin_a)
    browser.post(reverse("invoices:batch-list"), {"name": "X", "as_of": "2026-03-01"})
    batch = InvoiceBatch.all_tenants.get(name="X")
    with django_assert_max_num_queries(60) as few:
        browser.get(detail(batch))
    build_world_more(tenant_a)
    build_world_more(tenant_a)
    with django_assert_max_num_queries(60) as many:
        browser.get(detail(batch))
    assert len(many.captured_queries) == len(few.captured_queries)


def test_batch_invoices_are_paged(client_as, admin_a, world, tenant_a, monkeypatch):
    from invoices.batches import services as batch_services
    from invoices.batches.views import BatchDetailView

    with tenant_context(tenant_a):
        batch = batch_services.batch_create(name="March 2026", as_of=AS_OF)
        batch_services.batch_run(batch=batch)
    monkeypatch.setattr(BatchDetailView, "paginate_by", 2)
    browser = client_as(admin_a)
    first = browser.get(detail(batch)).content.decode()
    assert "1–2 of 5" in first and first.count('class="btn btn-sm btn-danger"') == 2
    last = browser.get(detail(batch), {"page": 3}).content.decode()
    assert "5–5 of 5" in last and last.count('class="btn btn-sm btn-danger"') == 1
    assert "Generate invoices" in last


def test_invoice_page_lists_the_entries_each_line_bills(
    client_as, admin_a, staff_b, world, tenant_a, django_assert_max_num_queries
):
    from invoices.batches import services as batch_services

    with tenant_context(tenant_a):
        batch = batch_services.batch_create(name="March 2026", as_of=AS_OF)
        batch_services.batch_run(batch=batch)
        invoice = Invoice.objects.get(batch_links__batch=batch, bill_to_name="Bistro Lumière")
        first, second, free = (
            TimeEntry.objects.get(pk=world.entries[key].pk)
            for key in ("bistro1", "bistro2", "bistro_free")
        )
    url = reverse("invoices:invoice-detail", args=[invoice.pk])
    browser = client_as(admin_a)
    with django_assert_max_num_queries(30):
        html = browser.get(url).content.decode()
    # The overage line: its two entries with the time each was billed and drew from the
    # retainer's included hours (6 h 30 min billed, 5 h of it included).
    assert "2 time entries" in html
    rows = {
        entry.pk: html.split(f'data-entry="{entry.pk}"')[1].split("</tr>")[0]
        for entry in (first, second)
    }
    assert "2026-02-03" in rows[first.pk] and "2026-02-20" in rows[second.pk]
    assert "4 h 00 min" in rows[first.pk]
    assert "2 h 30 min" in rows[second.pk] and "1 h 00 min" in rows[second.pk]
    assert f'data-entry="{free.pk}"' not in html  # not billed: on no line
    # Another tenant's staff cannot open the invoice at all.
    assert client_as(staff_b.user(Role.BILLING_ADMIN)).get(url).status_code == 404
