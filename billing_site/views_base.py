"""Browser view bases: login, tenant and role are checked server-side on every view."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import Http404

from .roles import Role, role_can

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class StaffViewMixin(LoginRequiredMixin):
    """A staff page: needs a staff membership and the view's read/write capability.

    Portal users get 403 here, as do roles without the capability.
    """

    read_capability: str | None = None
    write_capability: str | None = None

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        membership = getattr(request, "membership", None)
        if membership is None or membership.role == Role.PORTAL:
            raise PermissionDenied("Staff pages need a staff account of this MSP.")
        capability = (
            self.write_capability if request.method in WRITE_METHODS else self.read_capability
        )
        if not role_can(membership.role, capability):
            raise PermissionDenied("Your role does not allow this.")
        return super().dispatch(request, *args, **kwargs)

    def can(self, capability: str) -> bool:
        return role_can(self.request.membership.role, capability)


class ScopedObjectMixin:
    """get_object through the scoped default manager: another tenant's id is a 404."""

    model: type[models.Model]

    def get_object(self, queryset=None):
        queryset = queryset if queryset is not None else self.get_queryset()
        try:
            return queryset.get(pk=self.kwargs["pk"])
        except (self.model.DoesNotExist, ValueError) as exc:
            raise Http404(f"{self.model._meta.verbose_name} not found") from exc


def apply_errors(form, error: ValidationError) -> None:
    """Attach a service's ValidationError to the form, by field where it names one."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)
