from .navigation import nav_for
from .roles import Role


def navigation(request):
    membership = getattr(request, "membership", None)
    if membership is None or membership.role == Role.PORTAL:
        return {"current_tenant": getattr(request, "tenant", None)}
    return {
        "current_tenant": membership.tenant,
        "current_membership": membership,
        "nav_sections": nav_for(membership.role, request.path),
        "other_tenants": [
            m.tenant
            for m in membership.user.memberships.select_related("tenant").exclude(pk=membership.pk)
        ]
        if request.user.is_authenticated
        else [],
    }
