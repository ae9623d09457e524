"""The scoping mechanism: scoped reads, fail-closed without a tenant, explicit escape hatch."""

import pytest
from django.db.models import Subquery

from billing_site.forms import OrganizationForm
from billing_site.models import Contact, Organization
from billing_site.tenancy import TenantNotSet, get_current_tenant, tenant_context
from billing_site.testing.factories import ContactFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_tenants_data(tenant_a, tenant_b):
    a = OrganizationFactory(tenant=tenant_a, name="ACME", company_number="C-1")
    b = OrganizationFactory(tenant=tenant_b, name="ACME", company_number="C-1")
    ContactFactory(tenant=tenant_a, organization=a)
    ContactFactory(tenant=tenant_b, organization=b)
    return a, b


def test_reads_see_only_the_current_tenant(two_tenants_data, tenant_a, tenant_b):
    a, b = two_tenants_data
    with tenant_context(tenant_a):
        assert list(Organization.objects.all()) == [a]
        assert not Organization.objects.filter(pk=b.pk).exists()
        assert Contact.objects.count() == 1
        # Reverse relations are scoped too.
        assert a.contacts.count() == 1
    with tenant_context(tenant_b):
        assert list(Organization.objects.values_list("pk", flat=True)) == [b.pk]


@pytest.mark.parametrize(
    "operation",
    [
        lambda: list(Organization.objects.all()),
        lambda: Organization.objects.count(),
        lambda: Organization.objects.filter(name="ACME").exists(),
        lambda: Organization.objects.get(company_number="C-1"),
        lambda: Organization.objects.update(name="Hacked"),
        lambda: Organization.objects.all().delete(),
        lambda: list(Contact.objects.filter(organization__in=Organization.objects.all())),
        lambda: list(
            Contact.all_tenants.filter(
                organization_id__in=Subquery(Organization.objects.values("pk"))
            )
        ),
    ],
    ids=["iterate", "count", "exists", "get", "update", "delete", "filter-in", "subquery"],
)
def test_no_tenant_fails_closed(two_tenants_data, operation):
    assert get_current_tenant() is None
    with pytest.raises(TenantNotSet):
        operation()
    assert Organization.all_tenants.filter(name="Hacked").count() == 0
    assert Organization.all_tenants.count() == 2


def test_querysets_built_without_tenant_can_be_rescoped(two_tenants_data, tenant_a):
    a, _ = two_tenants_data
    # Built at import time (no tenant), as forms and filters do.
    detached = Organization.objects.filter(name="ACME")
    with tenant_context(tenant_a):
        with pytest.raises(TenantNotSet):
            list(detached)
        assert list(detached.rescoped()) == [a]


def test_context_is_restored(tenant_a, tenant_b):
    with tenant_context(tenant_a):
        with tenant_context(tenant_b):
            assert get_current_tenant() == tenant_b
        assert get_current_tenant() == tenant_a
    assert get_current_tenant() is None


def test_model_choice_fields_are_scoped_per_form(two_tenants_data, tenant_a):
    from django import forms

    from billing_site.forms import TenantForm

    class PickOrganization(TenantForm):
        organization = forms.ModelChoiceField(queryset=Organization.objects.all())

    a, b = two_tenants_data
    with tenant_context(tenant_a):
        form = PickOrganization(data={"organization": b.pk})
        assert not form.is_valid()
        assert "organization" in form.errors
        form = PickOrganization(data={"organization": a.pk})
        assert form.is_valid()
        assert OrganizationForm(tenant=tenant_a).initial["currency"] == "EUR"
