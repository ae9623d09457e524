"""Management commands: create_tenant (clear errors) and load_demo (idempotent)."""

import pytest
from django.core.management import CommandError, call_command

from billing_site.models import Membership, Organization, Tenant
from billing_site.roles import Role
from billing_site.tenancy import tenant_context

pytestmark = pytest.mark.django_db

ARGS = [
    "--name=Gamma IT",
    "--slug=gamma",
    "--currency=eur",
    "--time-zone=Europe/Paris",
    "--owner-username=gamma-owner",
    "--owner-email=owner@gamma.test",
    "--owner-password=a-long-unusual-passphrase",
]


def test_create_tenant(capsys):
    call_command("create_tenant", *ARGS)
    tenant = Tenant.objects.get(slug="gamma")
    assert tenant.currency == "EUR"
    assert Membership.objects.get(tenant=tenant).role == Role.OWNER
    assert "created" in capsys.readouterr().out


def test_create_tenant_errors():
    call_command("create_tenant", *ARGS)
    with pytest.raises(CommandError, match="slug: A tenant with slug 'gamma' already exists"):
        call_command("create_tenant", *ARGS[:-3], "--owner-username=x", *ARGS[-2:])
    with pytest.raises(CommandError, match="currency"):
        call_command(
            "create_tenant",
            "--name=Delta IT",
            "--slug=delta",
            "--currency=XYZ",
            "--time-zone=Europe/Paris",
            "--owner-username=delta-owner",
            "--owner-email=o@delta.test",
            "--owner-password=a-long-unusual-passphrase",
        )
    assert not Tenant.objects.filter(slug="delta").exists()


def test_load_demo_is_idempotent(capsys):
    call_command("load_demo")
    out = capsys.readouterr().out
    for username in ("owner", "billing", "tech", "accountant"):
        assert username in out
    tenant = Tenant.objects.get(slug="northwind")
    with tenant_context(tenant):
        first = Organization.objects.count()
        assert Organization.objects.filter(name="ACME").exists()
    call_command("load_demo")
    with tenant_context(tenant):
        assert Organization.objects.count() == first
    assert Membership.objects.filter(tenant=tenant).count() >= 5
