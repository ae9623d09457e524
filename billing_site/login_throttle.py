"""Login throttling: failed logins counted per account and per client address (decision 0009).

django-axes guards every ``authenticate(request, ...)``: the login page (staff and portal),
the admin login and the API token endpoint. This module holds what axes lets a project
choose: the client's address (``client_address``, from ``TRUSTED_PROXY_COUNT``), the counter
(``LoginFailureHandler``, in the shared cache, one limit per account and another per address),
and the answer while locked (``lockout_response``: 429, a page or JSON).
"""

from __future__ import annotations

import ipaddress
import logging
from hashlib import sha256

from axes.backends import AxesStandaloneBackend
from axes.handlers.base import AbstractAxesHandler, AxesBaseHandler
from axes.helpers import get_cache, get_client_username, get_cool_off
from axes.signals import user_locked_out
from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render

log = logging.getLogger(__name__)

LOCKOUT_MESSAGE = (
    "Too many failed logins for this account or from this address. "
    "Logging in is paused for {minutes} minutes; try again later."
)


def client_address(request) -> str | None:
    """The client's IP address, read only where no client can write it.

    With ``TRUSTED_PROXY_COUNT = 0`` that is ``REMOTE_ADDR``. Behind N trusted proxies, each
    appending the address it received from to ``X-Forwarded-For``, it is the N-th entry from
    the right (the one our outermost proxy wrote); entries left of it come from the client.
    A header shorter than N, or an entry that is not an address, falls back to
    ``REMOTE_ADDR``: stricter (one shared count) rather than client-chosen.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(forwarded) < count:
        return remote
    try:
        return str(ipaddress.ip_address(forwarded[-count]))
    except ValueError:
        return remote


def lockout_seconds(request=None) -> int:
    return int(get_cool_off(request).total_seconds())


def lockout_message(request=None) -> str:
    return LOCKOUT_MESSAGE.format(minutes=round(lockout_seconds(request) / 60))


def lockout_response(request, original_response=None, credentials=None):
    """429 while locked: DRF-shaped JSON for the API, the lockout page for browsers."""
    seconds = lockout_seconds(request)
    if request.path_info.startswith("/api/"):
        response = JsonResponse({"detail": lockout_message(request)}, status=429)
    else:
        response = render(
            request,
            "registration/locked_out.html",
            {"message": lockout_message(request)},
            status=429,
        )
    # The lock ends at most this long from now (failures while locked are not counted).
    response["Retry-After"] = str(seconds)
    return response


class LoginThrottleBackend(AxesStandaloneBackend):
    """Axes' backend, except for ``authenticate()`` called without a request.

    Every login over HTTP passes its request (login page, admin, token endpoint); a call
    without one comes from inside the process (the test client's ``login()``, a management
    command) and has no client to count, so it is left to the next backend.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def _account_key(username: str) -> str:
    # Hashed: a username may hold characters a cache key must not.
    return f"login-failures:account:{sha256(username.encode()).hexdigest()}"


def _address_key(address: str) -> str:
    return f"login-failures:address:{address}"


class LoginFailureHandler(AbstractAxesHandler, AxesBaseHandler):
    """Counts failed logins in the cache, one counter per account and one per address.

    Guarantees: an account is locked after ``LOGIN_FAILURES_PER_ACCOUNT`` failures and an
    address after ``LOGIN_FAILURES_PER_ADDRESS``, each failure less than the lockout time
    after the previous one; while locked every login is refused, the right password too;
    attempts refused by the lock are not counted, so the lock ends the lockout time after it
    began; a successful login clears its account's counter, never the address's (else one
    valid login would reset the count of someone guessing other accounts from there).
    Counting uses the cache's atomic add and incr, so every worker shares one count.
    """

    @staticmethod
    def _counters(request, credentials) -> list[tuple[str, int]]:
        counters = []
        username = get_client_username(request, credentials)
        if username:
            counters.append((_account_key(username), settings.LOGIN_FAILURES_PER_ACCOUNT))
        address = getattr(request, "axes_ip_address", None)
        if address:
            counters.append((_address_key(address), settings.LOGIN_FAILURES_PER_ADDRESS))
        return counters

    def get_failures(self, request, credentials=None) -> int:
        keys = [key for key, _ in self._counters(request, credentials)]
        return max(get_cache().get_many(keys).values(), default=0)

    def is_locked(self, request, credentials=None) -> bool:
        counters = self._counters(request, credentials)
        counts = get_cache().get_many([key for key, _ in counters])
        return any(counts.get(key, 0) >= limit for key, limit in counters)

    def user_login_failed(self, sender, credentials, request=None, **kwargs):
        if request is None:
            return
        username = get_client_username(request, credentials)
        if not request.axes_locked_out:
            if self.is_whitelisted(request, credentials):
                return
            cache = get_cache()
            timeout = lockout_seconds(request)
            tripped = []
            for key, limit in self._counters(request, credentials):
                if cache.add(key, 1, timeout):
                    count = 1
                else:
                    try:
                        count = cache.incr(key)
                    except ValueError:  # expired between add and incr
                        cache.set(key, 1, timeout)
                        count = 1
                    # Each failure keeps the count for another lockout time.
                    cache.touch(key, timeout)
                if count >= limit:
                    tripped.append(key.split(":")[1])
            if not tripped:
                return
            request.axes_locked_out = True
            log.warning("Login locked after too many failures by %s.", " and ".join(tripped))
        request.axes_credentials = credentials
        user_locked_out.send(
            "axes", request=request, username=username, ip_address=request.axes_ip_address
        )

    def user_logged_in(self, sender, request, user, **kwargs):
        get_cache().delete(_account_key(user.get_username()))

    def user_logged_out(self, sender, request, user, **kwargs):
        return None

    def reset_attempts(self, *, ip_address=None, username=None, ip_or_username=False) -> int:
        """Unlock an account or an address (``manage.py axes_reset_username``, ``axes_reset_ip``)."""
        keys = []
        if username:
            keys.append(_account_key(username))
        if ip_address:
            keys.append(_address_key(ip_address))
        cache = get_cache()
        found = len(cache.get_many(keys))
        cache.delete_many(keys)
        return found
