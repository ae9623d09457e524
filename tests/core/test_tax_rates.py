"""Tax rates: the tenant's default and whether session work is taxable, a customer's own
rate, the one function that picks the rate for a customer, and where they are edited."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from billing_site import selectors, services
from billing_site.forms import OrganizationForm, TenantSettingsForm
from billing_site.models import Organization, Tenant
from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/organizations/"
RANGE = "The tax rate is a percentage between 0 and 100."
PLACES = "The tax rate has 4 decimal places at most."


def settings_data(tenant, **changes) -> dict:
    """The company settings form as the browser posts it back, with ``changes``."""
    form = TenantSettingsForm(instance=tenant)
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is True:
            data[name] = "on"
        elif value not in (None, False, "") and name != "logo":
            data[name] = value
    data.update(changes)
    return data


# --- Which rate applies ------------------------------------------------------------------


def test_a_customers_own_rate_wins_else_the_tenant_default(tenant_a, tenant_b):
    tenant_a.default_tax_rate = Decimal("21")
    tenant_a.save()
    tenant_b.default_tax_rate = Decimal("25")
    tenant_b.save()
    own = OrganizationFactory(tenant=tenant_a, company_number="C-1", tax_rate=Decimal("6"))
    exempt = OrganizationFactory(tenant=tenant_a, company_number="C-2", tax_rate=Decimal("0"))
    default = OrganizationFactory(tenant=tenant_a, company_number="C-3")
    with tenant_context(tenant_a):
        assert selectors.organization_tax_rate(organization=own) == Decimal("6")
        assert selectors.organization_tax_rate(organization=exempt) == Decimal("0")  # not None
        assert selectors.organization_tax_rate(organization=default) == Decimal("21")
        assert selectors.organization_tax_rate(organization=None) == Decimal("21")
    with tenant_context(tenant_b):
        assert selectors.organization_tax_rate(organization=None) == Decimal("25")


def test_new_tenants_and_customers_bill_no_tax_until_configured(tenant_a, tenant_b):
    tenant = Tenant.objects.get(pk=tenant_a.pk)
    assert tenant.default_tax_rate == Decimal("0")
    assert tenant.session_work_taxable is False
    assert OrganizationFactory(tenant=tenant_a, company_number="C-1").tax_rate is None


# --- Validation and the database guard ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [("100.0001", RANGE), ("-1", RANGE), ("1000", RANGE), ("21.12345", PLACES)],
)
def test_services_refuse_rates_outside_0_to_100_or_with_5_places(
    tenant_a, tenant_b, value, message
):
    organization = OrganizationFactory(tenant=tenant_a, company_number="C-1")
    with tenant_context(tenant_a):
        with pytest.raises(ValidationError) as error:
            services.tenant_update(tenant=tenant_a, default_tax_rate=Decimal(value))
        assert message in error.value.message_dict["default_tax_rate"]
        with pytest.raises(ValidationError) as error:
            services.organization_update(organization=organization, tax_rate=Decimal(value))
        assert message in error.value.message_dict["tax_rate"]
    assert Tenant.objects.get(pk=tenant_a.pk).default_tax_rate == Decimal("0")
    assert Organization.all_tenants.get(pk=organization.pk).tax_rate is None


def test_the_database_refuses_rates_outside_0_to_100(tenant_a, tenant_b):
    organization = OrganizationFactory(tenant=tenant_a, company_number="C-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Tenant.objects.filter(pk=tenant_a.pk).update(default_tax_rate=Decimal("100.5"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Organization.all_tenants.filter(pk=organization.pk).update(tax_rate=Decimal("-0.5"))
    Tenant.objects.filter(pk=tenant_a.pk).update(default_tax_rate=Decimal("100"))
    Organization.all_tenants.filter(pk=organization.pk).update(tax_rate=Decimal("0"))


@pytest.mark.parametrize(
    ("value", "message"),
    [("101", RANGE), ("1000", RANGE), ("-0.5", RANGE), ("19.60001", PLACES)],
)
def test_forms_give_one_clear_error_per_bad_rate(tenant_a, tenant_b, value, message):
    settings_form = TenantSettingsForm(settings_data(tenant_a, default_tax_rate=value))
    assert not settings_form.is_valid()
    assert settings_form.errors["default_tax_rate"] == [message]
    customer_form = OrganizationForm(
        {
            "name": "Newco",
            "company_number": "C-9",
            "currency": "EUR",
            "time_zone": "Europe/Paris",
            "language": "en",
            "tax_rate": value,
        }
    )
    assert not customer_form.is_valid()
    assert customer_form.errors["tax_rate"] == [message]


# --- Company settings and customer pages -------------------------------------------------


def test_owner_sets_the_default_rate_and_taxable_session_work(
    client_as, staff_a, tenant_a, tenant_b
):
    client = client_as(staff_a.user(Role.OWNER))
    page = client.get(reverse("tenant-settings")).content.decode()
    assert 'name="default_tax_rate"' in page and 'name="session_work_taxable"' in page
    bad = client.post(reverse("tenant-settings"), settings_data(tenant_a, default_tax_rate="210"))
    assert bad.status_code == 200
    assert RANGE in bad.content.decode()
    good = client.post(
        reverse("tenant-settings"),
        settings_data(tenant_a, default_tax_rate="21", session_work_taxable="on"),
    )
    assert good.status_code == 302
    saved = Tenant.objects.get(pk=tenant_a.pk)
    assert (saved.default_tax_rate, saved.session_work_taxable) == (Decimal("21.0000"), True)
    other = Tenant.objects.get(pk=tenant_b.pk)
    assert (other.default_tax_rate, other.session_work_taxable) == (Decimal("0"), False)


def test_customer_form_sets_and_clears_its_own_rate(client_as, admin_a, tenant_a, tenant_b):
    tenant_a.default_tax_rate = Decimal("21")
    tenant_a.save()
    organization = OrganizationFactory(tenant=tenant_a, name="ACME", company_number="C-1")
    twin = OrganizationFactory(tenant=tenant_b, name="ACME", company_number="C-1")
    client = client_as(admin_a)
    data = {
        "name": "ACME",
        "company_number": "C-1",
        "currency": "EUR",
        "time_zone": "Europe/Paris",
        "language": "en",
        "is_active": "on",
    }
    detail = reverse("customer-detail", args=[organization.pk])
    assert "21 %" in client.get(detail).content.decode()  # the default rate, labelled so
    edit = reverse("customer-edit", args=[organization.pk])
    bad = client.post(edit, {**data, "tax_rate": "5.12345"})
    assert bad.status_code == 200 and PLACES in bad.content.decode()
    assert client.post(edit, {**data, "tax_rate": "5.5"}).status_code == 302
    organization.refresh_from_db()
    assert organization.tax_rate == Decimal("5.5000")
    page = client.get(detail).content.decode()
    assert "5.5 %" in page and "(your default rate)" not in page
    assert client.post(edit, {**data, "tax_rate": ""}).status_code == 302
    organization.refresh_from_db()
    assert organization.tax_rate is None
    assert "(your default rate)" in client.get(detail).content.decode()
    # Tenant B's customer of the same name is neither reachable nor changed.
    assert client.post(reverse("customer-edit", args=[twin.pk]), data).status_code == 404
    twin.refresh_from_db()
    assert twin.tax_rate is None


# --- Organizations API -------------------------------------------------------------------


def test_api_reads_writes_and_clears_a_customers_rate(admin_a, api_as, tenant_a, tenant_b):
    twin = OrganizationFactory(tenant=tenant_b, company_number="C-1", tax_rate=Decimal("25"))
    api = api_as(admin_a)
    created = api.post(
        URL, {"name": "ACME", "company_number": "C-1", "tax_rate": "6.5"}, format="json"
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["tax_rate"] == "6.5000"
    url = f"{URL}{body['id']}/"
    assert api.get(url).json()["tax_rate"] == "6.5000"
    cleared = api.patch(url, {"tax_rate": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["tax_rate"] is None
    assert Organization.all_tenants.get(pk=body["id"]).tax_rate is None
    # Left out on create: the tenant default applies (null).
    plain = api.post(URL, {"name": "Beta", "company_number": "C-2"}, format="json")
    assert plain.json()["tax_rate"] is None
    assert api.get(f"{URL}{twin.pk}/").status_code == 404
    assert [row["company_number"] for row in api.get(URL).json()["results"]] == ["C-1", "C-2"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("150", RANGE),
        ("1000", RANGE),
        ("-1", RANGE),
        ("7.123456", "Ensure that there are no more than 4 decimal places."),
        ("lots", "A valid number is required."),
    ],
)
def test_api_refuses_a_bad_rate_and_writes_nothing(
    admin_a, api_as, tenant_a, tenant_b, value, message
):
    response = api_as(admin_a).post(
        URL, {"name": "ACME", "company_number": "C-1", "tax_rate": value}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"tax_rate": [message]}
    assert not Organization.all_tenants.exists()
