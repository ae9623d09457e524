"""A fake QuickBooks Online company (Accounting API v3 request shapes)."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from decimal import ROUND_HALF_UP, Decimal

from werkzeug.wrappers import Request, Response

from .server import FakeServer, json_response

MIN_MINOR_VERSION = 75
QUERY = re.compile(r"^select \* from (\w+) where (\w+) = '((?:[^'\\]|\\.)*)'$", re.IGNORECASE)
CENT = Decimal("0.01")


def fault(
    message: str, code: str, kind: str = "ValidationFault", status: int = 400, detail: str = ""
) -> Response:
    return json_response(
        {
            "Fault": {
                "Error": [
                    {"Message": message, "Detail": detail or message, "code": code, "element": ""}
                ],
                "type": kind,
            },
            "time": dt.datetime.now(dt.UTC).isoformat(),
        },
        status,
    )


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT, ROUND_HALF_UP)


class FakeQuickBooks(FakeServer):
    realm_id = "9130350000000001"
    company_name = "Fake Books Company"

    def __init__(self, tax_codes: dict[str, Decimal] | None = None):
        super().__init__()
        # TaxCode id -> rate in percent. "TAX"/"NON" are the US automated sales tax codes.
        self.tax_codes = tax_codes or {
            "TAX": Decimal("0"),
            "NON": Decimal("0"),
            "5": Decimal("20"),
            "6": Decimal("0"),
        }
        self.accounts = {"79": "Services Income", "80": "Managed Services Income"}
        self.entities: dict[str, dict[str, dict]] = {
            "Customer": {},
            "Item": {},
            "Invoice": {},
            "CreditMemo": {},
            "Payment": {},
        }
        self.request_ids: dict[str, tuple[int, str]] = {}
        self.next_id = 100

    def settings(self, current: dict) -> dict:
        """``settings.QUICKBOOKS`` pointing at this fake."""
        return {
            **current,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "authorize_url": f"{self.url}/oauth/authorize",
            "token_url": f"{self.url}/oauth/token",
            "api_url": self.url,
        }

    def env(self) -> dict[str, str]:
        """The same as environment variables (a worker process, ``make fakes``)."""
        return {
            "QUICKBOOKS_CLIENT_ID": self.client_id,
            "QUICKBOOKS_CLIENT_SECRET": self.client_secret,
            "QUICKBOOKS_AUTHORIZE_URL": f"{self.url}/oauth/authorize",
            "QUICKBOOKS_TOKEN_URL": f"{self.url}/oauth/token",
            "QUICKBOOKS_API_URL": self.url,
        }

    def extra_callback_params(self) -> dict:
        return {"realmId": self.realm_id}

    def token_extras(self) -> dict:
        return {"x_refresh_token_expires_in": 8726400}

    # --- controls -------------------------------------------------------------------

    def _new_id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    def invoices(self) -> list[dict]:
        return list(self.entities["Invoice"].values())

    def invoice(self, number: str) -> dict:
        return next(i for i in self.invoices() if i["DocNumber"] == number)

    def pay(self, number: str, amount: Decimal | str | None = None) -> dict:
        """A payment received in QuickBooks against invoice ``number``."""
        with self.lock:
            invoice = self.invoice(number)
            amount = money(amount if amount is not None else invoice["Balance"])
            invoice["Balance"] = float(money(invoice["Balance"]) - amount)
            invoice["MetaData"]["LastUpdatedTime"] = self._now()
            payment = {
                "Id": self._new_id(),
                "TxnDate": dt.date.today().isoformat(),
                "TotalAmt": float(amount),
                "PaymentRefNum": f"CHK-{self.next_id}",
                "CustomerRef": invoice["CustomerRef"],
                "Line": [
                    {
                        "Amount": float(amount),
                        "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}],
                    }
                ],
                "MetaData": {"CreateTime": self._now(), "LastUpdatedTime": self._now()},
            }
            self.entities["Payment"][payment["Id"]] = payment
            return payment

    @staticmethod
    def _now() -> str:
        return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")

    # --- API ------------------------------------------------------------------------

    def api(self, request: Request) -> Response:
        if request.path == "/":
            rows = [
                (i["DocNumber"], i["CustomerRef"]["value"], i["TotalAmt"], i["Balance"])
                for i in self.invoices()
            ]
            return self.page("QuickBooks Online", rows, "/_fake/pay")
        if request.path == "/_fake/pay" and request.method == "POST":
            self.pay(request.form["number"])
            return Response(status=303, headers={"Location": "/"})
        prefix = f"/v3/company/{self.realm_id}/"
        if not request.path.startswith(prefix):
            return fault("Unknown company", "6190", "ValidationFault", 400)
        if not self.bearer_ok(request):
            return json_response(
                {
                    "fault": {
                        "error": [{"message": "message=AuthenticationFailed", "code": "3200"}],
                        "type": "AUTHENTICATION",
                    }
                },
                401,
            )
        if request.headers.get("Accept") != "application/json":
            return fault("Accept must be application/json", "4000")
        try:
            minor = int(request.args.get("minorversion", ""))
        except ValueError:
            return fault("minorversion is missing", "4000")
        if minor < MIN_MINOR_VERSION:
            return fault(f"minorversion {minor} is retired", "4000")
        path = request.path[len(prefix) :]
        if request.method == "GET":
            return self.read(path, request)
        if request.method != "POST" or request.mimetype != "application/json":
            return fault("POST a JSON body", "4000")
        request_id = request.args.get("requestid", "")
        if not request_id or len(request_id) > 50:
            return fault("requestid is required on writes (at most 50 characters)", "4000")
        with self.lock:
            replay = self.request_ids.get(request_id)
        if replay is not None:
            status, body = replay
            return Response(body, status=status, content_type="application/json")
        response = self.write(path, request)
        with self.lock:
            self.request_ids[request_id] = (response.status_code, response.get_data(as_text=True))
        created = path in ("invoice", "creditmemo") and not request.args.get("operation")
        if created and response.status_code == 200 and self.hold_creates:
            time.sleep(self.hold_creates)  # stored; the caller may be killed while it waits
        return response

    def read(self, path: str, request: Request) -> Response:
        if path == "query":
            match = QUERY.match(request.args.get("query", "").strip())
            if not match:
                return fault("QueryParserError: unsupported query", "4000")
            entity, fieldname, value = match.groups()
            value = re.sub(r"\\(.)", r"\1", value)
            entity = {"creditmemo": "CreditMemo"}.get(entity.lower(), entity.capitalize())
            rows = [
                e
                for e in self.entities.get(entity, {}).values()
                if str(e.get(fieldname, "")) == value
            ]
            return json_response(
                {
                    "QueryResponse": {entity: rows, "startPosition": 1, "maxResults": len(rows)}
                    if rows
                    else {},
                    "time": self._now(),
                }
            )
        if path == "cdc":
            since = dt.datetime.fromisoformat(request.args["changedSince"])
            names = request.args.get("entities", "").split(",")
            block = {}
            for name in names:
                rows = [
                    e
                    for e in self.entities.get(name, {}).values()
                    if dt.datetime.fromisoformat(e["MetaData"]["LastUpdatedTime"]) >= since
                ]
                block[name] = rows
            return json_response({"CDCResponse": [{"QueryResponse": [block]}], "time": self._now()})
        if path == f"companyinfo/{self.realm_id}":
            return json_response(
                {"CompanyInfo": {"CompanyName": self.company_name, "Id": self.realm_id}}
            )
        entity_name, _, entity_id = path.partition("/")
        entity = {"invoice": "Invoice", "creditmemo": "CreditMemo"}.get(entity_name)
        row = self.entities.get(entity or "", {}).get(entity_id)
        if row is None:
            return fault("Object Not Found", "610")
        return json_response({entity: row, "time": self._now()})

    def write(self, path: str, request: Request) -> Response:
        body = json.loads(request.get_data(as_text=True))
        with self.lock:
            if path == "customer":
                name = body.get("DisplayName", "")
                if not name:
                    return fault("Required param missing: DisplayName", "2020")
                if any(c["DisplayName"] == name for c in self.entities["Customer"].values()):
                    return fault("Duplicate Name Exists Error", "6240")
                row = {
                    **body,
                    "Id": self._new_id(),
                    "SyncToken": "0",
                    "MetaData": {"LastUpdatedTime": self._now()},
                }
                self.entities["Customer"][row["Id"]] = row
                return json_response({"Customer": row, "time": self._now()})
            if path == "item":
                if not body.get("Name") or body.get("Type") != "Service":
                    return fault("Required param missing: Name / Type", "2020")
                if body.get("IncomeAccountRef", {}).get("value") not in self.accounts:
                    return fault("Invalid Reference Id: IncomeAccountRef", "2500")
                row = {
                    **body,
                    "Id": self._new_id(),
                    "SyncToken": "0",
                    "MetaData": {"LastUpdatedTime": self._now()},
                }
                self.entities["Item"][row["Id"]] = row
                return json_response({"Item": row, "time": self._now()})
            if path in ("invoice", "creditmemo"):
                entity = "Invoice" if path == "invoice" else "CreditMemo"
                if request.args.get("operation") == "void":
                    return self._void(entity, body)
                return self._create_sale(entity, body)
        return fault(f"Unsupported operation {path}", "4000")

    def _void(self, entity: str, body: dict) -> Response:
        row = self.entities[entity].get(str(body.get("Id")))
        if row is None:
            return fault("Object Not Found", "610")
        if str(body.get("SyncToken")) != row["SyncToken"]:
            return fault("Stale Object Error", "5010")
        row.update(
            TotalAmt=0.0,
            Balance=0.0,
            PrivateNote="Voided",
            SyncToken=str(int(row["SyncToken"]) + 1),
        )
        row["MetaData"]["LastUpdatedTime"] = self._now()
        return json_response({entity: row, "time": self._now()})

    def _create_sale(self, entity: str, body: dict) -> Response:
        customer = body.get("CustomerRef", {}).get("value")
        if customer not in self.entities["Customer"]:
            return fault("Invalid Reference Id: CustomerRef", "2500")
        lines = body.get("Line") or []
        if not lines:
            return fault("Required param missing: Line", "2020")
        number = body.get("DocNumber", "")
        if len(number) > 21:
            return fault("String length is either shorter or longer than supported", "2050")
        if number and any(r.get("DocNumber") == number for r in self.entities[entity].values()):
            return fault(
                "Duplicate Document Number Error",
                "6210",
                detail=f"Duplicate Document Number Error : You must specify a different number. This number has already been used. DocNumber={number}",
            )
        subtotal = Decimal(0)
        taxes: dict[str, Decimal] = {}
        for line in lines:
            detail = line.get("SalesItemLineDetail")
            if line.get("DetailType") != "SalesItemLineDetail" or not detail:
                return fault("Unsupported line DetailType", "2020")
            if detail.get("ItemRef", {}).get("value") not in self.entities["Item"]:
                return fault("Invalid Reference Id: ItemRef", "2500")
            code = detail.get("TaxCodeRef", {}).get("value")
            if code not in self.tax_codes:
                return fault("Invalid Reference Id: TaxCodeRef", "2500")
            amount = money(line["Amount"])
            expected = money(Decimal(str(detail["Qty"])) * Decimal(str(detail["UnitPrice"])))
            if amount != expected:
                return fault(
                    "Amount is not equal to UnitPrice * Qty",
                    "6070",
                    detail=f"Supplied value:{amount}",
                )
            subtotal += amount
            taxes[code] = taxes.get(code, Decimal(0)) + amount
        given = body.get("TxnTaxDetail", {}).get("TotalTax")
        if given is not None:
            tax = money(given)
        else:
            tax = sum(
                (money(base * self.tax_codes[code] / 100) for code, base in taxes.items()),
                Decimal(0),
            )
        total = subtotal + tax
        row = {
            **body,
            "Id": self._new_id(),
            "SyncToken": "0",
            "TotalAmt": float(total),
            "Balance": float(total),
            "TxnTaxDetail": {"TotalTax": float(tax)},
            "MetaData": {"CreateTime": self._now(), "LastUpdatedTime": self._now()},
        }
        self.entities[entity][row["Id"]] = row
        self.creates_seen.set()
        return json_response({entity: row, "time": self._now()})
