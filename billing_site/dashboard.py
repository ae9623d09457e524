"""Dashboard panels. Each app adds a provider to PANEL_PROVIDERS; a provider returns
a panel dict (title, template, context) or None when it has nothing for this user."""

from __future__ import annotations

from importlib import import_module

from .roles import Cap, role_can

PANEL_PROVIDERS: list[str] = [
    "reports.dashboard.morning_panel",
    "billing_site.dashboard.customers_panel",
    "sessions.dashboard.timer_panel",
    "invoices.dashboard.invoices_panel",
    "contracts.dashboard.time_panel",
    "integrations.dashboard.attention_panel",
]


def customers_panel(request):
    from .selectors import organization_list

    if not role_can(request.membership.role, Cap.VIEW_CUSTOMERS):
        return None
    recent = list(organization_list(active=True).order_by("-created_at")[:5])
    return {
        "title": "Recent customers",
        "template": "billing_site/panels/customers.html",
        "context": {"organizations": recent},
    }


def dashboard_panels(request) -> list[dict]:
    panels = []
    for dotted in PANEL_PROVIDERS:
        module_name, _, attr = dotted.rpartition(".")
        panel = getattr(import_module(module_name), attr)(request)
        if panel:
            panels.append(panel)
    return panels
