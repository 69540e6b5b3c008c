"""Invariants at scale, with hypothesis drawing hostile but valid accounts.

tests/test_properties.py covers the cycle on residential accounts under the shipped
configuration. This adds what it leaves out: every single process (DEPRFND, SAACT, STOP,
BILLING, WPM) run twice on the same date changes nothing the second time, starting from
any stage of the cycle; both customer classes, reactivated, closed and canceled SAs,
deposits in debit, FT history, non-cash deposits, postponed and do-not-refund accounts; a
second configuration (DEPREF-TODO, LATEPAYMENTS, due and grace days, minimum days held,
actual/actual, half-even); and each invariant of DOMAIN.md section 6 stated directly, not
only through ``ledger check``.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deprules.ledger.check import EXTERNAL, check_account
from deprules.ledger.executor import FT_ALGORITHMS
from deprules.ledger.model import (
    LEGAL_MOVES,
    Account,
    AccountState,
    HistoryFT,
    NonCashDeposit,
    ServiceAgreement,
)
from deprules.runner import AccountRun, Runner
from deprules.rules.vocabulary import PROCESSES

ON = date(2026, 11, 21)

# a second installation: the other refund method, good customer by payment history, bills
# due later than they complete, grace days, a minimum holding period, other day count and
# rounding. Built from --set assignments so the shipped files stay the only source.
OTHER_SETS = (
    "deposit_classes.RES.refund_method.algorithm=DEPREF-TODO",
    "deposit_classes.COM.good_customer.algorithm=LATEPAYMENTS",
    "deposit_classes.COM.good_customer.max_late_payments=1",
    "deposit_classes.COM.interest.min_days_held=180",
    "deposit_classes.COM.interest.day_count=actual/actual",
    "installation.rounding=half_even",
    "installation.bill_due_days=10",
    "write_off_controls.COM.grace_days=5",
)


@pytest.fixture(scope="module")
def setups(setup, root):
    from deprules.workspace import load_setup

    return {"shipped": setup, "other": load_setup(root / "config", root / "rules",
                                                  sets=OTHER_SETS)}


DEPOSIT_STATUSES = ["active", "active", "pending_stop", "stopped", "reactivated", "closed"]
OTHER_STATUSES = ["active", "active", "pending_stop", "stopped", "closed", "canceled"]


@st.composite
def accounts(draw):
    cls = draw(st.sampled_from(["RES", "COM"]))
    acct = Account("A1", cls, draw(st.integers(-50, 999)), draw(st.integers(0, 4)),
                   draw(st.booleans()) and draw(st.booleans()),
                   draw(st.sampled_from([None, ON + timedelta(days=30), ON - timedelta(days=1),
                                         ON])))
    state = AccountState(acct)
    n_dep = draw(st.integers(1, 2))
    n_other = draw(st.integers(0, 3))
    for i in range(n_dep + n_other):
        is_dep = i < n_dep
        dc = draw(st.sampled_from([cls, cls, "RES" if cls == "COM" else "COM"]))
        sa_type = f"DEP-{dc}" if is_dep else draw(st.sampled_from([f"E-{dc}", f"G-{dc}"]))
        start = ON - timedelta(days=draw(st.integers(0, 3000)))
        status = draw(st.sampled_from(DEPOSIT_STATUSES if is_dep else OTHER_STATUSES))
        stop = None
        if status in ("pending_stop", "stopped", "closed"):
            latest = (ON - start).days + (30 if status == "pending_stop" else 0)
            stop = start + timedelta(days=draw(st.integers(0, latest)))
        if is_dep:
            if status == "closed":
                payoff = current = 0
            else:
                payoff = draw(st.one_of(st.integers(-900_00, 0), st.integers(-500_00, 50_00),
                                        st.integers(-300, 1200)))  # write-down sized
                current = draw(st.sampled_from([0, payoff, draw(st.integers(-100_00, 100_00))]))
        else:
            # a debt near the first deposit leaves a residual in the write-down band
            near = -state.sas["S0"].payoff_balance + draw(st.integers(-1200, 300))
            payoff = draw(st.one_of(st.integers(-50_00, 400_00), st.just(near)))
            current = draw(st.sampled_from([payoff, 0, draw(st.integers(-50_00, 400_00))]))
        last_interest = start + timedelta(days=draw(st.integers(0, max(0, (ON - start).days))))
        state.sas[f"S{i}"] = ServiceAgreement(
            f"S{i}", "A1", sa_type, status, start, stop, current, payoff,
            max(0, -payoff) if is_dep else 0, last_interest,
            opening_payoff=payoff, opening_current=current)
        if is_dep and draw(st.booleans()):
            for k in range(draw(st.integers(1, 3))):
                state.history.append(HistoryFT(
                    f"F{i}-{k}", "A1", f"S{i}",
                    start + timedelta(days=draw(st.integers(0, max(0, (ON - start).days)))),
                    draw(st.integers(-300_00, 100_00)), 0))
    if draw(st.booleans()) and draw(st.booleans()):
        state.ncds.append(NonCashDeposit(
            "N1", "A1", draw(st.sampled_from(["RES", "COM"])), "surety_bond",
            draw(st.integers(1, 1000_00)), ON - timedelta(days=draw(st.integers(0, 400))),
            draw(st.sampled_from([None, ON, ON + timedelta(days=1)]))))
    return state


def assert_invariants(state: AccountState, config, before_total: int) -> None:
    """DOMAIN.md section 6, each stated on its own."""
    assert check_account(state, config) == []
    # money is never created or lost: the total payoff moves only by money in or out
    adjs = {a.adjustment_id: a for a in state.adjustments}
    moved = sum(s.payoff_balance for s in state.sas.values()) - before_total
    external = sum(ft.payoff_amount for ft in state.fts
                   if ft.source == "adjustment" and adjs[ft.source_id].category in EXTERNAL)
    assert moved == external
    # transfers net to zero, pair by pair and in total, and are frozen together
    transfers = [a for a in state.adjustments if a.category == "transfer"]
    assert sum(a.amount for a in transfers) == 0
    for a in transfers:
        twin = adjs[a.twin_id]
        assert twin.twin_id == a.adjustment_id and twin.amount == -a.amount
        assert twin.status == a.status
    # every FT's GL lines balance; an FT of a GL-posting adjustment has them
    gl = defaultdict(list)
    for line in state.gl_lines:
        gl[line.ft_id].append(line.amount)
    for ft_id, amounts in gl.items():
        assert sum(amounts) == 0, ft_id
    for ft in state.fts:
        if ft.source == "adjustment" and (ft.payoff_amount or ft.current_amount):
            alg = config.adjustment_types[adjs[ft.source_id].adjustment_type].ft_algorithm
            assert FT_ALGORITHMS[alg][2] == (ft.ft_id in gl), ft.ft_id
    # no adjustment of 0.00; a check per A/P adjustment, for its amount
    assert all(a.amount != 0 for a in state.adjustments)
    for c in state.checks:
        assert adjs[c.adjustment_id].category == "ap_refund"
        assert c.amount == adjs[c.adjustment_id].amount
    assert len({c.adjustment_id for c in state.checks}) == len(state.checks)
    # a cash deposit SA is closed only with both balances at zero
    for s in state.sas.values():
        if s.status == "closed" and config.sa_types[s.sa_type].is_cash_deposit:
            assert s.payoff_balance == 0 and s.current_balance == 0, s.sa_id
    # every status change is a legal move and names its cause
    for e in state.journal:
        assert e.cause.process and e.cause.run_id and e.cause.config_hash
        if e.kind == "status":
            d = e.details()
            assert (d["from_status"], d["to_status"]) in LEGAL_MOVES


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accounts(), st.sampled_from(["shipped", "other"]), st.sampled_from(PROCESSES),
       st.lists(st.booleans(), min_size=len(PROCESSES), max_size=len(PROCESSES)))
def test_each_process_twice_on_the_same_date_changes_nothing(setups, state, which, process,
                                                             take):
    """Run some earlier processes (to reach any stage), then ``process``; a second run of it,
    by a fresh runner as the next batch would, must change nothing at all."""
    setup = setups[which]
    before_total = sum(s.payoff_balance for s in state.sas.values())
    runner = Runner(setup.book, backend="python", run_id="first")
    run = AccountRun(state)
    for earlier, keep in zip(PROCESSES[: PROCESSES.index(process)], take):
        if keep:
            runner.run_process(run, earlier, ON)
    runner.run_process(run, process, ON)
    assert_invariants(state, setup.config, before_total)
    snapshot = copy.deepcopy(state)
    again = AccountRun(state)
    changed = Runner(setup.book, backend="python", run_id="second").run_process(again, process,
                                                                              ON)
    assert not changed and again.trace == []
    assert state == snapshot


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accounts(), st.sampled_from(["shipped", "other"]))
def test_cycle_keeps_every_invariant_and_settles(setups, state, which):
    """The whole cycle, then the cycle again: invariants hold, and the second run is a no-op,
    and running it once more on the next day still keeps every invariant."""
    setup = setups[which]
    before_total = sum(s.payoff_balance for s in state.sas.values())
    Runner(setup.book, backend="python", run_id="c1").run_cycle(state, ON)
    assert_invariants(state, setup.config, before_total)
    snapshot = copy.deepcopy(state)
    assert Runner(setup.book, backend="python", run_id="c2").run_cycle(state, ON).trace == []
    assert state == snapshot
    Runner(setup.book, backend="python", run_id="c3").run_cycle(state, ON + timedelta(days=40))
    assert_invariants(state, setup.config, before_total)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(accounts(), st.sampled_from(["shipped", "other"]))
def test_durable_engine_gives_the_same_ledger(setups, state, which):
    """Determinism across back ends on the hostile accounts: identical end states."""
    setup = setups[which]
    a, b = copy.deepcopy(state), copy.deepcopy(state)
    Runner(setup.book, backend="durable", run_id="x").run_cycle(a, ON)
    Runner(setup.book, backend="python", run_id="x").run_cycle(b, ON)
    assert a == b
