"""Factories of the sessions app, rooted at a tenant: HostFactory(tenant=t) builds its
group and customer in t, RemoteSessionFactory(tenant=t) its host and technician in t."""

import datetime as dt

import factory
from django.utils import timezone

from billing_site.roles import Role
from billing_site.testing.factories import (
    MembershipFactory,
    OrganizationFactory,
    TenantOwnedFactory,
    UserFactory,
)
from billing_site.testing.registry import register_factory
from sessions.models import (
    Host,
    HostGroup,
    ImportProfile,
    RemoteSession,
    SessionImport,
    SessionSource,
)


@register_factory
class HostGroupFactory(TenantOwnedFactory):
    class Meta:
        model = HostGroup

    name = factory.Sequence(lambda n: f"Group {n}")
    organization = factory.SubFactory(OrganizationFactory, tenant=factory.SelfAttribute("..tenant"))


@register_factory
class HostFactory(TenantOwnedFactory):
    class Meta:
        model = Host

    name = factory.Sequence(lambda n: f"HOST-{n:04d}")
    group = factory.SubFactory(HostGroupFactory, tenant=factory.SelfAttribute("..tenant"))
    organization = factory.LazyAttribute(lambda o: o.group.organization if o.group else None)


def technician_in(tenant, role=Role.TECHNICIAN):
    """A new staff user with ``role`` in ``tenant``."""
    user = UserFactory()
    MembershipFactory(user=user, tenant=tenant, role=role)
    return user


@register_factory
class RemoteSessionFactory(TenantOwnedFactory):
    """A finished 15-minute session about a day ago, by a technician of the same tenant."""

    class Meta:
        model = RemoteSession

    class Params:
        duration = 900

    host = factory.SubFactory(HostFactory, tenant=factory.SelfAttribute("..tenant"))
    technician = factory.LazyAttribute(lambda o: technician_in(o.tenant))
    # Distinct starts, so sessions of one host never collide on host + start + end.
    started_at = factory.Sequence(
        lambda n: timezone.now().replace(microsecond=0) - dt.timedelta(days=1, minutes=17 * n)
    )
    ended_at = factory.LazyAttribute(
        lambda o: o.started_at + dt.timedelta(seconds=o.duration) if o.duration else None
    )
    duration_seconds = factory.LazyAttribute(lambda o: o.duration or 0)
    comment = factory.Sequence(lambda n: f"Support job {n}")
    source = SessionSource.MANUAL


@register_factory
class SessionImportFactory(TenantOwnedFactory):
    class Meta:
        model = SessionImport

    uploaded_by = factory.LazyAttribute(lambda o: technician_in(o.tenant))
    filename = "sessions.csv"
    content = (
        "host,group,technician,start,end,comment,external_id\n"
        "PC-1,ACME,nobody,2026-01-05 09:00:00,2026-01-05 09:10:00,Fixed,X-1\n"
    )


@register_factory
class ImportProfileFactory(TenantOwnedFactory):
    class Meta:
        model = ImportProfile

    name = factory.Sequence(lambda n: f"Profile {n}")
    mapping = factory.LazyFunction(lambda: {"host": "Machine", "start": "Begin", "end": "Finish"})
