"""The ticket timer on the dashboard (running time and a Stop button, like the session
timer), the message saying what a stop saved, and a ticket's work history in time
order. Tenant B's timers never show."""

from __future__ import annotations

import datetime as dt
import re

import time_machine
from django.urls import reverse

from billing_site.tenancy import tenant_context
from contracts.choices import TimeEntrySource
from contracts.models import TimeEntry

from .factories import TicketAttachmentFactory, TimeEntryFactory, technician

UTC = dt.UTC
NOW = dt.datetime(2026, 2, 10, 10, 0, tzinfo=UTC)  # 11:00 in Paris


def test_the_dashboard_shows_the_running_ticket_timer_and_stops_it(
    client_as, tech, ticket, in_tenant_a
):
    client = client_as(tech)
    with time_machine.travel(NOW, tick=False):
        client.post(reverse("contracts:timer-start"), {"ticket": ticket.pk})
        page = client.get(reverse("dashboard")).content.decode()
    panel = page.split('id="ticket-timer"', 1)[1].split("</form>", 1)[0]
    assert f"{ticket.reference} {ticket.title}" in panel and "since 11:00" in panel
    # The running time ticks with the session timer's script, from the stored start.
    assert re.search(r'data-timer-start="2026-02-10T1[01]:00:00\+0[01]:00"', panel)
    assert f'action="{reverse("contracts:timer-stop")}"' in panel and "Stop timer" in panel
    assert "sessions/js/timer.js" in page

    with time_machine.travel(NOW + dt.timedelta(minutes=25, seconds=9), tick=False):
        stopped = client.post(
            reverse("contracts:timer-stop"),
            {"summary_note": "Reset the spooler", "next": reverse("dashboard")},
            follow=True,
        )
    assert stopped.redirect_chain[-1][0] == reverse("dashboard")
    content = stopped.content.decode()
    assert (
        f"Timer stopped: 25 min 9 s logged on {ticket.reference} {ticket.title} "
        "(11:00–11:25), awaiting approval." in content
    )
    entry = TimeEntry.objects.get()
    assert (entry.worked_seconds, entry.summary_note) == (1509, "Reset the spooler")
    assert 'id="ticket-timer"' not in content and "No ticket timer running." in content


def test_a_timer_stopped_at_once_says_what_was_saved_not_zero(client_as, tech, ticket, in_tenant_a):
    client = client_as(tech)
    with time_machine.travel(NOW, tick=False):
        client.post(reverse("contracts:timer-start"), {"ticket": ticket.pk})
        stopped = client.post(reverse("contracts:timer-stop"), {}, follow=True)
    # Stopped within the second it started: one second is saved, and said.
    assert "Timer stopped: 1 s logged on" in stopped.content.decode()
    assert "0 min" not in stopped.content.decode()
    assert TimeEntry.objects.get().worked_seconds == 1


def test_another_technicians_or_tenants_timer_is_not_on_my_dashboard(
    client_as, tech, tech2, in_tenant_a, ticket, tenant_b, other_tenant_rows
):
    TimeEntryFactory(
        tenant=in_tenant_a,
        ticket=ticket,
        technician=tech2,
        started_at=NOW,
        ended_at=None,
        worked_seconds=0,
        source=TimeEntrySource.TIMER,
    )
    with tenant_context(tenant_b):
        TimeEntryFactory(
            tenant=tenant_b,
            ticket=other_tenant_rows,
            technician=technician(tenant_b, "bravo-tech"),
            started_at=NOW,
            ended_at=None,
            worked_seconds=0,
            source=TimeEntrySource.TIMER,
        )
    page = client_as(tech).get(reverse("dashboard")).content.decode()
    assert 'id="ticket-timer"' not in page and "No ticket timer running." in page


def test_work_history_is_in_time_order_newest_first(admin_a, client_as, in_tenant_a, ticket, tech):
    def entry(note, **fields):
        return TimeEntryFactory(
            tenant=in_tenant_a, ticket=ticket, technician=tech, summary_note=note, **fields
        )

    # Logged in an order unlike the work's: a day typed in later, a timed entry, a tie.
    timed = dt.datetime(2026, 2, 3, 8, 0, tzinfo=UTC)
    entry(
        "Tue timed",
        started_at=timed,
        ended_at=timed + dt.timedelta(hours=1),
        work_date=dt.date(2026, 2, 3),
    )
    entry("Mon day", work_date=dt.date(2026, 2, 2), worked_seconds=1800)
    entry("Wed day first", work_date=dt.date(2026, 2, 4), worked_seconds=600)
    entry("Wed day second", work_date=dt.date(2026, 2, 4), worked_seconds=600)
    with time_machine.travel(dt.datetime(2026, 2, 3, 12, 0, tzinfo=UTC), tick=False):
        TicketAttachmentFactory(tenant=in_tenant_a, ticket=ticket, name="log.txt")
    page = client_as(admin_a).get(reverse("contracts:ticket-detail", args=[ticket.pk]))
    content = page.content.decode()
    order = ["Wed day second", "Wed day first", "log.txt", "Tue timed", "Mon day"]
    positions = [content.index(text) for text in order]
    assert positions == sorted(positions)
