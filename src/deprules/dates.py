"""The one date helper: calendar months, day counts, yyyymmdd integers."""

from __future__ import annotations

import calendar
from datetime import date

import click


def add_months(start: date, months: int) -> date:
    """``start`` + ``months`` calendar months, clamped to the month's end (Jan 31 + 1 = Feb 28/29)."""
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def months_held(start: date, on: date) -> int:
    """Whole months m with add_months(start, m) <= on, always counted from the original start."""
    if on < start:
        return 0
    m = (on.year - start.year) * 12 + (on.month - start.month)
    while m > 0 and add_months(start, m) > on:
        m -= 1
    return max(m, 0)


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
