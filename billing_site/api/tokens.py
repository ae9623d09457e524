"""API tokens that expire and can be revoked.

A staff member has at most one API token (DRF's ``Token``): ``POST /api/v1/auth/token/``
or "New token" on their account page issues it; it works for ``API_TOKEN_DAYS`` days from
when it was issued, then every request with it is a 401 saying it expired; "Revoke" (or a
new token) ends it at once. Tokens are never asked for a two-factor code: treat one like
a password.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed


def token_expires_at(token: Token) -> dt.datetime:
    return token.created + dt.timedelta(days=settings.API_TOKEN_DAYS)


def token_is_expired(token: Token) -> bool:
    return timezone.now() >= token_expires_at(token)


@transaction.atomic
def token_issue(*, user) -> Token:
    """A new token for the user; the one before (if any) stops working."""
    from audit import services as audit

    replaced, _ = Token.objects.filter(user=user).delete()
    token = Token.objects.create(user=user)
    audit.record_for_user(
        user=user,
        action=audit.Action.TOKEN_CREATE,
        after={"expires_at": token_expires_at(token), "replaced_one": bool(replaced)},
    )
    return token


@transaction.atomic
def token_current(*, user) -> Token:
    """The user's working token, or a new one when they have none or it expired."""
    token = Token.objects.select_for_update().filter(user=user).first()
    if token is None or token_is_expired(token):
        return token_issue(user=user)
    return token


@transaction.atomic
def token_revoke(*, user) -> int:
    from audit import services as audit

    deleted, _ = Token.objects.filter(user=user).delete()
    if deleted:
        audit.record_for_user(user=user, action=audit.Action.TOKEN_REVOKE)
    return deleted


class ExpiringTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``, refused once the token is older than its lifetime."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if token_is_expired(token):
            expired = timezone.localtime(token_expires_at(token)).strftime("%Y-%m-%d %H:%M %Z")
            raise AuthenticationFailed(
                f"This token expired on {expired}: get a new one from your account page or "
                "POST /api/v1/auth/token/."
            )
        return user, token
