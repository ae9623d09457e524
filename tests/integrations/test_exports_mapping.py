"""Export files written with the tenant's mapping, downloaded as a billing admin does,
each rule of the IIF and Xero CSV formats checked by parsing the file back."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from billing_site.roles import Role
from billing_site.tenancy import tenant_context
from integrations.core import ledger
from integrations.core.models import MappingKind, Provider
from invoices.exports import XERO_COLUMNS
from tests.invoices.test_exports import read_iif

from .conftest import draft, finalise

pytestmark = pytest.mark.django_db
EXPORT = reverse("invoices:invoice-export")


@pytest.fixture
def admin(staff_a, client_as):
    return client_as(staff_a.user(Role.BILLING_ADMIN))


def finals(tenant, **organization):
    from billing_site.testing.factories import OrganizationFactory

    org = OrganizationFactory(
        tenant=tenant,
        name=organization.get("name", "Łódź Dental; Clinic"),
        street="Ulica Piotrkowska 1\nBudynek B",
        city="Łódź",
        postcode="90-001",
        region="Łódzkie",
        country=organization.get("country", "PL"),
        currency=tenant.currency,
    )
    with tenant_context(tenant):
        return finalise(draft(tenant, organization=org))


def download(admin, invoices, fmt, **extra):
    ids = ",".join(str(invoice.pk) for invoice in invoices)
    return admin.get(EXPORT, {"ids": ids, "format": fmt, **extra})


def test_iif_uses_the_mapped_accounts_tax_agency_and_tax_items(tenant_a, admin):
    invoices = finals(tenant_a)
    with tenant_context(tenant_a):
        for kind, key, name in [
            (MappingKind.ACCOUNT, "receivable", "Accounts Receivable (EUR)"),
            (MappingKind.ACCOUNT, "income", "Services Income"),
            (MappingKind.ACCOUNT, "sales_tax", "VAT Payable"),
            (MappingKind.ACCOUNT, "tax_agency", "Urząd Skarbowy"),
            (MappingKind.TAX_RATE, "20", "VAT 20%"),
            (MappingKind.INCOME_ACCOUNT, "4010", "Managed Services Income"),
        ]:
            ledger.mapping_set(
                system=Provider.QUICKBOOKS, kind=kind, local_key=key, external_name=name
            )
    response = download(admin, invoices, "iif", shorten_numbers="on")
    assert response.status_code == 200, response.content
    _trns, _spl, [transaction] = read_iif(response.content)
    trns, spls = transaction["trns"], transaction["spl"]
    assert trns["ACCNT"] == "Accounts Receivable (EUR)"
    # The product's income account (4010) as mapped; lines without a SKU the default.
    assert [spl["ACCNT"] for spl in spls[:3]] == [
        "Managed Services Income",
        "Services Income",
        "Services Income",
    ]
    (tax,) = spls[3:]
    assert (tax["ACCNT"], tax["INVITEM"], tax["PRICE"]) == ("VAT Payable", "VAT 20%", "20%")
    # Outside Windows-1252: the plain letter, never dropped (ą -> a, Ł -> L).
    assert tax["NAME"] == "Urzad Skarbowy"


def test_iif_without_mapping_uses_the_products_own_income_account(tenant_a, admin):
    invoices = finals(tenant_a)
    response = download(admin, invoices, "iif", shorten_numbers="on")
    _trns, _spl, [transaction] = read_iif(response.content)
    assert [spl["ACCNT"] for spl in transaction["spl"][:3]] == ["4010", "Sales", "Sales"]


def test_iif_numbers_past_11_characters_are_refused_or_shortened_never_cut(tenant_a, admin):
    invoices = finals(tenant_a)
    number = invoices[0].number
    assert len(number) == 14
    refused = download(admin, invoices, "iif")
    assert refused.status_code == 400
    message = refused.content.decode()
    assert f"at most 11 characters of an invoice number; these are longer: {number}" in message
    shortened = download(admin, invoices, "iif", shorten_numbers="on")
    _trns, _spl, [transaction] = read_iif(shortened.content)
    assert transaction["trns"]["DOCNUM"] == number.replace("-20", "").replace("-", "")
    assert len(transaction["trns"]["DOCNUM"]) <= 11
    assert transaction["trns"]["MEMO"].startswith(number)


def test_iif_fields_and_records_cannot_be_broken_and_the_name_is_not_in_the_address(
    tenant_a, admin
):
    invoices = finals(tenant_a)
    content = download(admin, invoices, "iif", shorten_numbers="on").content
    text = content.decode("cp1252")
    assert ";" not in text
    _trns, _spl, [transaction] = read_iif(content)
    trns = transaction["trns"]
    # ó is in Windows-1252 and stays; Ł is not and becomes L. The semicolon ends
    # nothing: it is a comma (the field is then quoted).
    assert trns["NAME"] == "Lódz Dental, Clinic"
    assert [trns[f"ADDR{n}"] for n in range(1, 6)] == [
        "Ulica Piotrkowska 1",
        "Budynek B",
        "90-001 Lódz",
        "Lódzkie",
        "Poland",
    ]
    assert all("Dental" not in trns[f"ADDR{n}"] for n in range(1, 6))


def test_iif_refuses_customer_names_quickbooks_desktop_would_cut(tenant_a, admin):
    invoices = finals(tenant_a, name="A" * 42)
    refused = download(admin, invoices, "iif", shorten_numbers="on")
    assert refused.status_code == 400
    assert "41 characters of a customer name" in refused.content.decode()


def xero_rows(content: bytes) -> list[dict]:
    reader = csv.DictReader(io.StringIO(content.decode("utf-8")))
    assert tuple(reader.fieldnames) == XERO_COLUMNS
    return list(reader)


def test_xero_csv_uses_the_mapped_account_codes_and_tax_rate_names(tenant_a, admin):
    invoices = finals(tenant_a)
    with tenant_context(tenant_a):
        for kind, key, code, name in [
            (MappingKind.ACCOUNT, "income", "200", "Sales"),
            (MappingKind.TAX_RATE, "20", "OUTPUT2", "20% (VAT on Income)"),
            (MappingKind.TAX_RATE, "exempt", "NONE", "No VAT"),
            (MappingKind.INCOME_ACCOUNT, "4010", "260", "Managed services"),
        ]:
            ledger.mapping_set(
                system=Provider.XERO, kind=kind, local_key=key, external_id=code, external_name=name
            )
    rows = xero_rows(download(admin, invoices, "xero").content)
    assert [row["*AccountCode"] for row in rows] == ["260", "200", "200"]
    assert [row["*TaxType"] for row in rows] == [
        "20% (VAT on Income)",
        "20% (VAT on Income)",
        "No VAT",
    ]


@pytest.mark.parametrize(("country", "expected"), [("GB", "%d/%m/%Y"), ("US", "%m/%d/%Y")])
def test_xero_csv_dates_follow_the_organisations_region(tenant_a, admin, country, expected):
    tenant_a.country = country
    tenant_a.save(update_fields=["country"])
    invoices = finals(tenant_a)
    (row, *_rest) = xero_rows(download(admin, invoices, "xero").content)
    assert row["*InvoiceDate"] == invoices[0].issue_date.strftime(expected)
    assert row["*DueDate"] == invoices[0].due_date.strftime(expected)


def test_xero_csv_fills_the_address_columns_from_the_structured_address(tenant_a, admin):
    invoices = finals(tenant_a)
    (row, *_rest) = xero_rows(download(admin, invoices, "xero").content)
    assert (row["POAddressLine1"], row["POAddressLine2"]) == ("Ulica Piotrkowska 1", "Budynek B")
    assert (row["POCity"], row["PORegion"], row["POPostalCode"], row["POCountry"]) == (
        "Łódź",
        "Łódzkie",
        "90-001",
        "Poland",
    )
    assert row["*ContactName"] == "Łódź Dental; Clinic"
