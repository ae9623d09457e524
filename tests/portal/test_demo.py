"""The demo's portal login: Helios sees ACME's tickets billed to it; loading twice adds nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from billing_site import demo
from billing_site.models import Membership
from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from contracts.models import Ticket, TimeEntry

pytestmark = pytest.mark.django_db


def test_demo_portal_login(monkeypatch, client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(demo, "DEMO_BUILDERS", ["contracts.demo.build", "portal.demo.build"])
    ctx = demo.load_demo()
    with tenant_context(ctx.tenant):
        counts = (Ticket.objects.count(), TimeEntry.objects.count())
    demo.load_demo()
    with tenant_context(ctx.tenant):
        assert (Ticket.objects.count(), TimeEntry.objects.count()) == counts
    assert ("helios", demo.DEMO_PASSWORD) in [(u, p) for u, p, _ in ctx.logins]
    membership = Membership.objects.get(user__username="helios")
    assert membership.role == Role.PORTAL
    assert membership.organization.name == "Helios IT Partners"
    assert membership.contact.name == "Sam Carter"

    assert client.login(username="helios", password=demo.DEMO_PASSWORD)
    html = client.get(reverse("portal:end-client-tickets")).content.decode()
    assert "ACME" in html and "Firewall rules for the new VPN" in html
    every = client.get(
        reverse("portal:end-client-tickets"), {"include_completed": "on"}
    ).content.decode()
    with tenant_context(ctx.tenant):
        completed = Ticket.objects.filter(
            status="complete", time_entries__contract__billing_organization=membership.organization
        ).first()
        pending = (
            TimeEntry.objects.filter(contract__billing_organization=membership.organization)
            .exclude(state="posted")
            .select_related("ticket")
            .first()
        )
    assert completed.title not in html and completed.title in every
    detail = client.get(reverse("portal:ticket-detail", args=[pending.ticket_id])).content.decode()
    assert pending.summary_note in detail and "Not yet posted" in detail
    assert pending.internal_note not in detail
