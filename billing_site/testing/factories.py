"""Shared factories, rooted at a tenant so a fixture cannot mix tenants.

Every tenant-owned factory takes ``tenant`` (default: a new tenant) and builds its
related rows in that same tenant. Apps add their factories in their own modules
(``tests/<app>/factories.py``) on top of these.
"""

from decimal import Decimal

import factory

from billing_site.models import Contact, Membership, Organization, Tenant, User
from billing_site.roles import Role

from .registry import register_factory

TEST_PASSWORD = "correct-horse-battery-staple"


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"MSP {n}")
    slug = factory.Sequence(lambda n: f"msp-{n}")
    currency = "EUR"
    time_zone = "Europe/Paris"
    country = "FR"
    legal_name = factory.LazyAttribute(lambda o: f"{o.name} SARL")
    street = "1 rue de la Paix"
    postcode = "75002"
    city = "Paris"
    default_hourly_rate = Decimal("100.0000")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    first_name = "Test"
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.BILLING_ADMIN


class TenantOwnedFactory(factory.django.DjangoModelFactory):
    """Base for tenant-owned rows; saves through ``all_tenants`` so no context is needed."""

    class Meta:
        abstract = True

    tenant = factory.SubFactory(TenantFactory)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        obj = model_class(*args, **kwargs)
        obj.save()
        return obj


@register_factory
class OrganizationFactory(TenantOwnedFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Customer {n}")
    company_number = factory.Sequence(lambda n: f"C-{n:05d}")
    currency = factory.LazyAttribute(lambda o: o.tenant.currency)
    time_zone = factory.LazyAttribute(lambda o: o.tenant.time_zone)
    country = "FR"
    billing_contact_name = "Pat Payer"
    billing_contact_email = factory.LazyAttribute(
        lambda o: f"billing@{o.company_number.lower()}.test"
    )


@register_factory
class ContactFactory(TenantOwnedFactory):
    class Meta:
        model = Contact

    organization = factory.SubFactory(OrganizationFactory, tenant=factory.SelfAttribute("..tenant"))
    name = factory.Sequence(lambda n: f"Contact {n}")
    email = factory.LazyAttribute(lambda o: f"contact{o.name.split()[-1]}@example.test")
