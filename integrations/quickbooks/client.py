"""A thin QuickBooks Online Accounting API v3 client (httpx2), no SDK (decision 0011).

Every call carries ``minorversion``; creates and updates carry ``requestid`` so that a
resend returns the first answer instead of writing twice. QuickBooks reports faults in
a ``Fault`` body, sometimes with HTTP 200: each is read here and raised as ``Refused``
(validation, duplicate number) or ``TryLater`` (system fault).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from integrations.core.errors import GrantBroken, Refused, TryLater
from integrations.core.http import ProviderClient

REQUEST_ID_MAX = 50


def quoted(value: str) -> str:
    """A string literal of QuickBooks' query language (backslash-escaped quote)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fault(body: dict, http_status: int) -> Exception | None:
    fault = body.get("Fault") if isinstance(body, dict) else None
    if not fault:
        return None
    errors = fault.get("Error") or [{}]
    parts = []
    for error in errors:
        code = error.get("code", "")
        text = error.get("Message", "") or "QuickBooks refused the request"
        detail = error.get("Detail", "")
        parts.append(f"{text} (code {code})" + (f": {detail}" if detail and detail != text else ""))
    message = "; ".join(parts)
    kind = fault.get("type", "")
    if kind == "SystemFault":
        return TryLater(f"QuickBooks system fault: {message}", http_status=http_status)
    if kind in {"AuthenticationFault", "AuthorizationFault"}:
        return GrantBroken(f"QuickBooks refused the connection: {message}", http_status=http_status)
    return Refused(f"QuickBooks: {message}", http_status=http_status)


class QuickBooksClient(ProviderClient):
    def __init__(self, connection):
        super().__init__(connection)
        conf = settings.QUICKBOOKS
        self.base = f"{conf['api_url'].rstrip('/')}/v3/company/{connection.external_id}"
        self.minor_version = str(conf["minor_version"])

    def _call(self, method: str, path: str, *, params=None, json=None) -> dict:
        params = {"minorversion": self.minor_version, **(params or {})}
        response = self.session.request(method, f"{self.base}/{path}", params=params, json=json)
        try:
            body = response.json()
        except ValueError:
            body = {}
        failure = _fault(body, response.status_code)
        if failure is not None:
            raise failure
        if response.status_code >= 400:
            raise Refused(
                f"QuickBooks answered {response.status_code}: {response.text[:300]}",
                http_status=response.status_code,
            )
        return body

    def query(self, statement: str) -> dict:
        return self._call("GET", "query", params={"query": statement}).get("QueryResponse", {})

    def select_where(self, entity: str, field: str, value: str) -> list[dict]:
        """``select * from <entity> where <field> = '<value>'``: the rows found."""
        # QuickBooks' query language, not SQL; the value is quoted and escaped.
        statement = f"select * from {entity} where {field} = {quoted(value)}"  # noqa: S608
        return self.query(statement).get(entity, [])

    def create(self, entity: str, body: dict, *, request_id: str) -> dict:
        """POST an entity (``Invoice``, ``CreditMemo``, ``Customer``, ``Item``)."""
        answer = self._call(
            "POST", entity.lower(), params={"requestid": request_id[:REQUEST_ID_MAX]}, json=body
        )
        return answer[entity]

    def read(self, entity: str, entity_id: str) -> dict:
        return self._call("GET", f"{entity.lower()}/{entity_id}")[entity]

    def void(self, entity: str, entity_id: str, sync_token: str, *, request_id: str) -> dict:
        answer = self._call(
            "POST",
            entity.lower(),
            params={"operation": "void", "requestid": request_id[:REQUEST_ID_MAX]},
            json={"Id": entity_id, "SyncToken": sync_token, "sparse": True},
        )
        return answer[entity]

    def changed_since(self, entities: list[str], since: dt.datetime) -> dict[str, list[dict]]:
        """Change data capture: the entities changed since ``since`` (deleted ones have
        ``status: "Deleted"``)."""
        body = self._call(
            "GET",
            "cdc",
            params={"entities": ",".join(entities), "changedSince": since.isoformat()},
        )
        found: dict[str, list[dict]] = {name: [] for name in entities}
        for block in body.get("CDCResponse", []):
            for response in block.get("QueryResponse", []):
                for name in entities:
                    found[name].extend(response.get(name, []))
        return found
