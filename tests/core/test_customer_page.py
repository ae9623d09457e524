"""The customer page: its contracts, open invoices and balance, tickets, computers and
portal users, each linked, in a fixed number of queries, and only what the role may open."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from billing_site.roles import Role
from billing_site.testing.factories import MembershipFactory, OrganizationFactory, UserFactory
from contracts.models import Contract, TicketStatus
from tests.contracts.factories import ContractFactory, TicketFactory
from tests.invoices.factories import InvoiceFactory
from tests.sessions.factories import HostFactory, HostGroupFactory

pytestmark = pytest.mark.django_db


def content_links(page: str) -> set[str]:
    main = page[page.index("<main") :]
    return {link for link in re.findall(r'href="(/[^"#]*)', main) if "/static/" not in link}


def fill(tenant, customer, n: int, tag: str = "") -> None:
    """``n`` of each thing the page lists, for ``customer``."""
    partner = OrganizationFactory(tenant=tenant, name=f"Partner{tag}")
    group = HostGroupFactory(tenant=tenant, name=f"Office{tag}", organization=customer)
    for i in range(n):
        ContractFactory(tenant=tenant, customer=customer, name=f"Support{tag} {i}")
        ContractFactory(
            tenant=tenant,
            customer=partner,
            billing_organization=customer,
            name=f"Resold{tag} {i}",
        )
        InvoiceFactory(
            tenant=tenant,
            organization=customer,
            number=f"INV{tag}-{i:03d}",
            total=Decimal("100.000"),
            amount_paid=Decimal("25.000"),
        )
        TicketFactory(tenant=tenant, organization=customer, title=f"Printer{tag} {i}")
        HostFactory(tenant=tenant, name=f"PC{tag}-{i}", group=group)
        MembershipFactory(
            tenant=tenant,
            user=UserFactory(username=f"portal{tag}-{i}", email=f"p{i}@acme.example"),
            organization=customer,
            role=Role.PORTAL,
        )


@pytest.fixture
def acme(tenant_a, tenant_b):
    customer = OrganizationFactory(tenant=tenant_a, name="ACME")
    fill(tenant_b, OrganizationFactory(tenant=tenant_b, name="ACME"), 1, tag="B")
    # Listed nowhere: a paid invoice, a draft, a completed ticket, another customer's PC.
    InvoiceFactory(
        tenant=tenant_a,
        organization=customer,
        number="PAID-1",
        status="paid",
        total=Decimal("50.000"),
        amount_paid=Decimal("50.000"),
    )
    InvoiceFactory(tenant=tenant_a, organization=customer, draft=True)
    TicketFactory(tenant=tenant_a, organization=customer, title="Old", status=TicketStatus.COMPLETE)
    HostFactory(tenant=tenant_a, name="ELSEWHERE-PC")
    return customer


def test_the_customer_page_shows_and_links_everything_of_the_customer(client_as, staff_a, acme):
    fill(staff_a.tenant, acme, 2)
    client = client_as(staff_a.user(Role.BILLING_ADMIN))
    page = client.get(reverse("customer-detail", args=[acme.pk])).content.decode()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)).replace("\xa0", " ")
    for shown in (
        "Support 0",
        "Support 1",
        "Resold 1",
        "Partner",  # contracts, as customer or payer
        "INV-000",
        "INV-001",
        "Printer 0",
        "Printer 1",
        "PC-0",
        "PC-1",
        "portal-0",
        "p1@acme.example",
    ):
        assert shown in text, shown
    # The balance: 2 × (100.00 − 25.00), open invoices only.
    assert "Balance due €150.00" in text
    for hidden in ("PAID-1", "Old", "ELSEWHERE-PC", "SupportB", "INVB", "PCB", "portalB"):
        assert hidden not in text, hidden
    links = content_links(page)
    for expected in (
        reverse("contracts:contract-detail", args=[Contract.all_tenants.get(name="Resold 1").pk]),
        reverse("contracts:ticket-list"),
        reverse("invoices:invoice-list"),
        reverse("portal:users"),
    ):
        assert any(link.split("?")[0] == expected for link in links), expected
    answers = {link: client.get(link).status_code for link in links}
    assert all(status == 200 for status in answers.values()), answers


def test_the_customer_page_costs_the_same_queries_for_any_size(
    client_as, staff_a, acme, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_as(staff_a.user(Role.BILLING_ADMIN))
    url = reverse("customer-detail", args=[acme.pk])
    fill(staff_a.tenant, acme, 1)
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    fill(staff_a.tenant, acme, 12, tag="x")
    with django_assert_num_queries(len(one)):
        page = client.get(url).content.decode()
    assert "Printerx 11" in page and "(the 10 newest open ones are listed)" in page


@pytest.mark.parametrize(
    ("role", "billing", "work", "invite"),
    [
        (Role.TECHNICIAN, False, True, False),
        (Role.ACCOUNTANT, True, True, False),
        (Role.OWNER, True, True, True),
    ],
)
def test_each_role_sees_and_is_linked_to_what_it_may_open(
    client_as, staff_a, acme, role, billing, work, invite
):
    fill(staff_a.tenant, acme, 1)
    client = client_as(staff_a.user(role))
    page = client.get(reverse("customer-detail", args=[acme.pk])).content.decode()
    assert ('id="open-invoices"' in page) is billing and ('id="contracts"' in page) is billing
    assert ('id="tickets"' in page) is work and ('id="computers"' in page) is work
    assert ("Invite or manage portal users" in page) is invite
    assert "portal-0" in page
    answers = {link: client.get(link).status_code for link in content_links(page)}
    assert all(status == 200 for status in answers.values()), answers


def test_another_tenants_customer_is_not_found(client_as, staff_a, tenant_b):
    theirs = OrganizationFactory(tenant=tenant_b)
    response = client_as(staff_a.user(Role.OWNER)).get(reverse("customer-detail", args=[theirs.pk]))
    assert response.status_code == 404
