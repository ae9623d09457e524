"""Portal test helpers. The portal owns no models: tickets, entries and attachments come
from the contracts factories (registered there); portal logins are memberships."""

from __future__ import annotations

from billing_site.models import Membership, User
from billing_site.roles import Role
from billing_site.testing.factories import ContactFactory, UserFactory
from tests.contracts.factories import (
    ContractFactory,
    TicketAttachmentFactory,
    TicketFactory,
    TimeEntryFactory,
    technician,
)

__all__ = [
    "ContractFactory",
    "TicketAttachmentFactory",
    "TicketFactory",
    "TimeEntryFactory",
    "portal_user",
    "technician",
]


def portal_user(organization, username: str | None = None, contact=None) -> User:
    """A portal login of ``organization`` (a contact is created when none is given)."""
    contact = contact or ContactFactory(tenant=organization.tenant, organization=organization)
    user = UserFactory(**({"username": username} if username else {}))
    Membership.objects.create(
        user=user,
        tenant=organization.tenant,
        role=Role.PORTAL,
        organization=organization,
        contact=contact,
    )
    return user
