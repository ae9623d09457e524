"""The demo data: the seed's ACME example, idempotent."""

import pytest

from billing_site.demo import DemoContext, build_core
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import TenantFactory
from billing_site.timeutils import format_duration
from sessions import demo
from sessions.models import Host, HostGroup, RemoteSession

pytestmark = pytest.mark.django_db


def test_demo_builds_the_seed_example_twice(tenant_b):
    tenant = TenantFactory(slug="northwind-test", time_zone="Europe/Paris")
    for _ in range(2):
        ctx = DemoContext(tenant=tenant)
        with tenant_context(tenant):
            build_core(ctx)
            demo.build(ctx)
    with tenant_context(tenant):
        acme = HostGroup.objects.get(name="ACME")
        assert acme.organization.name == "ACME"
        assert set(acme.hosts.values_list("name", flat=True)) == {
            "Jane_OFFICE_121",
            "Joseph_OFFICE_121",
        }
        jane = RemoteSession.objects.filter(host__name="Jane_OFFICE_121")
        assert format_duration(sum(s.duration_seconds for s in jane)) == "15 min 18 s"
        assert jane.filter(comment="Installed Windows updates.").count() == 1
        assert RemoteSession.objects.filter(host__name="Joseph_OFFICE_121").count() == 2
        technicians = set(RemoteSession.objects.values_list("technician__username", flat=True))
        assert technicians == {"tech", "tech2"}
        assert RemoteSession.objects.count() == len(demo.DEMO_SESSIONS)
        assert Host.objects.count() == 7
        for session in RemoteSession.objects.all():
            assert session.duration_seconds == (session.ended_at - session.started_at).seconds
    with tenant_context(tenant_b):
        assert not RemoteSession.objects.exists()
