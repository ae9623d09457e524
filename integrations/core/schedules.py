"""Push schedules: "send on day N of every month", per connection and per customer.

DESIGN.md "Schedules": day 29, 30 or 31 in a shorter month means its last day; the day
is the tenant's (its time zone), a missed day is sent at the next tick, and a customer
may follow the connection's day, have its own, or be off. The period sent on a month's
day is that month (billing information for April arrives on 30 April).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from billing_site.timeutils import add_months, clamp_day, local_day_bounds


class ScheduleMode:
    ON_FINALISE = "on_finalise"  # accounting connections: push when invoices are finalised
    MONTHLY = "monthly"  # on day N of every month
    OFF = "off"  # a PSA connection without a global day: "Send now" (or a customer's own day)


class CustomerMode:
    GLOBAL = "global"  # the connection's schedule
    CUSTOM = "custom"  # this customer's own day
    OFF = "off"  # nothing sent automatically


def send_date(period_start: dt.date, day: int) -> dt.date:
    """The day in ``period_start``'s month the period is sent (31 -> 30 April, 28/29 Feb)."""
    return clamp_day(period_start.year, period_start.month, day)


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def due_period(today: dt.date, day: int) -> dt.date | None:
    """The month whose send day has come by ``today`` (that month's first day), else None
    (this month's day is still ahead). A day missed (worker down) stays due: ``today``
    past the day still names the month."""
    period = month_of(today)
    return period if today >= send_date(period, day) else None


def last_due_period(today: dt.date, day: int) -> dt.date:
    """The latest month whose send day is on or before ``today``: this month once its day
    has come, else the month before (a day missed while beat was down is still found at
    the next tick, even in the next month, before that month's own day)."""
    return due_period(today, day) or add_months(month_of(today), -1, 1)


def next_send(today: dt.date, day: int) -> dt.date:
    """The next send day on or after ``today``."""
    this_month = send_date(month_of(today), day)
    if this_month >= today:
        return this_month
    return send_date(add_months(month_of(today), 1, 1), day)


def local_today(zone: str, now: dt.datetime) -> dt.date:
    return now.astimezone(zoneinfo.ZoneInfo(zone)).date()


def start_of_local_day(day: dt.date, zone: str) -> dt.datetime:
    """UTC instant at which ``day`` begins in ``zone``."""
    return local_day_bounds(day, zone)[0]


@dataclass(frozen=True)
class CustomerDay:
    """The day a customer's billing is sent on, or None when it is off / sent on
    finalisation."""

    day: int | None
    source: str  # "connection", "customer", "off", "on finalise", "by hand"


def customer_day(
    *, mode: str, day: int | None, customer_mode: str | None, customer_day_value: int | None
) -> CustomerDay:
    """The effective day for one customer: its own (custom), none (off), else the
    connection's monthly day; None while the connection pushes on finalisation."""
    if customer_mode == CustomerMode.OFF:
        return CustomerDay(None, "off")
    if customer_mode == CustomerMode.CUSTOM and customer_day_value:
        return CustomerDay(customer_day_value, "customer")
    if mode == ScheduleMode.MONTHLY and day:
        return CustomerDay(day, "connection")
    if mode == ScheduleMode.OFF:
        return CustomerDay(None, "by hand")
    return CustomerDay(None, "on finalise")


def day_of(connection, override) -> CustomerDay:
    """``customer_day`` for a connection and a customer's ``CustomerSchedule`` (or None)."""
    return customer_day(
        mode=connection.schedule,
        day=connection.schedule_day,
        customer_mode=override.mode if override else None,
        customer_day_value=override.day if override else None,
    )
