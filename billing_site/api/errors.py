"""API errors: domain ValidationErrors from services become 400s with field errors."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from billing_site.tenancy import TenantNotSet


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, TenantNotSet):
        exc = exceptions.PermissionDenied("No tenant is bound to this account.")
    return drf_exception_handler(exc, context)
