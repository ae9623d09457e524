"""Export files read back with each format's published rules (see invoices/exports.py).

Every file is parsed the way its importer reads it (csv module, tab split for IIF) and
checked against the format's rules and against the invoices, to the cent, for 0-, 2-
and 3-decimal currencies, two tax rates, a credit note and awkward text. Tenant B's
invoices must never appear in tenant A's files.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import defaultdict
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing_site.billables import billable_kinds
from billing_site.money import line_amount, minor_units, quantize
from billing_site.tenancy import TenantNotSet, tenant_context
from billing_site.testing.factories import OrganizationFactory
from invoices.exports import (
    CSV_COLUMNS,
    EXPORT_FORMATS,
    IIF_SPL_COLUMNS,
    IIF_TRNS_COLUMNS,
    XERO_COLUMNS,
    XERO_MAX_INVOICES_PER_FILE,
    export_csv,
    export_iif,
    export_invoices,
    export_xero_csv,
    iif_short_number,
)
from invoices.models import CreditDisposition, Invoice, InvoiceKind, InvoiceLine, InvoiceStatus
from invoices.totals import compute_totals

# Our numbers (INV-2026-00001) are longer than QuickBooks Desktop keeps.
SHORT_IIF = {"iif": {"shorten_numbers": True}}

D = Decimal
AWKWARD = 'Onsite visit, "urgent"\nsecond line\twith a tab'
XERO_REQUIRED = [column for column in XERO_COLUMNS if column.startswith("*")]


# --- Building final invoices -----------------------------------------------------------


class _Priced:
    def __init__(self, spec):
        self.quantity = D(spec["quantity"])
        self.unit_price = D(spec["unit_price"])
        self.taxable = spec.get("taxable", False)
        self.tax_rate = D(spec.get("tax_rate", "0"))


PARIS = {
    "bill_to_street": "12 rue des Lilas",
    "bill_to_postcode": "75011",
    "bill_to_city": "Paris",
    "bill_to_country": "FR",
}


def make_invoice(
    tenant,
    organization,
    number,
    lines,
    *,
    currency="EUR",
    kind=InvoiceKind.INVOICE,
    credited=None,
    issue_date=dt.date(2026, 3, 1),
    due_date=dt.date(2026, 3, 31),
    bill_to_name=None,
    bill_to=None,
    status=InvoiceStatus.FINAL,
    face=1,
):
    """A final invoice with lines and stored totals computed by the product's Money rule.

    ``face=-1`` stores the amounts negated (a credit note kept with negative amounts).
    """
    totals = compute_totals([_Priced(spec) for spec in lines], currency)
    invoice = Invoice.all_tenants.create(
        tenant=tenant,
        kind=kind,
        status=status,
        number=number,
        organization=organization,
        credited_invoice=credited,
        currency=currency,
        seller_name=tenant.name,
        bill_to_name=bill_to_name or organization.name,
        bill_to_email="billing@example.test",
        **(bill_to or PARIS),
        issue_date=issue_date,
        due_date=due_date,
        payment_terms_days=30,
        subtotal=totals.subtotal * face,
        tax_total=totals.tax_total * face,
        total=totals.total * face,
        credit_disposition=(CreditDisposition.WRITE_OFF if kind == InvoiceKind.CREDIT_NOTE else ""),
    )
    InvoiceLine.all_tenants.bulk_create(
        InvoiceLine(
            tenant=tenant,
            invoice=invoice,
            position=position,
            description=spec["description"],
            sku=spec.get("sku", ""),
            quantity=D(spec["quantity"]) * face,
            unit=spec.get("unit", ""),
            unit_price=D(spec["unit_price"]),
            amount=line_amount(D(spec["quantity"]), D(spec["unit_price"]), currency) * face,
            taxable=spec.get("taxable", False),
            tax_rate=D(spec.get("tax_rate", "0")),
        )
        for position, spec in enumerate(lines, start=1)
    )
    return invoice


@pytest.fixture
def org_a(tenant_a):
    return OrganizationFactory(tenant=tenant_a, name="Bistro Lumière", company_number="C-00042")


@pytest.fixture
def org_b(tenant_b):
    return OrganizationFactory(tenant=tenant_b, name="Bravo Secret Client", company_number="B-1")


@pytest.fixture
def invoices_a(tenant_a, org_a):
    """EUR with two tax rates and awkward text, JPY, KWD, and a credit note."""
    eur = make_invoice(
        tenant_a,
        org_a,
        "INV-2026-00001",
        [
            {
                "description": "Managed endpoint, per device",
                "sku": "MEP",
                "quantity": "12",
                "unit_price": "12.5000",
                "unit": "each",
                "taxable": True,
                "tax_rate": "20.0000",
            },
            # 2.25 at 10 % twice: per-line tax 0.23 + 0.23, per-rate tax 0.45.
            {
                "description": "Backup storage",
                "sku": "BKP",
                "quantity": "1",
                "unit_price": "2.2500",
                "taxable": True,
                "tax_rate": "10.0000",
            },
            {
                "description": "Backup storage (archive)",
                "sku": "BKP-A",
                "quantity": "1",
                "unit_price": "2.2500",
                "taxable": True,
                "tax_rate": "10.0000",
            },
            {
                "description": AWKWARD,
                "sku": "TIME",
                "quantity": "1.2500",
                "unit_price": "95.0000",
                "unit": "h",
            },
        ],
        bill_to={
            "bill_to_street": "12 rue des Lilas\nBâtiment B",
            "bill_to_postcode": "75011",
            "bill_to_city": "Paris",
            "bill_to_region": "Île-de-France",
            "bill_to_country": "FR",
        },
    )
    jpy = make_invoice(
        tenant_a,
        org_a,
        "INV-2026-00002",
        [
            {
                "description": "Remote support",
                "sku": "RS",
                "quantity": "3",
                "unit_price": "1500",
                "taxable": True,
                "tax_rate": "8",
            },
            {"description": "Half hour", "sku": "HH", "quantity": "0.5", "unit_price": "333"},
        ],
        currency="JPY",
        issue_date=dt.date(2026, 3, 2),
    )
    kwd = make_invoice(
        tenant_a,
        org_a,
        "INV-2026-00003",
        [
            {
                "description": "Firewall licence",
                "sku": "FW",
                "quantity": "2.5",
                "unit_price": "10.1234",
                "taxable": True,
                "tax_rate": "5",
            },
        ],
        currency="KWD",
        issue_date=dt.date(2026, 3, 3),
    )
    credit = make_invoice(
        tenant_a,
        org_a,
        "CN-2026-00001",
        [
            {
                "description": "Managed endpoint, per device",
                "sku": "MEP",
                "quantity": "2",
                "unit_price": "12.5000",
                "taxable": True,
                "tax_rate": "20.0000",
            },
        ],
        kind=InvoiceKind.CREDIT_NOTE,
        credited=eur,
        issue_date=dt.date(2026, 3, 10),
        due_date=None,
    )
    return {"eur": eur, "jpy": jpy, "kwd": kwd, "credit": credit}


@pytest.fixture
def invoice_b(tenant_b, org_b):
    return make_invoice(
        tenant_b,
        org_b,
        "INV-2026-00001",
        [{"description": "Bravo only", "sku": "SECRET", "quantity": "1", "unit_price": "999"}],
        currency="DKK",
    )


def all_of(tenant):
    with tenant_context(tenant):
        return Invoice.objects.all()


def sign_of(invoice):
    return -1 if invoice.kind == InvoiceKind.CREDIT_NOTE else 1


def assert_places(text, currency):
    """``text`` is an amount written with exactly the currency's minor unit."""
    places = minor_units(currency)
    pattern = r"-?\d+" + (rf"\.\d{{{places}}}" if places else "")
    assert re.fullmatch(pattern, text), (text, currency)


# --- Parsers, as the importers read the files ------------------------------------------


def read_csv(content, encoding):
    text = content.decode(encoding)
    assert "\r\n" in text
    return list(csv.reader(io.StringIO(text, newline="")))


def unquote_iif(field):
    return field[1:-1] if len(field) > 1 and field[0] == field[-1] == '"' else field


def read_iif(content):
    """Header rows, then one dict per transaction: {"trns": {...}, "spl": [{...}]}."""
    text = content.decode("cp1252")
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")
    rows = [line.split("\t") for line in text[:-2].split("\r\n")]
    assert [row[0] for row in rows[:3]] == ["!TRNS", "!SPL", "!ENDTRNS"]
    trns_header, spl_header = rows[0][1:], rows[1][1:]
    assert rows[2] == ["!ENDTRNS"]
    transactions, current = [], None
    for row in rows[3:]:
        keyword, fields = row[0], [unquote_iif(field) for field in row[1:]]
        if keyword == "TRNS":
            assert current is None, "TRNS before the previous ENDTRNS"
            assert len(fields) == len(trns_header)
            current = {"trns": dict(zip(trns_header, fields, strict=True)), "spl": []}
        elif keyword == "SPL":
            assert current is not None, "SPL outside a transaction"
            assert len(fields) == len(spl_header)
            current["spl"].append(dict(zip(spl_header, fields, strict=True)))
        else:
            assert row == ["ENDTRNS"]
            assert current is not None and current["spl"], "ENDTRNS without TRNS and SPL"
            transactions.append(current)
            current = None
    assert current is None, "transaction without ENDTRNS"
    return trns_header, spl_header, transactions


def expected_tax_by_rate(invoice):
    bases = defaultdict(lambda: D(0))
    for line in invoice.lines.all():
        if line.taxable:
            bases[line.tax_rate.normalize()] += line.amount
    return {
        rate: quantize(base * rate / 100, invoice.currency) for rate, base in sorted(bases.items())
    }


# --- Plain CSV ---------------------------------------------------------------------------


def test_csv_has_company_number_sku_and_amounts_to_the_cent(in_tenant_a, invoices_a, invoice_b):
    content = export_csv(Invoice.objects.all())

    assert content.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark for Excel
    header, *rows = read_csv(content, "utf-8-sig")
    assert tuple(header) == CSV_COLUMNS
    records = [dict(zip(header, row, strict=True)) for row in rows]
    by_number = defaultdict(list)
    for record in records:
        by_number[record["invoice_number"]].append(record)
    assert set(by_number) == {inv.number for inv in invoices_a.values()}

    for invoice in invoices_a.values():
        lines = list(invoice.lines.order_by("position"))
        got = by_number[invoice.number]
        sign = sign_of(invoice)
        assert len(got) == len(lines)
        for record, line in zip(got, lines, strict=True):
            assert record["company_number"] == "C-00042"
            assert record["sku"] == line.sku
            assert record["description"] == line.description
            assert record["document_type"] == invoice.kind
            assert record["issue_date"] == invoice.issue_date.isoformat()
            assert D(record["quantity"]) == line.quantity * sign
            assert D(record["unit_price"]) == line.unit_price
            assert D(record["amount"]) == line.amount * sign
            for column in ("amount", "tax", "invoice_subtotal", "invoice_tax", "invoice_total"):
                assert_places(record[column], invoice.currency)
            assert D(record["invoice_total"]) == invoice.total * sign
        assert sum(D(r["amount"]) for r in got) == invoice.subtotal * sign
        assert sum(D(r["tax"]) for r in got) == invoice.tax_total * sign
        assert sum(D(r["amount"]) + D(r["tax"]) for r in got) == invoice.total * sign

    # Quotes, commas, line break and tab come back intact.
    assert by_number["INV-2026-00001"][3]["description"] == AWKWARD
    assert by_number["INV-2026-00002"][0]["amount"] == "4500"  # JPY: no decimals
    assert by_number["INV-2026-00003"][0]["amount"] == "25.309"  # KWD: 2.5 × 10.1234
    credit = by_number["CN-2026-00001"][0]
    assert (credit["amount"], credit["tax"], credit["invoice_total"]) == (
        "-25.00",
        "-5.00",
        "-30.00",
    )
    assert credit["credited_invoice"] == "INV-2026-00001"
    assert "SECRET" not in content.decode("utf-8-sig")


def test_csv_neutralises_spreadsheet_formulas(in_tenant_a, tenant_a, org_a):
    make_invoice(
        tenant_a,
        org_a,
        "INV-2026-00009",
        [
            {
                "description": '=HYPERLINK("http://x")',
                "sku": "+X",
                "quantity": "1",
                "unit_price": "5",
            }
        ],
    )
    _header, row = read_csv(export_csv(Invoice.objects.all()), "utf-8-sig")
    record = dict(zip(CSV_COLUMNS, row, strict=True))
    assert record["description"] == '\'=HYPERLINK("http://x")'
    assert record["sku"] == "'+X"
    assert record["amount"] == "5.00"


# --- QuickBooks Desktop IIF --------------------------------------------------------------


def test_iif_rows_signs_and_balance_follow_quickbooks_rules(in_tenant_a, invoices_a, invoice_b):
    content = export_iif(Invoice.objects.all(), shorten_numbers=True)
    trns_header, spl_header, transactions = read_iif(content)

    assert tuple(trns_header) == IIF_TRNS_COLUMNS
    assert tuple(spl_header) == IIF_SPL_COLUMNS
    # Our numbers are longer than QuickBooks Desktop's 11 characters: shortened on request.
    full = {iif_short_number(inv.number): inv.number for inv in invoices_a.values()}
    assert set(full) == {"INV2600001", "INV2600002", "INV2600003", "CN202600001"}
    by_number = {full[t["trns"]["DOCNUM"]]: t for t in transactions}
    assert set(by_number) == {inv.number for inv in invoices_a.values()}

    for invoice in invoices_a.values():
        transaction = by_number[invoice.number]
        trns, spls = transaction["trns"], transaction["spl"]
        lines = list(invoice.lines.order_by("position"))
        tax_by_rate = expected_tax_by_rate(invoice)
        sign = sign_of(invoice)
        trnstype = "CREDIT MEMO" if sign < 0 else "INVOICE"

        # Required columns, types and dates (MM/DD/YYYY).
        for row in (trns, *spls):
            assert row["TRNSTYPE"] == trnstype
            assert row["ACCNT"]
            assert row["AMOUNT"]
            assert row["DATE"] == invoice.issue_date.strftime("%m/%d/%Y")
            assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", row["DATE"])
            assert_places(row["AMOUNT"], invoice.currency)
        assert trns["ACCNT"] == "Accounts Receivable"
        assert trns["NAME"] == invoice.bill_to_name
        assert D(trns["AMOUNT"]) == invoice.total * sign  # debit to receivable, credit reversed
        assert len(spls) == len(lines) + len(tax_by_rate)

        # TRNS + every SPL balance to zero.
        assert D(trns["AMOUNT"]) + sum(D(spl["AMOUNT"]) for spl in spls) == 0

        for spl, line in zip(spls[: len(lines)], lines, strict=True):
            assert spl["ACCNT"] == "Sales"
            assert D(spl["AMOUNT"]) == -line.amount * sign
            assert D(spl["QNTY"]) == -line.quantity * sign
            assert D(spl["PRICE"]) == line.unit_price
            assert spl["INVITEM"] == line.sku
            assert spl["TAXABLE"] == ("Y" if line.taxable else "N")
        tax_spls = spls[len(lines) :]
        for spl, (rate, tax) in zip(tax_spls, tax_by_rate.items(), strict=True):
            assert spl["ACCNT"] == "Sales Tax Payable"
            assert D(spl["AMOUNT"]) == -tax * sign
            assert D(spl["PRICE"].rstrip("%")) == rate
            assert spl["EXTRA"] == ("AUTOSTAX" if len(tax_by_rate) == 1 else "")
        assert -sum(D(spl["AMOUNT"]) for spl in tax_spls) == invoice.tax_total * sign

    eur = by_number["INV-2026-00001"]
    assert eur["trns"]["DUEDATE"] == "03/31/2026"
    assert eur["trns"]["TERMS"] == "Net 30"
    assert eur["trns"]["NAMEISTAXABLE"] == "Y"
    # The address only: the customer is NAME, not repeated in ADDR1.
    assert [eur["trns"][f"ADDR{n}"] for n in range(1, 6)] == [
        "12 rue des Lilas",
        "Bâtiment B",
        "75011 Paris",
        "Île-de-France",
        "France",
    ]
    assert eur["trns"]["MEMO"].startswith("INV-2026-00001")
    # No escape exists in IIF: the line break and tab became spaces, the quotes apostrophes.
    assert eur["spl"][3]["MEMO"] == "Onsite visit, 'urgent' second line with a tab"
    assert [spl["AMOUNT"] for spl in eur["spl"][4:]] == ["-0.45", "-30.00"]  # 10 %, 20 %
    assert by_number["INV-2026-00002"]["trns"]["AMOUNT"] == "5027"  # JPY 4500 + 167 + 360
    credit = by_number["CN-2026-00001"]
    assert credit["trns"]["AMOUNT"] == "-30.00"
    assert [spl["AMOUNT"] for spl in credit["spl"]] == ["25.00", "5.00"]
    assert credit["spl"][0]["QNTY"] == "2"
    assert credit["trns"]["MEMO"] == "CN-2026-00001 - Credit for INV-2026-00001"
    assert credit["trns"]["DUEDATE"] == ""


def test_iif_quotes_commas_and_uses_the_given_accounts(in_tenant_a, invoices_a):
    content = export_iif(
        Invoice.objects.filter(pk=invoices_a["eur"].pk),
        accounts={"receivable": "AR, EUR", "income": "Services", "tax_agency": "Trésor Public"},
        income_accounts={"MEP": "Managed Services Income"},
        tax_items={D("20"): "TVA 20", "10": "TVA 10"},
        shorten_numbers=True,
    )
    raw_trns = content.decode("cp1252").split("\r\n")[3].split("\t")
    assert raw_trns[IIF_TRNS_COLUMNS.index("ACCNT") + 1] == '"AR, EUR"'  # comma: quoted
    _trns, _spl, [transaction] = read_iif(content)
    spls = transaction["spl"]
    assert transaction["trns"]["ACCNT"] == "AR, EUR"
    assert [spl["ACCNT"] for spl in spls[:4]] == [
        "Managed Services Income",
        "Services",
        "Services",
        "Services",
    ]
    assert [(spl["INVITEM"], spl["NAME"]) for spl in spls[4:]] == [
        ("TVA 10", "Trésor Public"),
        ("TVA 20", "Trésor Public"),
    ]


# --- Xero sales-invoice CSV --------------------------------------------------------------


def test_xero_csv_follows_the_import_template(in_tenant_a, invoices_a, invoice_b):
    content = export_xero_csv(
        Invoice.objects.all(), tax_types={"20": "20% (VAT on Income)", D("10.0"): "10% Reduced"}
    )

    assert not content.startswith(b"\xef\xbb\xbf")
    header, *rows = read_csv(content, "utf-8")
    assert tuple(header) == XERO_COLUMNS
    records = [dict(zip(header, row, strict=True)) for row in rows]
    for record in records:
        for column in XERO_REQUIRED:
            assert record[column].strip(), (column, record)
        for column in ("*InvoiceDate", "*DueDate"):
            assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", record[column])
    by_number = defaultdict(list)
    for record in records:
        by_number[record["*InvoiceNumber"]].append(record)
    assert set(by_number) == {inv.number for inv in invoices_a.values()}

    for invoice in invoices_a.values():
        got = by_number[invoice.number]
        lines = list(invoice.lines.order_by("position"))
        sign = sign_of(invoice)
        currency = invoice.currency
        assert len(got) == len(lines)
        line_total = D(0)
        for record, line in zip(got, lines, strict=True):
            assert record["*InvoiceDate"] == invoice.issue_date.strftime("%d/%m/%Y")
            assert record["Currency"] == currency
            assert record["*AccountCode"] == "200"
            assert record["InventoryItemCode"] == line.sku
            # Xero's line amount: Quantity × UnitAmount, rounded to the currency.
            amount = quantize(D(record["*Quantity"]) * D(record["*UnitAmount"]), currency)
            assert amount == line.amount * sign
            line_total += amount
            assert_places(record["TaxAmount"], currency)
            assert_places(record["Total"], currency)
            assert D(record["Total"]) == invoice.total * sign
        tax = sum(D(record["TaxAmount"]) for record in got)
        assert tax == invoice.tax_total * sign
        assert line_total + tax == invoice.total * sign

    eur = by_number["INV-2026-00001"]
    assert [r["*TaxType"] for r in eur] == [
        "20% (VAT on Income)",
        "10% Reduced",
        "10% Reduced",
        "Tax Exempt",
    ]
    # The 10 % lines' tax adds up to the per-rate tax (0.45), not to 0.23 + 0.23.
    assert [r["TaxAmount"] for r in eur] == ["30.00", "0.22", "0.23", "0.00"]
    assert eur[3]["*Description"] == AWKWARD
    # The street lines, then the bill-to party's city, region, postcode and country.
    assert [eur[0][f"POAddressLine{n}"] for n in range(1, 5)] == [
        "12 rue des Lilas",
        "Bâtiment B",
        "",
        "",
    ]
    assert [eur[0][column] for column in ("POCity", "PORegion", "POPostalCode", "POCountry")] == [
        "Paris",
        "Île-de-France",
        "75011",
        "France",
    ]
    assert by_number["INV-2026-00002"][0]["*TaxType"] == "Tax on Sales"  # unmapped rate
    assert by_number["INV-2026-00003"][0]["TaxAmount"] == "1.265"  # KWD: 5 % of 25.309
    [credit] = by_number["CN-2026-00001"]
    assert (credit["*Quantity"], credit["TaxAmount"], credit["Total"]) == ("-2", "-5.00", "-30.00")
    assert credit["Reference"] == "INV-2026-00001"
    assert credit["*DueDate"] == "10/03/2026"  # a credit note has no due date: its issue date
    assert "SECRET" not in content.decode("utf-8")


def test_xero_date_format_and_accounts_are_options(in_tenant_a, invoices_a):
    content = export_xero_csv(
        Invoice.objects.filter(pk=invoices_a["jpy"].pk),
        accounts={"income": "4000"},
        income_accounts={"RS": "4100"},
        date_format="%m/%d/%Y",
    )
    _header, *rows = read_csv(content, "utf-8")
    records = [dict(zip(XERO_COLUMNS, row, strict=True)) for row in rows]
    assert [r["*AccountCode"] for r in records] == ["4100", "4000"]
    assert records[0]["*InvoiceDate"] == "03/02/2026"
    assert records[0]["*UnitAmount"] == "1500"
    assert records[1]["*Quantity"] == "0.5"


def test_xero_refuses_more_invoices_than_one_import_takes(in_tenant_a, tenant_a, org_a):
    count = XERO_MAX_INVOICES_PER_FILE + 1
    invoices = Invoice.all_tenants.bulk_create(
        Invoice(
            tenant=tenant_a,
            status=InvoiceStatus.FINAL,
            number=f"INV-2026-{n:05d}",
            organization=org_a,
            currency="EUR",
            seller_name="Alpha IT",
            bill_to_name=org_a.name,
            issue_date=dt.date(2026, 3, 1),
            due_date=dt.date(2026, 3, 31),
            subtotal=D("1.00"),
            total=D("1.00"),
        )
        for n in range(1, count + 1)
    )
    InvoiceLine.all_tenants.bulk_create(
        InvoiceLine(tenant=tenant_a, invoice=inv, description="Fee", unit_price=1, amount=1)
        for inv in invoices
    )
    with pytest.raises(ValidationError) as error:
        export_xero_csv(Invoice.objects.all())
    assert "at most 500 invoices" in str(error.value.message_dict["invoices"])
    # The other formats take any number.
    assert export_csv(Invoice.objects.all()).count(b"\r\n") == count + 1


# --- One entry point, refusals -----------------------------------------------------------


def test_export_invoices_names_the_file_and_passes_format_options(in_tenant_a, invoices_a):
    queryset = Invoice.objects.filter(pk=invoices_a["eur"].pk)

    filename, content_type, content = export_invoices(
        invoices=queryset,
        fmt="xero",
        basename="March batch",
        options={"xero": {"accounts": {"income": "260"}}, "iif": {"unused": True}},
    )
    assert (filename, content_type) == ("march-batch-xero.csv", "text/csv; charset=utf-8")
    assert read_csv(content, "utf-8")[1][XERO_COLUMNS.index("*AccountCode")] == "260"

    filename, content_type, content = export_invoices(
        invoices=queryset, fmt="iif", options={"iif": {"shorten_numbers": True}}
    )
    assert (filename, content_type) == ("invoices.iif", "application/x-iif")
    assert content.startswith(b"!TRNS\t")
    assert export_invoices(invoices=queryset, fmt="csv")[0] == "invoices.csv"
    # A sliced queryset (a page of invoices) is accepted too.
    assert export_csv(Invoice.objects.order_by("pk")[:1]).count(b"INV-2026-00001") == 4
    assert set(EXPORT_FORMATS) == {"csv", "iif", "xero"}


def test_unknown_format_is_refused(in_tenant_a, invoices_a):
    with pytest.raises(ValidationError) as error:
        export_invoices(invoices=Invoice.objects.all(), fmt="pdf")
    assert "Unknown export format 'pdf'" in error.value.message_dict["format"][0]


@pytest.mark.parametrize("fmt", sorted(EXPORT_FORMATS))
def test_drafts_are_refused_with_a_clear_message(in_tenant_a, tenant_a, org_a, invoices_a, fmt):
    draft = make_invoice(
        tenant_a,
        org_a,
        None,
        [{"description": "Draft line", "quantity": "1", "unit_price": "10"}],
        status=InvoiceStatus.DRAFT,
    )
    with pytest.raises(ValidationError) as error:
        export_invoices(invoices=Invoice.objects.all(), fmt=fmt)
    [message] = error.value.message_dict["invoices"]
    assert message.startswith("Draft invoices have no number yet and cannot be exported")
    assert f"draft #{draft.pk}" in message


def test_void_invoices_and_empty_selections_are_refused(in_tenant_a, invoices_a):
    Invoice.objects.filter(pk=invoices_a["jpy"].pk).update(status=InvoiceStatus.VOID)
    with pytest.raises(ValidationError) as error:
        export_iif(Invoice.objects.all())
    assert "Void invoices are not exported" in error.value.message_dict["invoices"][0]
    with pytest.raises(ValidationError) as error:
        export_csv(Invoice.objects.none())
    assert error.value.message_dict["invoices"] == ["Select at least one final invoice to export."]


def test_totals_that_disagree_with_the_lines_are_refused(in_tenant_a, invoices_a):
    Invoice.objects.filter(pk=invoices_a["eur"].pk).update(total=D("166.95"))
    with pytest.raises(ValidationError) as error:
        export_xero_csv(Invoice.objects.all())
    assert error.value.message_dict["invoices"][0].startswith("INV-2026-00001: its stored totals")


def test_credit_note_stored_negative_gives_the_same_file(in_tenant_a, tenant_a, org_a):
    line = {
        "description": "Credit",
        "sku": "MEP",
        "quantity": "2",
        "unit_price": "12.5",
        "taxable": True,
        "tax_rate": "20",
    }
    positive = make_invoice(
        tenant_a, org_a, "CN-1", [line], kind=InvoiceKind.CREDIT_NOTE, due_date=None
    )
    negative = make_invoice(
        tenant_a, org_a, "CN-2", [line], kind=InvoiceKind.CREDIT_NOTE, due_date=None, face=-1
    )
    for render in (export_csv, export_iif, export_xero_csv):
        first = render(Invoice.objects.filter(pk=positive.pk)).replace(b"CN-1", b"CN-x")
        second = render(Invoice.objects.filter(pk=negative.pk)).replace(b"CN-2", b"CN-x")
        assert first == second


# --- Queries and tenants -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(EXPORT_FORMATS))
def test_query_count_does_not_grow_with_invoices(in_tenant_a, tenant_a, org_a, fmt):
    ids = [
        make_invoice(
            tenant_a,
            org_a,
            f"INV-2026-{n:05d}",
            [
                {"description": "Fee", "quantity": "1", "unit_price": "10"},
                {"description": "Hours", "quantity": "2", "unit_price": "80", "taxable": True},
            ],
        ).pk
        for n in range(1, 11)
    ]

    def queries(selection):
        with CaptureQueriesContext(connection) as context:
            export_invoices(invoices=selection, fmt=fmt, options=SHORT_IIF)
        return len(context.captured_queries)

    two = queries(Invoice.objects.filter(pk__in=ids[:2]))
    ten = queries(Invoice.objects.filter(pk__in=ids))
    # Their documents: invoices with organizations, all their lines, and the lines'
    # source items (one query per billable model).
    assert two == ten == 2 + len(billable_kinds())
    # A list of instances is fetched set-wise too.
    assert queries(list(Invoice.objects.filter(pk__in=ids[:2]))) == queries(
        list(Invoice.objects.filter(pk__in=ids))
    )


@pytest.mark.parametrize("fmt", sorted(EXPORT_FORMATS))
def test_another_tenants_invoices_are_never_exported(
    tenant_a, tenant_b, invoices_a, invoice_b, fmt
):
    with tenant_context(tenant_a):
        _name, _type, content = export_invoices(
            invoices=Invoice.objects.all(), fmt=fmt, options=SHORT_IIF
        )
        # Even an unscoped queryset is read for the current tenant only.
        _name, _type, unscoped = export_invoices(
            invoices=Invoice.all_tenants.all(), fmt=fmt, options=SHORT_IIF
        )
        with pytest.raises(ValidationError) as error:
            export_invoices(invoices=[invoices_a["eur"], invoice_b], fmt=fmt)
    assert error.value.message_dict["invoices"] == [
        "Only the current tenant's invoices can be exported."
    ]
    for text in (content, unscoped):
        assert b"Bravo" not in text
        assert b"SECRET" not in text
        assert b"INV-2026-00002" in text
    with tenant_context(tenant_b):
        _name, _type, content_b = export_invoices(
            invoices=Invoice.objects.all(), fmt=fmt, options=SHORT_IIF
        )
    assert b"SECRET" in content_b
    assert b"Lumi" not in content_b


def test_export_needs_a_current_tenant(invoices_a):
    with pytest.raises(TenantNotSet):
        export_csv(Invoice.all_tenants.all())
