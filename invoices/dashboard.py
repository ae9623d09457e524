"""Dashboard panel of the invoices app (listed in billing_site.dashboard.PANEL_PROVIDERS)."""

from __future__ import annotations

from django.db.models import Count, Sum

from billing_site.roles import Cap, role_can

from .selectors import invoice_list, open_receivables, tenant_today


def invoices_panel(request):
    """Open balances per currency and the latest invoices (two queries); what is overdue
    is in the morning figures (``reports.dashboard``).

    Open counts receivables with a balance left, by the invoices' one
    balance (``selectors.with_balance``): payments and issued credit notes are taken
    off, and a credit note is never counted.
    """
    if not role_can(request.membership.role, Cap.VIEW_BILLING):
        return None
    today = tenant_today()
    balances = list(
        open_receivables()
        .values("currency")
        .annotate(
            open_count=Count("id"),
            open_balance=Sum("balance"),
        )
        .order_by("currency")
    )
    return {
        "title": "Invoices",
        "template": "invoices/panels/invoices.html",
        "context": {
            "balances": balances,
            "recent": list(invoice_list()[:5]),
            "today": today,
        },
    }
