"""Our invoice document as a QuickBooks Online Invoice or CreditMemo, and payments back.

Referenced records must exist before an invoice names them: the customer (matched by
DisplayName, else created) and each item (matched by Name = SKU, else created as a
Service item on the product's income account). What was matched or created is written
to the mapping ledger at once, so a retry or the next invoice reuses it. Tax codes are
never guessed: an unmapped tax rate stops the push with a message naming it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from integrations.core import ledger as ledger_mod
from integrations.core.errors import Refused
from integrations.core.ledger import Ledger
from integrations.core.models import MappingKind, MappingOrigin, Provider
from integrations.core.remote import RemoteDocument, RemotePayment, json_number
from invoices.document import InvoiceDocument

from .client import QuickBooksClient

SYSTEM = Provider.QUICKBOOKS
ENTITY = {"invoice": "Invoice", "credit_note": "CreditMemo"}
# QuickBooks Online keeps at most 21 characters of a DocNumber.
DOC_NUMBER_MAX = 21
US_TAX_CODES = {"TAX", "NON"}
NO_SKU_ITEM_NAME = "Services"


def customer_id(api: QuickBooksClient, book: Ledger, doc: InvoiceDocument, org_id: int) -> str:
    key = str(org_id)
    mapped = book.external_id(MappingKind.CUSTOMER, key)
    if mapped:
        return mapped
    party = doc.bill_to
    # DisplayName is unique in a QuickBooks company; the name is the match.
    customers = api.select_where("Customer", "DisplayName", party.legal_name)
    if customers:
        external, origin = customers[0]["Id"], MappingOrigin.MATCHED
    else:
        body = {"DisplayName": party.legal_name, "CompanyName": party.legal_name}
        if party.email:
            body["PrimaryEmailAddr"] = {"Address": party.email}
        address = {f"Line{n}": line for n, line in enumerate(party.street_lines[:5], start=1)}
        address.update(
            {
                k: v
                for k, v in {
                    "City": party.city,
                    "PostalCode": party.postcode,
                    "CountrySubDivisionCode": party.region,
                    "Country": party.country_code,
                }.items()
                if v
            }
        )
        if address:
            body["BillAddr"] = address
        created = api.create("Customer", body, request_id=f"cust-{api.connection.pk}-{key}")
        external, origin = created["Id"], MappingOrigin.CREATED
    ledger_mod.remember(book, MappingKind.CUSTOMER, key, external, party.legal_name, origin)
    return external


def _income_account_id(book: Ledger, income_code: str) -> str:
    if income_code:
        mapped = book.external_id(MappingKind.INCOME_ACCOUNT, income_code)
        if mapped:
            return mapped
    default = book.external_id(MappingKind.ACCOUNT, "income")
    if default:
        return default
    raise Refused(
        "QuickBooks needs an income account for new items: map the default income account "
        + (f"or income account {income_code} " if income_code else "")
        + "under Integrations › Mapping."
    )


def item_id(api: QuickBooksClient, book: Ledger, sku: str, income_codes: dict[str, str]) -> str:
    mapped = book.external_id(MappingKind.ITEM, sku)
    if mapped:
        return mapped
    name = sku or NO_SKU_ITEM_NAME
    found = api.select_where("Item", "Name", name)
    if found:
        external, origin = found[0]["Id"], MappingOrigin.MATCHED
    else:
        account = _income_account_id(book, income_codes.get(sku, ""))
        created = api.create(
            "Item",
            {"Name": name, "Type": "Service", "IncomeAccountRef": {"value": account}},
            request_id=f"item-{api.connection.pk}-{name}",
        )
        external, origin = created["Id"], MappingOrigin.CREATED
    ledger_mod.remember(book, MappingKind.ITEM, sku, external, name, origin)
    return external


def document_body(
    doc: InvoiceDocument, *, customer: str, items: dict[str, str], codes: dict[int, str]
) -> dict:
    """The Invoice / CreditMemo body: our number, dates, lines at our amounts."""
    if len(doc.number) > DOC_NUMBER_MAX:
        raise Refused(
            f"QuickBooks keeps at most {DOC_NUMBER_MAX} characters of an invoice number; "
            f"{doc.number} has {len(doc.number)}. Shorten the invoice prefix in the company "
            "settings."
        )
    face = -1 if doc.total < 0 else 1
    lines = []
    for line in doc.lines:
        detail = {
            "ItemRef": {"value": items[line.sku]},
            "Qty": json_number(line.quantity * face),
            "UnitPrice": json_number(line.unit_price),
            "TaxCodeRef": {"value": codes[line.id]},
        }
        if line.period_start:
            detail["ServiceDate"] = line.period_start.isoformat()
        lines.append(
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": json_number(line.amount * face),
                "Description": line.description[:4000],
                "SalesItemLineDetail": detail,
            }
        )
    body = {
        "CustomerRef": {"value": customer},
        "DocNumber": doc.number,
        "TxnDate": doc.issue_date.isoformat(),
        "CurrencyRef": {"value": doc.currency},
        "GlobalTaxCalculation": "TaxExcluded",
        "Line": lines,
    }
    if doc.due_date and not doc.is_credit_note:
        body["DueDate"] = doc.due_date.isoformat()
    if doc.bill_to.email:
        body["BillEmail"] = {"Address": doc.bill_to.email}
    if doc.credited_invoice_number:
        body["PrivateNote"] = f"Credit for {doc.credited_invoice_number}"
    if set(codes.values()) & {"TAX"}:
        # Automated Sales Tax (US): our tax is given, so QuickBooks does not compute its own.
        body["TxnTaxDetail"] = {"TotalTax": json_number(doc.tax_total * face)}
    return body


def _remote(entity: dict) -> RemoteDocument:
    balance = Decimal(str(entity.get("Balance", "0")))
    total = Decimal(str(entity["TotalAmt"])) if "TotalAmt" in entity else None
    note = (entity.get("PrivateNote") or "").lower()
    status = "voided" if note.startswith("voided") else ("paid" if balance == 0 else "open")
    return RemoteDocument(
        external_id=str(entity["Id"]),
        number=entity.get("DocNumber", ""),
        total=total,
        status=status,
    )


def find(api: QuickBooksClient, doc: InvoiceDocument) -> RemoteDocument | None:
    entity = ENTITY[doc.kind]
    rows = api.select_where(entity, "DocNumber", doc.number)
    return _remote(rows[0]) if rows else None


def push(
    api: QuickBooksClient,
    doc: InvoiceDocument,
    *,
    org_id: int,
    request_id: str,
    income_codes: dict[str, str],
) -> RemoteDocument:
    book = ledger_mod.ledger(SYSTEM)
    codes = ledger_mod.line_tax_codes(book, doc, what="QuickBooks tax codes")
    customer = customer_id(api, book, doc, org_id)
    items = {sku: item_id(api, book, sku, income_codes) for sku in {line.sku for line in doc.lines}}
    body = document_body(doc, customer=customer, items=items, codes=codes)
    return _remote(api.create(ENTITY[doc.kind], body, request_id=request_id))


def void(
    api: QuickBooksClient, doc: InvoiceDocument, external_id: str, *, request_id: str
) -> RemoteDocument:
    entity = ENTITY[doc.kind]
    current = api.read(entity, external_id)
    return _remote(api.void(entity, external_id, str(current["SyncToken"]), request_id=request_id))


def payments_since(api: QuickBooksClient, since: dt.datetime) -> list[RemotePayment]:
    """Payments changed since ``since``, one per (payment, invoice it applies to)."""
    found = []
    for payment in api.changed_since(["Payment"], since)["Payment"]:
        deleted = payment.get("status") == "Deleted"
        received = dt.date.fromisoformat(payment.get("TxnDate", since.date().isoformat()))
        for line in payment.get("Line", []):
            for linked in line.get("LinkedTxn", []):
                if linked.get("TxnType") != "Invoice":
                    continue
                found.append(
                    RemotePayment(
                        external_id=f"{payment['Id']}:{linked['TxnId']}",
                        invoice_external_id=str(linked["TxnId"]),
                        amount=Decimal(str(line.get("Amount", "0"))),
                        received_on=received,
                        reference=payment.get("PaymentRefNum")
                        or f"QuickBooks payment {payment['Id']}",
                        deleted=deleted,
                    )
                )
    return found
