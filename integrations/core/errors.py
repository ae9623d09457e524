"""What can go wrong talking to another system, in the three ways we act on it."""

from __future__ import annotations


class ProviderError(Exception):
    """A call to the other system did not do what was asked. ``message`` is for people."""

    def __init__(self, message: str, *, http_status: int | None = None):
        super().__init__(message)
        self.message = message
        self.http_status = http_status


class TryLater(ProviderError):
    """Throttled (429), a server error (5xx) or the network: the same call later may work.
    ``retry_after`` (seconds) is the provider's own wait when it gave one."""

    def __init__(self, message: str, *, http_status: int | None = None, retry_after=None):
        super().__init__(message, http_status=http_status)
        self.retry_after = retry_after


class Refused(ProviderError):
    """The provider refused the request itself (validation fault, duplicate number,
    unmapped record): sending it again changes nothing until someone fixes the cause."""


class GrantBroken(ProviderError):
    """The OAuth grant was revoked or expired: the owner must connect again."""


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    from django.utils import timezone

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - timezone.now()).total_seconds(), 0.0)
