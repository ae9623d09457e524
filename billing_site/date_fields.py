"""Form fields for dates and date-times in the storable range (``billing_site.timeutils``).

Every browser form and page filter that reads a date uses these, so a year like 0001 or
9999 is the field's error naming the range, never a 500 further down (day bounds, zone
changes, period arithmetic) nor a row no page can read back.
"""

from __future__ import annotations

from django import forms

from .timeutils import validate_date_range


class DateField(forms.DateField):
    """A date between ``EARLIEST_DATE`` and ``LATEST_DATE``."""

    default_validators = [validate_date_range]


class DateTimeField(forms.DateTimeField):
    """A date and time whose day is between ``EARLIEST_DATE`` and ``LATEST_DATE``."""

    default_validators = [validate_date_range]
