"""Core services: validation with field errors and nothing half-written."""

import pytest
from django.core.exceptions import ValidationError

from billing_site import services
from billing_site.models import Membership, Organization, Tenant, User
from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def make_tenant(**overrides):
    values = {
        "name": "Gamma IT",
        "slug": "gamma",
        "currency": "EUR",
        "time_zone": "Europe/Paris",
        "owner_username": "gamma-owner",
        "owner_email": "owner@gamma.test",
        "owner_password": "a-long-unusual-passphrase",
    }
    return services.tenant_create(**{**values, **overrides})


def test_tenant_create_makes_owner():
    tenant = make_tenant()
    membership = Membership.objects.get(tenant=tenant)
    assert membership.role == Role.OWNER
    assert membership.user.check_password("a-long-unusual-passphrase")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"currency": "EURO"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"owner_password": "123"}, "owner_password"),
        ({"owner_email": "not-an-email"}, "email"),
    ],
)
def test_tenant_create_rejects_bad_values_and_writes_nothing(overrides, field):
    with pytest.raises(ValidationError) as error:
        make_tenant(**overrides)
    assert field in error.value.message_dict
    assert not Tenant.objects.filter(slug="gamma").exists()
    assert not User.objects.filter(username="gamma-owner").exists()


def test_tenant_create_refuses_existing_slug():
    make_tenant()
    with pytest.raises(ValidationError) as error:
        make_tenant(owner_username="someone-else")
    assert "slug" in error.value.message_dict
    assert not User.objects.filter(username="someone-else").exists()


def test_organization_create_defaults_from_tenant(in_tenant_a):
    org = services.organization_create(name="ACME", company_number="C-1")
    assert org.tenant == in_tenant_a
    assert org.currency == "EUR"
    assert org.time_zone == "Europe/Paris"


def test_company_number_unique_per_tenant_only(tenant_a, tenant_b):
    OrganizationFactory(tenant=tenant_b, company_number="C-1")
    with tenant_context(tenant_a):
        services.organization_create(name="ACME", company_number="C-1")
        with pytest.raises(ValidationError) as error:
            services.organization_create(name="Other", company_number="C-1")
    assert "company_number" in error.value.message_dict
    assert Organization.all_tenants.filter(company_number="C-1").count() == 2


def test_organization_update_validates(in_tenant_a):
    org = services.organization_create(name="ACME", company_number="C-1")
    with pytest.raises(ValidationError) as error:
        services.organization_update(organization=org, currency="ZZZ", country="XX")
    assert {"currency", "country"} <= set(error.value.message_dict)
    org.refresh_from_db()
    assert org.currency == "EUR"


def test_unknown_fields_are_refused(in_tenant_a):
    with pytest.raises(ValidationError) as error:
        services.organization_create(name="ACME", company_number="C-1", tenant_id=999)
    assert "tenant_id" in error.value.message_dict


def test_sequence_is_gapless_per_tenant_and_rolls_back(tenant_a, tenant_b):
    from django.db import transaction

    with transaction.atomic():
        assert services.sequence_take(key="invoice", tenant=tenant_a) == 1
        assert services.sequence_take(key="invoice", tenant=tenant_a) == 2
        assert services.sequence_take(key="invoice", tenant=tenant_b) == 1

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        assert services.sequence_take(key="invoice", tenant=tenant_a) == 3
        raise Abort
    with transaction.atomic():
        assert services.sequence_take(key="invoice", tenant=tenant_a) == 3


def test_portal_membership_needs_organization(tenant_a):
    with pytest.raises(ValidationError):
        services.membership_create(
            tenant=tenant_a, username="p", email="p@x.test", password=None, role=Role.PORTAL
        )
