"""Time helpers: UTC in storage, zones at the edges, month arithmetic in one place."""

from __future__ import annotations

import calendar
import datetime as dt
import zoneinfo


def clamp_day(year: int, month: int, day: int) -> dt.date:
    """The date for ``day`` in that month; 29-31 in a shorter month is its last day."""
    last = calendar.monthrange(year, month)[1]
    return dt.date(year, month, min(day, last))


def add_months(anchor: dt.date, months: int, day: int | None = None) -> dt.date:
    """``anchor`` moved by ``months``, keeping ``day`` (default: anchor's day), clamped.

    Periods anchored on the 31st stay on the month's last day: add_months(31 Jan, 1)
    is 28/29 Feb and add_months(31 Jan, 2) is 31 Mar (not 28 Mar).
    """
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month0 = divmod(index, 12)
    return clamp_day(year, month0 + 1, day if day is not None else anchor.day)


def format_duration(seconds: int | None) -> str:
    """A duration to the second, the one text every page, PDF and export shows.

    DESIGN.md (Time): money is computed from whole seconds, so the seconds are shown
    and dropped only when they are zero.

    - below a minute: ``'42 s'`` (``'0 s'`` for nothing or ``None``);
    - below an hour: ``'15 min 18 s'``, ``'15 min'`` on the minute; no zero padding;
    - from an hour on: ``'1 h 02 min 07 s'``, ``'2 h 05 min'`` on the minute; minutes
      and seconds have two digits; hours are not folded into days (``'25 h 01 min 01 s'``);
    - a negative duration is the same text after a minus sign.

    ``sessions/static/sessions/js/timer.js`` (running timers) applies the same rule.
    """
    seconds = int(seconds or 0)
    if seconds < 0:
        return f"-{format_duration(-seconds)}"
    minutes, secs = divmod(seconds, 60)
    if minutes == 0:
        return f"{secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours == 0:
        text = f"{minutes} min"
        return f"{text} {secs} s" if secs else text
    text = f"{hours} h {minutes:02d} min"
    return f"{text} {secs:02d} s" if secs else text


def to_zone(value: dt.datetime | None, zone: str | zoneinfo.ZoneInfo) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(zone, str):
        zone = zoneinfo.ZoneInfo(zone)
    return value.astimezone(zone)


def local_day_bounds(
    day: dt.date, zone: str | zoneinfo.ZoneInfo
) -> tuple[dt.datetime, dt.datetime]:
    """UTC-aware [start, end) of a calendar day in ``zone``."""
    if isinstance(zone, str):
        zone = zoneinfo.ZoneInfo(zone)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)
