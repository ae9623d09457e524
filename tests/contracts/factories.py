"""Factories of the contracts app, rooted at a tenant: related rows share the tenant."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.core.files.base import ContentFile

from billing_site.models import Membership
from billing_site.roles import Role
from billing_site.testing.factories import (
    ContactFactory,
    OrganizationFactory,
    TenantOwnedFactory,
    UserFactory,
)
from billing_site.testing.registry import register_factory
from contracts.choices import ChargeKind, ContractType, QuantityMode, TimeEntryState
from contracts.models import (
    BlockPurchase,
    Contract,
    ContractProductLine,
    PeriodCharge,
    Product,
    RateRule,
    ServiceType,
    Team,
    TeamMember,
    Ticket,
    TicketAttachment,
    TimeEntry,
)

SAME_TENANT = factory.SelfAttribute("..tenant")


def technician(tenant, username: str | None = None):
    """A technician of ``tenant`` (membership created); one default technician per tenant."""
    user = UserFactory(username=username or f"{tenant.slug}-tech", first_name="Tech")
    Membership.objects.get_or_create(user=user, tenant=tenant, defaults={"role": Role.TECHNICIAN})
    return user


@register_factory
class ServiceTypeFactory(TenantOwnedFactory):
    class Meta:
        model = ServiceType

    name = factory.Sequence(lambda n: f"Service {n}")
    default_billable = True


@register_factory
class TeamFactory(TenantOwnedFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")


@register_factory
class TeamMemberFactory(TenantOwnedFactory):
    class Meta:
        model = TeamMember

    team = factory.SubFactory(TeamFactory, tenant=SAME_TENANT)
    user = factory.LazyAttribute(lambda o: technician(o.tenant))


@register_factory
class ProductFactory(TenantOwnedFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    unit_price = Decimal("25.0000")


@register_factory
class ContractFactory(TenantOwnedFactory):
    class Meta:
        model = Contract

    customer = factory.SubFactory(OrganizationFactory, tenant=SAME_TENANT)
    billing_organization = factory.SelfAttribute("customer")
    name = factory.Sequence(lambda n: f"Contract {n}")
    contract_type = ContractType.HOURLY
    start_date = dt.date(2026, 1, 1)
    anchor_day = factory.LazyAttribute(lambda o: o.start_date.day)
    currency = factory.LazyAttribute(lambda o: o.billing_organization.currency)
    tax_rate = Decimal("20.0000")

    class Params:
        retainer = factory.Trait(
            contract_type=ContractType.RETAINER,
            retainer_fee=Decimal("500.0000"),
            included_hours=Decimal("5.00"),
            overage_rate=Decimal("120.0000"),
        )
        block = factory.Trait(
            contract_type=ContractType.BLOCK_HOURS,
            block_hours=Decimal("10.00"),
            block_price=Decimal("900.0000"),
            overage_rate=Decimal("110.0000"),
        )
        recurring = factory.Trait(contract_type=ContractType.RECURRING)


@register_factory
class ContractProductLineFactory(TenantOwnedFactory):
    class Meta:
        model = ContractProductLine

    contract = factory.SubFactory(ContractFactory, tenant=SAME_TENANT, recurring=True)
    product = factory.SubFactory(ProductFactory, tenant=SAME_TENANT)
    quantity_mode = QuantityMode.FIXED
    quantity = Decimal("1")


@register_factory
class BlockPurchaseFactory(TenantOwnedFactory):
    class Meta:
        model = BlockPurchase

    contract = factory.SubFactory(ContractFactory, tenant=SAME_TENANT, block=True)
    purchased_on = factory.LazyAttribute(lambda o: o.contract.start_date)
    hours = Decimal("10.00")
    price = Decimal("900.0000")


@register_factory
class PeriodChargeFactory(TenantOwnedFactory):
    class Meta:
        model = PeriodCharge

    contract = factory.SubFactory(ContractFactory, tenant=SAME_TENANT, retainer=True)
    kind = ChargeKind.RETAINER_FEE
    period_start = dt.date(2026, 1, 1)
    period_end = dt.date(2026, 1, 31)


@register_factory
class RateRuleFactory(TenantOwnedFactory):
    class Meta:
        model = RateRule

    rate = Decimal("100.0000")
    currency = factory.LazyAttribute(lambda o: o.tenant.currency)
    service_type = factory.SubFactory(ServiceTypeFactory, tenant=SAME_TENANT)


@register_factory
class TicketFactory(TenantOwnedFactory):
    class Meta:
        model = Ticket

    # From 1000: the batch world numbers its tickets 101-106 by hand.
    number = factory.Sequence(lambda n: 1000 + n)
    title = factory.Sequence(lambda n: f"Printer {n} offline")
    organization = factory.SubFactory(OrganizationFactory, tenant=SAME_TENANT)
    contract = factory.SubFactory(
        ContractFactory,
        tenant=SAME_TENANT,
        customer=factory.SelfAttribute("..organization"),
    )
    contact = factory.SubFactory(
        ContactFactory, tenant=SAME_TENANT, organization=factory.SelfAttribute("..organization")
    )


@register_factory
class TicketAttachmentFactory(TenantOwnedFactory):
    class Meta:
        model = TicketAttachment

    ticket = factory.SubFactory(TicketFactory, tenant=SAME_TENANT)
    name = "notes.txt"
    content_type = "text/plain"
    size = 5
    file = factory.LazyAttribute(lambda o: ContentFile(b"hello", name="notes.txt"))


@register_factory
class TimeEntryFactory(TenantOwnedFactory):
    class Meta:
        model = TimeEntry

    ticket = factory.SubFactory(TicketFactory, tenant=SAME_TENANT)
    contract = factory.LazyAttribute(lambda o: o.ticket.contract)
    technician = factory.LazyAttribute(lambda o: technician(o.tenant))
    work_date = factory.LazyAttribute(lambda o: o.contract.start_date)
    worked_seconds = 3600
    billable = True
    state = TimeEntryState.SUBMITTED


# ------------------------------------------------------------------ billing items
# Items are billed through the product's one claim (``billing_site.billables``), as a
# batch run claims them: these set up "already billed" without running a batch.


def bill_entries(line, entries) -> int:
    """Claim ``entries`` for ``line``, freezing their billed and included seconds as
    priced now; returns how many were claimed (0 for those already billed)."""
    from billing_site.billables import claim_items
    from contracts.pricing import price_time_entries

    priced = price_time_entries(list(entries))
    return claim_items(
        TimeEntry,
        {
            pk: {
                "invoice_line_id": line.pk,
                "billed_seconds": item.billed_seconds,
                "included_seconds": item.included_seconds,
            }
            for pk, item in priced.items()
        },
    )


def bill_fee(line, contract, kind, period, product_line=None) -> int:
    """Claim the fee of ``period`` (made if missing, as a run makes it) for ``line``."""
    from billing_site.billables import claim_items

    charge, _ = PeriodCharge.objects.get_or_create(
        contract=contract,
        kind=kind,
        product_line=product_line,
        period_start=period.start,
        defaults={"tenant": contract.tenant, "period_end": period.end},
    )
    return claim_items(PeriodCharge, {charge.pk: {"invoice_line_id": line.pk}})


def bill_blocks(line, purchases) -> int:
    from billing_site.billables import claim_items

    return claim_items(BlockPurchase, {p.pk: {"invoice_line_id": line.pk} for p in purchases})
