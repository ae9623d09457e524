"""Factories of the invoices app, rooted at a tenant (registered for the route walk)."""

import datetime as dt
from decimal import Decimal

import factory

from billing_site.testing.factories import OrganizationFactory, TenantOwnedFactory
from billing_site.testing.registry import register_factory
from invoices.models import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    Payment,
    PaymentMethod,
    PdfStatus,
)


@register_factory
class InvoiceFactory(TenantOwnedFactory):
    """A final invoice (numbered, issued) of a customer of the same tenant.

    ``InvoiceFactory(draft=True)`` builds a draft (no number, no dates).
    """

    class Meta:
        model = Invoice

    class Params:
        draft = factory.Trait(
            status=InvoiceStatus.DRAFT, number=None, issue_date=None, due_date=None
        )

    status = InvoiceStatus.FINAL
    number = factory.Sequence(lambda n: f"TST-2026-{n + 1:05d}")
    organization = factory.SubFactory(OrganizationFactory, tenant=factory.SelfAttribute("..tenant"))
    currency = factory.LazyAttribute(lambda o: o.tenant.currency)
    locale = factory.LazyAttribute(lambda o: o.tenant.locale)
    seller_name = factory.LazyAttribute(lambda o: o.tenant.company_name)
    seller_street = factory.LazyAttribute(lambda o: o.tenant.street)
    seller_postcode = factory.LazyAttribute(lambda o: o.tenant.postcode)
    seller_city = factory.LazyAttribute(lambda o: o.tenant.city)
    seller_country = factory.LazyAttribute(lambda o: o.tenant.country)
    bill_to_name = factory.LazyAttribute(lambda o: o.organization.name)
    bill_to_street = "2 Example Street"
    issue_date = dt.date(2026, 3, 1)
    due_date = dt.date(2026, 3, 31)
    subtotal = Decimal("100.000")
    total = Decimal("100.000")
    pdf_status = PdfStatus.NONE


@register_factory
class InvoiceLineFactory(TenantOwnedFactory):
    class Meta:
        model = InvoiceLine

    invoice = factory.SubFactory(InvoiceFactory, tenant=factory.SelfAttribute("..tenant"))
    position = factory.Sequence(lambda n: n + 1)
    kind = LineKind.PRODUCT
    description = factory.Sequence(lambda n: f"Service {n}")
    quantity = Decimal("1")
    unit_price = Decimal("100.0000")
    amount = Decimal("100.000")


@register_factory
class PaymentFactory(TenantOwnedFactory):
    class Meta:
        model = Payment

    invoice = factory.SubFactory(InvoiceFactory, tenant=factory.SelfAttribute("..tenant"))
    amount = Decimal("40.000")
    received_on = dt.date(2026, 3, 10)
    method = PaymentMethod.BANK_TRANSFER
    reference = factory.Sequence(lambda n: f"TRX-{n}")


# Imported for its @register_factory side effect (the route walker builds batch objects).
from .batch_factories import (  # noqa: E402, F401
    BatchExclusionFactory,
    BatchInvoiceFactory,
    InvoiceBatchFactory,
)
