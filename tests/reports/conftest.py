"""The reports' world: tenant A's spring 2026, billed by a real batch, credited, and
worked on since; tenant B owns look-alike rows that A must never see.

Built on 2 March (February's time billed by a batch as of 1 March), 10 April (the ACME
invoice credited, items written off) and 20 May 2026, where the tests stay: today is
2026-05-20 in Paris. Every figure the tests expect is worked out in the docstrings.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
import time_machine

from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from contracts.choices import ContractStatus, TimeEntryState
from invoices import services as invoice_services
from invoices.batches import services as batch_services
from invoices.models import InvoiceStatus
from tests.contracts.factories import (
    ContractFactory,
    ContractProductLineFactory,
    ProductFactory,
    RateRuleFactory,
    TeamFactory,
    TeamMemberFactory,
    TicketFactory,
    TimeEntryFactory,
    technician,
)
from tests.invoices.factories import InvoiceFactory

TODAY = dt.date(2026, 5, 20)
NOW = dt.datetime(2026, 5, 20, 10, 0, tzinfo=dt.UTC)
BATCH_DAY = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
CREDIT_DAY = dt.datetime(2026, 4, 10, 9, 0, tzinfo=dt.UTC)


def entry(ticket, tech, day, seconds, *, billable=True, state=TimeEntryState.POSTED):
    return TimeEntryFactory(
        tenant=ticket.tenant,
        ticket=ticket,
        contract=ticket.contract,
        technician=tech,
        work_date=day,
        worked_seconds=seconds,
        billable=billable,
        state=state,
    )


@dataclass
class World:
    """Tenant A (EUR, Europe/Paris, tenant default 100.00 EUR/h).

    Contracts (all from 1 Jan 2026, monthly from the 1st):
    - ACME support: hourly EUR, 15-minute increments, tax 20 %.
    - Bistro retainer: 500.00 covers 5 h, overage 120.00/h, tax 10 %.
    - Verde managed: recurring 2 × 45.00 a month, untaxed.
    - Helios US desk: hourly USD at 80.00 (a USD rule), untaxed.
    - Thames: hourly GBP, no GBP rate: its time cannot be priced.
    - Old retainer: suspended; accrues no fee.

    Teams: Desk = Theo + Tara, Field = Tara; Una is in no team.

    Batch as of 1 March, generated on 2 March (one invoice per contract):
    ACME 200.00 + 40.00 tax = 240.00; Bistro fees Jan-Mar 1,500.00 + 1.5 h overage
    180.00 = 1,680.00 + 168.00 = 1,848.00; Verde Jan-Mar 270.00; Helios 80.00 USD.
    On 10 April the ACME invoice is credited in full (written off: its time stays billed).
    In May, a draft (999.00) and a void invoice (777.00), which count nothing.
    """

    tenant: object
    techs: dict
    teams: dict
    contracts: dict
    tickets: dict
    invoices: dict = field(default_factory=dict)
    customers: dict = field(default_factory=dict)


def build_world(tenant, traveller) -> World:
    theo = technician(tenant, f"{tenant.slug}-theo")
    tara = technician(tenant, f"{tenant.slug}-tara")
    una = technician(tenant, f"{tenant.slug}-una")
    theo.first_name, theo.last_name = "Theo", "Martin"
    tara.first_name, tara.last_name = "Tara", "Dubois"
    una.first_name, una.last_name = "Una", "Leroy"
    for user in (theo, tara, una):
        user.save()
    desk = TeamFactory(tenant=tenant, name="Desk")
    fieldwork = TeamFactory(tenant=tenant, name="Field")
    TeamMemberFactory(tenant=tenant, team=desk, user=theo)
    TeamMemberFactory(tenant=tenant, team=desk, user=tara)
    TeamMemberFactory(tenant=tenant, team=fieldwork, user=tara)

    customers = {
        name: OrganizationFactory(tenant=tenant, name=name, currency=currency)
        for name, currency in (
            ("ACME", "EUR"),
            ("Bistro Lumière", "EUR"),
            ("Studio Verde", "EUR"),
            ("Helios IT Partners", "USD"),
            ("Thames Ltd", "GBP"),
            ("Old Client", "EUR"),
        )
    }
    RateRuleFactory(tenant=tenant, rate=Decimal("80.0000"), currency="USD", service_type=None)
    jan1 = dt.date(2026, 1, 1)
    contracts = {
        "acme": ContractFactory(
            tenant=tenant,
            customer=customers["ACME"],
            name="ACME support",
            start_date=jan1,
            rounding_increment_minutes=15,
            tax_rate=Decimal("20.0000"),
        ),
        "bistro": ContractFactory(
            tenant=tenant,
            customer=customers["Bistro Lumière"],
            name="Bistro retainer",
            retainer=True,
            start_date=jan1,
            tax_rate=Decimal("10.0000"),
        ),
        "verde": ContractFactory(
            tenant=tenant,
            customer=customers["Studio Verde"],
            name="Verde managed",
            recurring=True,
            start_date=jan1,
            taxable=False,
        ),
        "helios": ContractFactory(
            tenant=tenant,
            customer=customers["Helios IT Partners"],
            name="Helios US desk",
            start_date=jan1,
            taxable=False,
        ),
        "thames": ContractFactory(
            tenant=tenant,
            customer=customers["Thames Ltd"],
            name="Thames support",
            start_date=jan1,
            taxable=False,
        ),
        "old": ContractFactory(
            tenant=tenant,
            customer=customers["Old Client"],
            name="Old retainer",
            retainer=True,
            start_date=jan1,
            status=ContractStatus.SUSPENDED,
        ),
    }
    ContractProductLineFactory(
        tenant=tenant,
        contract=contracts["verde"],
        product=ProductFactory(
            tenant=tenant, sku="MSP-DEV", name="Managed device", unit_price=Decimal("45.0000")
        ),
        quantity=Decimal("2"),
    )
    tickets = {
        name: TicketFactory(
            tenant=tenant,
            organization=contracts[key].customer,
            contract=contracts[key],
            title=title,
        )
        for name, key, title in (
            ("acme1", "acme", "Printer offline"),
            ("acme2", "acme", "VPN setup"),
            ("bistro", "bistro", "POS network"),
            ("helios", "helios", "US desk"),
            ("thames", "thames", "Mail"),
        )
    }
    world = World(
        tenant,
        {"theo": theo, "tara": tara, "una": una},
        {"desk": desk, "field": fieldwork},
        contracts,
        tickets,
        customers=customers,
    )

    traveller.move_to(BATCH_DAY)
    # February, billed by the batch.
    entry(tickets["acme1"], theo, dt.date(2026, 2, 10), 5400)
    entry(tickets["acme2"], tara, dt.date(2026, 2, 12), 1800)
    entry(tickets["bistro"], tara, dt.date(2026, 2, 3), 14400)
    entry(tickets["bistro"], tara, dt.date(2026, 2, 20), 9000)
    entry(tickets["bistro"], tara, dt.date(2026, 2, 21), 3600, billable=False)
    entry(tickets["helios"], una, dt.date(2026, 2, 10), 3600)
    batch = batch_services.batch_create(name="March", as_of=dt.date(2026, 3, 1))
    batch_services.batch_run(batch=batch)
    finals = batch_services.batch_generate(batch=batch)
    world.invoices = {invoice.bill_to_name: invoice for invoice in finals}

    traveller.move_to(CREDIT_DAY)
    world.invoices["credit_note"] = invoice_services.credit_note_create(
        invoice=world.invoices["ACME"], reason="Goodwill", credit_disposition="write_off"
    )

    traveller.move_to(NOW)
    # Posted since the batch: unbilled (ages on 20 May in brackets).
    entry(tickets["acme2"], una, dt.date(2026, 2, 15), 3600)  # 94 days: 1 h -> 100.00
    entry(tickets["acme1"], theo, dt.date(2026, 3, 15), 1800)  # 66: 0.5 h -> 50.00
    entry(tickets["acme1"], tara, dt.date(2026, 4, 10), 3900)  # 40: 65 min -> 1.25 h, 125.00
    entry(tickets["acme1"], theo, dt.date(2026, 5, 18), 720)  # 2: 12 min -> 0.25 h, 25.00
    entry(tickets["bistro"], tara, dt.date(2026, 5, 15), 21600)  # 5: 6 h, 1 h overage 120.00
    entry(tickets["bistro"], tara, dt.date(2026, 5, 16), 1800, billable=False)
    entry(tickets["helios"], una, dt.date(2026, 4, 1), 7200)  # 49: 2 h × 80.00 = 160.00 USD
    entry(tickets["thames"], una, dt.date(2026, 5, 1), 3600)  # 19: no GBP rate
    # Not posted: worked, never unbilled work.
    entry(tickets["acme1"], theo, dt.date(2026, 5, 19), 3600, state=TimeEntryState.SUBMITTED)
    # Neither a draft nor a void invoice is revenue.
    InvoiceFactory(tenant=tenant, draft=True, subtotal=Decimal("999"), total=Decimal("999"))
    InvoiceFactory(
        tenant=tenant,
        status=InvoiceStatus.VOID,
        issue_date=dt.date(2026, 5, 5),
        subtotal=Decimal("777"),
        total=Decimal("777"),
    )
    return world


def build_other(tenant, traveller) -> None:
    """Tenant B: an issued invoice, unbilled time and a retainer with large figures."""
    traveller.move_to(NOW)
    customer = OrganizationFactory(tenant=tenant, name="ACME", currency=tenant.currency)
    contract = ContractFactory(
        tenant=tenant, customer=customer, name="ACME support", start_date=dt.date(2026, 1, 1)
    )
    ContractFactory(
        tenant=tenant,
        customer=customer,
        name="B retainer",
        retainer=True,
        start_date=dt.date(2026, 1, 1),
        currency=tenant.currency,
    )
    ticket = TicketFactory(tenant=tenant, organization=customer, contract=contract)
    entry(ticket, technician(tenant, "bravo-tech"), dt.date(2026, 4, 1), 36000)
    InvoiceFactory(
        tenant=tenant,
        organization=customer,
        issue_date=dt.date(2026, 3, 5),
        subtotal=Decimal("5000"),
        total=Decimal("6000"),
    )


@pytest.fixture
def traveller():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def world(tenant_a, tenant_b, traveller):
    with tenant_context(tenant_b):
        build_other(tenant_b, traveller)
    with tenant_context(tenant_a):
        built = build_world(tenant_a, traveller)
    traveller.move_to(NOW)
    return built


@pytest.fixture
def in_a(world, tenant_a):
    with tenant_context(tenant_a):
        yield world
