"""The customer's copy in one language: the customer's, else the tenant's.

Labels, dates, country names and every number of the invoice PDF are in that language;
nothing internal (a batch's name, a line of no amount) is printed; staff pages format
amounts, rates and quantities in the tenant's locale.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from invoices.batches import services as batch_services
from invoices.models import Invoice, LineKind
from invoices.parties import document_locale
from invoices.pdf import page_counter_css, render_invoice_pdf
from invoices.selectors import invoice_get

from .batch_factories import AS_OF, build_world
from .batch_factories import InvoiceBatchFactory as BatchFactory
from .conftest import pdf_bytes_text
from .factories import InvoiceFactory, InvoiceLineFactory


def _invoice(tenant, *, language: str, **extra):
    """A final invoice to a customer speaking ``language``: a quantity of 1.5 at 95, a
    line of no amount, and a street that repeats the customer's name on top."""
    organization = OrganizationFactory(tenant=tenant, name="Bistro Lumière", language=language)
    invoice = InvoiceFactory(
        tenant=tenant,
        organization=organization,
        bill_to_name="Bistro Lumière",
        bill_to_street="Bistro Lumière\n5 avenue Foch",
        bill_to_postcode="69006",
        bill_to_city="Lyon",
        bill_to_country="FR",
        issue_date=dt.date(2026, 3, 1),
        due_date=dt.date(2026, 3, 31),
        subtotal=Decimal("1642.500"),
        tax_total=Decimal("0"),
        total=Decimal("1642.500"),
        **extra,
    )
    InvoiceLineFactory(
        tenant=tenant,
        invoice=invoice,
        position=1,
        kind=LineKind.PRODUCT,
        description="Managed backup",
        quantity=Decimal("1.5"),
        unit="h",
        unit_price=Decimal("95.0000"),
        amount=Decimal("142.500"),
    )
    InvoiceLineFactory(
        tenant=tenant,
        invoice=invoice,
        position=2,
        kind=LineKind.PRODUCT,
        description="Firewall licence",
        quantity=Decimal("12"),
        unit_price=Decimal("125.0000"),
        amount=Decimal("1500.000"),
    )
    InvoiceLineFactory(
        tenant=tenant,
        invoice=invoice,
        position=3,
        kind=LineKind.PRODUCT,
        description="Block hours used (covered)",
        quantity=Decimal("2"),
        unit_price=Decimal("0"),
        amount=Decimal("0"),
    )
    return invoice


def _text(invoice) -> str:
    return pdf_bytes_text(render_invoice_pdf(invoice_get(pk=invoice.pk)))


def _has(text: str, label: str) -> bool:
    """``label`` printed, in any case (small headings are set in capitals)."""
    return label.casefold() in text.casefold()


def test_the_invoice_language_is_the_customers_else_the_tenants(tenant_a):
    french, danish = (
        OrganizationFactory.build(language="fr"),
        OrganizationFactory.build(language="da"),
    )
    assert document_locale(french, "fr_FR") == "fr_FR"
    assert document_locale(french, "fr_CA") == "fr_CA"  # the tenant's formatting kept
    assert document_locale(danish, "fr_FR") == "da_DK"
    assert document_locale(OrganizationFactory.build(language="en"), "de_DE") == "en_US"
    assert document_locale(None, "it_IT") == "it_IT"  # no customer: the tenant's


def test_a_french_customers_invoice_is_french_throughout(tenant_a):
    tenant_a.locale = "en_US"  # the tenant writes English; the customer reads French
    tenant_a.save()
    with tenant_context(tenant_a):
        text = _text(_invoice(tenant_a, language="fr"))
    for label in ("Facture", "Facturé à", "Date d’échéance", "Quantité", "Prix unitaire"):
        assert _has(text, label)
    for label in ("Sous-total", "Montant dû", "Conditions de paiement"):
        assert _has(text, label)
    assert "Page 1 sur 1" in text
    assert "Paiement à 30 jours" in text
    assert "31 mars 2026" in text  # dates in French
    assert "1 642,50 €" in text and "1 500,00 €" in text  # French amounts
    assert "1,5 h" in text and "95,00 €" in text and "125,00 €" in text  # never raw
    for english in ("Bill to", "Due date", "Quantity", "Subtotal", "Amount due", "Page 1 of"):
        assert not _has(text, english)
    assert "95.0000" not in text and "1.5" not in text


def test_an_english_customers_invoice_is_english_throughout(tenant_a):
    tenant_a.locale = "fr_FR"  # the tenant writes French; the customer reads English
    tenant_a.save()
    with tenant_context(tenant_a):
        text = _text(_invoice(tenant_a, language="en"))
    for label in ("Invoice", "Bill to", "Due date", "Quantity", "Unit price", "Subtotal"):
        assert _has(text, label)
    for label in ("Amount due", "Payment terms", "Page 1 of 1"):
        assert _has(text, label)
    assert "Payment due within 30 days, by March 31, 2026" in text
    assert "€1,642.50" in text and "1.5 h" in text and "€95.00" in text
    assert not _has(text, "Facture") and "mars" not in text and "1 642,50" not in text


def test_a_danish_customers_invoice_is_danish(tenant_a):
    with tenant_context(tenant_a):
        text = _text(_invoice(tenant_a, language="da"))
    for label in ("Faktura", "Faktureres til", "Forfaldsdato", "Antal", "Enhedspris"):
        assert _has(text, label)
    assert "Side 1 af 1" in text
    assert "31. marts 2026" in text and "Frankrig" in text  # dates and country in Danish
    assert "1.642,50 €" in text and "1,5 h" in text


def test_the_bill_to_name_is_printed_once_and_zero_lines_are_left_off(tenant_a):
    with tenant_context(tenant_a):
        invoice = _invoice(tenant_a, language="en")
        text = _text(invoice)
    assert text.count("Bistro Lumière") == 1
    assert "5 avenue Foch" in text
    assert "Block hours used (covered)" not in text  # no amount: not on the customer's copy
    assert "€1,642.50" in text  # the totals stay the invoice's
    with tenant_context(tenant_a):
        assert invoice.lines.count() == 3  # the staff page still lists it


def test_the_page_counter_is_a_safe_css_value():
    from django.utils import translation

    with translation.override("fr"):
        assert page_counter_css() == '"Page " counter(page) " sur " counter(pages)'


@pytest.fixture
def consolidated(tenant_a):
    tenant_a.locale = "fr_FR"
    tenant_a.save()
    with tenant_context(tenant_a):
        world = build_world(tenant_a)
        batch = BatchFactory(tenant=tenant_a, name="Internal March run", as_of=AS_OF)
        batch_services.batch_run(batch=batch)
        invoices = batch_services.batch_generate(batch=batch, consolidate=True)
        yield world, invoices


def test_a_consolidated_batch_invoice_prints_no_batch_name(tenant_a, consolidated):
    _world, invoices = consolidated
    helios = next(
        i for i in invoices if i.bill_to_name == "Helios IT Partners" and i.currency == "EUR"
    )
    with tenant_context(tenant_a):
        invoice = Invoice.objects.get(pk=helios.pk)
        assert invoice.notes == ""
        assert "Internal March run" in invoice.source_label  # staff pages show it
        text = _text(invoice)
    assert "Internal March run" not in text and "batch" not in text.lower()
    # The customers speak English (the factory's default): one language, English.
    assert _has(text, "Bill to") and "Dupont via Helios" in text


def test_a_french_customers_batch_lines_are_worded_in_french(tenant_a, consolidated):
    _world, invoices = consolidated
    acme = next(i for i in invoices if i.bill_to_name == "ACME")
    with tenant_context(tenant_a):
        acme.organization.language = "fr"
        acme.organization.save()
        text = _text(Invoice.objects.get(pk=acme.pk))
    assert _has(text, "Facture") and "temps passé" in text
    assert " — time" not in text


def test_a_payment_message_is_formatted_for_the_tenant(tenant_a, staff_a, client_as):
    tenant_a.locale = "fr_FR"
    tenant_a.save()
    with tenant_context(tenant_a):
        invoice = InvoiceFactory(tenant=tenant_a, total=Decimal("1000.000"))
        InvoiceLineFactory(tenant=tenant_a, invoice=invoice, amount=Decimal("1000.000"))
    client = client_as(staff_a.user(Role.BILLING_ADMIN))
    response = client.post(
        reverse("invoices:payment-create", args=[invoice.pk]),
        {"amount": "400", "received_on": "2026-03-10", "method": "bank_transfer"},
        follow=True,
    )
    assert response.status_code == 200
    text = response.content.decode().replace("\u202f", " ").replace("\xa0", " ")
    assert "Payment of 400,00 € recorded." in text
    assert "Payment of 400.00" not in text


def test_staff_invoice_page_formats_quantities_and_prices(tenant_a, staff_a, client_as):
    tenant_a.locale = "fr_FR"
    tenant_a.save()
    with tenant_context(tenant_a):
        invoice = _invoice(tenant_a, language="en")
    client = client_as(staff_a.user(Role.BILLING_ADMIN))
    page = client.get(reverse("invoices:invoice-detail", args=[invoice.pk]))
    text = page.content.decode().replace("\u202f", " ").replace("\xa0", " ")
    assert "1,5 h" in text and "95,00 €" in text
    assert "95.0000" not in text and "1.5000" not in text
    assert "Block hours used (covered)" in text  # the staff page lists every line


def test_a_statement_is_in_the_customers_language(in_tenant_a, frozen_now, admin_a, client_as):
    from .test_receivables_overview import build_world as receivables_world

    world = receivables_world(in_tenant_a, frozen_now)
    world.atlas.language = "fr"
    world.atlas.save()
    response = client_as(admin_a).get(
        reverse("invoices:statement-pdf", args=[world.atlas.pk]),
        {"date_from": "2026-01-01", "date_to": "2026-03-20"},
    )
    assert response.status_code == 200
    text = pdf_bytes_text(response.content)
    for label in ("Relevé", "Période", "Solde d’ouverture", "Solde de clôture", "Paiement"):
        assert _has(text, label)
    assert "1 janv. 2026" in text and "1 350,00 €" in text and "Page 1 sur 1" in text
    assert "Paiement pour INV-" in text and "(avoir) avoir sur" in text
    for english in ("Opening balance", "Closing balance", "Page 1 of"):
        assert not _has(text, english)
