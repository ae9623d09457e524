"""The thin HTTP layer both accounting clients stand on (httpx2).

``ApiSession.request`` sends one call with the connection's bearer token; a 401 gets
one token refresh and one resend (the access token expired early or was revoked);
429 becomes ``TryLater`` with the provider's ``Retry-After``; 5xx and network errors
become ``TryLater``; everything else is handed back for the provider's client to read
(each has its own error body: QuickBooks' ``Fault``, Xero's ``ValidationErrors``).
"""

from __future__ import annotations

import httpx2
from django.conf import settings

from . import oauth
from .errors import GrantBroken, TryLater, retry_after_seconds

# QuickBooks asks for 60 s when it throttles without saying how long.
DEFAULT_THROTTLE_WAIT = 60.0


def raise_if_transient(response: httpx2.Response, *, who: str = "the provider") -> None:
    """429 (with the provider's ``Retry-After``) and 5xx become ``TryLater``."""
    if response.status_code == 429:
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        problem = response.headers.get("X-Rate-Limit-Problem")
        detail = f" ({problem} limit)" if problem else ""
        raise TryLater(
            f"Throttled by {who}{detail}; trying again later.",
            http_status=429,
            retry_after=wait if wait is not None else DEFAULT_THROTTLE_WAIT,
        )
    if response.status_code >= 500:
        raise TryLater(
            f"{who[0].upper()}{who[1:]} had a server error ({response.status_code}); "
            "trying again later.",
            http_status=response.status_code,
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )


class ApiSession:
    def __init__(self, connection, *, headers: dict[str, str] | None = None):
        self.connection = connection
        self.http = httpx2.Client(
            timeout=settings.INTEGRATIONS_HTTP_TIMEOUT,
            headers={"Accept": "application/json", **(headers or {})},
        )

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, url: str, **kwargs) -> httpx2.Response:
        token = oauth.access_token(self.connection.pk)
        response = self._send(method, url, token, **kwargs)
        if response.status_code == 401:
            token = oauth.access_token(self.connection.pk, force_refresh=True)
            response = self._send(method, url, token, **kwargs)
            if response.status_code == 401:
                message = "The provider refused the new access token (401); reconnect."
                oauth.mark_broken(self.connection.pk, message)
                raise GrantBroken(message, http_status=401)
        raise_if_transient(response)
        return response

    def _send(self, method: str, url: str, token: str, **kwargs) -> httpx2.Response:
        headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {token}"}
        try:
            return self.http.request(method, url, headers=headers, **kwargs)
        except httpx2.TransportError as exc:
            raise TryLater(
                f"The provider could not be reached ({exc.__class__.__name__}: {exc})."
            ) from exc


class ProviderClient:
    """Base of the providers' clients: one ``ApiSession`` per client, closed with it."""

    def __init__(self, connection, *, headers: dict[str, str] | None = None):
        self.connection = connection
        self.session = ApiSession(connection, headers=headers)

    def close(self) -> None:
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
