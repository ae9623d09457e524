"""PostgreSQL dates and times that Python cannot hold, read back instead of crashing.

PostgreSQL stores years from 4713 BC to 294276 AD; Python's ``datetime`` only 1 to 9999.
Every date and time written through the application is bounded
(``billing_site.timeutils.EARLIEST_DATE`` / ``LATEST_DATE``), but a row written before the
bound (a session in year 1 stored as a BC timestamp) made psycopg2 raise ``ValueError``
on every query that read it: the page listing it, the API, and even its deletion. Such
values are read as the nearest day Python can show in any time zone, one day inside its
calendar, so they can be listed, converted, edited and deleted.
"""

from __future__ import annotations

import datetime as dt

EARLY_MOMENT = dt.datetime(1, 1, 2, tzinfo=dt.UTC)
LATE_MOMENT = dt.datetime(9999, 12, 30, tzinfo=dt.UTC)

_TIMESTAMPTZ_OID = 1184
_DATE_OID = 1082


def _before_python(value: str) -> bool:
    return value.endswith(" BC") or value == "-infinity"


def register() -> None:
    """Register the lenient readers of ``timestamptz`` and ``date`` (once, for every
    connection); without psycopg2 there is nothing to do."""
    try:
        import psycopg2.extensions as ext
    except ImportError:  # pragma: no cover - SQLite-only installs
        return

    def timestamptz(value: str | None, cursor):
        if value is None:
            return None
        try:
            moment = ext.PYDATETIMETZ(value, cursor)
        except ValueError:
            return EARLY_MOMENT if _before_python(value) else LATE_MOMENT
        # 'infinity' reads as datetime.max, which no zone east of UTC can show.
        if moment.year == 9999 and moment > LATE_MOMENT:
            return LATE_MOMENT
        if moment.year == 1 and moment < EARLY_MOMENT:
            return EARLY_MOMENT
        return moment

    def date(value: str | None, cursor):
        if value is None:
            return None
        try:
            return ext.PYDATE(value, cursor)
        except ValueError:
            return dt.date.min if _before_python(value) else dt.date.max

    ext.register_type(ext.new_type((_TIMESTAMPTZ_OID,), "LENIENT_TIMESTAMPTZ", timestamptz))
    ext.register_type(ext.new_type((_DATE_OID,), "LENIENT_DATE", date))
