"""Fixtures of the sessions tests: a fixed clock, technicians, and a way to bill a session."""

import datetime as dt

import pytest
import time_machine

from billing_site.roles import Role
from billing_site.tenancy import tenant_context

# Monday 2026-11-16 12:00 in Paris (UTC+1 in November).
NOW = dt.datetime(2026, 11, 16, 11, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def tech(staff_a):
    return staff_a.user(Role.TECHNICIAN)


@pytest.fixture
def tech2(tenant_a):
    from .factories import technician_in

    return technician_in(tenant_a)


@pytest.fixture
def bill():
    """Put a session on an invoice line, as the invoicing code does."""
    from invoices.models import Invoice, InvoiceLine
    from sessions.models import RemoteSession

    def _bill(session):
        tenant = session.tenant
        with tenant_context(tenant):
            invoice = Invoice.objects.create(
                tenant=tenant,
                currency=tenant.currency,
                seller_name=tenant.name,
                bill_to_name="Customer",
            )
            line = InvoiceLine.objects.create(
                tenant=tenant, invoice=invoice, description=str(session)
            )
            RemoteSession.objects.filter(pk=session.pk).update(invoice_line=line)
        session.refresh_from_db()
        return session

    return _bill
