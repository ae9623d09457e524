"""Factories of the invoice batch models (registered for the route walk) and the Atera
world the batch tests bill: contracts of every type, due, overdue and waiting items."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import factory

from billing_site.testing.factories import OrganizationFactory, TenantOwnedFactory
from billing_site.testing.registry import register_factory
from contracts.choices import TimeEntryState
from invoices.batches.models import BatchExclusion, BatchInvoice, InvoiceBatch
from tests.contracts.factories import (
    ContractFactory,
    ContractProductLineFactory,
    ProductFactory,
    RateRuleFactory,
    TicketFactory,
    TimeEntryFactory,
    technician,
)

from .factories import InvoiceFactory

SAME_TENANT = factory.SelfAttribute("..tenant")
AS_OF = dt.date(2026, 3, 1)


@register_factory
class InvoiceBatchFactory(TenantOwnedFactory):
    class Meta:
        model = InvoiceBatch

    name = factory.Sequence(lambda n: f"Batch {n}")
    as_of = AS_OF


@register_factory
class BatchExclusionFactory(TenantOwnedFactory):
    class Meta:
        model = BatchExclusion

    batch = factory.SubFactory(InvoiceBatchFactory, tenant=SAME_TENANT)
    contract = factory.SubFactory(ContractFactory, tenant=SAME_TENANT)
    kind = BatchExclusion.CONTRACT
    item_key = ""


@register_factory
class BatchInvoiceFactory(TenantOwnedFactory):
    class Meta:
        model = BatchInvoice

    batch = factory.SubFactory(InvoiceBatchFactory, tenant=SAME_TENANT)
    invoice = factory.SubFactory(InvoiceFactory, tenant=SAME_TENANT, draft=True)


def posted(ticket, day: dt.date, hours: str, *, billable: bool = True, tech=None):
    """A posted time entry of ``hours`` on ``ticket`` (its contract) on ``day``."""
    return TimeEntryFactory(
        tenant=ticket.tenant,
        ticket=ticket,
        contract=ticket.contract,
        technician=tech or technician(ticket.tenant),
        work_date=day,
        worked_seconds=int(Decimal(hours) * 3600),
        billable=billable,
        state=TimeEntryState.POSTED,
    )


@dataclass
class World:
    """Tenant A's billing month, as of 1 March 2026 (February usage is due).

    - ACME support (hourly, taxable 20 %): February 1.5 h on #1 and 0.5 h on #2 at
      100.00 -> 200.00 + 40.00 tax; March 2 h waiting (period open) -> partial.
    - Bistro retainer (fee 500.00 covers 5 h, overage 120.00/h, taxable 10 %, from
      1 Feb): February 4 h + 2.5 h billable and 1 h non-billable -> fee 500.00 +
      1.5 h × 120.00 = 680.00 for February; the March fee (in advance) is due too.
    - Dupont via Helios (hourly, billed to the partner Helios, not taxable): 3 h -> 300.00.
    - Studio Verde managed (recurring, billed to Helios, not taxable): 2 × 45.00 per
      month from 1 March -> 90.00.
    - Helios US (hourly in USD, billed to Helios, not taxable): 1 h at 80.00 USD.
    - Harbor (hourly): only March time -> locked.
    """

    tenant: object
    acme: object
    bistro: object
    helios: object
    dupont: object
    verde: object
    harbor: object
    contracts: dict = field(default_factory=dict)
    tickets: dict = field(default_factory=dict)
    entries: dict = field(default_factory=dict)


def build_world(tenant) -> World:
    org = {
        name: OrganizationFactory(tenant=tenant, name=name, currency="EUR")
        for name in (
            "ACME",
            "Bistro Lumière",
            "Helios IT Partners",
            "Dupont & Associés",
            "Studio Verde",
            "Harbor Logistics",
        )
    }
    RateRuleFactory(tenant=tenant, rate=Decimal("100.0000"), currency="EUR", service_type=None)
    RateRuleFactory(tenant=tenant, rate=Decimal("80.0000"), currency="USD", service_type=None)
    jan1, feb1, mar1 = dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)
    contracts = {
        "acme": ContractFactory(
            tenant=tenant,
            customer=org["ACME"],
            name="ACME support",
            start_date=jan1,
            taxable=True,
            tax_rate=Decimal("20.0000"),
        ),
        "bistro": ContractFactory(
            tenant=tenant,
            customer=org["Bistro Lumière"],
            name="Bistro retainer",
            retainer=True,
            start_date=feb1,
            taxable=True,
            tax_rate=Decimal("10.0000"),
        ),
        "dupont": ContractFactory(
            tenant=tenant,
            customer=org["Dupont & Associés"],
            billing_organization=org["Helios IT Partners"],
            name="Dupont via Helios",
            start_date=jan1,
            taxable=False,
            currency="EUR",
        ),
        "verde": ContractFactory(
            tenant=tenant,
            customer=org["Studio Verde"],
            billing_organization=org["Helios IT Partners"],
            name="Studio Verde managed",
            recurring=True,
            start_date=mar1,
            taxable=False,
            currency="EUR",
        ),
        "helios_us": ContractFactory(
            tenant=tenant,
            customer=org["Helios IT Partners"],
            name="Helios US desk",
            start_date=jan1,
            taxable=False,
            currency="USD",
        ),
        "harbor": ContractFactory(
            tenant=tenant,
            customer=org["Harbor Logistics"],
            name="Harbor support",
            start_date=jan1,
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
        "acme1": TicketFactory(
            tenant=tenant,
            number=101,
            organization=org["ACME"],
            contract=contracts["acme"],
            title="Printer offline",
        ),
        "acme2": TicketFactory(
            tenant=tenant,
            number=102,
            organization=org["ACME"],
            contract=contracts["acme"],
            title="VPN setup",
        ),
        "bistro": TicketFactory(
            tenant=tenant,
            number=103,
            organization=org["Bistro Lumière"],
            contract=contracts["bistro"],
            title="POS network",
        ),
        "dupont": TicketFactory(
            tenant=tenant,
            number=104,
            organization=org["Dupont & Associés"],
            contract=contracts["dupont"],
            title="Mail migration",
        ),
        "us": TicketFactory(
            tenant=tenant,
            number=105,
            organization=org["Helios IT Partners"],
            contract=contracts["helios_us"],
            title="US desk",
        ),
        "harbor": TicketFactory(
            tenant=tenant,
            number=106,
            organization=org["Harbor Logistics"],
            contract=contracts["harbor"],
            title="Scanner",
        ),
    }
    feb = dt.date(2026, 2, 10)
    entries = {
        "acme1": posted(tickets["acme1"], feb, "1.5"),
        "acme2": posted(tickets["acme2"], dt.date(2026, 2, 12), "0.5"),
        "acme_march": posted(tickets["acme1"], dt.date(2026, 3, 2), "2"),
        "bistro1": posted(tickets["bistro"], dt.date(2026, 2, 3), "4"),
        "bistro2": posted(tickets["bistro"], dt.date(2026, 2, 20), "2.5"),
        "bistro_free": posted(tickets["bistro"], dt.date(2026, 2, 21), "1", billable=False),
        "dupont": posted(tickets["dupont"], feb, "3"),
        "us": posted(tickets["us"], feb, "1"),
        "harbor": posted(tickets["harbor"], dt.date(2026, 3, 3), "1"),
    }
    return World(
        tenant=tenant,
        acme=contracts["acme"],
        bistro=contracts["bistro"],
        helios=org["Helios IT Partners"],
        dupont=contracts["dupont"],
        verde=contracts["verde"],
        harbor=contracts["harbor"],
        contracts=contracts,
        tickets=tickets,
        entries=entries,
    )
