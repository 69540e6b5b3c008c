"""Property-based tests: money is exact, the ledger's invariants hold for any account,
the two matching back ends agree, and a second run changes nothing."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deprules.dates import add_months, months_held
from deprules.ledger.check import check_account
from deprules.ledger.model import Account, AccountState, NonCashDeposit, ServiceAgreement
from deprules.money import format_money, format_money_array, parse_money, round_fraction
from deprules.runner import Runner

cents = st.integers(min_value=-10**12, max_value=10**12)


@given(cents)
def test_money_text_round_trips(minor):
    assert parse_money(format_money(minor)) == minor
    assert Decimal(format_money(minor)) == Decimal(minor) / 100


@given(st.integers(-10**9, 10**9), st.integers(1, 10**6))
def test_rounding_is_within_half_a_cent_and_symmetric(num, den):
    f = Fraction(num, den)
    for mode in ("half_up", "half_even"):
        r = round_fraction(f, mode)
        assert abs(r - f) <= Fraction(1, 2)
        assert round_fraction(-f, mode) == -r


@given(st.dates(date(2000, 1, 1), date(2040, 12, 31)), st.integers(0, 400))
def test_months_held_matches_add_months(start, m):
    end = add_months(start, m)
    assert months_held(start, end) == m
    assert months_held(start, end - timedelta(days=1)) == m - 1 if m > 0 else True


@given(st.sampled_from([0, 2, 3]), st.sampled_from(["", "+", "-"]),
       st.text("0123456789", min_size=1, max_size=18), st.text("0123456789", max_size=4),
       st.booleans())
def test_money_cells_are_parse_money(mu, sign, whole, frac, point):
    # the extract readers' money cell reads the digits directly; parse_money (Decimal) is
    # the definition, for every text the cell pattern admits
    from deprules.extract.cells import money_cell, money_pattern
    import re

    text = sign + whole + ("." + frac if point else "")
    if re.match(money_pattern(mu), text):
        assert money_cell(text, mu) == parse_money(text, mu), text
    else:
        assert money_cell(text, mu) is None


def _months_held_by_definition(start, on):
    # the definition: the most whole months m with add_months(start, m) <= on
    if on < start:
        return 0
    m = (on.year - start.year) * 12 + (on.month - start.month)
    while m > 0 and add_months(start, m) > on:
        m -= 1
    return max(m, 0)


@given(st.dates(date(1990, 1, 1), date(2060, 12, 31)), st.dates(date(1990, 1, 1),
                                                                 date(2060, 12, 31)))
def test_months_held_closed_form_is_the_definition(start, on):
    assert months_held(start, on) == _months_held_by_definition(start, on)


def test_months_held_closed_form_on_every_day_of_four_years():
    # every start over a leap-year cycle against month ends, month starts and days around
    # them over the next five years (a wrong month-end rule fails on the 28th to 31st)
    starts = [date(2023, 1, 1) + timedelta(days=i) for i in range(4 * 366)]
    ons = [date(2023, 1, 1) + timedelta(days=i) for i in range(0, 6 * 366)
           if (date(2023, 1, 1) + timedelta(days=i)).day in (1, 2, 15, 27, 28, 29, 30, 31)]
    for s in starts[::3]:
        for o in ons:
            assert months_held(s, o) == _months_held_by_definition(s, o), (s, o)


SA_TYPES = ["E-RES", "G-RES", "E-RES", "DEP-RES"]
STATUSES = ["active", "active", "pending_stop", "stopped"]


@st.composite
def account_states(draw):
    on = date(2026, 11, 21)
    acct = Account("A1", "RES", draw(st.integers(0, 999)), draw(st.integers(0, 4)),
                   draw(st.booleans()) and draw(st.booleans()),
                   draw(st.sampled_from([None, on + timedelta(days=30), on - timedelta(days=1)])))
    state = AccountState(acct)
    n_dep = draw(st.integers(1, 2))
    n_other = draw(st.integers(0, 3))
    for i in range(n_dep + n_other):
        is_dep = i < n_dep
        sa_type = "DEP-RES" if is_dep else draw(st.sampled_from(["E-RES", "G-RES"]))
        start = on - timedelta(days=draw(st.integers(0, 2000)))
        status = draw(st.sampled_from(STATUSES if is_dep else ["active", "stopped",
                                                               "pending_stop", "closed"]))
        stop = None
        if status in ("pending_stop", "stopped"):
            stop = start + timedelta(days=draw(st.integers(0, (on - start).days)))
        if is_dep:
            payoff = -draw(st.integers(0, 500_00))
            current = draw(st.sampled_from([0, payoff, draw(st.integers(-100_00, 100_00))]))
        else:
            payoff = 0 if status == "closed" else draw(st.integers(-50_00, 300_00))
            current = payoff
        state.sas[f"S{i}"] = ServiceAgreement(
            f"S{i}", "A1", sa_type, status, start, stop, current, payoff, -payoff if is_dep else 0,
            start, opening_payoff=payoff, opening_current=current)
    if draw(st.booleans()) and draw(st.booleans()):
        state.ncds.append(NonCashDeposit("N1", "A1", "RES", "surety_bond", 100_00,
                                         on - timedelta(days=10)))
    return state, on


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(account_states())
def test_cycle_keeps_invariants_and_is_idempotent(setup, case):
    state, on = case
    before_total = sum(s.payoff_balance for s in state.sas.values())
    run = Runner(setup.book, backend="python", run_id="prop").run_cycle(state, on)
    assert check_account(state, setup.config) == []
    # money conservation, stated independently of the checker
    moved = sum(s.payoff_balance for s in state.sas.values()) - before_total
    external = sum(a.amount for a in state.adjustments
                   if a.category in ("deposit_interest", "write_down", "ap_refund"))
    assert moved == external
    for a in state.adjustments:
        if a.twin_id:
            assert a.amount + state.adjustment(a.twin_id).amount == 0
    for s in state.sas.values():
        if s.status == "closed" and s.sa_type == "DEP-RES":
            assert s.payoff_balance == 0 and s.current_balance == 0
    n = len(state.journal)
    again = Runner(setup.book, backend="python", run_id="prop2").run_cycle(state, on)
    assert again.trace == [] and len(state.journal) == n
    assert run is not None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(account_states())
def test_durable_and_python_back_ends_agree(setup, case):
    state, on = case
    a, b = copy.deepcopy(state), copy.deepcopy(state)
    ra = Runner(setup.book, backend="durable", run_id="x").run_cycle(a, on, explain=True)
    rb = Runner(setup.book, backend="python", run_id="x").run_cycle(b, on, explain=True)
    assert [t.as_dict() for t in ra.trace] == [t.as_dict() for t in rb.trace]
    assert [w.as_dict() for w in ra.why_not] == [w.as_dict() for w in rb.why_not]


@given(st.lists(st.sampled_from(["pending_start", "active", "pending_stop", "stopped",
                                 "reactivated", "closed", "canceled"]), min_size=1,
                max_size=6),
       st.sampled_from(["active", "pending_stop", "stopped", "reactivated"]),
       st.booleans())
def test_status_machine_allows_only_legal_moves(setup, moves, start, zero):
    from deprules.errors import LedgerError
    from deprules.ledger.executor import Executor
    from deprules.ledger.model import LEGAL_MOVES, Cause

    on = date(2026, 11, 21)
    state = AccountState(Account("A1", "RES", 500))
    bal = 0 if zero else -100
    sa = ServiceAgreement("S1", "A1", "DEP-RES", start, date(2020, 1, 1), None, bal, bal,
                          opening_payoff=bal, opening_current=bal)
    state.sas["S1"] = sa
    ex = Executor(state, setup.config, on)
    for to in moves:
        before = sa.status
        legal = (before, to) in LEGAL_MOVES and not (to == "closed" and not zero)
        if before == to:
            assert ex.set_status(sa, to, Cause("TEST", run_id="t", config_hash="h")) is False
        elif legal:
            assert ex.set_status(sa, to, Cause("TEST", run_id="t", config_hash="h")) is True
            assert sa.status == to
        else:
            try:
                ex.set_status(sa, to, Cause("TEST", run_id="t", config_hash="h"))
            except LedgerError as exc:
                assert "S1" in str(exc) and (to in str(exc) or "closed" in str(exc))
                assert sa.status == before
            else:
                raise AssertionError(f"{before} -> {to} was allowed")
    assert check_account(state, setup.config) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=30), st.integers(0, 4))
def test_money_column_text_is_format_money(values, mu):
    """The column formatter (accounts.csv, why-not details) writes what format_money
    writes, for every int64 including its extremes."""
    assert format_money_array(values, mu).to_pylist() == [format_money(v, mu) for v in values]
