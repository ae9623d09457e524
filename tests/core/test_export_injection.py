"""No export file carries a formula (OWASP "CSV Injection"), whatever users typed.

Customer, contact, company number, ticket title, technician, address, SKU, unit and line
description hold text a spreadsheet would run (``=HYPERLINK("http://x")``, ``@SUM(1)``,
``+1``, ``-1+2``, a leading tab). Every file is downloaded through its page or API and
read back as its importer would: each text cell is neutralised (a leading apostrophe in
CSV and IIF; a string cell, never a formula, in XLSX), while numbers stay numbers (a
credit note's negative amounts are not touched). Tenant B's data never appears.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from billing_site.roles import Role
from billing_site.spreadsheets import FORMULA_STARTS, safe_text
from billing_site.testing.factories import ContactFactory, OrganizationFactory
from invoices.exports import (
    CSV_NUMERIC_COLUMNS,
    IIF_NUMERIC_COLUMNS,
    IIF_SPL_COLUMNS,
    IIF_TRNS_COLUMNS,
    XERO_NUMERIC_COLUMNS,
)
from invoices.models import Invoice, InvoiceKind
from tests.contracts.factories import ContractFactory, TicketFactory, technician
from tests.invoices.test_exports import make_invoice
from tests.portal.factories import portal_user

pytestmark = pytest.mark.django_db

HYPERLINK = '=HYPERLINK("http://x")'
PAYLOADS = [HYPERLINK, "@SUM(1)", "+1", "-1+2", "\t=1", "\r=1"]
INVOICE_EXPORT = reverse("invoices:invoice-export")
INVOICE_EXPORT_API = "/api/v1/invoices/export/"
PORTAL_EXPORT = reverse("portal:end-client-tickets-export")
PORTAL_EXPORT_API = reverse("portal-api:end-client-ticket-export")


def formula_like(cell: str) -> bool:
    return cell.startswith(FORMULA_STARTS)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_text_that_starts_a_formula_gets_an_apostrophe(payload):
    assert safe_text(payload) == f"'{payload}"


@pytest.mark.parametrize("value", ["ACME", "", "O'Brien", " =1", "1-2", "a=b", None])
def test_other_text_is_left_as_it_is(value):
    assert safe_text(value) == ("" if value is None else value)


# --- Invoice exports: CSV, QuickBooks IIF, Xero CSV ----------------------------------


@pytest.fixture
def invoices(tenant_a, tenant_b):
    customer = OrganizationFactory(tenant=tenant_a, name=HYPERLINK, company_number="-1+2")
    lines = [
        {
            "description": payload,
            "sku": "@SUM(1)",
            "unit": "\t=1",
            "quantity": "2",
            "unit_price": "12.5000",
            "taxable": True,
            "tax_rate": "20.0000",
        }
        for payload in PAYLOADS
    ]
    address = {
        "bill_to_street": "+1 rue des Lilas\n=2+3",
        "bill_to_postcode": "-75011",
        "bill_to_city": "@Paris",
        "bill_to_region": "=Île-de-France",
        "bill_to_country": "FR",
    }
    invoice = make_invoice(tenant_a, customer, "INV-1", lines, bill_to=address)
    Invoice.all_tenants.filter(pk=invoice.pk).update(notes="-1+2 call first")
    credit = make_invoice(
        tenant_a,
        customer,
        "CN-1",
        lines[:1],
        kind=InvoiceKind.CREDIT_NOTE,
        credited=invoice,
        bill_to=address,
    )
    other = OrganizationFactory(tenant=tenant_b, name="Bravo Secret Client")
    make_invoice(tenant_b, other, "B-INV-1", lines[:1])
    return [invoice, credit]


def _download(client, url, export_format, invoices) -> bytes:
    ids = ",".join(str(invoice.pk) for invoice in invoices)
    response = client.get(url, {"format": export_format, "ids": ids})
    assert response.status_code == 200, response.content
    assert b"Bravo Secret" not in response.content
    return response.content


@pytest.fixture(params=["page", "api"])
def download(request, staff_a, client_as, api_as):
    """Export files as a billing admin downloads them: from the page or the API."""
    admin = staff_a.user(Role.BILLING_ADMIN)
    if request.param == "page":
        client, url = client_as(admin), INVOICE_EXPORT
    else:
        client, url = api_as(admin), INVOICE_EXPORT_API
    return lambda export_format, invoices: _download(client, url, export_format, invoices)


def _check_csv(rows: list[dict[str, str]], numeric: frozenset) -> None:
    for row in rows:
        for column, cell in row.items():
            if column in numeric:
                if cell:
                    Decimal(cell)  # a number, written as one
            else:
                assert not formula_like(cell), (column, cell)


def test_invoice_csv_neutralises_every_text_cell(invoices, download):
    text = download("csv", invoices).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    _check_csv(rows, CSV_NUMERIC_COLUMNS)
    lines = [row for row in rows if row["invoice_number"] == "INV-1"]
    first = lines[0]
    assert first["customer_name"] == f"'{HYPERLINK}"
    assert first["company_number"] == "'-1+2"
    assert first["sku"] == "'@SUM(1)" and first["unit"] == "'\t=1"
    assert [row["description"] for row in lines] == [f"'{p}" for p in PAYLOADS]
    # The credit note's amounts are negative numbers, not text.
    credit = next(row for row in rows if row["document_type"] == InvoiceKind.CREDIT_NOTE)
    assert credit["amount"] == "-25.00" and credit["invoice_total"] == "-30.00"


def test_xero_csv_neutralises_contact_names_addresses_and_descriptions(invoices, download):
    text = download("xero", invoices).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    _check_csv(rows, XERO_NUMERIC_COLUMNS)
    lines = [row for row in rows if row["*InvoiceNumber"] == "INV-1"]
    first = lines[0]
    assert first["*ContactName"] == f"'{HYPERLINK}"
    assert first["POAddressLine1"] == "'+1 rue des Lilas"
    assert first["POAddressLine2"] == "'=2+3"
    assert (first["POCity"], first["PORegion"], first["POPostalCode"]) == (
        "'@Paris",
        "'=Île-de-France",
        "'-75011",
    )
    assert first["InventoryItemCode"] == "'@SUM(1)"
    assert [row["*Description"] for row in lines] == [f"'{p}" for p in PAYLOADS]
    credit = next(row for row in rows if row["*InvoiceNumber"] == "CN-1")
    assert credit["*Quantity"] == "-2" and credit["Total"] == "-30.00"


def test_iif_neutralises_names_memos_addresses_and_items(invoices, download):
    text = download("iif", invoices).decode("cp1252")
    cells: list[tuple[str, str]] = []
    for line in text.split("\r\n"):
        fields = line.split("\t")
        columns = {"TRNS": IIF_TRNS_COLUMNS, "SPL": IIF_SPL_COLUMNS}.get(fields[0])
        if columns:
            assert len(fields) == len(columns) + 1
            cells += zip(columns, fields[1:], strict=True)
    for column, cell in cells:
        cell = cell.removeprefix('"')  # a field holding a comma is quoted
        if column in IIF_NUMERIC_COLUMNS:
            if cell:
                Decimal(cell.removesuffix("%"))
        else:
            assert not formula_like(cell), (column, cell)
    names = {cell for column, cell in cells if column == "NAME" and cell}
    # Double quotes become apostrophes in IIF text; the leading apostrophe neutralises.
    assert names == {"'=HYPERLINK('http://x')"}
    memos = [cell for column, cell in cells if column == "MEMO"]
    assert "'-1+2 call first" in memos
    # Tabs cannot be escaped in IIF: "\t=1" loses its tab and is still neutralised.
    assert {"'=HYPERLINK('http://x')", "'@SUM(1)", "'+1", "'-1+2", "'=1"} <= set(memos)
    # The address only (the customer is NAME): the street is ADDR1.
    assert {cell for column, cell in cells if column == "ADDR1"} == {"'+1 rue des Lilas"}
    amounts = [cell for column, cell in cells if column == "AMOUNT"]
    # The credit note owes -30.00; the invoice lines credit income -25.00 each.
    assert amounts[0] == "-30.00" and amounts.count("-25.00") == len(PAYLOADS)


# --- Portal exports: CSV and XLSX of the end-client ticket table ----------------------


@pytest.fixture
def portal(tenant_a, tenant_b):
    partner = OrganizationFactory(tenant=tenant_a, name="Helios IT Partners")
    end_client = OrganizationFactory(tenant=tenant_a, name=HYPERLINK)
    contract = ContractFactory(tenant=tenant_a, customer=end_client, billing_organization=partner)
    tech = technician(tenant_a, username="a-tech")
    tech.first_name, tech.last_name = "-1+2", ""
    tech.save()
    TicketFactory(
        tenant=tenant_a,
        organization=end_client,
        contract=contract,
        contact=ContactFactory(tenant=tenant_a, organization=end_client, name="@SUM(1)"),
        title="+1",
        assigned_to=tech,
    )
    TicketFactory(tenant=tenant_a, organization=end_client, contract=contract, title="\t=1")
    other = OrganizationFactory(tenant=tenant_b, name="Bravo Secret Client")
    TicketFactory(tenant=tenant_b, organization=other, title="Bravo secret ticket")
    return portal_user(partner, username="helios-portal")


@pytest.fixture(params=["page", "api"])
def portal_download(request, portal, client_as, api_as):
    if request.param == "page":
        client, url = client_as(portal), PORTAL_EXPORT
    else:
        client, url = api_as(portal), PORTAL_EXPORT_API

    def get(export_format: str) -> bytes:
        response = client.get(url, {"format": export_format, "ordering": "title"})
        assert response.status_code == 200
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert b"Bravo" not in body
        return body

    return get


def test_portal_csv_neutralises_every_text_cell(portal_download):
    rows = list(csv.reader(io.StringIO(portal_download("csv").decode("utf-8-sig"))))[1:]
    by_title = {row[2]: row for row in rows}
    assert set(by_title) == {"'+1", "'\t=1"}
    row = by_title["'+1"]
    assert row[1:6] == [f"'{HYPERLINK}", "'+1", "New", "'@SUM(1)", "'-1+2"]
    assert row[0].isdigit() and row[8] == "0.00"
    for row in rows:
        assert not any(formula_like(cell) for cell in row)


def test_portal_xlsx_writes_text_as_strings_never_formulas(portal_download):
    sheet = load_workbook(io.BytesIO(portal_download("xlsx"))).active
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == 2
    by_title = {row[2].value: row for row in rows}
    assert set(by_title) == {"+1", "\t=1"}
    row = by_title["+1"]
    assert [cell.value for cell in row[1:6]] == [HYPERLINK, "+1", "New", "@SUM(1)", "-1+2"]
    for row in rows:
        for cell in row[1:6]:
            if cell.value:
                assert cell.data_type == "s", (cell.coordinate, cell.value)
                # Quote-prefixed: Excel keeps it text even when the cell is edited.
                assert cell.quotePrefix == formula_like(cell.value)
        # Numbers and dates stay typed: the ticket number, the created day, the hours.
        assert row[0].data_type == "n" and row[8].data_type == "n"
        assert row[6].is_date
    assert not any(cell.data_type == "f" for row in sheet.iter_rows() for cell in row)
