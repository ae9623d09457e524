"""A fake Xero organisation (Accounting API request shapes, identity /connections)."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from decimal import ROUND_HALF_UP, Decimal

from werkzeug.wrappers import Request, Response

from .server import FakeServer, json_response

CENT = Decimal("0.01")
WHERE = re.compile(r'^(\w+)=="((?:[^"\\]|\\.)*)"$')
PREFIX = "/api.xro/2.0/"


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT, ROUND_HALF_UP)


def ms_date(when: dt.datetime) -> str:
    return f"/Date({int(when.timestamp() * 1000)}+0000)/"


def validation(messages: list[str], number: str = "") -> Response:
    return json_response(
        {
            "ErrorNumber": 10,
            "Type": "ValidationException",
            "Message": "A validation exception occurred",
            "Elements": [
                {
                    "InvoiceNumber": number,
                    "HasErrors": True,
                    "ValidationErrors": [{"Message": m} for m in messages],
                }
            ],
        },
        400,
    )


class FakeXero(FakeServer):
    def __init__(self, organisations: list[tuple[str, str]] | None = None):
        super().__init__()
        self.organisations = organisations or [(str(uuid.uuid4()), "Fake Xero Ltd")]
        self.tax_types = {
            "OUTPUT2": Decimal("20"),
            "NONE": Decimal("0"),
            "EXEMPTOUTPUT": Decimal("0"),
            "OUTPUT": Decimal("25"),
        }
        self.accounts = {"200", "260", "4000"}
        self.contacts: dict[str, dict] = {}
        self.items: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self.credit_notes: dict[str, dict] = {}
        self.payments: dict[str, dict] = {}
        self.idempotency: dict[str, tuple[int, str]] = {}

    def settings(self, current: dict) -> dict:
        """``settings.XERO`` pointing at this fake."""
        return {
            **current,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "authorize_url": f"{self.url}/oauth/authorize",
            "token_url": f"{self.url}/oauth/token",
            "connections_url": f"{self.url}/connections",
            "api_url": f"{self.url}/api.xro/2.0",
        }

    def env(self) -> dict[str, str]:
        """The same as environment variables (a worker process, ``make fakes``)."""
        return {
            "XERO_CLIENT_ID": self.client_id,
            "XERO_CLIENT_SECRET": self.client_secret,
            "XERO_AUTHORIZE_URL": f"{self.url}/oauth/authorize",
            "XERO_TOKEN_URL": f"{self.url}/oauth/token",
            "XERO_CONNECTIONS_URL": f"{self.url}/connections",
            "XERO_API_URL": f"{self.url}/api.xro/2.0",
        }

    @property
    def tenant_id(self) -> str:
        return self.organisations[0][0]

    def invoice(self, number: str) -> dict:
        return next(i for i in self.invoices.values() if i["InvoiceNumber"] == number)

    def pay(self, number: str, amount=None) -> dict:
        with self.lock:
            invoice = self.invoice(number)
            amount = money(amount if amount is not None else invoice["AmountDue"])
            now = dt.datetime.now(dt.UTC)
            invoice["AmountDue"] = float(money(invoice["AmountDue"]) - amount)
            invoice["AmountPaid"] = float(money(invoice["AmountPaid"]) + amount)
            if invoice["AmountDue"] == 0:
                invoice["Status"] = "PAID"
            payment = {
                "PaymentID": str(uuid.uuid4()),
                "Date": ms_date(now),
                "Amount": float(amount),
                "Reference": "Bank feed",
                "Status": "AUTHORISED",
                "Invoice": {
                    "InvoiceID": invoice["InvoiceID"],
                    "InvoiceNumber": invoice["InvoiceNumber"],
                },
                "_updated": now,
            }
            self.payments[payment["PaymentID"]] = payment
            return payment

    # --- API ------------------------------------------------------------------------

    def api(self, request: Request) -> Response:
        if request.path == "/":
            rows = [
                (i["InvoiceNumber"], i["Contact"]["ContactID"][:8], i["Total"], i["AmountDue"])
                for i in self.invoices.values()
            ]
            return self.page("Xero", rows, "/_fake/pay")
        if request.path == "/_fake/pay" and request.method == "POST":
            self.pay(request.form["number"])
            return Response(status=303, headers={"Location": "/"})
        if not self.bearer_ok(request):
            return json_response(
                {
                    "Type": None,
                    "Title": "Unauthorized",
                    "Status": 401,
                    "Detail": "AuthenticationUnsuccessful",
                },
                401,
            )
        if request.path == "/connections":
            return json_response(
                [
                    {
                        "id": str(uuid.uuid4()),
                        "tenantId": tid,
                        "tenantType": "ORGANISATION",
                        "tenantName": name,
                    }
                    for tid, name in self.organisations
                ]
            )
        if not request.path.startswith(PREFIX):
            return json_response({"Title": "Not found"}, 404)
        if request.headers.get("xero-tenant-id") not in {t for t, _ in self.organisations}:
            return json_response(
                {"Title": "Forbidden", "Detail": "AuthenticationUnsuccessful"}, 403
            )
        if request.headers.get("Accept") != "application/json":
            return json_response({"Title": "Accept must be application/json"}, 406)
        path = request.path[len(PREFIX) :]
        if request.method == "GET":
            return self.read(path, request)
        if request.method not in ("PUT", "POST") or request.mimetype != "application/json":
            return json_response({"Title": "Send JSON"}, 400)
        key = request.headers.get("Idempotency-Key", "")
        if not key or len(key) > 128:
            return validation(["Idempotency-Key is required by this fake (at most 128 characters)"])
        with self.lock:
            replay = self.idempotency.get(key)
            if replay is not None:
                return Response(replay[1], status=replay[0], content_type="application/json")
            response = self.write(
                request.method, path, json.loads(request.get_data(as_text=True)), request
            )
            self.idempotency[key] = (response.status_code, response.get_data(as_text=True))
        if (
            self.hold_creates
            and path in ("Invoices", "CreditNotes")
            and response.status_code == 200
        ):
            time.sleep(self.hold_creates)
        return response

    def _where(self, request: Request) -> tuple[str, str] | None:
        where = request.args.get("where")
        if not where:
            return None
        match = WHERE.match(where.replace(" ", ""))
        if not match:
            raise ValueError(where)
        return match.group(1), re.sub(r"\\(.)", r"\1", match.group(2))

    def read(self, path: str, request: Request) -> Response:
        try:
            where = self._where(request)
        except ValueError:
            return validation(["Unsupported where filter"])
        collections = {
            "Contacts": self.contacts,
            "Items": self.items,
            "Invoices": self.invoices,
            "CreditNotes": self.credit_notes,
        }
        if path in collections:
            rows = list(collections[path].values())
            if where:
                rows = [r for r in rows if str(r.get(where[0], "")) == where[1]]
            numbers = request.args.get("InvoiceNumbers")
            if numbers and path == "Invoices":
                wanted = set(numbers.split(","))
                rows = [r for r in rows if r["InvoiceNumber"] in wanted]
            return json_response({path: rows})
        if path == "Payments":
            since = request.headers.get("If-Modified-Since")
            rows = sorted(self.payments.values(), key=lambda p: p["_updated"])
            if since:
                moment = dt.datetime.fromisoformat(since).replace(tzinfo=dt.UTC)
                rows = [p for p in rows if p["_updated"] >= moment]
            page, size = int(request.args.get("page", 1)), int(request.args.get("pageSize", 100))
            chunk = rows[(page - 1) * size : page * size]
            return json_response(
                {"Payments": [{k: v for k, v in p.items() if k != "_updated"} for p in chunk]}
            )
        return json_response({"Title": "Not found"}, 404)

    def write(self, method: str, path: str, body: dict, request: Request) -> Response:
        if path == "Contacts":
            rows = []
            for contact in body.get("Contacts", []):
                if not contact.get("Name"):
                    return validation(["The contact name must be given."])
                if any(c["Name"] == contact["Name"] for c in self.contacts.values()):
                    return validation(
                        [
                            f"The contact name {contact['Name']} is already assigned to another contact."
                        ]
                    )
                row = {**contact, "ContactID": str(uuid.uuid4()), "ContactStatus": "ACTIVE"}
                self.contacts[row["ContactID"]] = row
                rows.append(row)
            return json_response({"Contacts": rows})
        if path == "Items":
            rows = []
            for item in body.get("Items", []):
                if not item.get("Code"):
                    return validation(["Item code is required."])
                row = {**item, "ItemID": str(uuid.uuid4())}
                self.items[row["ItemID"]] = row
                rows.append(row)
            return json_response({"Items": rows})
        if path in ("Invoices", "CreditNotes") and method == "PUT":
            return self._create(path, body, request)
        if path.startswith("Invoices/") and method == "POST":
            invoice_id = path.split("/", 1)[1]
            row = self.invoices.get(invoice_id)
            if row is None:
                return json_response({"Title": "Not found"}, 404)
            change = (body.get("Invoices") or [{}])[0]
            if change.get("Status") == "VOIDED":
                if row["AmountPaid"]:
                    return validation(
                        ["Invoice not of valid status for modification"], row["InvoiceNumber"]
                    )
                row["Status"] = "VOIDED"
            return json_response({"Invoices": [row]})
        return json_response({"Title": "Not supported by the fake"}, 400)

    def _create(self, path: str, body: dict, request: Request) -> Response:
        credit = path == "CreditNotes"
        rows = []
        for doc in body.get(path, []):
            number_field = "CreditNoteNumber" if credit else "InvoiceNumber"
            number = doc.get(number_field, "")
            errors = []
            if doc.get("Type") != ("ACCRECCREDIT" if credit else "ACCREC"):
                errors.append("Type is invalid.")
            if doc.get("Contact", {}).get("ContactID") not in self.contacts:
                errors.append("The contact is not valid.")
            store = self.credit_notes if credit else self.invoices
            if number and any(
                r.get(number_field) == number and r["Status"] != "DELETED" for r in store.values()
            ):
                errors.append(("Credit Note" if credit else "Invoice") + " # must be unique.")
            if not credit and doc.get("Status") == "AUTHORISED" and not doc.get("DueDate"):
                errors.append("Due Date is required.")
            if request.args.get("unitdp") != "4":
                errors.append("This fake expects unitdp=4 (four-decimal unit prices).")
            subtotal = tax = Decimal(0)
            lines = []
            for line in doc.get("LineItems", []):
                if line.get("AccountCode") not in self.accounts:
                    errors.append(
                        f"Account code '{line.get('AccountCode')}' is not a valid code for this document."
                    )
                    continue
                if line.get("TaxType") not in self.tax_types:
                    errors.append(
                        f"The TaxType code '{line.get('TaxType')}' does not exist or cannot be used for this type of transaction."
                    )
                    continue
                if line.get("ItemCode") and not any(
                    i["Code"] == line["ItemCode"] for i in self.items.values()
                ):
                    errors.append(f"Item code '{line['ItemCode']}' is not valid.")
                amount = money(Decimal(str(line["Quantity"])) * Decimal(str(line["UnitAmount"])))
                if "LineAmount" in line and money(line["LineAmount"]) != amount:
                    errors.append("Line amount does not equal quantity × unit amount.")
                line_tax = (
                    money(line["TaxAmount"])
                    if "TaxAmount" in line
                    else money(amount * self.tax_types[line["TaxType"]] / 100)
                )
                subtotal += amount
                tax += line_tax
                lines.append({**line, "LineAmount": float(amount), "TaxAmount": float(line_tax)})
            if not lines and not errors:
                errors.append("At least one line item is required.")
            if errors:
                return validation(errors, number)
            now = dt.datetime.now(dt.UTC)
            total = subtotal + tax
            row = {
                **doc,
                "LineItems": lines,
                "SubTotal": float(subtotal),
                "TotalTax": float(tax),
                "Total": float(total),
                "AmountDue": float(total),
                "AmountPaid": 0.0,
                "DateString": doc.get("Date", "") + "T00:00:00",
                "UpdatedDateUTC": ms_date(now),
                "HasErrors": False,
            }
            row["CreditNoteID" if credit else "InvoiceID"] = str(uuid.uuid4())
            store[row["CreditNoteID" if credit else "InvoiceID"]] = row
            rows.append(row)
            self.creates_seen.set()
        return json_response({path: rows})
