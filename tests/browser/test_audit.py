"""The audit log in the browser: a rate changed and an invoice finalised show in the
objects' History sections and on the filterable /audit/ page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from billing_site.roles import Role
from billing_site.tenancy import actor_context, tenant_context
from contracts import services as contracts
from invoices import services as invoices
from tests.contracts.factories import ContractFactory
from tests.invoices.factories import InvoiceFactory, InvoiceLineFactory

from .conftest import login, shot

pytestmark = pytest.mark.django_db(transaction=True)


def test_changes_show_on_their_pages_and_in_the_filtered_log(page, tenant_a, staff_user):
    admin = staff_user(Role.BILLING_ADMIN)
    with tenant_context(tenant_a), actor_context(admin):
        contract = ContractFactory(tenant=tenant_a, name="Managed desktops")
        rule = contracts.rate_rule_create(rate=Decimal("95"), contract=contract)
        contracts.rate_rule_update(rule=rule, rate=Decimal("110.50"))
        draft = InvoiceFactory(tenant=tenant_a, draft=True)
        InvoiceLineFactory(tenant=tenant_a, invoice=draft)
        final = invoices.invoice_finalize(invoice=draft)

    login(page, staff_user(Role.ACCOUNTANT))
    page.goto(reverse("contracts:contract-detail", args=[contract.pk]))
    history = page.locator("#history")
    expect(history).to_contain_text("Updated rate rule")
    expect(history).to_contain_text("rate: 95.00 → 110.50")  # in the tenant's locale
    expect(history).to_contain_text("Bianca")  # the billing admin who changed it

    page.goto(reverse("invoices:invoice-detail", args=[final.pk]))
    expect(page.locator("#history")).to_contain_text(f"Finalised invoice {final.number}")

    page.goto("/audit/")
    expect(page.locator("table.data tbody tr")).to_have_count(3)
    page.get_by_label("Action").select_option("finalize")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.data tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(final.number)
    expect(rows.first).to_contain_text("draft → final")
    shot(page, "audit-log-filtered")
