"""Dashboard panel of the invoices app (listed in billing_site.dashboard.PANEL_PROVIDERS)."""

from __future__ import annotations

from django.db.models import Count, F, Q, Sum

from billing_site.roles import Cap, role_can

from .models import Invoice
from .selectors import OPEN_STATUSES, invoice_list, tenant_today


def invoices_panel(request):
    """Open and overdue balances per currency, and the latest invoices (two queries)."""
    if not role_can(request.membership.role, Cap.VIEW_BILLING):
        return None
    today = tenant_today()
    balances = list(
        Invoice.objects.filter(status__in=OPEN_STATUSES)
        .values("currency")
        .annotate(
            open_count=Count("id"),
            open_balance=Sum(F("total") - F("amount_paid")),
            overdue_count=Count("id", filter=Q(due_date__lt=today)),
            overdue_balance=Sum(F("total") - F("amount_paid"), filter=Q(due_date__lt=today)),
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
