"""Idempotency keys on the API's POSTs that create money or send something.

A client that may retry (a timeout, a lost answer) sends ``Idempotency-Key: <unique
text>``. The first request with a key is carried out and its answer kept with the key;
the same key with the same request (method, path, query and body) gets that answer again,
marked ``Idempotent-Replayed: true``, and nothing is done twice; the same key with another
request is a 422. Keys belong to the tenant and are kept ``IDEMPOTENCY_KEY_HOURS`` (at
least 24); an older key is forgotten and may be used again.

The key row is written in the request's own transaction (``TenantAPIMixin.dispatch``), so
the work and the kept answer commit together or not at all: a refused request (4xx) keeps
nothing and may be retried with the same key. Two requests with one key at once meet at
the unique index: the second waits for the first to commit, then replays its answer.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.response import Response

from billing_site.models import IdempotencyKey
from billing_site.tenancy import require_current_tenant

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "A unique text (e.g. a UUID) per operation: a retry with the same key and request "
        "gets the first answer again and changes nothing; with another request it is a 422. "
        "Kept for at least 24 hours."
    ),
)


def _refusal(message: str, code: int = status.HTTP_400_BAD_REQUEST) -> Response:
    return Response({HEADER: [message]}, status=code)


def _fingerprint(request) -> str:
    canonical = json.dumps(
        {
            "method": request.method,
            "path": request.path,
            "query": sorted(request.query_params.lists()),
            "body": request.data,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _kept_since() -> dt.datetime:
    return timezone.now() - dt.timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)


def _replay(kept: IdempotencyKey, fingerprint: str) -> Response:
    if kept.fingerprint != fingerprint:
        return _refusal(
            "This key was used with another request; use a new key for a new operation.",
            status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    response = Response(kept.response, status=kept.status_code)
    response[REPLAYED_HEADER] = "true"
    return response


def idempotent(action):
    """Give an API action (a view method that writes) idempotency keys."""

    @functools.wraps(action)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return action(view, request, *args, **kwargs)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            return _refusal(f"Send 1 to {MAX_KEY_LENGTH} printable characters.")
        fingerprint = _fingerprint(request)
        tenant = require_current_tenant()
        # A key older than the keeping time is forgotten: it may be used again.
        IdempotencyKey.objects.filter(key=key, created_at__lt=_kept_since()).delete()
        try:
            with transaction.atomic():
                kept = IdempotencyKey.objects.create(
                    tenant=tenant,
                    key=key,
                    method=request.method,
                    path=request.path[:500],
                    fingerprint=fingerprint,
                    status_code=0,
                )
        except IntegrityError:
            return _replay(IdempotencyKey.objects.get(key=key), fingerprint)
        response = action(view, request, *args, **kwargs)
        if response.status_code < 400:
            kept.status_code = response.status_code
            kept.response = json.loads(json.dumps(response.data, default=str))
            kept.save(update_fields=["status_code", "response"])
        return response

    wrapper.takes_idempotency_key = True  # the schema documents the header (schema.py)
    return wrapper


def forget_expired_keys() -> int:
    """Delete every tenant's keys past the keeping time (beat, hourly)."""
    from billing_site.rls import cross_tenant

    with cross_tenant():
        deleted, _ = IdempotencyKey.all_tenants.filter(created_at__lt=_kept_since()).delete()
    return deleted
