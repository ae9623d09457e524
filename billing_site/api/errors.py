"""API errors: domain ValidationErrors from services become 400s with field errors."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions
from rest_framework.exceptions import ErrorDetail
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from billing_site.request_input import safe_text
from billing_site.tenancy import TenantNotSet


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, TenantNotSet):
        exc = exceptions.PermissionDenied("No tenant is bound to this account.")
    response = drf_exception_handler(exc, context)
    if response is not None:
        # A message that repeats the input (an invalid choice, an unknown pk) must still
        # render: a lone surrogate cannot be encoded, so it is shown escaped.
        response.data = _renderable(response.data)
    return response


def _renderable(data):
    if isinstance(data, dict):
        return {_renderable(key): _renderable(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_renderable(item) for item in data]
    if isinstance(data, ErrorDetail):
        return ErrorDetail(safe_text(str(data)), code=data.code)
    if isinstance(data, str):
        return safe_text(data)
    return data


def not_found(request, exception):
    """Django's 404 (no route matched, e.g. ``/api/v1/invoices/abc/lines/``): JSON under
    ``/api/`` like every other API error, the HTML page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)
