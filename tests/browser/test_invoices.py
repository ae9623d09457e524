"""Invoice journeys in the browser: a draft edited with a bad line then a good one, a
payment recorded (and the page printed), a credit note issued."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from invoices import services
from tests.invoices.factories import InvoiceFactory

from .conftest import login, shot

pytestmark = pytest.mark.django_db(transaction=True)


def draft_of(tenant, amount: str = "100"):
    """A draft for "Harbor Logistics" with one untaxed line of ``amount``."""
    with tenant_context(tenant):
        customer = OrganizationFactory(tenant=tenant, name="Harbor Logistics", currency="EUR")
        draft = InvoiceFactory(
            tenant=tenant, organization=customer, draft=True, subtotal=0, total=0
        )
        services.invoice_line_add(
            invoice=draft, description="Managed services", quantity="1", unit_price=amount
        )
    return draft


def final_of(tenant, amount: str = "100"):
    draft = draft_of(tenant, amount)
    with tenant_context(tenant):
        return services.invoice_finalize(invoice=draft)


def test_draft_edit_shows_a_bad_lines_errors_on_its_fields_then_adds_a_good_one(
    page, tenant_a, staff_user
):
    draft = draft_of(tenant_a)
    login(page, staff_user(Role.BILLING_ADMIN))
    page.goto(f"/invoices/{draft.pk}/edit/")
    total = page.locator("#draft-total")
    expect(total).to_have_text("€100.00")

    def add_line(description: str, quantity: str, price: str):
        add = page.locator("tr.add-line")
        add.locator("[name=description]").fill(description)
        add.locator("[name=quantity]").fill(quantity)
        add.locator("[name=unit_price]").fill(price)
        add.get_by_role("button", name="Add line").click()

    def error_on(name: str):
        """The error shown in the add row's cell of field ``name``."""
        cell = page.locator("tr.add-line td", has=page.locator(f"[name={name}]"))
        return cell.locator(".errorlist")

    # No description: its error sits on that field, and nothing was added.
    add_line("", "2", "25.50")
    expect(error_on("description")).to_contain_text("Describe the line")
    expect(error_on("unit_price")).to_have_count(0)
    expect(total).to_have_text("€100.00")
    # A price of "abc": the error is on the price, the description typed is kept.
    add_line("Travel to the warehouse", "2", "abc")
    expect(error_on("unit_price")).to_be_visible()
    expect(error_on("unit_price")).to_contain_text(re.compile(r"\S"))
    expect(error_on("description")).to_have_count(0)
    expect(page.locator("tr.add-line [name=description]")).to_have_value("Travel to the warehouse")
    expect(total).to_have_text("€100.00")
    expect(page.locator("#draft-lines tbody tr", has_text="Managed services")).to_have_count(1)

    add_line("Travel to the warehouse", "2", "25.50")
    row = page.locator("#draft-lines tbody tr", has_text="Travel to the warehouse")
    expect(row).to_contain_text("€51.00")
    expect(page.locator("#draft-subtotal")).to_have_text("€151.00")
    expect(page.locator("#draft-total")).to_have_text("€151.00")
    expect(page.locator("tr.add-line .errorlist")).to_have_count(0)
    shot(page, "invoices/draft-edit-good-line")


def test_a_payment_is_recorded_and_the_balance_shown_and_the_page_prints_the_invoice(
    page, tenant_a, staff_user
):
    invoice = final_of(tenant_a, "250")
    login(page, staff_user(Role.BILLING_ADMIN))
    page.goto(f"/invoices/{invoice.pk}/")
    balance = page.locator(".stat", has_text="Balance due")
    expect(balance).to_contain_text("€250.00")

    form = page.locator("#payments form", has_text="Record a payment")
    form.get_by_label("Amount").fill("100")
    form.get_by_label("Reference").fill("TRX-2026-77")
    form.get_by_role("button", name="Record payment").click()
    expect(page.locator(".messages")).to_contain_text("Payment of €100.00 recorded.")
    expect(page.locator(".stat", has_text="Balance due")).to_contain_text("€150.00")
    payments = page.locator("#payments table")
    expect(payments).to_contain_text("TRX-2026-77")
    expect(payments).to_contain_text("€100.00")
    expect(page.locator("#payments")).to_contain_text("Balance due €150.00.")
    expect(page.get_by_role("button", name=re.compile(r"Print$"))).to_be_visible()

    # Printed, the page is the invoice: no navigation, buttons or forms.
    page.emulate_media(media="print")
    expect(page.locator("nav.sidebar")).to_be_hidden()
    expect(page.locator(".page-head .actions")).to_be_hidden()
    expect(page.get_by_role("button", name="Record payment")).to_be_hidden()
    expect(page.get_by_role("heading", name=re.compile(invoice.number))).to_be_visible()
    expect(page.locator(".stat", has_text="Balance due")).to_contain_text("€150.00")
    shot(page, "invoices/payment-recorded-print")
    page.emulate_media(media="screen")


def test_a_credit_note_is_issued_and_its_amounts_shown(page, tenant_a, staff_user):
    invoice = final_of(tenant_a, "180")
    login(page, staff_user(Role.BILLING_ADMIN))
    page.goto(f"/invoices/{invoice.pk}/")
    page.get_by_role("link", name="Issue credit note").click()
    expect(page.get_by_role("heading", name=re.compile("Issue a credit note"))).to_be_visible()

    page.get_by_role("button", name="Issue credit note").click()  # nothing chosen yet
    expect(page.get_by_text("Choose whether the credited items are billed again")).to_be_visible()

    page.locator("input[name=credit_disposition][value=write_off]").check()
    page.get_by_label("Reason").fill("Billed twice by mistake")
    page.get_by_role("button", name="Issue credit note").click()
    expect(page.locator(".messages")).to_contain_text("Credit note")
    expect(page.get_by_role("heading", name=re.compile("Credit note"))).to_be_visible()
    expect(page.locator(".stat", has_text="Credited").first).to_contain_text("€180.00")
    expect(page.get_by_text(f"Credits invoice {invoice.number}")).to_be_visible()

    page.get_by_role("link", name=invoice.number).first.click()
    notes = page.locator("table", has_text="Credited items")
    expect(notes).to_contain_text("Billed twice by mistake")
    expect(notes).to_contain_text("€180.00")
    expect(page.locator(".stat", has_text="Balance due")).to_contain_text("€0.00")
    shot(page, "invoices/credit-note-issued")
