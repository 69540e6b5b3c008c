"""REFUNDINT over many deposits at once, exactly (no floating point anywhere).

Interest of a deposit over [from, to) is  sum over days d of  balance(d) * rate(d)/100 * w(d),
rounded once (DOMAIN.md 4.3 and 8). With rate(d)/100 = r(d) / L (L: the common
denominator of the class's rates) and w(d) = W(d) / D (D: 365, 365*366 or 360 by day
count) every term is an integer over L*D. A running total C of r(d)*W(d) over the days
makes each constant-balance stretch one subtraction: N = balance * (C[to] - C[from]), and
the result is round(N / (L*D)) in integer arithmetic. Products that could leave int64 are
done on Python integers (object arrays) instead.

This is :func:`deprules.interest.compute_interest` for whole columns; the differential
tests hold the two to the same results.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np

from ..config.model import Interest
from ..interest import rate_on
from .state import EPOCH, NONE, day_of, ymd_parts

_DENOMINATOR = {"actual/365": 365, "actual/actual": 365 * 366, "30/360": 360}
_SAFE = 2**62


def weights(day_count: str, days: np.ndarray) -> np.ndarray:
    """W(d): each day's weight times D, as int64."""
    if day_count == "actual/365":
        return np.ones(len(days), np.int64)
    y, m, d = ymd_parts(days)
    if day_count == "actual/actual":
        leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
        return np.where(leap, 365, 366).astype(np.int64)
    if day_count == "30/360":
        leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
        feb_last = np.where(leap, 29, 28)
        w = np.ones(len(days), np.int64)
        w = np.where((m == 2) & (d == feb_last), 30 - feb_last + 1, w)
        return np.where(d == 31, 0, w).astype(np.int64)
    raise ValueError(f"unknown day count {day_count!r}")


def round_div(num: np.ndarray, den: int, mode: str) -> np.ndarray:
    """round(num / den) to integers, half-up (away from zero) or half-even, exactly."""
    if mode not in ("half_up", "half_even"):
        raise ValueError(f"unknown rounding mode {mode!r}")
    if num.dtype == object:
        from fractions import Fraction

        from ..money import round_fraction

        return np.array([round_fraction(Fraction(int(x), den), mode) for x in num], dtype=object)
    neg = num < 0
    q, r = np.divmod(np.abs(num), den)
    twice = 2 * r
    up = twice > den
    half = twice == den
    up |= half if mode == "half_up" else (half & (q % 2 == 1))
    q = q + up
    return np.where(neg, -q, q)


class ClassInterest:
    """One deposit class's REFUNDINT parameters, ready for whole columns."""

    def __init__(self, params: Interest):
        self.params = params
        if params.day_count not in _DENOMINATOR:
            raise ValueError(f"unknown day count {params.day_count!r}")
        self.D = _DENOMINATOR[params.day_count]
        fracs = [r.annual_percent / 100 for r in params.rates]
        self.L = math.lcm(1, *(f.denominator for f in fracs))
        self.breaks = np.array(sorted({day_of(r.effective) for r in params.rates}), np.int64)
        # rate of each stretch between effective dates, as r(d) over L (0 before every entry)
        values = [0]
        for b in self.breaks:
            rate = rate_on(params.rates, EPOCH + timedelta(days=int(b)))
            values.append(0 if rate is None else int(rate / 100 * self.L))
        self.r_values = values

    @property
    def den(self) -> int:
        return self.L * self.D

    def cumulative(self, lo: int, hi: int) -> np.ndarray:
        """C with C[k] = sum of r(d)*W(d) for d in [lo, lo + k), k = 0 .. hi - lo."""
        days = np.arange(lo, hi, dtype=np.int64)
        bucket = np.searchsorted(self.breaks, days, side="right")
        big = max(abs(v) for v in self.r_values) * 366 * max(len(days), 1) >= _SAFE
        r = np.array(self.r_values, dtype=object if big else np.int64)[bucket]
        terms = r * weights(self.params.day_count, days)
        out = np.zeros(len(days) + 1, dtype=object if big else np.int64)
        out[1:] = np.cumsum(terms)
        return out

    def _zero(self, start, frm, to) -> np.ndarray:
        return ((to - start) < self.params.min_days_held) | ((to - frm) <= 0)

    def constant(self, start: np.ndarray, frm: np.ndarray, to: np.ndarray,
                 payoff: np.ndarray) -> np.ndarray:
        """Interest (minor units) of deposits whose payoff stayed ``payoff`` over the period."""
        n = len(start)
        if n == 0:
            return np.zeros(0, np.int64)
        zero = self._zero(start, frm, to)
        balance = np.where(zero, 0, np.maximum(-payoff, 0))
        lo, hi = int(frm.min()), int(max(to.max(), frm.min()))
        c = self.cumulative(lo, hi)
        f = np.clip(frm, lo, hi) - lo
        t = np.clip(to, lo, hi) - lo
        a = c[t] - c[np.minimum(f, t)]
        return self._finish(balance, a, zero)

    def _finish(self, balance, a, zero) -> np.ndarray:
        bound = int(np.max(np.abs(balance))) * int(np.max(np.abs(a))) if len(a) else 0
        if a.dtype == object or bound >= _SAFE:
            num = balance.astype(object) * a.astype(object)
        else:
            num = balance * a
        out = round_div(num, self.den, self.params.rounding)
        out = np.where(zero, 0, out)
        return out.astype(np.int64)

    def stepped(self, start: np.ndarray, frm: np.ndarray, to: np.ndarray, seg_of: np.ndarray,
                seg_lo: np.ndarray, seg_hi: np.ndarray, seg_held: np.ndarray) -> np.ndarray:
        """Interest of deposits whose payoff changes: segments [seg_lo, seg_hi) of deposit
        ``seg_of`` (an index into start/frm/to) hold payoff ``seg_held``."""
        n = len(start)
        if n == 0:
            return np.zeros(0, np.int64)
        zero = self._zero(start, frm, to)
        lo, hi = int(frm.min()), int(max(to.max(), frm.min()))
        c = self.cumulative(lo, hi)
        f, t = frm[seg_of], to[seg_of]
        s_lo = np.clip(seg_lo, f, t)
        s_hi = np.clip(seg_hi, s_lo, t)
        a = c[s_hi - lo] - c[s_lo - lo]
        balance = np.maximum(-seg_held, 0)
        bound = (int(np.max(np.abs(balance))) * int(np.max(np.abs(a))) * len(a)) if len(a) else 0
        if a.dtype == object or bound >= _SAFE:
            terms = balance.astype(object) * a.astype(object)
            num = np.zeros(n, dtype=object)
            for i, v in zip(seg_of.tolist(), terms.tolist()):
                num[i] += v
        else:
            num = np.zeros(n, np.int64)
            np.add.at(num, seg_of, balance * a)
        out = round_div(num, self.den, self.params.rounding)
        return np.where(zero, 0, out).astype(np.int64)


__all__ = ["ClassInterest", "round_div", "weights", "NONE"]
