"""Serializer fields for dates and date-times in the storable range
(``billing_site.timeutils``): out of range is a 400 on the field naming the range.

Model serializers need nothing: they copy the model fields' ``validate_date_range``.
"""

from __future__ import annotations

import datetime as dt

from rest_framework import serializers

from billing_site.timeutils import DATE_RANGE_MESSAGE, validate_date_range


class DateField(serializers.DateField):
    """A date between ``EARLIEST_DATE`` and ``LATEST_DATE``."""

    default_validators = [validate_date_range]


class DateTimeField(serializers.DateTimeField):
    """A date and time whose day is between ``EARLIEST_DATE`` and ``LATEST_DATE``.

    A value without an offset is read in the viewer's zone, whatever the login method
    (decision 0010); one the zone's clocks skip or repeat is refused, as the pages'
    forms refuse it, rather than moved by an hour without a word.
    """

    default_validators = [validate_date_range]
    default_error_messages = {
        "make_aware": "This time does not exist or is ambiguous in {timezone} (a clock "
        "change); add its UTC offset, e.g. 2026-03-29T03:30:00+02:00.",
        # Year 1 with an offset cannot even be converted to UTC: say the range.
        "overflow": DATE_RANGE_MESSAGE,
    }

    def enforce_timezone(self, value):
        zone = self.timezone if hasattr(self, "timezone") else self.default_timezone()
        if zone is not None and value.tzinfo is None:
            # DRF's own check misses both with zoneinfo: a skipped time does not survive a
            # round trip through UTC, a repeated one has two offsets (fold 0 and 1).
            local = value.replace(tzinfo=zone)
            skipped = local.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) != value
            repeated = local.replace(fold=1).utcoffset() != local.utcoffset()
            if skipped or repeated:
                self.fail("make_aware", timezone=zone)
        return super().enforce_timezone(value)
