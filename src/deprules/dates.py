"""The one date helper: calendar months, day counts, yyyymmdd integers."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import click


def add_months(start: date, months: int) -> date:
    """``start`` + ``months`` calendar months, clamped to the month's end (Jan 31 + 1 = Feb 28/29)."""
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    day = start.day
    if day > 28:
        day = min(day, month_length(year, month))
    return date(year, month, day)


_LENGTHS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def month_length(year: int, month: int) -> int:
    """Days in ``month`` of ``year`` (calendar.monthrange's second value, without its weekday)."""
    if month == 2 and calendar.isleap(year):
        return 29
    return _LENGTHS[month - 1]


_DAY = timedelta(days=1)


def months_held(start: date, on: date) -> int:
    """Whole months m with add_months(start, m) <= on, always counted from the original start.

    Closed form (the facts of every round need it: a loop over add_months was a tenth of an
    evaluation): with m the calendar months from start's month to on's, add_months(start, m)
    falls in on's month on day min(start.day, that month's length), which is after ``on``
    exactly when start.day > on.day and ``on`` is not its month's last day; then m - 1 months
    have passed, else m. ``tests/test_properties.py`` holds it equal to the definition."""
    if on < start:
        return 0
    m = (on.year - start.year) * 12 + (on.month - start.month)
    d = on.day
    if start.day > d and (d < 28 or (on + _DAY).day != 1):
        m -= 1
    return m


def as_int(d: date | None) -> int:
    """yyyymmdd integer (orders like the date; 0 for none) for the rules engine."""
    return d.year * 10000 + d.month * 100 + d.day if d else 0


class DateParam(click.ParamType):
    """A click parameter for ISO dates with a clear message."""

    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx):
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date in the form YYYY-MM-DD", param, ctx)
