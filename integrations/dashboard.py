"""Dashboard: a broken connection is shown to who can act on it (failed pushes are in
the morning figures, ``reports.dashboard``)."""

from billing_site.roles import Cap, role_can


def attention_panel(request):
    from .core.selectors import attention

    if not role_can(request.membership.role, Cap.VIEW_BILLING):
        return None
    found = attention()
    if not found["broken"]:
        return None
    return {
        "title": "Accounting integrations",
        "template": "integrations/panels/attention.html",
        # Only an owner may open Connections: others are told who can reconnect.
        "context": {**found, "can_connect": role_can(request.membership.role, Cap.MANAGE_TENANT)},
    }
