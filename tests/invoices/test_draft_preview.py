"""A draft's PDF preview: stamped DRAFT in the customer's language, rendered by the same
document code as the final PDF, and nothing taken, frozen or stored."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from billing_site.models import TenantSequence
from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from billing_site.testing.factories import OrganizationFactory
from invoices import services
from invoices.models import Invoice, InvoiceStatus, PdfStatus
from invoices.pdf import render_invoice_pdf
from invoices.selectors import invoice_get

from .conftest import pdf_bytes_text
from .factories import InvoiceFactory

pytestmark = pytest.mark.django_db


def preview_url(invoice) -> str:
    return reverse("invoices:invoice-pdf-preview", args=[invoice.pk])


def french_draft(tenant):
    with tenant_context(tenant):
        customer = OrganizationFactory(tenant=tenant, name="Boulangerie Martin", language="fr")
        draft = InvoiceFactory(
            tenant=tenant, organization=customer, draft=True, subtotal=0, total=0
        )
        services.invoice_line_add(
            invoice=draft,
            description="Maintenance des postes",
            quantity="2",
            unit_price="62.5",
            taxable=True,
            tax_rate="20",
        )
        return Invoice.objects.get(pk=draft.pk)


def test_a_draft_previews_as_a_pdf_stamped_draft_taking_nothing(client_as, staff_a, tenant_b):
    draft = french_draft(staff_a.tenant)
    with tenant_context(staff_a.tenant):
        before = Invoice.objects.values().get(pk=draft.pk)

    response = client_as(staff_a.user(Role.BILLING_ADMIN)).get(preview_url(draft))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="draft-{draft.pk}.pdf"'
    assert response["Cache-Control"] == "private, no-store"
    text = pdf_bytes_text(response.content)
    # The customer's language, a stamp and a notice, and no number printed as "None".
    assert "BROUILLON" in text
    assert "Brouillon à vérifier" in text
    assert "None" not in text
    assert "Maintenance des postes" in text
    assert "125,00 €" in text and "150,00 €" in text  # 2 × 62,50 €, plus 20 % TVA
    # What will be due, not the nothing a draft owes before it is issued.
    assert "Montant dû 150,00 €" in text and not re.search(r"(?<![\d ,])0,00 €", text)
    # Nothing taken, frozen or stored: still a draft without a number, dates or PDF.
    with tenant_context(staff_a.tenant):
        assert Invoice.objects.values().get(pk=draft.pk) == before
    assert before["status"] == InvoiceStatus.DRAFT and before["pdf_status"] == PdfStatus.NONE
    assert before["number"] is None and before["issue_date"] is None and not before["pdf"]
    with tenant_context(staff_a.tenant):
        assert not TenantSequence.objects.exists()


def test_the_preview_is_the_final_pdf_but_the_stamp(client_as, staff_a, tenant_b):
    draft = french_draft(staff_a.tenant)
    preview = pdf_bytes_text(
        client_as(staff_a.user(Role.ACCOUNTANT)).get(preview_url(draft)).content
    )
    with tenant_context(staff_a.tenant):
        final = services.invoice_finalize(invoice=draft)
        printed = pdf_bytes_text(render_invoice_pdf(invoice_get(pk=final.pk)))
    # The preview took no number: finalising takes the first of the year.
    assert final.number.endswith("2026-00001")
    assert "BROUILLON" not in printed and final.number in printed
    for words in ("Boulangerie Martin", "Maintenance des postes", "125,00 €", "150,00 €"):
        assert words in preview and words in printed


def test_a_draft_links_its_preview_and_an_english_customer_reads_draft(
    client_as, staff_a, tenant_b
):
    with tenant_context(staff_a.tenant):
        draft = InvoiceFactory(tenant=staff_a.tenant, draft=True, subtotal=0, total=0)
        services.invoice_line_add(invoice=draft, description="Setup", quantity="1", unit_price="80")
    client = client_as(staff_a.user(Role.BILLING_ADMIN))
    for page in ("invoices:invoice-detail", "invoices:invoice-edit"):
        assert preview_url(draft) in client.get(reverse(page, args=[draft.pk])).content.decode()
    text = pdf_bytes_text(client.get(preview_url(draft)).content)
    assert "DRAFT" in text and "Draft for review" in text and "Amount due €80.00" in text


def test_no_preview_of_a_numbered_invoice_another_tenant_or_without_billing(
    client_as, staff_a, staff_b, tenant_b
):
    final = InvoiceFactory(tenant=staff_a.tenant)
    theirs = InvoiceFactory(tenant=tenant_b, draft=True)
    mine = InvoiceFactory(tenant=staff_a.tenant, draft=True)
    admin = client_as(staff_a.user(Role.BILLING_ADMIN))
    assert admin.get(preview_url(final)).status_code == 404
    assert admin.get(preview_url(theirs)).status_code == 404
    technician = client_as(staff_a.user(Role.TECHNICIAN))
    assert technician.get(preview_url(mine)).status_code == 403
