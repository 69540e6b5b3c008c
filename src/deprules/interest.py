"""REFUNDINT: interest on the average daily balance of a cash deposit.

Exact arithmetic with :class:`fractions.Fraction`; rounded once at the end
(DOMAIN.md sections 4.3 and 8). The period is split into runs of days with the
same held balance, rate and day weight, so a long period costs a few steps.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import Callable, Sequence

from .config.model import Interest, Rate
from .dates import add_months, months_held
from .money import round_fraction


@dataclass(frozen=True)
class InterestResult:
    amount: int  # minor units, >= 0: what the customer earns
    exact: Fraction  # before rounding, minor units
    days: int
    days_held: int
    below_minimum: bool
    segments: tuple[tuple[date, date, int, Fraction], ...]  # (from, to_excl, balance, percent)


def rate_on(rates: Sequence[Rate], d: date) -> Fraction | None:
    current = None
    for r in rates:
        if r.effective <= d:
            current = r.annual_percent
        else:
            break
    return current


_PER_365, _PER_366, _PER_360, _NOTHING = (Fraction(1, 365), Fraction(1, 366), Fraction(1, 360),
                                          Fraction(0))


def _weight(day_count: str, d: date) -> Fraction:
    if day_count == "actual/365":
        return _PER_365
    if day_count == "actual/actual":
        return _PER_366 if calendar.isleap(d.year) else _PER_365
    if day_count == "30/360":
        # 30E/360: each month counts 30 days; day 31 counts as nothing,
        # and February is topped up on its last day so it weighs 30 days too.
        if d.day == 31:
            return _NOTHING
        last = calendar.monthrange(d.year, d.month)[1]
        if d.month == 2 and d.day == last:
            return Fraction(30 - last + 1, 360)
        return _PER_360
    raise ValueError(f"unknown day count {day_count!r}")


def compute_interest(
    params: Interest,
    start_date: date,
    period_from: date,
    period_to: date,
    held_on: Callable[[date], int],
    change_dates: Sequence[date] = (),
) -> InterestResult:
    """Interest from ``period_from`` (inclusive) to ``period_to`` (exclusive).

    ``held_on(d)`` gives the payoff balance at the end of day ``d`` (minor units);
    it only changes on ``change_dates``. ``start_date`` is the deposit SA's start,
    for the minimum-days-held test (counted to ``period_to``, the stop date).
    """
    days_held = (period_to - start_date).days
    n_days = max(0, (period_to - period_from).days)
    if days_held < params.min_days_held or n_days == 0:
        return InterestResult(0, Fraction(0), n_days, days_held,
                              days_held < params.min_days_held, ())
    # boundaries where balance, rate or (for some day counts) weight may change
    cuts = {period_from, period_to}
    cuts.update(d + timedelta(days=1) for d in change_dates if period_from <= d < period_to)
    cuts.update(d for d in change_dates if period_from < d < period_to)
    cuts.update(r.effective for r in params.rates if period_from < r.effective < period_to)
    if params.day_count != "actual/365":
        y, m = period_from.year, period_from.month
        while True:
            first = date(y, m, 1)
            if first >= period_to:
                break
            if first > period_from:
                cuts.add(first)
            last = date(y, m, calendar.monthrange(y, m)[1])
            for special in (last, date(y, m, 31) if calendar.monthrange(y, m)[1] == 31 else None):
                if special and period_from < special < period_to:
                    cuts.add(special)
                if special and period_from <= special < period_to:
                    cuts.add(special + timedelta(days=1))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    edges = sorted(cuts)
    # the exact sum of balance * rate / 100 * weight * days, kept as integer numerators per
    # denominator (rate and weight are fractions of a few kinds) and summed once at the end
    numerators: dict[int, int] = {}
    segments = []
    for a, b in zip(edges, edges[1:]):
        # within [a, b) everything is constant except possibly the weight of a single
        # special day, which got its own one-day segment above
        balance = max(0, -held_on(a))
        rate = rate_on(params.rates, a)
        if rate is None or balance == 0:
            continue
        weight = _weight(params.day_count, a)
        den = rate.denominator * 100 * weight.denominator
        numerators[den] = (numerators.get(den, 0)
                           + balance * rate.numerator * weight.numerator * (b - a).days)
        segments.append((a, b, balance, rate))
    total = sum((Fraction(n, d) for d, n in numerators.items()), Fraction(0))
    return InterestResult(round_fraction(total, params.rounding), total, n_days, days_held,
                          False, tuple(segments))


def period_range(start_date: date, last_interest_date: date | None, on: date, months: int,
                 min_days_held: int = 0) -> tuple[int, int]:
    """DEPINTRF: the completed periodic-interest periods not yet settled, as ``(first, last)``
    period numbers k (none when first > last).

    Period k ends on E_k = start_date + k*months calendar months, counted from the original
    start and clamped to the month's end (never chained), exactly as months held: period k
    is complete on ``on`` when ``months_held(start_date, on) >= k*months``. A period is due
    when it ended after the last interest date (blank = start_date), on or before ``on``,
    and the deposit had been held ``min_days_held`` days by its end (docs/interest.md).
    """
    if months <= 0:
        return 1, 0
    last = months_held(start_date, on) // months
    first = months_held(start_date, last_interest_date or start_date) // months + 1
    if min_days_held > 0:
        # E_k >= start + min_days  <=>  not E_k <= start + min_days - 1
        first = max(first, months_held(start_date, start_date + timedelta(days=min_days_held - 1))
                    // months + 1)
    return first, last


def period_ends(start_date: date, last_interest_date: date | None, on: date, months: int,
                min_days_held: int = 0) -> list[date]:
    """End dates (exclusive interest limits) of the due periods, oldest first."""
    first, last = period_range(start_date, last_interest_date, on, months, min_days_held)
    return [add_months(start_date, k * months) for k in range(first, last + 1)]
