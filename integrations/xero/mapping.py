"""Our invoice document as a Xero ACCREC invoice or ACCRECCREDIT credit note, and
payments back.

Contacts are matched by account number (our customer id), then by name, else created; items (``ItemCode`` = SKU) are matched by
code, else created on the product's account. Each line carries its account code, its
tax type and its share of our tax (``TaxAmount``), so Xero's totals equal ours to the
cent; an unmapped tax rate or account stops the push with a message naming it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from integrations.core import ledger as ledger_mod
from integrations.core.errors import Refused
from integrations.core.ledger import Ledger
from integrations.core.models import MappingKind, MappingOrigin, Provider
from integrations.core.remote import RemoteDocument, RemotePayment, json_number
from invoices.document import InvoiceDocument, line_tax_shares

from .client import XeroClient, parse_date, quoted

SYSTEM = Provider.XERO
PAGE_SIZE = 100


def contact_id(api: XeroClient, book: Ledger, doc: InvoiceDocument, org_id: int) -> str:
    key = str(org_id)
    mapped = book.external_id(MappingKind.CUSTOMER, key)
    if mapped:
        return mapped
    party = doc.bill_to
    contacts = []
    if doc.customer_number:
        # Our customer id is the contact's account number there (unique in Xero).
        where = f"AccountNumber=={quoted(doc.customer_number[:50])}"
        contacts = api.get("Contacts", params={"where": where}).get("Contacts", [])
    if not contacts:
        where = f"Name=={quoted(party.legal_name)}"
        contacts = api.get("Contacts", params={"where": where}).get("Contacts", [])
    if contacts:
        external, origin = contacts[0]["ContactID"], MappingOrigin.MATCHED
    else:
        contact = {"Name": party.legal_name}
        if party.email:
            contact["EmailAddress"] = party.email
        if doc.customer_number:
            contact["AccountNumber"] = doc.customer_number[:50]
        if party.tax_id:
            contact["TaxNumber"] = party.tax_id[:50]
        address = {
            f"AddressLine{n}": line for n, line in enumerate(party.street_lines[:4], start=1)
        }
        address.update(
            {
                k: v
                for k, v in {
                    "City": party.city,
                    "Region": party.region,
                    "PostalCode": party.postcode,
                    "Country": party.country_name("en"),
                }.items()
                if v
            }
        )
        if address:
            contact["Addresses"] = [{"AddressType": "POBOX", **address}]
        created = api.write(
            "PUT",
            "Contacts",
            {"Contacts": [contact]},
            idempotency_key=f"contact-{api.connection.pk}-{key}",
        )
        external, origin = created["Contacts"][0]["ContactID"], MappingOrigin.CREATED
    ledger_mod.remember(book, MappingKind.CUSTOMER, key, external, party.legal_name, origin)
    return external


def account_code(book: Ledger, income_code: str) -> str:
    if income_code:
        mapped = book.external_id(MappingKind.INCOME_ACCOUNT, income_code)
        return mapped or income_code
    default = book.external_id(MappingKind.ACCOUNT, "income")
    if default:
        return default
    raise Refused(
        "Xero needs an account code on every line: map the default account code under "
        "Integrations › Mapping, or give the products an income account."
    )


def item_code(api: XeroClient, book: Ledger, sku: str, account: str) -> str:
    mapped = book.external_id(MappingKind.ITEM, sku)
    if mapped:
        return mapped
    found = api.get("Items", params={"where": f"Code=={quoted(sku)}"}).get("Items", [])
    if found:
        origin = MappingOrigin.MATCHED
    else:
        api.write(
            "PUT",
            "Items",
            {
                "Items": [
                    {"Code": sku[:30], "Name": sku[:50], "SalesDetails": {"AccountCode": account}}
                ]
            },
            idempotency_key=f"item-{api.connection.pk}-{sku}",
        )
        origin = MappingOrigin.CREATED
    ledger_mod.remember(book, MappingKind.ITEM, sku, sku[:30], sku, origin)
    return sku[:30]


def document_body(
    doc: InvoiceDocument,
    *,
    contact: str,
    accounts: dict[int, str],
    types: dict[int, str],
    items: dict[str, str],
) -> dict:
    face = -1 if doc.total < 0 else 1
    shares = line_tax_shares(doc)
    lines = []
    for line in doc.lines:
        item = {
            "Description": line.description or line.sku or doc.number,
            "Quantity": json_number(line.quantity * face),
            "UnitAmount": json_number(line.unit_price),
            "LineAmount": json_number(line.amount * face),
            "AccountCode": accounts[line.id],
            "TaxType": types[line.id],
            "TaxAmount": json_number(shares.get(line.id, Decimal(0)) * face),
        }
        if line.sku and line.sku in items:
            item["ItemCode"] = items[line.sku]
        lines.append(item)
    body = {
        "Contact": {"ContactID": contact},
        "Date": doc.issue_date.isoformat(),
        "LineAmountTypes": "Exclusive",
        "CurrencyCode": doc.currency,
        "Status": "AUTHORISED",
        "LineItems": lines,
    }
    if doc.is_credit_note:
        body.update(Type="ACCRECCREDIT", CreditNoteNumber=doc.number)
        if doc.credited_invoice_number:
            body["Reference"] = doc.credited_invoice_number
    else:
        body.update(Type="ACCREC", InvoiceNumber=doc.number, DueDate=doc.due_date.isoformat())
    return body


def _remote(row: dict, credit: bool) -> RemoteDocument:
    return RemoteDocument(
        external_id=row["CreditNoteID" if credit else "InvoiceID"],
        number=row.get("CreditNoteNumber" if credit else "InvoiceNumber", ""),
        total=Decimal(str(row["Total"])) if row.get("Total") is not None else None,
        status=row.get("Status", ""),
    )


def find(api: XeroClient, doc: InvoiceDocument) -> RemoteDocument | None:
    if doc.is_credit_note:
        rows = api.get("CreditNotes", params={"where": f"CreditNoteNumber=={quoted(doc.number)}"})
        found = [r for r in rows.get("CreditNotes", []) if r.get("Status") != "DELETED"]
        return _remote(found[0], True) if found else None
    rows = api.get("Invoices", params={"InvoiceNumbers": doc.number})
    found = [r for r in rows.get("Invoices", []) if r.get("Status") != "DELETED"]
    return _remote(found[0], False) if found else None


def push(
    api: XeroClient,
    doc: InvoiceDocument,
    *,
    org_id: int,
    request_id: str,
    income_codes: dict[str, str],
) -> RemoteDocument:
    book = ledger_mod.ledger(SYSTEM)
    types = ledger_mod.line_tax_codes(book, doc, what="Xero tax types")
    accounts = {line.id: account_code(book, income_codes.get(line.sku, "")) for line in doc.lines}
    contact = contact_id(api, book, doc, org_id)
    items = {}
    for line in doc.lines:
        if line.sku and line.sku not in items:
            items[line.sku] = item_code(api, book, line.sku, accounts[line.id])
    body = document_body(doc, contact=contact, accounts=accounts, types=types, items=items)
    collection = "CreditNotes" if doc.is_credit_note else "Invoices"
    answer = api.write(
        "PUT",
        collection,
        {collection: [body]},
        idempotency_key=request_id,
        params={"unitdp": 4},
    )
    return _remote(answer[collection][0], doc.is_credit_note)


def void(
    api: XeroClient, doc: InvoiceDocument, external_id: str, *, request_id: str
) -> RemoteDocument:
    answer = api.write(
        "POST",
        f"Invoices/{external_id}",
        {"Invoices": [{"InvoiceID": external_id, "Status": "VOIDED"}]},
        idempotency_key=request_id,
    )
    return _remote(answer["Invoices"][0], False)


def payments_since(api: XeroClient, since: dt.datetime) -> list[RemotePayment]:
    found, page = [], 1
    while True:
        rows = api.get(
            "Payments", params={"page": page, "pageSize": PAGE_SIZE}, modified_since=since
        ).get("Payments", [])
        for payment in rows:
            invoice = payment.get("Invoice") or {}
            if not invoice.get("InvoiceID"):
                continue
            found.append(
                RemotePayment(
                    external_id=payment["PaymentID"],
                    invoice_external_id=invoice["InvoiceID"],
                    amount=Decimal(str(payment.get("Amount", "0"))),
                    received_on=parse_date(payment.get("Date")) or since.date(),
                    reference=payment.get("Reference")
                    or f"Xero payment {payment['PaymentID'][:8]}",
                    deleted=payment.get("Status") == "DELETED",
                )
            )
        if len(rows) < PAGE_SIZE:
            return found
        page += 1
