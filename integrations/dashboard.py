"""Dashboard: a broken connection or a failed push is shown to who can act on it."""

from billing_site.roles import Cap, role_can


def attention_panel(request):
    from .core.selectors import attention

    if not role_can(request.membership.role, Cap.VIEW_BILLING):
        return None
    found = attention()
    if not found["broken"] and not found["failed"]:
        return None
    return {
        "title": "Accounting integrations",
        "template": "integrations/panels/attention.html",
        "context": found,
    }
