"""A tenant where Helios IT Partners (P) is billed for some of its clients' work.

Tenant A (Alpha IT, Europe/Paris):
- P "Helios IT Partners" (America/New_York), with a portal login; its own ticket ``own``.
- ACME: contract ``acme_self`` (billed to ACME) and ``acme_via_p`` (billed to P).
  ``billed``: on ``acme_via_p``; entries: posted billable 1 h 30 (with an internal
  note), submitted billable 45 min, posted non-billable 30 min.
  ``not_billed``: on ``acme_self``, work billed to ACME only -> never P's.
  ``completed``: on ``acme_via_p``, Complete.
- Bistro: ticket ``one_entry`` on Bistro's own contract, with one entry on a contract of
  Bistro billed to P (posted, 15 min) and one on Bistro's own (posted, 2 h).
- Harbor: another portal organization (not a partner) with its own login.
Tenant B (Bravo IT): organizations with the same names, an ACME ticket billed to B's
"Helios IT Partners" — never visible to A's users.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.core.files.base import ContentFile

from billing_site.testing.factories import ContactFactory, OrganizationFactory, UserFactory
from contracts.choices import TicketStatus, TimeEntryState
from contracts.models import Ticket

from .factories import (
    ContractFactory,
    TicketAttachmentFactory,
    TicketFactory,
    TimeEntryFactory,
    portal_user,
    technician,
)

INTERNAL = "SECRET-INTERNAL-NOTE"


def set_created(ticket: Ticket, when: dt.datetime) -> None:
    Ticket.all_tenants.filter(pk=ticket.pk).update(created_at=when)
    ticket.refresh_from_db()


def entry(ticket, contract, seconds, *, state=TimeEntryState.POSTED, billable=True, **extra):
    return TimeEntryFactory(
        tenant=ticket.tenant,
        ticket=ticket,
        contract=contract,
        technician=extra.pop("tech"),
        worked_seconds=seconds,
        state=state,
        billable=billable,
        **extra,
    )


def build_world(tenant, *, prefix: str = ""):
    partner = OrganizationFactory(
        tenant=tenant, name="Helios IT Partners", time_zone="America/New_York"
    )
    acme = OrganizationFactory(tenant=tenant, name="ACME")
    bistro = OrganizationFactory(tenant=tenant, name="Bistro Lumière")
    harbor = OrganizationFactory(tenant=tenant, name="Harbor Logistics")
    tech = technician(tenant, username=f"{prefix}tech")
    tech.first_name, tech.last_name = "Theo", "Martin"
    tech.save()
    acme_self = ContractFactory(tenant=tenant, customer=acme, name="ACME own")
    acme_via_p = ContractFactory(
        tenant=tenant, customer=acme, billing_organization=partner, name="ACME via Helios"
    )
    bistro_self = ContractFactory(tenant=tenant, customer=bistro, name="Bistro own")
    bistro_via_p = ContractFactory(
        tenant=tenant, customer=bistro, billing_organization=partner, name="Bistro via Helios"
    )
    partner_self = ContractFactory(tenant=tenant, customer=partner, name="Helios own")

    wile = ContactFactory(
        tenant=tenant, organization=acme, name="Wile Coyote", email="wile@acme.test"
    )
    billed = TicketFactory(
        tenant=tenant,
        organization=acme,
        contract=acme_via_p,
        contact=wile,
        title="Printer offline",
        description="The printer on floor 2 does not answer.",
        assigned_to=tech,
        due_date=dt.date(2026, 3, 20),
    )
    posted = entry(
        billed,
        acme_via_p,
        5400,
        tech=tech,
        summary_note="Restarted the print spooler.",
        internal_note=INTERNAL,
    )
    pending = entry(
        billed,
        acme_via_p,
        2700,
        tech=tech,
        state=TimeEntryState.SUBMITTED,
        summary_note="Ordered a new fuser.",
    )
    free = entry(
        billed, acme_via_p, 1800, tech=tech, billable=False, summary_note="Courtesy check."
    )
    not_billed = TicketFactory(
        tenant=tenant, organization=acme, contract=acme_self, title="Mailbox full"
    )
    entry(not_billed, acme_self, 3600, tech=tech, summary_note="Archived mail.")
    completed = TicketFactory(
        tenant=tenant,
        organization=acme,
        contract=acme_via_p,
        title="Laptop setup",
        status=TicketStatus.COMPLETE,
    )
    one_entry = TicketFactory(
        tenant=tenant,
        organization=bistro,
        contract=bistro_self,
        title="Till not printing",
        assigned_to=None,
    )
    bistro_billed = entry(
        one_entry, bistro_via_p, 900, tech=tech, summary_note="Replaced the till cable."
    )
    bistro_own = entry(
        one_entry,
        bistro_self,
        7200,
        tech=tech,
        summary_note="Bistro's own network work.",
        internal_note=INTERNAL,
    )
    own = TicketFactory(
        tenant=tenant, organization=partner, contract=partner_self, title="Helios VPN down"
    )
    entry(own, partner_self, 600, tech=tech, summary_note="Reset the VPN.")

    # Files: one on P's billed entry, one on Bistro's own entry, one on the ticket itself.
    billed_file = TicketAttachmentFactory(
        tenant=tenant,
        ticket=billed,
        time_entry=posted,
        name="spooler.log",
        file=ContentFile(b"spooler restarted", name="spooler.log"),
    )
    hidden_file = TicketAttachmentFactory(
        tenant=tenant,
        ticket=one_entry,
        time_entry=bistro_own,
        name="bistro-network.txt",
        file=ContentFile(b"bistro only", name="bistro-network.txt"),
    )
    ticket_file = TicketAttachmentFactory(
        tenant=tenant,
        ticket=billed,
        name="photo.txt",
        file=ContentFile(b"photo", name="photo.txt"),
    )
    own_file = TicketAttachmentFactory(
        tenant=tenant,
        ticket=own,
        name="vpn.txt",
        file=ContentFile(b"vpn", name="vpn.txt"),
    )
    return SimpleNamespace(
        tenant=tenant,
        partner=partner,
        acme=acme,
        bistro=bistro,
        harbor=harbor,
        tech=tech,
        contracts=SimpleNamespace(
            acme_self=acme_self,
            acme_via_p=acme_via_p,
            bistro_self=bistro_self,
            bistro_via_p=bistro_via_p,
            partner_self=partner_self,
        ),
        billed=billed,
        not_billed=not_billed,
        completed=completed,
        one_entry=one_entry,
        own=own,
        entries=SimpleNamespace(
            posted=posted,
            pending=pending,
            free=free,
            bistro_billed=bistro_billed,
            bistro_own=bistro_own,
        ),
        files=SimpleNamespace(
            billed=billed_file, hidden=hidden_file, ticket=ticket_file, own=own_file
        ),
    )


@pytest.fixture
def world(tenant_a):
    data = build_world(tenant_a, prefix="a-")
    data.portal_user = portal_user(data.partner, username="helios-portal")
    data.harbor_user = portal_user(data.harbor, username="harbor-portal")
    return data


@pytest.fixture
def world_b(tenant_b):
    """Tenant B: same names, its own partner billing, its own portal login."""
    data = build_world(tenant_b, prefix="b-")
    data.portal_user = portal_user(data.partner, username="bravo-helios-portal")
    return data


@pytest.fixture
def staff_user(tenant_a):
    from billing_site.models import Membership
    from billing_site.roles import Role

    user = UserFactory(username="alpha-admin-portal")
    Membership.objects.create(user=user, tenant=tenant_a, role=Role.BILLING_ADMIN)
    return user
