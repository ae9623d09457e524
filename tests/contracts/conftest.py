"""Fixtures of the contracts tests: tenant A acts, tenant B owns look-alike rows that must
stay unseen."""

from __future__ import annotations

import pytest

from billing_site.testing.factories import OrganizationFactory

from .factories import ContractFactory, ServiceTypeFactory, TicketFactory, technician


@pytest.fixture
def tech(tenant_a):
    return technician(tenant_a, "theo")


@pytest.fixture
def tech2(tenant_a):
    return technician(tenant_a, "tara")


@pytest.fixture
def acme(tenant_a):
    return OrganizationFactory(tenant=tenant_a, name="ACME", company_number="C-1001")


@pytest.fixture
def remote(tenant_a):
    return ServiceTypeFactory(tenant=tenant_a, name="Remote support")


@pytest.fixture
def hourly(tenant_a, acme):
    return ContractFactory(tenant=tenant_a, customer=acme, name="ACME hourly")


@pytest.fixture
def ticket(tenant_a, acme, hourly):
    return TicketFactory(tenant=tenant_a, organization=acme, contract=hourly)


@pytest.fixture
def other_tenant_rows(tenant_b):
    """Rows in tenant B with the same names as tenant A's: never visible from A."""
    organization = OrganizationFactory(tenant=tenant_b, name="ACME", company_number="C-1001")
    contract = ContractFactory(tenant=tenant_b, customer=organization, name="ACME hourly")
    return TicketFactory(tenant=tenant_b, organization=organization, contract=contract)
