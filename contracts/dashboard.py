"""Dashboard panel: the user's ticket timer and week, and what awaits approval."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Sum
from django.utils import timezone

from billing_site.roles import Cap, role_can

from . import selectors
from .choices import UNPOSTED_STATES
from .models import TimeEntry


def time_panel(request):
    role = request.membership.role
    can_log, can_manage = role_can(role, Cap.LOG_WORK), role_can(role, Cap.MANAGE_WORK)
    if not (can_log or can_manage):
        return None
    today = timezone.localdate(timezone=request.tenant.zone)
    monday = selectors.week_start(today)
    context = {"can_log": can_log, "can_manage": can_manage}
    if can_log:
        context["running"] = selectors.running_timer(technician=request.user)
        context["week_seconds"] = (
            TimeEntry.objects.filter(
                technician=request.user,
                work_date__gte=monday,
                work_date__lte=monday + dt.timedelta(days=6),
            ).aggregate(total=Sum("worked_seconds"))["total"]
            or 0
        )
    if can_manage:
        context["waiting"] = dict(
            TimeEntry.objects.filter(state__in=UNPOSTED_STATES)
            .values("state")
            .annotate(n=Count("id"))
            .values_list("state", "n")
        )
    return {"title": "Ticket time", "template": "contracts/panels/time.html", "context": context}
