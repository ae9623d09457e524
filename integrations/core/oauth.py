"""OAuth 2.0 for the accounting connections (authorization code, refresh), by Authlib.

- ``authorization_url`` starts the flow: a random ``state`` goes to the provider and only
  its hash is kept on the connection; the callback must bring the same value back.
- ``exchange_code`` trades the code for tokens (client_secret_basic, as both QuickBooks
  and Xero document).
- ``access_token`` hands out a valid access token, refreshing it under a row lock on the
  connection so that two workers never refresh at once: both QuickBooks and Xero rotate
  the refresh token, and a second refresh with the old one would fail (``invalid_grant``)
  and lose the grant. Every rotation is stored before the lock is released.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from . import crypto
from .errors import GrantBroken, TryLater
from .models import Connection, ConnectionStatus

# Refresh a little before expiry, so a token does not run out in the middle of a call.
EARLY_REFRESH = dt.timedelta(seconds=120)


def provider_settings(provider: str) -> dict:
    return {"quickbooks": settings.QUICKBOOKS, "xero": settings.XERO}[provider]


def _client(provider: str, redirect_uri: str = "") -> OAuth2Client:
    conf = provider_settings(provider)
    if not conf["client_id"] or not conf["client_secret"]:
        raise ValidationError(
            {
                "provider": (
                    f"No app credentials for {provider}: set {provider.upper()}_CLIENT_ID and "
                    f'{provider.upper()}_CLIENT_SECRET (README, "Accounting integrations").'
                )
            }
        )
    return OAuth2Client(
        client_id=conf["client_id"],
        client_secret=conf["client_secret"],
        token_endpoint_auth_method="client_secret_basic",
        scope=conf["scope"],
        redirect_uri=redirect_uri or None,
        timeout=settings.INTEGRATIONS_HTTP_TIMEOUT,
    )


def state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def authorization_url(provider: str, *, redirect_uri: str) -> tuple[str, str]:
    """(URL to send the browser to, the state to remember)."""
    state = secrets.token_urlsafe(32)
    with _client(provider, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            provider_settings(provider)["authorize_url"], state=state
        )
    return url, state


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str
    access_expires_at: dt.datetime
    refresh_expires_at: dt.datetime | None


def _token_set(token: dict, now: dt.datetime) -> TokenSet:
    if not token.get("access_token") or not token.get("refresh_token"):
        raise GrantBroken("The provider answered without an access and a refresh token.")
    refresh_life = token.get("x_refresh_token_expires_in")  # QuickBooks only
    return TokenSet(
        access_token=token["access_token"],
        refresh_token=token["refresh_token"],
        access_expires_at=now + dt.timedelta(seconds=int(token.get("expires_in") or 1800)),
        refresh_expires_at=now + dt.timedelta(seconds=int(refresh_life)) if refresh_life else None,
    )


def _oauth_failure(exc: Exception) -> Exception:
    if isinstance(exc, OAuthError):
        described = f"{exc.error}: {exc.description}" if exc.description else exc.error
        if exc.error in {"invalid_grant", "invalid_client", "unauthorized_client"}:
            return GrantBroken(f"The provider refused the grant ({described}).")
        return GrantBroken(f"The token request failed ({described}).")
    return TryLater(f"The token endpoint could not be reached ({exc.__class__.__name__}: {exc}).")


def exchange_code(provider: str, *, code: str, redirect_uri: str) -> TokenSet:
    now = timezone.now()
    with _client(provider, redirect_uri) as client:
        try:
            token = client.fetch_token(
                provider_settings(provider)["token_url"],
                code=code,
                grant_type="authorization_code",
            )
        except Exception as exc:  # Authlib raises OAuthError; httpx its transport errors
            raise _oauth_failure(exc) from exc
    return _token_set(dict(token), now)


def store_tokens(connection: Connection, tokens: TokenSet) -> None:
    """Write a (rotated) token set on a connection the caller holds locked."""
    connection.access_token = crypto.encrypt(tokens.access_token)
    connection.refresh_token = crypto.encrypt(tokens.refresh_token)
    connection.access_expires_at = tokens.access_expires_at
    if tokens.refresh_expires_at is not None:
        connection.refresh_expires_at = tokens.refresh_expires_at
    connection.token_version += 1
    connection.save(
        update_fields=[
            "access_token",
            "refresh_token",
            "access_expires_at",
            "refresh_expires_at",
            "token_version",
        ]
    )


def mark_broken(connection_id: int, message: str) -> None:
    """The grant is gone: the connection needs the owner (shown on the dashboard)."""
    Connection.objects.filter(pk=connection_id).update(
        status=ConnectionStatus.BROKEN, last_error=message, broken_at=timezone.now()
    )


def access_token(connection_id: int, *, force_refresh: bool = False) -> str:
    """A valid access token of the connection, refreshed (and the rotation stored) when
    it is about to expire or ``force_refresh`` (the API answered 401)."""
    broken: GrantBroken | None = None
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=connection_id)
        if connection.status != ConnectionStatus.ACTIVE:
            raise GrantBroken(
                f"{connection} is {connection.get_status_display().lower()}; reconnect it."
            )
        now = timezone.now()
        fresh = connection.access_expires_at and connection.access_expires_at - EARLY_REFRESH > now
        if fresh and not force_refresh:
            return crypto.decrypt(connection.access_token)
        with _client(connection.provider) as client:
            try:
                token = client.refresh_token(
                    provider_settings(connection.provider)["token_url"],
                    refresh_token=crypto.decrypt(connection.refresh_token),
                )
                tokens = _token_set(dict(token), now)
            except Exception as exc:
                failure = _oauth_failure(exc) if not isinstance(exc, GrantBroken) else exc
                if not isinstance(failure, GrantBroken):
                    raise failure from exc
                broken = failure
        if broken is None:
            store_tokens(connection, tokens)
            return tokens.access_token
    # Outside the atomic block, so the broken state is committed, not rolled back.
    mark_broken(connection_id, broken.message)
    raise broken
