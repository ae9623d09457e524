"""Payments: partial then full, overpayment refused, currency precision, reversal, API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from invoices import services
from invoices.models import InvoiceStatus, Payment

from .factories import InvoiceFactory, PaymentFactory

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 3, 15)


def pay(invoice, amount, method="bank_transfer"):
    return services.payment_record(
        invoice=invoice, amount=amount, received_on=DAY, method=method, reference="TRX"
    )


@pytest.fixture
def invoice(tenant_a, tenant_b):
    InvoiceFactory(tenant=tenant_b, status=InvoiceStatus.SENT)
    return InvoiceFactory(tenant=tenant_a, status=InvoiceStatus.SENT, total=Decimal("120.50"))


def test_partial_then_full_payment_and_reversal(in_tenant_a, invoice):
    pay(invoice, "20.50")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PARTIALLY_PAID, Decimal("20.50"))
    last = pay(invoice, "100.00")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PAID, Decimal("120.50"))
    with pytest.raises(ValidationError) as caught:
        pay(invoice, "1")
    assert "already paid" in caught.value.message_dict["invoice"][0]
    services.payment_delete(payment=last)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.PARTIALLY_PAID, Decimal("20.50"))
    services.payment_delete(payment=Payment.objects.get(invoice=invoice))
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == (InvoiceStatus.SENT, Decimal("0"))


@pytest.mark.parametrize(
    "amount, message",
    [
        ("120.51", "more than the balance due (120.50 EUR)"),
        ("0", "more than zero"),
        ("-5", "more than zero"),
        ("10.005", "2 decimal place(s) at most"),
        ("ten", "Enter a number"),
    ],
)
def test_bad_amounts_are_refused_and_nothing_changes(in_tenant_a, invoice, amount, message):
    with pytest.raises(ValidationError) as caught:
        pay(invoice, amount)
    assert message in caught.value.message_dict["amount"][0]
    invoice.refresh_from_db()
    assert invoice.amount_paid == 0 and not Payment.objects.exists()


def test_drafts_and_void_invoices_take_no_payment(in_tenant_a):
    for invoice in (
        InvoiceFactory(tenant=in_tenant_a, draft=True),
        InvoiceFactory(tenant=in_tenant_a, status=InvoiceStatus.VOID),
    ):
        with pytest.raises(ValidationError) as caught:
            pay(invoice, "1")
        assert "invoice" in caught.value.message_dict


@pytest.mark.parametrize(
    "currency, total, good, bad, paid",
    [
        ("JPY", "12500", "12500.00", "100.5", "12500"),
        ("KWD", "10.125", "10.125", "1.2345", "10.125"),
    ],
)
def test_currency_precision(in_tenant_a, currency, total, good, bad, paid):
    invoice = InvoiceFactory(tenant=in_tenant_a, currency=currency, total=Decimal(total))
    with pytest.raises(ValidationError):
        pay(invoice, bad)
    payment = pay(invoice, good)
    invoice.refresh_from_db()
    assert payment.amount == Decimal(paid) and invoice.status == InvoiceStatus.PAID


def test_api_payments(invoice, admin_a, staff_a, staff_b, api_as):
    api = api_as(admin_a)
    created = api.post(
        "/api/v1/payments/",
        {
            "invoice": invoice.pk,
            "amount": "20.50",
            "received_on": "2026-03-15",
            "method": "card",
            "reference": "CB-1",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["amount"], body["invoice_number"], body["currency"]) == (
        "20.50",
        invoice.number,
        "EUR",
    )
    over = api.post(
        "/api/v1/payments/",
        {"invoice": invoice.pk, "amount": "500", "received_on": "2026-03-16", "method": "card"},
        format="json",
    )
    assert over.status_code == 400 and "balance due" in over.json()["amount"][0]
    detail = api.get(f"/api/v1/invoices/{invoice.pk}/").json()
    assert (detail["status"], detail["amount_paid"], detail["balance_due"]) == (
        "partially_paid",
        "20.50",
        "100.00",
    )
    assert api.get("/api/v1/payments/?method=card").json()["count"] == 1
    assert api.get("/api/v1/payments/?method=cash").json()["count"] == 0
    assert api.get("/api/v1/payments/?received_after=2026-03-16").json()["count"] == 0
    assert api.get(f"/api/v1/payments/?invoice={invoice.pk}").json()["count"] == 1

    accountant = api_as(staff_a.user(Role.ACCOUNTANT))
    assert accountant.get(f"/api/v1/payments/{body['id']}/").status_code == 200
    assert accountant.delete(f"/api/v1/payments/{body['id']}/").status_code == 403
    assert api_as(staff_a.user(Role.TECHNICIAN)).get("/api/v1/payments/").status_code == 403
    other = api_as(staff_b.user(Role.OWNER))
    assert other.get(f"/api/v1/payments/{body['id']}/").status_code == 404
    assert other.get("/api/v1/payments/").json()["count"] == 0
    assert api.delete(f"/api/v1/payments/{body['id']}/").status_code == 204
    assert api.get(f"/api/v1/invoices/{invoice.pk}/").json()["status"] == "sent"


def test_payment_list_query_count_is_constant(
    invoice, admin_a, api_as, django_assert_max_num_queries
):
    api = api_as(admin_a)
    PaymentFactory(tenant=invoice.tenant, invoice=invoice)
    with django_assert_max_num_queries(12) as few:
        assert api.get("/api/v1/payments/").json()["count"] == 1
    for _ in range(8):
        PaymentFactory(tenant=invoice.tenant, invoice=InvoiceFactory(tenant=invoice.tenant))
    with django_assert_max_num_queries(12) as many:
        assert api.get("/api/v1/payments/").json()["count"] == 9
    assert len(many.captured_queries) == len(few.captured_queries)


def test_payment_form_on_the_detail_page(invoice, admin_a, client_as):
    client = client_as(admin_a)
    page = client.get(f"/invoices/{invoice.pk}/")
    assert b"Record a payment" in page.content
    bad = client.post(
        f"/invoices/{invoice.pk}/payments/",
        {"amount": "999", "received_on": "2026-03-15", "method": "cash"},
    )
    assert bad.status_code == 400 and b"more than the balance due" in bad.content
    ok = client.post(
        f"/invoices/{invoice.pk}/payments/",
        {"amount": "120.50", "received_on": "2026-03-15", "method": "cash"},
    )
    assert ok.status_code == 302
    with tenant_context(invoice.tenant):
        invoice.refresh_from_db()
        payment = Payment.objects.get()
    assert invoice.status == InvoiceStatus.PAID
    client.post(f"/invoices/{invoice.pk}/payments/{payment.pk}/delete/")
    with tenant_context(invoice.tenant):
        invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.SENT and invoice.amount_paid == 0
