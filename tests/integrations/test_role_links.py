"""The integration pages show only links the reader's role can open: Connections is the
owner's page, so a billing admin or an accountant is not sent to a 403."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from billing_site.roles import Role
from integrations.core.models import ConnectionStatus

from .factories import ConnectionFactory, DeliveryFactory

pytestmark = pytest.mark.django_db
ROLES = [Role.OWNER, Role.BILLING_ADMIN, Role.ACCOUNTANT]


def content_links(page: str) -> set[str]:
    """The site's links inside the page's content (the navigation has tests of its own)."""
    main = page[page.index("<main") :]
    return {link for link in re.findall(r'href="(/[^"#?]*)', main) if "/static/" not in link}


@pytest.fixture
def broken(tenant_a, tenant_b):
    ConnectionFactory(tenant=tenant_b, status=ConnectionStatus.ACTIVE)
    connection = ConnectionFactory(
        tenant=tenant_a, status=ConnectionStatus.BROKEN, last_error="invalid_grant"
    )
    DeliveryFactory(tenant=tenant_a, connection=connection)  # links to it and its invoice
    return connection


@pytest.mark.parametrize("role", ROLES)
def test_the_delivery_log_links_only_what_the_role_may_open(role, broken, staff_a, client_as):
    client = client_as(staff_a.user(role))
    page = client.get(reverse("integrations:deliveries")).content.decode()
    connections = f'href="{reverse("integrations:connections")}"'
    assert (connections in page) == (role == Role.OWNER)
    assert "needs reconnecting: invalid_grant" in page
    assert ("An owner can reconnect it." in page) == (role != Role.OWNER)
    answers = {link: client.get(link).status_code for link in content_links(page)}
    assert answers and all(status == 200 for status in answers.values()), answers


@pytest.mark.parametrize("role", ROLES)
def test_the_dashboard_offers_reconnect_only_to_the_owner(role, broken, staff_a, client_as):
    page = client_as(staff_a.user(role)).get("/").content.decode()
    assert "needs reconnecting" in page
    assert (f'href="{reverse("integrations:connections")}"' in page) == (role == Role.OWNER)
    assert ("An owner can reconnect it." in page) == (role != Role.OWNER)
