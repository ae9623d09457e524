"""Integration secrets (OAuth tokens, API keys) encrypted at rest with Fernet.

Keys come from ``INTEGRATIONS_KEYS`` (comma-separated Fernet keys, newest first; older
ones still decrypt, so a key is rotated by putting a new one in front). Without a key
and with ``DEBUG`` off, nothing is stored: a token written under a key nobody set is a
token anyone with the database can read. The demo (``DEBUG`` on) derives a key from
``SECRET_KEY`` so a local trial works out of the box.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ValidationError


def _fernet() -> MultiFernet:
    keys = [key.strip() for key in settings.INTEGRATIONS_KEYS if key.strip()]
    if not keys:
        if not settings.DEBUG:
            raise ValidationError(
                {
                    "connection": (
                        "Integration tokens cannot be stored: set INTEGRATIONS_KEYS (a Fernet "
                        "key) in the environment first."
                    )
                }
            )
        digest = hashlib.sha256(f"integrations:{settings.SECRET_KEY}".encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt(value: str) -> str:
    if not value:
        return ""
    return _fernet().encrypt(value.encode()).decode()


def decrypt(value: str) -> str:
    if not value:
        return ""
    try:
        return _fernet().decrypt(value.encode()).decode()
    except InvalidToken as exc:
        raise ValidationError(
            {"connection": "The stored token cannot be read with the configured keys; reconnect."}
        ) from exc
