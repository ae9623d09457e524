"""Numbers typed the way the tenant's locale writes them are read as that locale means
them, on every staff form that takes a number as text; what the locale does not read is
left for the field's own error, never guessed at."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from billing_site.money import delocalize_number
from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from invoices.models import Payment
from tests.invoices.factories import InvoiceFactory


@pytest.mark.parametrize(
    ("locale", "typed", "read"),
    [
        ("fr_FR", "650,00", "650.00"),
        ("fr_FR", "1 650,00", "1650.00"),  # an ordinary space for the narrow no-break one
        ("fr_FR", "1\u202f650,5", "1650.5"),
        ("fr_FR", "650.00", "650.00"),
        ("fr_FR", "-13,5", "-13.5"),
        ("de_DE", "1.650,00", "1650.00"),
        ("de_DE", "650,00", "650.00"),
        ("de_DE", "650.00", "650.00"),  # not a German number: left as typed, reads as itself
        ("en_US", "1,650.00", "1650.00"),
        ("en_US", "650.00", "650.00"),
        ("de_CH", "12'500.50", "12500.50"),
        # Not numbers of the locale: returned untouched for the field's error.
        ("en_US", "1,65", "1,65"),
        ("en_US", "abc", "abc"),
        ("fr_FR", "1,650.00", "1,650.00"),
        ("fr_FR", "", ""),
    ],
)
def test_a_number_is_read_by_the_locales_rules(locale, typed, read):
    assert delocalize_number(typed, locale) == read


@pytest.mark.django_db
def test_a_french_billing_admin_records_a_payment_of_650_comma_00(tenant_a, staff_a, client_as):
    tenant_a.locale = "fr_FR"
    tenant_a.save(update_fields=["locale"])
    with tenant_context(tenant_a):
        invoice = InvoiceFactory(tenant=tenant_a, total=Decimal("1650.00"))
    client = client_as(staff_a.user(Role.BILLING_ADMIN))
    response = client.post(
        reverse("invoices:payment-create", args=[invoice.pk]),
        {
            "amount": "650,00",
            "received_on": dt.date(2026, 3, 5).isoformat(),
            "method": "bank_transfer",
        },
    )
    assert response.status_code == 302
    with tenant_context(tenant_a):
        assert list(Payment.objects.values_list("amount", flat=True)) == [Decimal("650.00")]


@pytest.mark.django_db
def test_an_english_tenant_is_told_what_fits_for_a_comma_decimal(tenant_a, staff_a, client_as):
    tenant_a.locale = "en_US"
    tenant_a.save(update_fields=["locale"])
    with tenant_context(tenant_a):
        invoice = InvoiceFactory(tenant=tenant_a, total=Decimal("1650.00"))
    client = client_as(staff_a.user(Role.BILLING_ADMIN))
    response = client.post(
        reverse("invoices:payment-create", args=[invoice.pk]),
        {"amount": "1,65", "received_on": "2026-03-05", "method": "bank_transfer"},
    )
    assert response.status_code == 400
    assert "Enter a number" in response.content.decode()
    with tenant_context(tenant_a):
        assert not Payment.objects.exists()
