"""A new contract is taxable only with a rate: the form starts from the tenant's default
rate, an empty rate takes the billing organization's (else the tenant's), and "taxable at
0 %" is refused with the error on the rate."""

from __future__ import annotations

import datetime as dt
import importlib
from decimal import Decimal

import pytest
import time_machine
from django.apps import apps
from django.core.exceptions import ValidationError
from django.urls import reverse

from billing_site.testing.factories import OrganizationFactory
from contracts import services
from contracts.models import Contract

from .factories import ContractFactory

NOW = dt.datetime(2026, 2, 10, 10, tzinfo=dt.UTC)
URL = reverse("contracts:contract-create")

pytestmark = pytest.mark.usefixtures("frozen")


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def admin_client(admin_a, client_as):
    return client_as(admin_a)


@pytest.fixture
def vat_tenant(in_tenant_a):
    in_tenant_a.default_tax_rate = Decimal("20")
    in_tenant_a.save(update_fields=["default_tax_rate"])
    return in_tenant_a


def form_data(customer, **values):
    data = {
        "customer": customer.pk,
        "name": "New hourly",
        "contract_type": "hourly",
        "status": "active",
        "start_date": "2026-03-01",
        "billing_cycle": "monthly",
        "taxable": "on",
        "tax_rate": "",
        "rounding_increment_minutes": "0",
        "rounding_minimum_minutes": "0",
        "rounding_scope": "entry",
    }
    data.update(values)
    return {name: value for name, value in data.items() if value is not None}


def test_new_contract_form_starts_taxable_at_the_default_rate(admin_client, vat_tenant):
    page = admin_client.get(URL)
    form = page.context["form"]
    html = page.content.decode()
    assert page.status_code == 200
    assert form["taxable"].value() is True
    assert form["tax_rate"].value() in (None, "")  # empty: the default rate when saved
    assert 'name="tax_rate"' in html and 'name="tax_rate" value="0' not in html
    assert "else your default rate (20 %)" in html


def test_without_a_default_rate_the_form_starts_untaxed(admin_client, tenant_a):
    assert tenant_a.default_tax_rate == 0
    form = admin_client.get(URL).context["form"]
    assert form["taxable"].value() is False


def test_a_customer_with_its_own_rate_decides_the_initial_state(admin_client, tenant_a):
    customer = OrganizationFactory(tenant=tenant_a, name="Lyon", tax_rate=Decimal("5.5"))
    form = admin_client.get(URL, {"customer": customer.pk}).context["form"]
    assert form["taxable"].value() is True


def test_taxable_with_an_empty_rate_takes_the_default_rate(admin_client, vat_tenant):
    customer = OrganizationFactory(tenant=vat_tenant, name="ACME")
    response = admin_client.post(URL, form_data(customer))
    assert response.status_code == 302
    contract = Contract.objects.get()
    assert contract.taxable and contract.tax_rate == Decimal("20")
    page = admin_client.get(reverse("contracts:contract-detail", args=[contract.pk]))
    assert "20 %" in page.content.decode()


def test_an_empty_rate_is_the_billing_organizations_own_rate(admin_client, vat_tenant):
    customer = OrganizationFactory(tenant=vat_tenant, name="ACME")
    partner = OrganizationFactory(tenant=vat_tenant, name="Helios", tax_rate=Decimal("7.65"))
    response = admin_client.post(URL, form_data(customer, billing_organization=partner.pk))
    assert response.status_code == 302
    assert Contract.objects.get().tax_rate == Decimal("7.65")


def test_taxable_at_zero_is_refused_on_the_rate(admin_client, vat_tenant):
    customer = OrganizationFactory(tenant=vat_tenant, name="ACME")
    response = admin_client.post(URL, form_data(customer, tax_rate="0"))
    assert response.status_code == 200
    assert response.context["form"].errors["tax_rate"] == [services.TAXABLE_NEEDS_RATE]
    assert "A taxable contract needs its tax rate above 0 %" in response.content.decode()
    assert not Contract.objects.exists()


def test_taxable_with_no_rate_anywhere_says_where_a_rate_comes_from(admin_client, in_tenant_a):
    customer = OrganizationFactory(tenant=in_tenant_a, name="ACME")
    response = admin_client.post(URL, form_data(customer))
    assert response.status_code == 200
    error = response.context["form"].errors["tax_rate"][0]
    assert error.startswith("Neither ACME nor your settings give a tax rate")
    assert not Contract.objects.exists()


def test_not_taxable_needs_no_rate(admin_client, vat_tenant):
    customer = OrganizationFactory(tenant=vat_tenant, name="ACME")
    response = admin_client.post(URL, form_data(customer, taxable=None))
    assert response.status_code == 302
    contract = Contract.objects.get()
    assert not contract.taxable and contract.tax_rate == 0
    page = admin_client.get(reverse("contracts:contract-detail", args=[contract.pk]))
    assert "Not taxable" in page.content.decode()


def test_editing_to_taxable_at_zero_is_refused(admin_client, in_tenant_a):
    contract = ContractFactory(tenant=in_tenant_a, taxable=False, tax_rate=Decimal("0"))
    url = reverse("contracts:contract-edit", args=[contract.pk])
    data = form_data(contract.customer, name=contract.name, tax_rate="0")
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert response.context["form"].errors["tax_rate"] == [services.TAXABLE_NEEDS_RATE]
    contract.refresh_from_db()
    assert not contract.taxable


def test_service_defaults_follow_the_rate(in_tenant_a):
    customer = OrganizationFactory(tenant=in_tenant_a, name="ACME")
    untaxed = services.contract_create(
        customer=customer, name="No VAT known", start_date=dt.date(2026, 1, 1)
    )
    assert (untaxed.taxable, untaxed.tax_rate) == (False, Decimal("0"))
    in_tenant_a.default_tax_rate = Decimal("21")
    in_tenant_a.save(update_fields=["default_tax_rate"])
    taxed = services.contract_create(customer=customer, name="VAT", start_date=dt.date(2026, 1, 1))
    assert (taxed.taxable, taxed.tax_rate) == (True, Decimal("21"))
    with pytest.raises(ValidationError) as error:
        services.contract_create(
            customer=customer,
            name="Zero",
            start_date=dt.date(2026, 1, 1),
            taxable=True,
            tax_rate=Decimal("0"),
        )
    assert error.value.message_dict == {"tax_rate": [services.TAXABLE_NEEDS_RATE]}


def test_api_refuses_taxable_at_zero(admin_a, api_as, in_tenant_a):
    customer = OrganizationFactory(tenant=in_tenant_a, name="ACME")
    body = {"customer": customer.pk, "name": "API", "start_date": "2026-03-01"}
    refused = api_as(admin_a).post(
        "/api/v1/contracts/", {**body, "taxable": True, "tax_rate": "0"}, format="json"
    )
    assert refused.status_code == 400
    assert refused.json()["tax_rate"] == [services.TAXABLE_NEEDS_RATE]
    created = api_as(admin_a).post("/api/v1/contracts/", body, format="json")
    assert created.status_code == 201
    assert created.json()["taxable"] is False


def test_migration_marks_contracts_taxed_at_zero_as_untaxed(in_tenant_a):
    legacy = ContractFactory(tenant=in_tenant_a, taxable=True, tax_rate=Decimal("0"))
    taxed = ContractFactory(tenant=in_tenant_a, taxable=True, tax_rate=Decimal("20"))
    migration = importlib.import_module("contracts.migrations.0007_taxable_contracts_have_a_rate")
    migration.untaxed_at_zero(apps, None)
    legacy.refresh_from_db()
    taxed.refresh_from_db()
    assert not legacy.taxable and taxed.taxable
