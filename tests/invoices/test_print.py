"""Printing an invoice: a Print button on its page, whose print stylesheet leaves the
app's chrome and controls off the paper; the PDF opens in the browser's viewer to print."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from billing_site.roles import Role
from invoices.models import PdfStatus

from .factories import InvoiceFactory, InvoiceLineFactory, PaymentFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", [Role.BILLING_ADMIN, Role.ACCOUNTANT])
def test_the_invoice_page_prints_the_invoice_without_the_app(role, client_as, staff_a, tenant_b):
    invoice = InvoiceFactory(tenant=staff_a.tenant, pdf_status=PdfStatus.READY, pdf="x.pdf")
    InvoiceLineFactory(tenant=staff_a.tenant, invoice=invoice)
    PaymentFactory(tenant=staff_a.tenant, invoice=invoice)
    page = client_as(staff_a.user(role)).get(reverse("invoices:invoice-detail", args=[invoice.pk]))
    html = page.content.decode()
    # The button prints the page (static/js/app.js handles [data-print]).
    assert re.search(r'<button type="button" class="btn" data-print[^>]*>.*Print</button>', html)
    # Buttons, links away and the delivery and e-mail logs are not printed ...
    assert '<div class="actions no-print">' in html
    assert '<div class="breadcrumb no-print">' in html
    assert '<style media="print">' in html
    assert (
        ".invoice-sheet form, .invoice-sheet .payment-actions { display: none !important; }" in html
    )
    # ... while the invoice itself is: its number, lines and totals sit in the printed sheet.
    sheet = html[html.index('<div class="invoice-sheet">') :]
    assert invoice.number in sheet and "Balance due" in sheet
    # The PDF opens in the browser's viewer, which prints it as the customer receives it.
    pdf = reverse("invoices:invoice-pdf", args=[invoice.pk])
    assert f'href="{pdf}" target="_blank" rel="noopener"' in html and "Open to print" in html
