"""A thin ConnectWise PSA (Manage) REST API v3 client over httpx2, no SDK (decision 0011).

- The codebase comes from ``https://{site}/login/companyinfo/{company}`` (its
  ``Codebase``, e.g. ``v4_6_release/``, ends with a slash); every call goes to
  ``https://{site}/{codebase}apis/3.0/…``.
- Every call carries ``Authorization: Basic base64("{company}+{public}:{private}")`` and
  the integration's ``clientId`` header.
- Lists take ``conditions`` (strings in double quotes, dates in square brackets,
  references with ``/``), ``page`` and ``pageSize`` (at most 1000).
- Updates are PATCH with a JSON-patch array: ``[{"op": "replace", "path": …, "value": …}]``.
- Errors come as ``{"code", "message", "errors": [{"code", "message", "field"}]}``; 429
  (with ``Retry-After``) and 5xx are retried later, 401 means the keys are wrong, 403
  that the API member's security role lacks a permission.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx2
from django.conf import settings
from django.core.exceptions import ValidationError

from integrations.core import crypto
from integrations.core.errors import GrantBroken, Refused, TryLater
from integrations.core.http import raise_if_transient

API_PATH = "apis/3.0"
PAGE_SIZE = 1000  # ConnectWise's hard limit
WHO = "ConnectWise"


def quoted(value: str) -> str:
    """A string literal of ConnectWise's ``conditions``."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def site_root(site: str) -> str:
    """``https://host`` of a site given as ``api-na.myconnectwise.net`` or a URL. Plain
    HTTP is refused (ConnectWise requires SSL) unless ``CONNECTWISE["allow_http"]``."""
    site = (site or "").strip().rstrip("/")
    if not site:
        raise ValidationError(
            {"site": "Enter the ConnectWise site, e.g. api-na.myconnectwise.net."}
        )
    parts = urlsplit(site if "://" in site else f"https://{site}")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError(
            {"site": f"“{site}” is not a site name such as api-eu.myconnectwise.net."}
        )
    if parts.scheme == "http" and not settings.CONNECTWISE.get("allow_http"):
        raise ValidationError({"site": "ConnectWise is reached over HTTPS only."})
    if parts.path.strip("/"):
        raise ValidationError(
            {"site": "Enter the site's name only (api-na.myconnectwise.net), without a path."}
        )
    return f"{parts.scheme}://{parts.netloc}"


def error_words(response: httpx2.Response) -> str:
    """ConnectWise's error body (``code``, ``message``, ``errors[]``) in one sentence."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = response.text.strip()[:200]
        return text or f"HTTP {response.status_code}"
    message = (body.get("message") or body.get("code") or "").strip()
    details = []
    for error in body.get("errors") or []:
        if not isinstance(error, dict):
            continue
        text = (error.get("message") or error.get("code") or "").strip()
        field = error.get("field")
        if text:
            details.append(f"{text} (field {field})" if field and field not in text else text)
    words = message or f"HTTP {response.status_code}"
    if details:
        words += ": " + "; ".join(details)
    code = body.get("code")
    if code and code not in words:
        words += f" [{code}]"
    return words


def failure(response: httpx2.Response, what: str) -> Exception:
    """The exception for a ConnectWise answer ≥ 400 to ``what`` (e.g. "reading agreements")."""
    raise_if_transient(response, who=WHO)
    words = error_words(response)
    status = response.status_code
    if status == 401:
        return GrantBroken(
            "ConnectWise refused the API keys (401): check the company id, the public and the "
            f"private key, and that the API member is active. ConnectWise said: {words}",
            http_status=401,
        )
    if status == 403:
        return Refused(
            f"The API member may not do this ({what}, 403): give its security role the "
            f"permission (README, “ConnectWise PSA”). ConnectWise said: {words}",
            http_status=403,
        )
    if status == 404:
        return Refused(
            f"ConnectWise found nothing at this address ({what}, 404): the record was deleted, "
            f"or the site or codebase is wrong. ConnectWise said: {words}",
            http_status=404,
        )
    return Refused(f"ConnectWise refused {what} ({status}): {words}", http_status=status)


@dataclass(frozen=True)
class CompanyInfo:
    codebase: str
    company_name: str
    version: str


def company_info(site: str, company: str) -> CompanyInfo:
    """The codebase (and name) of ``company`` at ``site``: no authentication needed."""
    root = site_root(site)
    company = (company or "").strip()
    if not company:
        raise ValidationError({"company": "Enter the company id you log in to ConnectWise with."})
    url = f"{root}/login/companyinfo/{company}"
    try:
        response = httpx2.get(
            url, timeout=settings.INTEGRATIONS_HTTP_TIMEOUT, headers={"Accept": "application/json"}
        )
    except httpx2.TransportError as exc:
        raise ValidationError(
            {
                "site": f"The site {urlsplit(root).netloc} could not be reached "
                f"({exc.__class__.__name__}); check its name (e.g. api-eu.myconnectwise.net)."
            }
        ) from exc
    if response.status_code == 404:
        raise ValidationError(
            {"site": f"{urlsplit(root).netloc} does not answer like a ConnectWise site (404)."}
        )
    if response.status_code >= 400:
        raise ValidationError(
            {
                "site": f"{urlsplit(root).netloc} answered {response.status_code}: {error_words(response)}"
            }
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not body.get("Codebase"):
        raise ValidationError(
            {"company": f"ConnectWise at {urlsplit(root).netloc} knows no company “{company}”."}
        )
    codebase = str(body["Codebase"]).strip("/") + "/"
    return CompanyInfo(
        codebase=codebase,
        company_name=str(body.get("CompanyName") or company)[:200],
        version=str(body.get("VersionCode") or ""),
    )


def basic_auth(company: str, public_key: str, private_key: str) -> str:
    token = base64.b64encode(f"{company}+{public_key}:{private_key}".encode()).decode()
    return f"Basic {token}"


class ConnectWiseClient:
    """Calls of one connection (its site, codebase, company and keys)."""

    def __init__(
        self, connection, *, public_key: str | None = None, private_key: str | None = None
    ):
        self.connection = connection
        public = public_key if public_key is not None else crypto.decrypt(connection.api_public_key)
        private = (
            private_key if private_key is not None else crypto.decrypt(connection.api_private_key)
        )
        client_id = settings.CONNECTWISE.get("client_id") or ""
        if not client_id:
            raise ValidationError(
                {
                    "connection": "No ConnectWise clientId: set CONNECTWISE_CLIENT_ID (README, "
                    "“ConnectWise PSA”)."
                }
            )
        self.base = f"{site_root(connection.site)}/{connection.codebase}{API_PATH}"
        self.http = httpx2.Client(
            timeout=settings.INTEGRATIONS_HTTP_TIMEOUT,
            headers={
                "Accept": "application/json",
                "Authorization": basic_auth(connection.external_id, public, private),
                "clientId": client_id,
            },
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method: str, path: str, what: str, *, params=None, json=None):
        try:
            response = self.http.request(
                method, f"{self.base}/{path.lstrip('/')}", params=params, json=json
            )
        except httpx2.TransportError as exc:
            raise TryLater(
                f"ConnectWise could not be reached ({exc.__class__.__name__}: {exc})."
            ) from exc
        if response.status_code >= 400:
            raise failure(response, what)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise Refused(
                f"ConnectWise answered {what} with something that is not JSON "
                f"({response.text[:120]!r}); is the site right?",
                http_status=response.status_code,
            ) from exc

    def get(self, path: str, what: str, *, params=None):
        return self._call("GET", path, what, params=params)

    def list(self, path: str, what: str, *, conditions: str = "", order_by: str = "") -> list:
        """Every row of a list endpoint, page by page."""
        rows, page = [], 1
        while True:
            params = {"page": page, "pageSize": PAGE_SIZE}
            if conditions:
                params["conditions"] = conditions
            if order_by:
                params["orderBy"] = order_by
            found = self._call("GET", path, what, params=params) or []
            rows.extend(found)
            if len(found) < PAGE_SIZE:
                return rows
            page += 1

    def post(self, path: str, body: dict, what: str):
        return self._call("POST", path, what, json=body)

    def patch(self, path: str, changes: dict, what: str):
        """JSON-patch ``replace`` of each field in ``changes``."""
        ops = [{"op": "replace", "path": field, "value": value} for field, value in changes.items()]
        return self._call("PATCH", path, what, json=ops)
