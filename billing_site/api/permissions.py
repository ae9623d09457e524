"""Role permissions for the API, from the capabilities in billing_site.roles."""

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission

from billing_site.roles import role_can


class RolePermission(BasePermission):
    """Allows a request when the membership's role has the view's read/write capability.

    Views name ``read_capability`` and ``write_capability``; per-action overrides go in
    ``action_capabilities`` ({"approve": Cap.MANAGE_WORK}).
    """

    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        membership = getattr(request, "membership", None)
        if membership is None:
            return False
        return role_can(membership.role, required_capability(view, request))


def required_capability(view, request) -> str | None:
    action = getattr(view, "action", None)
    overrides = getattr(view, "action_capabilities", {}) or {}
    if action in overrides:
        return overrides[action]
    if request.method in SAFE_METHODS:
        return getattr(view, "read_capability", None)
    return getattr(view, "write_capability", None)


class SchemaAccess(BasePermission):
    """The OpenAPI schema and the API docs pages: a login unless ``API_SCHEMA_PUBLIC``.

    Read per request (not when the views are imported), so the setting can be changed
    without touching the URLs.
    """

    def has_permission(self, request, view) -> bool:
        return settings.API_SCHEMA_PUBLIC or bool(request.user and request.user.is_authenticated)
