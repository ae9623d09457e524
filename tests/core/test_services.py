"""Core services: validation with field errors and nothing half-written."""

import inspect
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing_site import services
from billing_site.models import Contact, Membership, Organization, Tenant, User
from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from billing_site.unset import UNSET

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


def test_unknown_fields_are_a_type_error(in_tenant_a):
    with pytest.raises(TypeError):
        services.organization_create(name="ACME", company_number="C-1", tenant_id=999)
    assert not Organization.objects.exists()
    org = services.organization_create(name="ACME", company_number="C-1")
    with pytest.raises(TypeError):
        services.organization_update(organization=org, name="New", colour="red")
    with pytest.raises(TypeError):
        services.contact_create(organization=org, name="Jane", tenant=in_tenant_a)
    assert not Contact.objects.exists()
    contact = services.contact_create(organization=org, name="Jane")
    with pytest.raises(TypeError):  # a contact stays with its organization
        services.contact_update(contact=contact, organization=org)
    with pytest.raises(TypeError):
        services.tenant_update(tenant=in_tenant_a, slug="other")
    org.refresh_from_db()
    in_tenant_a.refresh_from_db()
    assert (org.name, in_tenant_a.slug) == ("ACME", "alpha")


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


# ------------------------------------------------------------- signatures

CREATE_SERVICES = [
    (services.organization_create, services.ORGANIZATION_FIELDS, set()),
    (services.contact_create, services.CONTACT_FIELDS, set()),
]
UPDATE_SERVICES = [
    (services.organization_update, services.ORGANIZATION_FIELDS, {"organization"}),
    (services.contact_update, services.CONTACT_UPDATE_FIELDS, {"contact"}),
    (services.tenant_update, services.TENANT_FIELDS, {"tenant"}),
]


def _keyword_parameters(service) -> dict[str, inspect.Parameter]:
    parameters = inspect.signature(service).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())
    return dict(parameters)


@pytest.mark.parametrize(
    ("service", "fields", "others"),
    CREATE_SERVICES + UPDATE_SERVICES,
    ids=[service.__name__ for service, *_ in CREATE_SERVICES + UPDATE_SERVICES],
)
def test_services_take_their_fields_as_keywords(service, fields, others):
    # Forms and serializers take their field lists from the ``*_FIELDS`` tuples: a field
    # added there without its keyword here would fail every save with a TypeError.
    assert set(_keyword_parameters(service)) == set(fields) | others


@pytest.mark.parametrize(
    ("service", "fields", "others"),
    UPDATE_SERVICES,
    ids=[service.__name__ for service, *_ in UPDATE_SERVICES],
)
def test_update_fields_default_to_unset(service, fields, others):
    parameters = _keyword_parameters(service)
    assert {name: parameters[name].default for name in fields} == dict.fromkeys(fields, UNSET)


# Defaults that are not the model's: ``None`` there means "the tenant's".
TENANT_DEFAULTS = {"organization_create": {"currency", "time_zone"}}


@pytest.mark.parametrize(
    ("service", "model"),
    [(services.organization_create, Organization), (services.contact_create, Contact)],
    ids=["organization_create", "contact_create"],
)
def test_create_defaults_are_the_models(service, model):
    from_tenant = TENANT_DEFAULTS.get(service.__name__, set())
    for name, parameter in _keyword_parameters(service).items():
        field = model._meta.get_field(name)
        if parameter.default is inspect.Parameter.empty:
            assert not field.has_default() and not field.blank, name
        elif name in from_tenant:
            assert parameter.default is None, name
        else:
            assert parameter.default == field.get_default(), name


def test_update_changes_only_the_given_fields(in_tenant_a):
    org = services.organization_create(
        name="ACME", company_number="C-1", city="Lyon", tax_rate=Decimal("21")
    )
    services.organization_update(organization=org, name="ACME SA")
    org.refresh_from_db()
    assert (org.name, org.city, org.tax_rate) == ("ACME SA", "Lyon", Decimal("21"))
    services.organization_update(organization=org, tax_rate=None)  # None: the default rate
    org.refresh_from_db()
    assert (org.name, org.city, org.tax_rate) == ("ACME SA", "Lyon", None)

    contact = services.contact_create(organization=org, name="Jane", email="jane@acme.test")
    services.contact_update(contact=contact, phone="+33 1 23")
    contact.refresh_from_db()
    assert (contact.name, contact.email, contact.phone) == ("Jane", "jane@acme.test", "+33 1 23")

    services.tenant_update(tenant=in_tenant_a, legal_name="Alpha IT SARL")
    tenant = Tenant.objects.get(pk=in_tenant_a.pk)
    assert (tenant.name, tenant.legal_name, tenant.currency) == ("Alpha IT", "Alpha IT SARL", "EUR")


def test_create_keeps_a_given_currency_and_time_zone(in_tenant_a):
    org = services.organization_create(
        name="ACME", company_number="C-1", currency="USD", time_zone="America/New_York"
    )
    assert (org.currency, org.time_zone) == ("USD", "America/New_York")
    with pytest.raises(ValidationError) as error:  # empty is a value, not "the tenant's"
        services.organization_create(name="Other", company_number="C-2", currency="")
    assert "currency" in error.value.message_dict
