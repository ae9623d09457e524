"""Who may use the portal API: portal logins only, and only to read."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from billing_site.roles import Role


class PortalPermission(BasePermission):
    """A portal membership of the bound tenant; staff logins get 403 (they have staff APIs)."""

    message = "The portal API is for customers' portal logins."

    def has_permission(self, request, view) -> bool:
        membership = getattr(request, "membership", None)
        if membership is None or membership.role != Role.PORTAL:
            return False
        if request.method not in SAFE_METHODS:
            self.message = "The client portal is read-only."
            return False
        return True
