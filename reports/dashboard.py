"""The billing admin's morning figures on the dashboard (listed in
``billing_site.dashboard.PANEL_PROVIDERS``): what is overdue, what falls due this week,
the work not yet billed, the last batch and what failed to reach the customer or the
accounting system. Each figure links to the list behind it and comes from the selector
that list uses."""

from __future__ import annotations

from django.db.models import Count

from billing_site.roles import Cap, role_can


def morning_panel(request):
    if not role_can(request.membership.role, Cap.VIEW_BILLING):
        return None
    from integrations.core.models import Delivery, DeliveryStatus
    from invoices.batches.models import InvoiceBatch
    from invoices.receivables.selectors import overdue_and_due_soon
    from invoices.selectors import email_failed, tenant_today

    from .selectors import unbilled_work_summary

    today = tenant_today()
    receivables = overdue_and_due_soon(today=today)
    failed_emails = email_failed().aggregate(count=Count("id"))["count"]
    failed_pushes = Delivery.objects.filter(status=DeliveryStatus.FAILED).count()
    return {
        "title": "This morning",
        "template": "reports/panels/morning.html",
        "context": {
            "today": today,
            "receivables": sorted(receivables.items()),
            "unbilled": [row for row in unbilled_work_summary(today=today) if row.total.entries],
            "last_batch": InvoiceBatch.objects.order_by("-created_at", "-id").first(),
            "failed_emails": failed_emails,
            "failed_pushes": failed_pushes,
        },
    }
