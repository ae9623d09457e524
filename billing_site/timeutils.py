"""Time helpers: UTC in storage, zones at the edges, month arithmetic in one place,
and the one range every stored date and time lies in."""

from __future__ import annotations

import calendar
import datetime as dt
import zoneinfo

from django.core.exceptions import ValidationError

# Every date and time a user stores lies in this range. Wide enough for any real contract,
# session or invoice; narrow enough that day bounds, zone changes and period arithmetic
# (a cycle is at most 12 months) never leave Python's years 1-9999, and PostgreSQL never
# stores a BC timestamp that no driver can read back.
EARLIEST_DATE = dt.date(2000, 1, 1)
LATEST_DATE = dt.date(2099, 12, 31)
DATE_RANGE_MESSAGE = (
    f"Dates must be between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}."
)
DATE_RANGE_CODE = "date_range"

# Rows written before the range was enforced may hold any date Python can represent.
# Reads clamp such a date into this span before month or day arithmetic, so a period, a
# "next day" or a zone change around it stays inside Python's calendar.
_COMPUTABLE_FIRST = dt.date(2, 1, 1)
_COMPUTABLE_LAST = dt.date(9998, 12, 31)


def _day_of(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def in_date_range(value: dt.date | dt.datetime) -> bool:
    """Whether ``value`` (a date, or a date-time's day in its own zone) is storable."""
    return EARLIEST_DATE <= _day_of(value) <= LATEST_DATE


def validate_date_range(value: dt.date | dt.datetime | None) -> None:
    """Validator of every stored date and date-time field (models, forms, serializers,
    filters): the one message, naming the range."""
    if value is not None and not in_date_range(value):
        raise ValidationError(DATE_RANGE_MESSAGE, code=DATE_RANGE_CODE)


def check_date_range(**values: dt.date | dt.datetime | None) -> None:
    """For services, before any arithmetic on their arguments: ``{field: message}`` for
    every value given outside the range (``None`` is not checked)."""
    errors = {
        name: DATE_RANGE_MESSAGE
        for name, value in values.items()
        if isinstance(value, dt.date) and not in_date_range(value)
    }
    if errors:
        raise ValidationError(errors, code=DATE_RANGE_CODE)


def computable_date(day: dt.date) -> dt.date:
    """``day`` itself, unless it is within a year of Python's first or last day (a stored
    row from before the range): then the nearest day arithmetic can work around."""
    return min(max(day, _COMPUTABLE_FIRST), _COMPUTABLE_LAST)


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
    try:
        return value.astimezone(zone)
    except OverflowError:
        # A stored time at the very edge of the calendar (written before the range was
        # enforced) has no wall-clock time in ``zone``: shown as stored rather than a 500.
        return value


def local_day_bounds(
    day: dt.date, zone: str | zoneinfo.ZoneInfo
) -> tuple[dt.datetime, dt.datetime]:
    """UTC-aware [start, end) of a calendar day in ``zone``."""
    if isinstance(zone, str):
        zone = zoneinfo.ZoneInfo(zone)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)
