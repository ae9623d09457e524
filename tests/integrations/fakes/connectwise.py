"""A fake ConnectWise PSA (Manage) site: REST API v3 request shapes and answers.

Checked on every call under ``/{codebase}apis/3.0/``: Basic auth of
``company+public:private``, the ``clientId`` header, ``pageSize`` ≤ 1000, the
``conditions`` syntax (strings in double quotes, dates in square brackets, booleans
True/False, references with ``/``, clauses joined by ``and``), JSON-patch arrays on
PATCH. Errors answer ConnectWise's body (``code``, ``message``, ``errors[]``). The
companies, agreements and additions it holds are kept for the tests to read.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import time
import uuid

from werkzeug.wrappers import Request, Response

from .server import FakeServer, json_response

CODEBASE = "v4_6_release/"
PREFIX = f"/{CODEBASE}apis/3.0/"
BILL_CUSTOMER = {"Billable", "DoNotBill", "NoCharge"}
ADDITION_FIELDS = {
    "product",
    "quantity",
    "lessIncluded",
    "unitPrice",
    "unitCost",
    "billCustomer",
    "effectiveDate",
    "cancelledDate",
    "taxableFlag",
    "serialNumber",
    "invoiceDescription",
    "description",
}
CLAUSE = re.compile(
    r"""^\s*(?P<field>[A-Za-z][\w/]*)\s*
        (?P<op>!=|<=|>=|=|<|>|\s+contains\s+|\s+like\s+)\s*
        (?P<value>"(?:[^"\\]|\\.)*"|\[[^\]]+\]|-?\d+(?:\.\d+)?|True|False|true|false|null)\s*$""",
    re.VERBOSE,
)


def error(status: int, code: str, message: str, errors: list | None = None) -> Response:
    return json_response({"code": code, "message": message, "errors": errors}, status)


class BadConditions(ValueError):
    pass


def _value(text: str):
    if text.startswith('"'):
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if text.startswith("["):
        return dt.datetime.fromisoformat(text[1:-1].replace("Z", "+00:00"))
    if text in ("True", "true"):
        return True
    if text in ("False", "false"):
        return False
    if text == "null":
        return None
    return float(text) if "." in text else int(text)


def parse_conditions(text: str) -> list[tuple[str, str, object]]:
    clauses = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        match = CLAUSE.match(part)
        if not match:
            raise BadConditions(part)
        clauses.append(
            (match["field"], match["op"].strip().lower(), _value(match["value"].strip()))
        )
    return clauses


def _read(row: dict, path: str):
    value = row
    for name in path.split("/"):
        if not isinstance(value, dict):
            return None
        key = next((k for k in value if k.lower() == name.lower()), None)
        value = value.get(key) if key else None
    return value


def matches(row: dict, clauses) -> bool:
    for field, op, expected in clauses:
        actual = _read(row, field)
        if isinstance(expected, dt.datetime) and isinstance(actual, str):
            actual = dt.datetime.fromisoformat(actual.replace("Z", "+00:00"))
        if op == "contains":
            if not isinstance(actual, str) or str(expected).lower() not in actual.lower():
                return False
        elif op == "like":
            pattern = "^" + re.escape(str(expected)).replace("%", ".*").replace(r"\*", ".*") + "$"
            if not isinstance(actual, str) or not re.match(pattern, actual, re.IGNORECASE):
                return False
        elif op == "=":
            if isinstance(actual, str) and isinstance(expected, str):
                if actual.lower() != expected.lower():
                    return False
            elif actual != expected:
                return False
        elif op == "!=":
            if actual == expected:
                return False
        else:
            if actual is None or expected is None:
                return False
            ok = {
                "<": actual < expected,
                "<=": actual <= expected,
                ">": actual > expected,
                ">=": actual >= expected,
            }[op]
            if not ok:
                return False
    return True


class FakeConnectWise(FakeServer):
    client_id = str(uuid.UUID(int=0x5EED))  # the integration's clientId (a GUID)

    def __init__(
        self, company: str = "mspco", public_key: str = "pub123", private_key: str = "priv456"
    ):
        super().__init__()
        self.company = company
        self.public_key = public_key
        self.private_key = private_key
        self.company_name = "MSP Co"
        self.companies: dict[int, dict] = {}
        self.agreements: dict[int, dict] = {}
        self.addition_rows: dict[int, dict[int, dict]] = {}
        self.catalog: dict[str, int] = {}  # identifier -> id
        self.forbidden: set[str] = set()  # path prefixes the API member may not use
        self._ids = 100

    # --- set-up and reading back ---------------------------------------------------

    def settings(self, current: dict) -> dict:
        return {**current, "client_id": self.client_id, "allow_http": True}

    def env(self) -> dict[str, str]:
        return {"CONNECTWISE_CLIENT_ID": self.client_id, "CONNECTWISE_ALLOW_HTTP": "true"}

    @property
    def site(self) -> str:
        return self.url

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def add_company(self, identifier: str, name: str) -> dict:
        with self.lock:
            row = {"id": self._next_id(), "identifier": identifier, "name": name}
            self.companies[row["id"]] = row
            return row

    def add_agreement(self, company: dict, name: str, type_name: str, cancelled=False) -> dict:
        with self.lock:
            row = {
                "id": self._next_id(),
                "name": name,
                "type": {"id": abs(hash(type_name)) % 1000, "name": type_name},
                "company": {k: company[k] for k in ("id", "identifier", "name")},
                "cancelledFlag": cancelled,
            }
            self.agreements[row["id"]] = row
            self.addition_rows[row["id"]] = {}
            return row

    def add_product(self, identifier: str) -> int:
        with self.lock:
            self.catalog[identifier] = self._next_id()
            return self.catalog[identifier]

    def additions(self, agreement_id: int | str) -> list[dict]:
        with self.lock:
            return [dict(a) for a in self.addition_rows.get(int(agreement_id), {}).values()]

    def all_additions(self) -> list[dict]:
        with self.lock:
            return [dict(a) for rows in self.addition_rows.values() for a in rows.values()]

    # --- HTTP -------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        if request.path.startswith("/login/companyinfo/"):
            return self.companyinfo(request.path.rsplit("/", 1)[-1])
        response = super().dispatch(request)
        if request.method == "POST" and response.status_code == 201 and self.hold_creates:
            # The addition is stored; the caller may be killed while it waits for the answer.
            time.sleep(self.hold_creates)
        return response

    def companyinfo(self, company: str) -> Response:
        if company.lower() != self.company.lower():
            return json_response(None)  # an unknown company: no codebase to read
        return json_response(
            {
                "CompanyName": self.company_name,
                "Codebase": CODEBASE,
                "VersionCode": "v2025.1",
                "VersionNumber": "v4.6.2025",
                "CompanyID": self.company,
                "IsCloud": True,
            }
        )

    def _auth_ok(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        expected = base64.b64encode(
            f"{self.company}+{self.public_key}:{self.private_key}".encode()
        ).decode()
        return header == f"Basic {expected}"

    def api(self, request: Request) -> Response:
        if not request.path.startswith(PREFIX):
            return error(404, "NotFound", f"No route for {request.path}.")
        if not self._auth_ok(request):
            return error(401, "Unauthorized", "Authentication failed: invalid credentials.")
        if request.headers.get("clientId") != self.client_id:
            return error(401, "InvalidClientId", "A valid clientId header is required.")
        path = request.path[len(PREFIX) :].strip("/")
        if any(path.startswith(prefix) for prefix in self.forbidden):
            return error(
                403, "Forbidden", f"You do not have access to {path.split('/')[0]} records."
            )
        if request.method == "GET":
            try:
                page_size = int(request.args.get("pageSize", 25))
                page = int(request.args.get("page", 1))
            except ValueError:
                return error(400, "InvalidObject", "page and pageSize are numbers.")
            if not 1 <= page_size <= 1000 or page < 1:
                return error(400, "InvalidObject", "pageSize is from 1 to 1000.")
            try:
                clauses = (
                    parse_conditions(request.args["conditions"])
                    if request.args.get("conditions")
                    else []
                )
            except BadConditions as exc:
                return error(400, "InvalidConditions", f"Invalid conditions near “{exc}”.")
        with self.lock:
            if path == "system/info" and request.method == "GET":
                return json_response({"version": "v2025.1", "isCloud": True})
            if path == "company/companies" and request.method == "GET":
                return self._page(self.companies.values(), clauses, page, page_size)
            if path == "finance/agreements" and request.method == "GET":
                return self._page(self.agreements.values(), clauses, page, page_size)
            found = re.fullmatch(r"finance/agreements/(\d+)/additions(?:/(\d+))?", path)
            if found:
                agreement = int(found[1])
                if agreement not in self.agreements:
                    return error(404, "NotFound", f"Agreement {agreement} was not found.")
                rows = self.addition_rows[agreement]
                if found[2] is None and request.method == "GET":
                    return self._page(rows.values(), clauses, page, page_size)
                if found[2] is None and request.method == "POST":
                    return self._create_addition(request, agreement)
                if found[2] is not None and request.method == "PATCH":
                    return self._patch_addition(request, rows, int(found[2]))
            return error(405, "MethodNotAllowed", f"{request.method} {path} is not supported.")

    def _page(self, rows, clauses, page: int, size: int) -> Response:
        selected = sorted((r for r in rows if matches(r, clauses)), key=lambda r: r["id"])
        return json_response(selected[(page - 1) * size : page * size])

    def _create_addition(self, request: Request, agreement: int) -> Response:
        if request.mimetype != "application/json":
            return error(415, "UnsupportedMediaType", "Send JSON.")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error(400, "InvalidObject", "addition object is invalid")
        problems = []
        product = body.get("product")
        if not isinstance(product, dict) or not (product.get("id") or product.get("identifier")):
            problems.append(("MissingRequiredField", "product is required.", "product"))
        elif (
            product.get("identifier") and self.catalog and product["identifier"] not in self.catalog
        ):
            problems.append(
                ("InvalidObject", f"Product {product['identifier']} was not found.", "product")
            )
        if body.get("billCustomer") not in BILL_CUSTOMER:
            problems.append(("MissingRequiredField", "billCustomer is required.", "billCustomer"))
        unknown = set(body) - ADDITION_FIELDS
        if unknown:
            problems.append(("InvalidField", f"Unknown fields {sorted(unknown)}.", "body"))
        if "effectiveDate" in body:
            try:
                dt.datetime.fromisoformat(str(body["effectiveDate"]).replace("Z", "+00:00"))
            except ValueError:
                problems.append(("InvalidDate", "effectiveDate is not a date.", "effectiveDate"))
        if problems:
            return error(
                400,
                "InvalidObject",
                "addition object is invalid",
                [
                    {"code": c, "message": m, "resource": "addition", "field": f}
                    for c, m, f in problems
                ],
            )
        identifier = product.get("identifier") or next(
            (k for k, v in self.catalog.items() if v == product.get("id")), str(product.get("id"))
        )
        row = {
            **body,
            "id": self._next_id(),
            "agreementId": agreement,
            "product": {
                "id": self.catalog.get(identifier, product.get("id")),
                "identifier": identifier,
            },
        }
        self.addition_rows[agreement][row["id"]] = row
        self.creates_seen.set()
        return json_response(row, 201)

    def _patch_addition(self, request: Request, rows: dict, addition: int) -> Response:
        if addition not in rows:
            return error(404, "NotFound", f"Addition {addition} was not found.")
        ops = request.get_json(silent=True)
        if not isinstance(ops, list) or not ops:
            return error(400, "InvalidObject", "A PATCH body is an array of operations.")
        row = dict(rows[addition])
        for op in ops:
            if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove"):
                return error(400, "InvalidObject", "Each operation has op add, replace or remove.")
            if op.get("path") not in ADDITION_FIELDS:
                return error(
                    400,
                    "InvalidField",
                    f"Unknown path {op.get('path')!r} (paths are case sensitive).",
                )
            if op["op"] == "remove":
                row.pop(op["path"], None)
            else:
                if "value" not in op:
                    return error(400, "InvalidObject", "A replace needs a value.")
                row[op["path"]] = op["value"]
        rows[addition] = row
        return json_response(row)
