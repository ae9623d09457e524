"""axe-core on the main pages, as the roles that use them, on the demo company: no
serious or critical violation (the failure lists each one with the elements at fault)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from billing_site.demo import DEMO_PASSWORD, load_demo
from billing_site.tenancy import tenant_context
from invoices.batches.models import InvoiceBatch
from invoices.batches.services import batch_generate, batch_run
from invoices.models import Invoice, InvoiceStatus

from .axe import blocking, describe
from .conftest import login, shot


@pytest.fixture
def demo(live_server):
    """The demo company, its batch run (drafts) unless a test generates it."""
    ctx = load_demo()
    with tenant_context(ctx.tenant):
        batch = InvoiceBatch.objects.get()
        drafts = batch_run(batch=batch)
    ctx.batch, ctx.drafts = batch, drafts
    return ctx


def _check(page, pages: dict[str, str], name: str) -> None:
    failures, seen = [], []
    for label, url in pages.items():
        response = page.goto(url)
        assert response.status == 200, f"{label} ({url}) answered {response.status}"
        page.wait_for_load_state("networkidle")
        seen.append(label)
        found = blocking(page)
        if found:
            failures.append(describe(f"{label} ({url})", found))
    shot(page, f"accessibility/{name}")
    assert len(seen) == len(pages)
    assert not failures, "serious or critical accessibility violations:\n" + "\n".join(failures)


def test_billing_admin_pages(page, demo):
    login(page, demo.users["billing"], DEMO_PASSWORD)
    acme = demo.organizations["ACME"]
    draft = demo.drafts[0]
    _check(
        page,
        {
            "dashboard": reverse("dashboard"),
            "customers": reverse("customer-list"),
            "customer page": reverse("customer-detail", args=[acme.pk]),
            "contracts": reverse("contracts:contract-list"),
            "approvals": reverse("contracts:approvals"),
            "batches": reverse("invoices:batch-list"),
            "batch page": reverse("invoices:batch-detail", args=[demo.batch.pk]),
            "draft invoice": reverse("invoices:invoice-detail", args=[draft.pk]),
        },
        "billing-admin-drafts",
    )
    with tenant_context(demo.tenant):
        batch_generate(batch=demo.batch)
        final = Invoice.objects.filter(status=InvoiceStatus.FINAL).order_by("pk").first()
    assert final is not None
    _check(
        page,
        {
            "invoices": reverse("invoices:invoice-list"),
            "invoice page": reverse("invoices:invoice-detail", args=[final.pk]),
            "receivables": reverse("invoices:receivables"),
            "reports": reverse("reports:index"),
        },
        "billing-admin-invoices",
    )


def test_owner_settings_pages(page, demo):
    login(page, demo.users["owner"], DEMO_PASSWORD)
    _check(
        page,
        {
            "dashboard": reverse("dashboard"),
            "integrations": reverse("integrations:connections"),
            "settings": reverse("tenant-settings"),
            "users": reverse("staff-users"),
        },
        "owner",
    )


def test_technician_pages(page, demo):
    login(page, demo.users["tech"], DEMO_PASSWORD)
    _check(
        page,
        {
            "dashboard": reverse("dashboard"),
            "session logs": reverse("sessions:session-list"),
            "sessions by client": reverse("sessions:session-by-client"),
            "hosts": reverse("sessions:host-list"),
            "timesheet": reverse("contracts:timesheet"),
            "tickets": reverse("contracts:ticket-list"),
        },
        "technician",
    )


def test_accountant_pages(page, demo):
    login(page, demo.users["accountant"], DEMO_PASSWORD)
    _check(
        page,
        {
            "dashboard": reverse("dashboard"),
            "invoices": reverse("invoices:invoice-list"),
            "draft invoice": reverse("invoices:invoice-detail", args=[demo.drafts[0].pk]),
            "receivables": reverse("invoices:receivables"),
            "reports": reverse("reports:index"),
        },
        "accountant",
    )


def test_portal_home(page, demo):
    helios = get_user_model().objects.get(username="helios")
    login(page, helios, DEMO_PASSWORD)
    _check(page, {"portal home": reverse("portal:home")}, "portal")


def test_a_violation_is_reported_with_its_elements(page, demo):
    """The check itself: a page given an unlabelled field and an empty button fails it."""
    login(page, demo.users["billing"], DEMO_PASSWORD)
    page.goto(reverse("customer-list"))
    assert blocking(page) == []
    page.evaluate(
        """() => { const main = document.getElementById('main');
          main.insertAdjacentHTML('beforeend', '<input id="bare" type="text"><button id="blank"></button>'); }"""
    )
    found = {v["id"]: v for v in blocking(page)}
    assert {"label", "button-name"} <= set(found)
    report = describe("customers", list(found.values()))
    assert "#bare" in report and "#blank" in report and "critical label" in report
