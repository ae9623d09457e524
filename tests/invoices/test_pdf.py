"""The invoice PDF: rendered by the task after commit, read back as text."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction

from billing_site.models import Organization
from billing_site.money import format_money
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory, TenantFactory
from invoices import services
from invoices.models import Invoice, PdfStatus
from invoices.pdf import render_invoice_pdf
from invoices.selectors import invoice_get
from invoices.tasks import invoice_render_pdf_task

from .conftest import make_host, make_session, pdf_bytes_text, pdf_text
from .factories import InvoiceFactory, InvoiceLineFactory


@pytest.fixture
def create(django_capture_on_commit_callbacks):
    """Create a session invoice and run what follows the commit (the PDF task)."""

    def run(tenant, **kwargs):
        with tenant_context(tenant):
            with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
                invoice = services.session_invoice_create(**kwargs)
            return Invoice.objects.get(pk=invoice.pk)

    return run


def test_one_session_pdf(acme, acme_b, create):
    invoice = create(acme.tenant, scope="session", object_id=acme.jane_updates.pk)
    assert invoice.pdf_status == PdfStatus.READY
    assert invoice.pdf.name.startswith("invoices/2026/03/INV-2026-00001-")
    text = pdf_text(invoice)
    assert "INV-2026-00001" in text
    assert "Jane_OFFICE_121" in text
    assert "Installed Windows updates." in text
    assert "10 min" in text and "10 min 0 s" not in text  # seconds dropped only when zero
    assert "€16.67" in text
    assert "Joseph_OFFICE_121" not in text
    assert "Alpha IT SARL" in text  # seller from the tenant
    assert "ACME" in text and "FR11222333444" in text  # bill-to from the organization


def test_party_blocks_print_the_structured_addresses(acme, acme_b, create):
    invoice = create(acme.tenant, scope="session", object_id=acme.jane_updates.pk)
    text = pdf_text(invoice)
    # Seller: street lines, then "<postcode> <city>", then the country's name.
    assert "1 rue de la Paix" in text and "75002 Paris" in text
    # Bill-to: the organization's snapshot.
    assert "5 avenue Foch" in text and "69006 Lyon" in text and "France" in text
    assert "billing@acme.example" in text


def test_country_names_follow_the_invoice_language(tenant_a, tenant_b):
    with tenant_context(tenant_a):
        # The invoice's language is its customer's (it was the invoice's locale alone
        # before one language per document): a Danish-speaking customer here.
        invoice = InvoiceFactory(
            tenant=tenant_a,
            organization=OrganizationFactory(tenant=tenant_a, language="da"),
            locale="da_DK",
            bill_to_street="Via Roma 1\nScala B",
            bill_to_postcode="00184",
            bill_to_city="Roma",
            bill_to_region="RM",
            bill_to_country="IT",
            bill_to_phone="+39 06 0000 0000",
        )
        InvoiceLineFactory(tenant=tenant_a, invoice=invoice)
        text = pdf_bytes_text(render_invoice_pdf(invoice_get(pk=invoice.pk)))
    assert "Via Roma 1" in text and "Scala B" in text and "00184 Roma" in text
    assert "RM" in text and "Italien" in text and "Italy" not in text
    assert "+39 06 0000 0000" in text
    assert "Frankrig" in text  # the seller's country, in Danish too


def test_host_pdf_shows_each_session_and_the_overall_duration(acme, acme_b, create):
    invoice = create(acme.tenant, scope="host", object_id=acme.jane.pk, **acme.march)
    text = pdf_text(invoice)
    assert "Installed Windows updates." in text
    assert "Checked the backup job." in text
    assert "Overall duration" in text and "15 min 18 s" in text
    assert "10 min" in text and "5 min 18 s" in text
    assert "Amount due" in text and "€25.50" in text
    # Start and end in the tenant's zone (Paris), not UTC.
    assert "9:00:00" in text and "9:10:00" in text
    assert "Times in Europe/Paris" in text


def test_group_pdf_lists_both_hosts_with_the_amount(acme, acme_b, create):
    invoice = create(acme.tenant, scope="group", object_id=acme.group.pk, **acme.march)
    text = pdf_text(invoice)
    assert "Jane_OFFICE_121" in text and "Joseph_OFFICE_121" in text
    assert "Replaced the printer driver." in text
    assert "45 min 12 s" in text
    assert "1 h 00 min 30 s" in text  # 3630 s overall, to the second
    assert "€100.83" in text
    assert "April visit" not in text and "Internal test" not in text


def test_durations_from_an_hour_on_keep_their_seconds(tenant_a, tenant_b, create):
    host = make_host(tenant_a, "BISTRO-TILL")
    make_session(host, dt.datetime(2026, 3, 9, 9, 0), 1805, "Till updates.")
    make_session(host, dt.datetime(2026, 3, 10, 9, 0), 1800, "Printer queue.")
    invoice = create(tenant_a, scope="host", object_id=host.pk)
    text = pdf_text(invoice)
    assert "30 min 5 s" in text and "0.5014 h" in text and "€50.14" in text
    assert "1 h 00 min 05 s" in text  # overall, beside the €100.14 it prices
    assert "€100.14" in text


def test_adjusted_amount_and_french_formatting(acme, acme_b, create):
    acme.tenant.locale = "fr_FR"
    acme.tenant.default_payment_instructions = "Virement IBAN FR76 3000 6000 0112 3456 7890 189"
    acme.tenant.save()
    # A French-speaking customer: the whole document is French (labels too, since one
    # language per document; the customer's language used to be ignored).
    acme.organization.language = "fr"
    acme.organization.save()
    invoice = create(
        acme.tenant, scope="host", object_id=acme.jane.pk, amount_due="1234.5", **acme.march
    )
    text = pdf_text(invoice)
    assert "1 234,50 €" in text  # amount due, fr_FR grouping and decimal comma
    assert "25,50 €" in text  # the sessions' sum
    assert "Ajustement au montant convenu" in text
    assert "1 209,00 €" in text  # the adjustment
    assert "Virement IBAN FR76" in text
    assert "Paiement à 30 jours" in text


@pytest.mark.parametrize(
    ("currency", "rate", "expected_total", "printed"),
    [
        ("JPY", "9999", Decimal("2778"), "¥2,778"),
        ("KWD", "12.3455", Decimal("3.430"), "KWD3.430"),
        ("EUR", "95", Decimal("26.39"), "€26.39"),
    ],
)
def test_currency_minor_units_in_the_pdf(tenant_b, create, currency, rate, expected_total, printed):
    tenant = TenantFactory(slug=f"t-{currency.lower()}", currency=currency)
    tenant.default_hourly_rate = Decimal(rate)
    tenant.save()
    host = make_host(tenant, "HOST-1")
    make_session(host, dt.datetime(2026, 3, 9, 9, 0), 1000, "Patch day")  # 0.2778 h
    invoice = create(tenant, scope="host", object_id=host.pk)
    assert invoice.total == expected_total
    text = pdf_text(invoice)
    assert printed in text
    assert format_money(expected_total, currency, "en_US") == printed


def test_tax_per_rate_is_printed(tenant_a, tenant_b):
    invoice = InvoiceFactory(tenant=tenant_a, draft=True)
    InvoiceLineFactory(
        tenant=tenant_a,
        invoice=invoice,
        taxable=True,
        tax_rate=Decimal("20"),
        amount=Decimal("100.000"),
        description="Managed backup",
    )
    InvoiceLineFactory(
        tenant=tenant_a,
        invoice=invoice,
        taxable=True,
        tax_rate=Decimal("5.5"),
        amount=Decimal("100.000"),
        description="Training",
    )
    with tenant_context(tenant_a):
        services.invoice_totals_recompute(invoice=invoice)
        text = pdf_bytes_text(render_invoice_pdf(invoice_get(pk=invoice.pk)))
    # pypdf may split "Tax" with kerning; the figures are what matter.
    assert "5.5 % on €100.00 €5.50" in text
    assert "20 % on €100.00 €20.00" in text
    assert "Subtotal €200.00" in text and "Total €225.50" in text
    assert "Managed backup" in text and "Training" in text


def test_task_is_idempotent(acme, acme_b, create):
    invoice = create(acme.tenant, scope="session", object_id=acme.jane_updates.pk)
    name = invoice.pdf.name
    assert invoice_render_pdf_task.delay(acme.tenant.pk, invoice.pk).get() == PdfStatus.READY
    invoice.refresh_from_db()
    assert invoice.pdf.name == name


def test_a_rendering_error_is_recorded_and_can_be_retried(
    acme, acme_b, create, django_capture_on_commit_callbacks
):
    invoice = create(acme.tenant, scope="session", object_id=acme.jane_updates.pk)
    Invoice.all_tenants.filter(pk=invoice.pk).update(
        locale="xx_NOWHERE", pdf_status=PdfStatus.PENDING
    )
    # The document's language is the customer's: make it the broken locale's too.
    Organization.all_tenants.filter(pk=invoice.organization_id).update(language="xx")
    assert invoice_render_pdf_task.delay(acme.tenant.pk, invoice.pk).get() == PdfStatus.FAILED
    invoice.refresh_from_db()
    assert invoice.pdf_status == PdfStatus.FAILED
    assert "xx_NOWHERE" in invoice.pdf_error
    Invoice.all_tenants.filter(pk=invoice.pk).update(locale="en_US")
    Organization.all_tenants.filter(pk=invoice.organization_id).update(language="en")
    with tenant_context(acme.tenant), django_capture_on_commit_callbacks(execute=True):
        services.invoice_pdf_request(invoice=invoice)
    invoice.refresh_from_db()
    assert (invoice.pdf_status, invoice.pdf_error) == (PdfStatus.READY, "")


def test_storage_errors_are_recorded_where_users_see_them(acme, acme_b, create, settings, tmp_path):
    invoice = create(acme.tenant, scope="session", object_id=acme.jane_updates.pk)
    Invoice.all_tenants.filter(pk=invoice.pk).update(pdf_status=PdfStatus.PENDING)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    settings.MEDIA_ROOT = blocker  # every save fails with an OSError
    invoice_render_pdf_task.delay(acme.tenant.pk, invoice.pk)
    invoice.refresh_from_db()
    assert invoice.pdf_status == PdfStatus.FAILED
    assert "NotADirectoryError" in invoice.pdf_error


def test_voiding_re_renders_the_pdf_marked_void(
    acme, acme_b, create, django_capture_on_commit_callbacks
):
    invoice = create(acme.tenant, scope="session", object_id=acme.jane_updates.pk)
    first_name = invoice.pdf.name
    with (
        tenant_context(acme.tenant),
        django_capture_on_commit_callbacks(execute=True),
        transaction.atomic(),
    ):
        services.invoice_void(invoice=invoice, reason="Billed to the wrong company")
    invoice.refresh_from_db()
    assert invoice.pdf_status == PdfStatus.READY
    assert invoice.pdf.name != first_name
    assert not invoice.pdf.storage.exists(first_name)
    text = pdf_text(invoice)
    assert "VOID" in text and "Billed to the wrong company" in text
    assert "Nothing is due" in text


def test_the_tenants_logo_is_embedded(acme, acme_b, create):
    from io import BytesIO

    from django.core.files.base import ContentFile
    from PIL import Image
    from pypdf import PdfReader

    buffer = BytesIO()
    Image.new("RGB", (120, 40), "#1f4e79").save(buffer, format="PNG")
    acme.tenant.logo.save("logo.png", ContentFile(buffer.getvalue()), save=True)
    invoice = create(acme.tenant, scope="session", object_id=acme.jane_updates.pk)
    with invoice.pdf.open("rb") as handle:
        page = PdfReader(BytesIO(handle.read())).pages[0]
    assert len(page.images) == 1
