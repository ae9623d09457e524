"""Generated cases (hypothesis) on billing periods, over the storable range and beyond.

For any cycle, anchor day and start, every day belongs to exactly one period: the period
containing it contains it, periods follow one another without gap or overlap, and each
lasts one cycle (28-31 days a month). Days Python holds but the range refuses (rows
stored before it) never raise: they are priced in the period of the nearest computable
day, so no page breaks on them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import pairwise

from hypothesis import example, given, settings
from hypothesis import strategies as st

from billing_site.timeutils import EARLIEST_DATE, LATEST_DATE, computable_date
from contracts.pricing.periods import period_containing, period_index, periods_between

ONE_DAY = dt.timedelta(days=1)
MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}


@dataclass(frozen=True)
class Terms:
    start_date: dt.date
    billing_cycle: str
    anchor_day: int
    end_date: dt.date | None = None


terms = st.builds(
    Terms,
    start_date=st.dates(EARLIEST_DATE, LATEST_DATE),
    billing_cycle=st.sampled_from(sorted(MONTHS)),
    anchor_day=st.integers(1, 31),
)
storable_days = st.dates(EARLIEST_DATE, LATEST_DATE)


@settings(max_examples=300, deadline=None)
@given(terms=terms, day=storable_days)
def test_every_day_is_in_the_period_containing_it_and_periods_touch(terms, day):
    period = period_containing(terms, day)
    assert period.start <= day <= period.end
    following = period_containing(terms, period.end + ONE_DAY)
    assert following.start == period.end + ONE_DAY
    assert period_index(terms, following.start) == period_index(terms, day) + 1
    months = MONTHS[terms.billing_cycle]
    assert 28 * months <= (period.end - period.start).days + 1 <= 31 * months + 1


@settings(max_examples=100, deadline=None)
@given(terms=terms, first=storable_days, span=st.integers(0, 800))
def test_periods_between_cover_the_span_without_gaps(terms, first, span):
    last = min(first + dt.timedelta(days=span), LATEST_DATE)
    periods = periods_between(terms, first, last)
    assert periods[0].start <= first and periods[-1].end >= last
    for before, after in pairwise(periods):
        assert after.start == before.end + ONE_DAY


@settings(max_examples=200, deadline=None)
@given(
    start=st.dates(dt.date.min, dt.date.max),
    cycle=st.sampled_from(sorted(MONTHS)),
    anchor=st.integers(1, 31),
    day=st.dates(dt.date.min, dt.date.max),
)
# The calendar's last yearly period ends 9999-12-30: the one after it cannot be computed.
@example(start=dt.date.max, cycle="yearly", anchor=31, day=dt.date.max)
@example(start=dt.date.min, cycle="yearly", anchor=31, day=dt.date.min)
def test_any_stored_day_gets_a_period_instead_of_an_error(start, cycle, anchor, day):
    stored = Terms(start, cycle, anchor)
    period = period_containing(stored, day)
    assert period.start <= computable_date(day) <= period.end
    assert period.end < dt.date.max  # "the day after" stays computable
    assert periods_between(stored, day, day) == [period]
    period_index(stored, day)
