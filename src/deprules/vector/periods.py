"""Calendar months over day-number columns: ``dates.add_months`` / ``dates.months_held`` and
``interest.period_range`` (DEPINTRF periods) for many SAs at once, in integer arithmetic.

The differential tests hold these to the scalar versions.
"""

from __future__ import annotations

import numpy as np

from .state import NONE, ymd_parts

_DIM = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)


def _is_leap(y: np.ndarray) -> np.ndarray:
    return (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))


def days_in_month(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    return _DIM[m - 1] + ((m == 2) & _is_leap(y))


def day_from_ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Day numbers (days since 1970-01-01) of proleptic Gregorian dates (inverse of ymd_parts)."""
    y = np.asarray(y, np.int64) - (np.asarray(m) <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = np.where(m > 2, m - 3, m + 9)
    doy = (153 * mp + 2) // 5 + np.asarray(d, np.int64) - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def add_months(start: np.ndarray, months: np.ndarray) -> np.ndarray:
    """``dates.add_months`` on day numbers: start + months, clamped to the month's end."""
    y, m, d = ymd_parts(start)
    total = m - 1 + np.asarray(months, np.int64)
    yy, mm = y + total // 12, total % 12 + 1
    return day_from_ymd(yy, mm, np.minimum(d, days_in_month(yy, mm)))


def months_held(start: np.ndarray, on: np.ndarray) -> np.ndarray:
    """``dates.months_held``: whole months k with add_months(start, k) <= on (0 if on < start)."""
    start = np.asarray(start, np.int64)
    on = np.broadcast_to(np.asarray(on, np.int64), start.shape)
    y1, m1, d1 = ymd_parts(start)
    y2, m2, d2 = ymd_parts(on)
    k = (y2 - y1) * 12 + (m2 - m1)
    # add_months(start, k) falls in on's month on day min(start day, days in that month)
    k = np.where(k > 0, k - (np.minimum(d1, days_in_month(y2, m2)) > d2), k)
    return np.where(on < start, 0, np.maximum(k, 0))


def period_range(start: np.ndarray, last_int: np.ndarray, on_day: int, months: np.ndarray,
                 min_days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``interest.period_range`` per SA: (first, last) due period numbers (none: first > last).
    ``last_int`` may be NONE (= start); ``months`` <= 0 means no periodic interest."""
    start = np.asarray(start, np.int64)
    months = np.asarray(months, np.int64)
    safe = np.maximum(months, 1)
    last = months_held(start, np.full(len(start), on_day, np.int64)) // safe
    li = np.where(last_int == NONE, start, last_int)
    first = months_held(start, li) // safe + 1
    md = np.asarray(min_days, np.int64)
    first_md = months_held(start, start + md - 1) // safe + 1
    first = np.where(md > 0, np.maximum(first, first_md), first)
    last = np.where(months > 0, last, 0)
    first = np.where(months > 0, first, 1)
    return first, last
