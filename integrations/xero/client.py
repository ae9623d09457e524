"""A thin Xero Accounting API client (httpx2), no SDK (decision 0011).

Every call names the organisation (``xero-tenant-id``); writes carry an
``Idempotency-Key`` so a resend of the same request is answered, not executed again.
Xero's validation errors (HTTP 400, ``ValidationException``) are raised as ``Refused``
with Xero's own messages.
"""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings

from integrations.core.errors import Refused
from integrations.core.http import ProviderClient

IDEMPOTENCY_KEY_MAX = 128
_MS_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")


def parse_date(value: str | None) -> dt.date | None:
    """Xero's dates: ``/Date(1775001789987+0000)/`` or ISO ``2026-08-15T00:00:00``."""
    if not value:
        return None
    match = _MS_DATE.search(value)
    if match:
        return dt.datetime.fromtimestamp(int(match.group(1)) / 1000, tz=dt.UTC).date()
    return dt.date.fromisoformat(value[:10])


def quoted(value: str) -> str:
    """A string in Xero's ``where`` filter."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _validation_messages(body: dict) -> list[str]:
    messages = []
    for element in body.get("Elements", []) or []:
        for error in element.get("ValidationErrors", []) or []:
            if error.get("Message"):
                messages.append(error["Message"])
    return messages


class XeroClient(ProviderClient):
    def __init__(self, connection):
        super().__init__(connection, headers={"xero-tenant-id": connection.external_id})
        self.base = settings.XERO["api_url"].rstrip("/")

    def _call(self, method: str, path: str, *, params=None, json=None, headers=None) -> dict:
        response = self.session.request(
            method, f"{self.base}/{path}", params=params, json=json, headers=headers or {}
        )
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            messages = _validation_messages(body) if isinstance(body, dict) else []
            detail = (
                "; ".join(messages)
                or (body.get("Message") or body.get("Detail") if isinstance(body, dict) else None)
                or response.text[:300]
            )
            raise Refused(f"Xero: {detail}", http_status=response.status_code)
        return body

    def get(self, path: str, *, params=None, modified_since: dt.datetime | None = None) -> dict:
        headers = {}
        if modified_since is not None:
            headers["If-Modified-Since"] = modified_since.astimezone(dt.UTC).strftime(
                "%Y-%m-%dT%H:%M:%S"
            )
        return self._call("GET", path, params=params, headers=headers)

    def write(
        self, method: str, path: str, body: dict, *, idempotency_key: str, params=None
    ) -> dict:
        return self._call(
            method,
            path,
            params=params,
            json=body,
            headers={"Idempotency-Key": idempotency_key[:IDEMPOTENCY_KEY_MAX]},
        )
