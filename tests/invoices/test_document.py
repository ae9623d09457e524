"""The invoice document: one read model (parties, lines, tax rows, balance) for every
consumer, built set-wise, never across the tenant wall."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from billing_site.billables import billable_kinds
from billing_site.money import line_amount
from billing_site.tenancy import tenant_context
from contracts.models import PeriodCharge, TimeEntry
from invoices import services
from invoices.batches import services as batch_services
from invoices.document import (
    Party,
    TaxBreakdown,
    invoice_document,
    invoice_documents,
    tax_category,
)
from invoices.models import Invoice, InvoiceKind, LineKind
from invoices.totals import compute_totals

from .batch_factories import AS_OF, build_world
from .factories import InvoiceFactory, InvoiceLineFactory, PaymentFactory

D = Decimal
FEB = (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
MAR = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))


@pytest.fixture
def run_a(tenant_a):
    """Tenant A's February batch, run: five drafts (see ``batch_factories.World``)."""
    world = build_world(tenant_a)
    with tenant_context(tenant_a):
        batch = batch_services.batch_create(name="March 2026", as_of=AS_OF)
        invoices = batch_services.batch_run(batch=batch)
    return world, invoices


@pytest.fixture
def world_b(tenant_b):
    return build_world(tenant_b)


def by_customer(documents):
    return {doc.lines[0].group_label.split(" · ")[0]: doc for doc in documents}


def test_tax_category_is_derived_in_one_place():
    assert tax_category(taxable=True, rate=D("20.0000")) == "S"
    assert tax_category(taxable=True, rate=D("0.0000")) == "Z"
    assert tax_category(taxable=False, rate=D("20.0000")) == "O"
    assert tax_category(taxable=False, rate=D("0")) == "O"


def test_batch_documents_carry_figures_periods_categories_and_items(
    in_tenant_a, tenant_a, run_a, world_b
):
    _world, invoices = run_a
    docs = by_customer(invoice_documents(Invoice.objects.filter(pk__in=[i.pk for i in invoices])))
    assert sorted(docs) == [
        "ACME support",
        "Bistro retainer",
        "Dupont via Helios",
        "Helios US desk",
        "Studio Verde managed",
    ]

    acme = docs["ACME support"]
    assert (acme.subtotal, acme.tax_total, acme.total) == (D("200.00"), D("40.00"), D("240.00"))
    assert acme.tax_rows == (
        TaxBreakdown(category="S", rate=D("20"), base=D("200.00"), tax=D("40.00")),
    )
    assert [(line.amount, line.tax_category) for line in acme.lines] == [
        (D("150.00"), "S"),
        (D("50.00"), "S"),
    ]
    assert {(line.period_start, line.period_end) for line in acme.lines} == {FEB}
    # Each line names the time entries it bills, read from the billables registry.
    billed = dict(
        TimeEntry.objects.filter(invoice_line__invoice_id=acme.id).values_list(
            "id", "invoice_line_id"
        )
    )
    assert {item for line in acme.lines for item in line.source_items} == {
        ("contracts.TimeEntry", pk) for pk in billed
    }
    assert all(billed[pk] == line.id for line in acme.lines for _label, pk in line.source_items)

    bistro = docs["Bistro retainer"]
    assert (bistro.subtotal, bistro.tax_total, bistro.total) == (
        D("1180.00"),
        D("118.00"),
        D("1298.00"),
    )
    assert [row.category for row in bistro.tax_rows] == ["S"]
    fees = [line for line in bistro.lines if line.kind == LineKind.FEE]
    assert [(line.period_start, line.period_end) for line in fees] == [FEB, MAR]
    charges = set(
        PeriodCharge.objects.filter(invoice_line__invoice_id=bistro.id).values_list("id", flat=True)
    )
    assert {pk for line in fees for _label, pk in line.source_items} == charges
    assert {label for line in fees for label, _pk in line.source_items} == {
        "contracts.PeriodCharge"
    }

    dupont = docs["Dupont via Helios"]
    assert [line.tax_category for line in dupont.lines] == ["O"]
    assert dupont.tax_rows == () and dupont.total == D("300.00")
    # The bill-to snapshot is the billing organization's structured address.
    assert dupont.bill_to.legal_name == "Helios IT Partners"
    assert docs["Studio Verde managed"].lines[0].period_start == MAR[0]

    # Tenant B has the same month: none of its items shows, and even an unscoped
    # queryset reads tenant A's invoices only.
    b_entries = set(
        TimeEntry.all_tenants.filter(tenant=world_b.tenant).values_list("id", flat=True)
    )
    shown = {pk for doc in docs.values() for line in doc.lines for _label, pk in line.source_items}
    assert b_entries and not b_entries & shown
    assert len(invoice_documents(Invoice.all_tenants.all())) == 5


def test_session_document_has_parties_period_and_sessions(acme, acme_b, admin_a):
    with tenant_context(acme.tenant), transaction.atomic():
        invoice = services.session_invoice_create(
            scope="host", object_id=acme.jane.pk, **acme.march, created_by=admin_a
        )
        doc = invoice_document(Invoice.objects.get(pk=invoice.pk))
        sessions = {s.pk: s for s in acme.jane.sessions.all()}
    assert doc.number == "INV-2026-00001" and doc.kind == InvoiceKind.INVOICE
    assert doc.bill_to == Party(
        legal_name="ACME",
        street_lines=("5 avenue Foch",),
        city="Lyon",
        postcode="69006",
        country_code="FR",
        tax_id="FR11222333444",
        email="billing@acme.example",
    )
    tenant = acme.tenant
    assert doc.seller.legal_name == tenant.company_name
    assert (doc.seller.street_lines, doc.seller.postcode, doc.seller.city) == (
        ("1 rue de la Paix",),
        "75002",
        "Paris",
    )
    assert doc.bill_to.address_lines("fr_FR") == ("5 avenue Foch", "69006 Lyon", "France")
    assert doc.bill_to.address_lines("da_DK") == ("5 avenue Foch", "69006 Lyon", "Frankrig")
    # Two sessions: 16.67 + 8.83, not taxable (the tenant's default).
    assert [line.amount for line in doc.lines] == [D("16.67"), D("8.83")]
    assert doc.total == D("25.50") and doc.balance_due == D("25.50")
    assert {line.tax_category for line in doc.lines} == {"O"}
    for line in doc.lines:
        [(label, pk)] = line.source_items
        assert label == "support_sessions.RemoteSession"
        local_day = sessions[pk].started_at.astimezone(tenant.zone).date()
        assert (line.period_start, line.period_end) == (local_day, local_day)


def test_tax_rows_are_compute_totals_of_the_stored_lines(in_tenant_a, tenant_a, tenant_b):
    invoice = InvoiceFactory(tenant=tenant_a, subtotal=D("0"), total=D("0"))
    specs = [
        ("3", True, "33.3333", "20"),  # 100.00 at 20 %: S
        ("1", True, "0.3333", "20"),  # 0.33 at 20 %: S, same row
        ("2", True, "12.5000", "0"),  # 25.00 taxable at 0 %: Z
        ("1", False, "7.0000", "20"),  # 7.00 not subject: O, no row
        ("1", True, "5.5500", "5.5"),  # 5.55 at 5.5 %: S
    ]
    lines = [
        InvoiceLineFactory(
            tenant=tenant_a,
            invoice=invoice,
            position=n,
            quantity=D(quantity),
            unit_price=D(price),
            amount=line_amount(D(quantity), D(price), "EUR"),
            taxable=taxable,
            tax_rate=D(rate),
        )
        for n, (quantity, taxable, price, rate) in enumerate(specs, start=1)
    ]
    InvoiceLineFactory(tenant=tenant_b)  # another tenant's line never joins
    doc = invoice_document(invoice)
    assert [line.tax_category for line in doc.lines] == ["S", "S", "Z", "O", "S"]
    expected = compute_totals(lines, "EUR")
    assert [(row.rate, row.base, row.tax) for row in doc.tax_rows] == [
        (row.rate, row.base, row.tax) for row in expected.tax_rows
    ]
    assert [(row.category, row.rate, row.base, row.tax) for row in doc.tax_rows] == [
        ("Z", D("0"), D("25.00"), D("0.00")),
        ("S", D("5.5"), D("5.55"), D("0.31")),
        ("S", D("20"), D("100.33"), D("20.07")),  # once per rate: 20.066 -> 20.07
    ]


def test_balance_and_credited_number_come_from_the_invoice(in_tenant_a, tenant_a):
    invoice = InvoiceFactory(tenant=tenant_a, total=D("100.000"), amount_paid=D("40.000"))
    PaymentFactory(tenant=tenant_a, invoice=invoice, amount=D("40.000"))
    InvoiceFactory(
        tenant=tenant_a,
        kind=InvoiceKind.CREDIT_NOTE,
        number="CN-2026-00001",
        credited_invoice=invoice,
        organization=invoice.organization,
        total=D("25.000"),
        credit_disposition="release",
    )
    docs = {doc.number: doc for doc in invoice_documents(Invoice.objects.all())}
    assert docs[invoice.number].balance_due == D("35.000") == invoice.balance_due
    assert docs["CN-2026-00001"].credited_invoice_number == invoice.number
    assert docs["CN-2026-00001"].balance_due == D("0")
    # A list of instances gives the same balance (credited totals loaded set-wise).
    [listed] = invoice_documents([Invoice.objects.get(pk=invoice.pk)])
    assert listed.balance_due == D("35.000")


@pytest.mark.parametrize("as_list", [False, True])
def test_query_count_is_constant(
    in_tenant_a, tenant_a, tenant_b, django_assert_num_queries, as_list
):
    invoices = [InvoiceFactory(tenant=tenant_a) for _ in range(20)]
    for invoice in invoices:
        InvoiceLineFactory.create_batch(2, tenant=tenant_a, invoice=invoice)
    InvoiceLineFactory(tenant=tenant_b)

    def selection(count):
        queryset = Invoice.objects.filter(pk__in=[i.pk for i in invoices[:count]])
        return list(queryset) if as_list else queryset

    # A queryset: the invoices (balance, organization, credited invoice joined), their
    # lines, one query per billable model. A list adds its organizations and credited
    # totals and needs no query for the invoices.
    expected = (3 if as_list else 2) + len(billable_kinds())
    for count in (1, 20):
        chosen = selection(count)
        with django_assert_num_queries(expected):
            docs = invoice_documents(chosen)
        assert len(docs) == count and all(len(doc.lines) == 2 for doc in docs)


def test_a_document_without_sources_skips_their_queries_and_nothing_else(
    acme, admin_a, django_assert_num_queries
):
    """The PDF reads documents without the billed items: one query per billable model
    fewer, every other figure and word the same."""
    with tenant_context(acme.tenant), transaction.atomic():
        invoice = services.session_invoice_create(
            scope="host", object_id=acme.jane.pk, **acme.march, created_by=admin_a
        )
        full = invoice_document(Invoice.objects.get(pk=invoice.pk))
        read = Invoice.objects.get(pk=invoice.pk)
        # As in test_query_count_is_constant for a list, less one query per billable model.
        with django_assert_num_queries(3):
            bare = invoice_document(read, with_sources=False)
    assert any(line.source_items for line in full.lines)
    assert all(line.source_items == () for line in bare.lines)
    stripped = [dataclasses.replace(line, source_items=()) for line in full.lines]
    assert dataclasses.replace(full, lines=tuple(stripped)) == bare


def test_another_tenants_invoice_is_refused(tenant_a, tenant_b):
    with tenant_context(tenant_b):
        secret = InvoiceFactory(tenant=tenant_b, bill_to_name="SECRET")
    with tenant_context(tenant_a):
        mine = InvoiceFactory(tenant=tenant_a)
        with pytest.raises(ValidationError):
            invoice_documents([mine, secret])
        docs = invoice_documents(Invoice.all_tenants.all())
    assert [doc.id for doc in docs] == [mine.pk]
