"""Every report costs a fixed number of queries: many more technicians, customers,
contracts, entries and invoices cost not one query more."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from contracts.choices import TimeEntryState
from invoices.models import InvoiceKind
from tests.contracts.factories import (
    ContractFactory,
    ContractProductLineFactory,
    TeamMemberFactory,
    TicketFactory,
    technician,
)
from tests.invoices.factories import InvoiceFactory, InvoiceLineFactory

from .conftest import entry

pytestmark = pytest.mark.django_db

ROUTES = [
    ("reports:team-work", "?date_from=2026-01-01&date_to=2026-05-31"),
    ("reports:unbilled-work", ""),
    ("reports:revenue", "?date_from=2026-01-01"),
    ("reports:expected-revenue", "?months=6"),
]
API = [
    ("report-team-work", "?date_from=2026-01-01&date_to=2026-05-31"),
    ("report-unbilled-work", ""),
    ("report-revenue", "?date_from=2026-01-01"),
    ("report-expected-revenue", "?months=6"),
]


def grow(world) -> None:
    """Ten times the world: new technicians (some in teams), customers with hourly,
    retainer and recurring contracts, entries in every state and month, billed entries,
    issued invoices and credit notes in every month."""
    tenant = world.tenant
    techs = [technician(tenant, f"extra-tech-{n}") for n in range(8)]
    for tech in techs[:4]:
        TeamMemberFactory(tenant=tenant, team=world.teams["desk"], user=tech)
    tickets = list(world.tickets.values())
    for n in range(6):
        customer = OrganizationFactory(tenant=tenant, name=f"Extra {n}", currency="EUR")
        kind = ({}, {"retainer": True}, {"recurring": True})[n % 3]
        contract = ContractFactory(
            tenant=tenant, customer=customer, start_date=dt.date(2026, 1, 1), **kind
        )
        if n % 3 == 2:
            ContractProductLineFactory(tenant=tenant, contract=contract, quantity=Decimal("3"))
        tickets.append(TicketFactory(tenant=tenant, organization=customer, contract=contract))
    days = [dt.date(2026, month, day) for month in (1, 2, 3, 4, 5) for day in (3, 17)]
    for index, (tech, day) in enumerate((tech, day) for tech in techs for day in days):
        ticket = tickets[index % len(tickets)]
        if ticket.contract.currency == "GBP":
            continue
        state = TimeEntryState.POSTED if index % 4 else TimeEntryState.APPROVED
        entry(ticket, tech, day, 600 + 60 * index, billable=index % 5 != 0, state=state)
    for month in (1, 2, 3, 4, 5):
        invoice = InvoiceFactory(
            tenant=tenant,
            issue_date=dt.date(2026, month, 9),
            subtotal=Decimal("100.000"),
            total=Decimal("120.000"),
        )
        line = InvoiceLineFactory(tenant=tenant, invoice=invoice)
        billed = world.contracts["acme"].time_entries.filter(
            state=TimeEntryState.POSTED, billable=True, invoice_line__isnull=True
        )[:2]
        for one in billed:
            one.invoice_line, one.billed_seconds = line, one.worked_seconds
            one.save()
        InvoiceFactory(
            tenant=tenant,
            kind=InvoiceKind.CREDIT_NOTE,
            credit_disposition="write_off",
            credited_invoice=invoice,
            number=f"CN-X-{month}",
            issue_date=dt.date(2026, month, 20),
            subtotal=Decimal("10.000"),
            total=Decimal("12.000"),
        )


def count(client, url: str) -> int:
    client.get(url)  # warm caches (content types, sessions)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(queries)


@pytest.mark.parametrize(("kind", "routes"), [("pages", ROUTES), ("api", API)])
def test_queries_do_not_grow_with_rows(world, staff_a, client_as, api_as, kind, routes):
    user = staff_a.user(Role.ACCOUNTANT)
    client = client_as(user) if kind == "pages" else api_as(user)
    urls = [reverse(name) + query for name, query in routes]
    if kind == "pages":
        urls += [reverse(f"{name}-csv") + query for name, query in routes]
    few = {url: count(client, url) for url in urls}
    before = [client.get(url).content for url in urls]
    with tenant_context(world.tenant):
        grow(world)
    many = {url: count(client, url) for url in urls}
    assert many == few
    after = [client.get(url).content for url in urls]
    assert all(old != new for old, new in zip(before, after, strict=True))  # rows were added
    # And few they are: a page of the batch engine's size at most.
    assert max(few.values()) <= 40, few
