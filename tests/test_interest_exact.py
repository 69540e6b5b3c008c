"""REFUNDINT's exact sum: compute_interest keeps integer numerators per denominator; it must
equal, fraction for fraction, the plain sum of balance * rate / 100 * weight * days over the
same segments (the reference below), for every day count, rate schedule and balance history."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from deprules.config.model import Interest, Rate
from deprules.interest import _weight, compute_interest, rate_on
from deprules.money import round_fraction

START = date(2020, 1, 1)


def reference_total(params: Interest, segments) -> Fraction:
    total = Fraction(0)
    for a, b, balance, rate in segments:
        total += balance * rate / 100 * _weight(params.day_count, a) * (b - a).days
    return total


@st.composite
def cases(draw):
    day_count = draw(st.sampled_from(["actual/365", "actual/actual", "30/360"]))
    n_rates = draw(st.integers(1, 4))
    offsets = sorted(draw(st.lists(st.integers(0, 2000), min_size=n_rates, max_size=n_rates,
                                   unique=True)))
    rates = tuple(Rate(START + timedelta(days=o),
                       Fraction(draw(st.integers(0, 1500)), draw(st.sampled_from([100, 1000]))))
                  for o in offsets)
    params = Interest("REFUNDINT", day_count, draw(st.integers(0, 60)),
                      draw(st.sampled_from(["half_up", "half_even"])), rates)
    frm = START + timedelta(days=draw(st.integers(0, 1500)))
    to = frm + timedelta(days=draw(st.integers(0, 900)))
    changes = sorted({START + timedelta(days=d) for d in draw(
        st.lists(st.integers(0, 2500), max_size=6))})
    amounts = {d: -draw(st.integers(0, 10**9)) for d in changes}
    opening = -draw(st.integers(0, 10**9))

    def held(d: date) -> int:
        return opening + sum(a for day, a in amounts.items() if day <= d)

    return params, frm, to, held, changes


@settings(max_examples=300, deadline=None)
@given(cases())
def test_interest_is_the_exact_sum_of_its_segments(case):
    params, frm, to, held, changes = case
    result = compute_interest(params, START, frm, to, held, changes)
    expected = reference_total(params, result.segments)
    assert result.exact == expected
    assert result.amount == round_fraction(expected, params.rounding)
    for a, b, balance, rate in result.segments:
        assert balance == max(0, -held(a)) and rate == rate_on(params.rates, a)
