"""Dashboard panel: the user's running timer (it lives in the database, so it survives
reloads), a quick "start timer" form, and for managers everyone else's running timers."""

from __future__ import annotations

from billing_site.roles import Cap, role_can

from . import selectors
from .forms import TimerStartForm


def timer_panel(request):
    role = request.membership.role
    if not role_can(role, Cap.VIEW_WORK):
        return None
    can_log = role_can(role, Cap.LOG_WORK)
    running = list(selectors.running_sessions()[:20])
    mine = next((s for s in running if s.technician_id == request.user.pk), None)
    others = [s for s in running if s.technician_id != request.user.pk]
    return {
        "title": "Remote-support timer",
        "template": "sessions/panels/timer.html",
        "context": {
            "can_log": can_log,
            "mine": mine,
            "others": others,
            "start_form": TimerStartForm() if can_log and mine is None else None,
            "recent": list(selectors.session_list(technician=request.user.pk)[:5])
            if can_log
            else [],
        },
    }
