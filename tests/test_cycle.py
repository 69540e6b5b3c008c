"""The automated cycle, one seed step at a time, with the money checked to the cent."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from helpers import acct, adjustments, money, run_cycle, sa

from deprules.ledger import check_account
from deprules.runner import Runner
from deprules.workspace import load_setup

ON = date(2026, 11, 21)


def variant(root, *sets):
    return load_setup(root / "config", root / "rules", sets=list(sets))


def rules_fired(run):
    return [t.rule for t in run.trace]


def test_oracle_walkthrough_interest_sync_transfer_check_close(tmp_path, root):
    # deposit of 100 billed and paid; 5.00 interest (5% for a year); 60 of electric debt
    setup = variant(root, 'deposit_classes.RES.interest.rates=[{effective: "2020-01-01", '
                          'annual_percent: "5"}]')
    runs = run_cycle(tmp_path, setup, [acct()],
                     [sa("DEP1", "DEP-RES", start="2025-11-21", payoff="-100.00"),
                      sa("EL1", "E-RES", start="2020-01-01", payoff="60.00", current="60.00")],
                     date(2026, 11, 21))
    st = runs["A1"].state
    assert adjustments(st) == [
        ("DEP1", "deposit_interest", "-5.00"),   # 2.4: payoff -105.00, current 0.00
        ("DEP1", "sync_up", "-105.00"),          # 2.5: current = payoff
        ("DEP1", "transfer", "60.00"),           # 3.0.1.0: APPLYDEPOSIT pays the electric debt
        ("EL1", "transfer", "-60.00"),
        ("DEP1", "ap_refund", "45.00"),          # 3.0.1.4: the rest by check
    ]
    assert [(c.amount, c.status, c.payee_account_id) for c in st.checks] == [
        (4500, "not_selected", "A1")]
    assert st.sas["DEP1"].status == "closed" and money(st, "DEP1") == ("0.00", "0.00")
    assert money(st, "EL1") == ("0.00", "0.00")
    assert st.bills[0].amount == -10500 and st.bills[0].status == "complete"
    assert check_account(st, setup.config) == []


def test_published_interest_example_rounds_once_to_2_42(tmp_path, root):
    start = date(2023, 1, 1)
    change = start + timedelta(days=86)
    setup = variant(root, f'deposit_classes.RES.interest.rates=[{{effective: "{start}", '
                          f'annual_percent: "0.11"}}, {{effective: "{change}", '
                          f'annual_percent: "0.09"}}]')
    stop = start + timedelta(days=390)
    runs = run_cycle(tmp_path, setup, [acct()],
                     [sa("DEP1", "DEP-RES", status="pending_stop", start=str(start),
                         stop_date=str(stop), payoff="-2400.00")], stop)
    st = runs["A1"].state
    assert adjustments(st)[0] == ("DEP1", "deposit_interest", "-2.42")
    assert st.sas["DEP1"].last_interest_date == stop


def test_small_residual_is_written_down_not_refunded(tmp_path, setup):
    runs = run_cycle(tmp_path, setup, [acct()],
                     [sa("DEP1", "DEP-RES", start="2024-01-01", payoff="-100.50"),
                      sa("EL1", "E-RES", payoff="100.00", current="100.00")], ON)
    st = runs["A1"].state
    cats = [(c, a) for _, c, a in adjustments(st) if c in ("write_down", "ap_refund")]
    assert ("write_down", "0.50") in [(c, a) for c, a in cats] or cats[0][0] == "write_down"
    assert not st.checks
    assert st.sas["DEP1"].status == "closed"
    assert "wpm/write-down" in rules_fired(runs["A1"])


def test_non_cash_deposit_sends_the_residual_to_a_todo(tmp_path, setup):
    runs = run_cycle(tmp_path, setup, [acct()],
                     [sa("DEP1", "DEP-RES", start="2024-01-01", payoff="-150.00")], ON,
                     ncds=[dict(ncd_id="N1", account_id="A1", deposit_class="RES",
                                ncd_type="letter_of_credit", amount="500.00",
                                start_date="2020-01-01")])
    st = runs["A1"].state
    assert [t.todo_type for t in st.todos] == ["NCD-REDEEM"]
    assert not st.checks
    assert st.sas["DEP1"].status == "stopped"  # stays open with its credit
    assert st.sas["DEP1"].payoff_balance < 0


def test_deposit_is_seized_after_the_last_electric_sa_stopped(tmp_path, setup):
    # held only 3 months (not eligible) but its only covered SA has stopped
    runs = run_cycle(tmp_path, setup, [acct(credit_rating=100)],
                     [sa("DEP1", "DEP-RES", start="2026-08-01", payoff="-200.00"),
                      sa("EL1", "E-RES", status="stopped", start="2020-01-01",
                         stop_date="2026-11-01", payoff="30.00", current="30.00")], ON)
    run = runs["A1"]
    assert "saact/seize-deposit" in rules_fired(run)
    assert "deprfnd/refund-good-credit-rating" not in rules_fired(run)
    st = run.state
    assert money(st, "EL1") == ("0.00", "0.00")
    assert [(c.amount) for c in st.checks] == [17000 + _interest(st)]
    assert st.sas["DEP1"].status == "closed"


def _interest(st):
    return -sum(a.amount for a in st.adjustments if a.category == "deposit_interest")


def test_pending_stop_of_an_electric_sa_is_finalized_then_seizure(tmp_path, setup):
    runs = run_cycle(tmp_path, setup, [acct(credit_rating=100)],
                     [sa("DEP1", "DEP-RES", start="2026-08-01", payoff="-200.00"),
                      sa("EL1", "E-RES", status="pending_stop", start="2020-01-01",
                         stop_date="2026-11-20")], ON)
    st = runs["A1"].state
    assert st.sas["EL1"].status == "stopped"
    assert st.sas["DEP1"].status == "closed"


def test_depref_todo_class_creates_a_todo_and_moves_no_money(tmp_path, root):
    setup = variant(root, "deposit_classes.RES.refund_method.algorithm=DEPREF-TODO")
    runs = run_cycle(tmp_path, setup, [acct()],
                     [sa("DEP1", "DEP-RES", start="2024-01-01", payoff="-100.00"),
                      sa("EL1", "E-RES", payoff="40.00", current="40.00")], ON)
    st = runs["A1"].state
    assert [t.todo_type for t in st.todos] == ["DEPREF"]
    assert not st.checks
    assert {c for _, c, _ in adjustments(st)} <= {"deposit_interest", "sync_up"}
    assert st.sas["DEP1"].status == "stopped"
    assert money(st, "EL1") == ("40.00", "40.00")
    # WPM leaves it alone while the To Do is open, also on later runs
    again = Runner(setup.book, run_id="again").run_cycle(st, ON + timedelta(days=40))
    assert again.trace == []


@pytest.mark.parametrize("months,fires", [(11, False), (12, True)])
def test_hold_months_boundary(tmp_path, setup, months, fires):
    start = date(2025, 11, 21)
    on = date(2025 + (11 + months - 1) // 12, (11 + months - 1) % 12 + 1, 21)
    runs = run_cycle(tmp_path, setup, [acct()],
                     [sa("DEP1", "DEP-RES", start=str(start), payoff="-100.00")], on,
                     explain=True)
    fired = "deprfnd/refund-good-credit-rating" in rules_fired(runs["A1"])
    assert fired is fires
    if not fires:
        why = [w.detail for w in runs["A1"].why_not
               if w.rule == "deprfnd/refund-good-credit-rating"]
        assert why == ["sa.months_held is 11, needs >= 12"]


def test_month_end_clamp_counts_feb_29(tmp_path, setup):
    # Feb 29 2024 + 12 months = Feb 28 2025: held 12 months on that day
    runs = run_cycle(tmp_path, setup, [acct()],
                     [sa("DEP1", "DEP-RES", start="2024-02-29", payoff="-100.00")],
                     date(2025, 2, 28))
    assert "deprfnd/refund-good-credit-rating" in rules_fired(runs["A1"])


def test_do_not_refund_and_low_credit_rating_are_not_refunded(tmp_path, setup):
    runs = run_cycle(tmp_path, setup,
                     [acct("A1", do_not_refund="true"), acct("A2", credit_rating=299)],
                     [sa("DEP1", "DEP-RES", start="2020-01-01", payoff="-100.00"),
                      sa("DEP2", "DEP-RES", start="2020-01-01", payoff="-100.00",
                         account_id="A2")], ON, explain=True)
    # not refunded; only the yearly interest (DEPINTRF, months_between_interest 12) moves
    for aid in ("A1", "A2"):
        assert {t.rule for t in runs[aid].trace} == {"depintrf/periodic-interest"}
    details = {w.sa_id: w.detail for w in runs["A1"].why_not + runs["A2"].why_not
               if w.rule == "deprfnd/refund-good-credit-rating"}
    assert details == {"DEP1": "account.do_not_refund is True, needs == False",
                       "DEP2": "account.credit_rating is 299, needs >= 300"}


@pytest.mark.parametrize("late,fires", [(2, True), (3, False)])
def test_late_payments_good_customer(tmp_path, root, late, fires):
    setup = variant(root, "deposit_classes.RES.good_customer={algorithm: LATEPAYMENTS, "
                          "max_late_payments: 2}")
    runs = run_cycle(tmp_path, setup, [acct(credit_rating=0, late_payments_12m=late)],
                     [sa("DEP1", "DEP-RES", start="2020-01-01", payoff="-100.00")], ON)
    assert ("deprfnd/refund-few-late-payments" in rules_fired(runs["A1"])) is fires


@pytest.mark.parametrize("change", ["deposit_classes.RES.good_customer={algorithm: BADCUST}",
                                    "deposit_classes.RES.refund_criteria={algorithm: "
                                    "DEPREFUND-NO}"])
def test_badcust_and_deprefund_no_never_refund(tmp_path, root, change):
    setup = variant(root, change)
    runs = run_cycle(tmp_path, setup, [acct(credit_rating=999)],
                     [sa("DEP1", "DEP-RES", start="2010-01-01", payoff="-100.00")], ON)
    # never refunded: only the yearly interest credits (DEPINTRF) happen
    assert {t.rule for t in runs["A1"].trace} == {"depintrf/periodic-interest"}
    assert runs["A1"].state.sas["DEP1"].status == "active"


def test_minimum_days_held_gives_no_interest(tmp_path, root):
    setup = variant(root, "deposit_classes.RES.interest.min_days_held=180")
    runs = run_cycle(tmp_path, setup, [acct()],
                     [sa("DEP1", "DEP-RES", status="pending_stop", start="2026-06-01",
                         stop_date="2026-11-01", payoff="-100.00")], ON)
    st = runs["A1"].state
    assert "stop/no-interest-below-minimum-days" in rules_fired(runs["A1"])
    assert not [a for a in st.adjustments if a.category == "deposit_interest"]
    assert st.sas["DEP1"].last_interest_date == date(2026, 11, 1)


def test_pending_stop_keeps_its_own_earlier_stop_date(tmp_path, setup):
    runs = run_cycle(tmp_path, setup, [acct()],
                     [sa("DEP1", "DEP-RES", status="pending_stop", start="2025-01-01",
                         stop_date="2026-01-01", payoff="-1000.00")], ON)
    st = runs["A1"].state
    assert st.sas["DEP1"].stop_date == date(2026, 1, 1)
    interest = [a for a in st.adjustments if a.category == "deposit_interest"][0]
    # 365 days at 0.09% on 1000.00 = 0.90
    assert interest.amount == -90


def test_running_the_cycle_twice_changes_nothing(tmp_path, setup):
    runs = run_cycle(tmp_path, setup, [acct()],
                     [sa("DEP1", "DEP-RES", start="2024-01-01", payoff="-100.00"),
                      sa("EL1", "E-RES", payoff="10.00", current="10.00")], ON)
    st = runs["A1"].state
    n = len(st.journal)
    second = Runner(setup.book, run_id="second").run_cycle(st, ON)
    assert second.trace == [] and len(st.journal) == n


def test_due_days_and_grace_days_delay_the_write_off_monitor(tmp_path, root):
    setup = variant(root, "installation.bill_due_days=10", "write_off_controls.RES.grace_days=5")
    runs = run_cycle(tmp_path, setup, [acct()],
                     [sa("DEP1", "DEP-RES", start="2024-01-01", payoff="-100.00")], ON)
    st = runs["A1"].state
    assert st.bills[0].due_date == ON + timedelta(days=10)
    assert not st.checks and st.sas["DEP1"].status == "stopped"
    runner = Runner(setup.book, run_id="later")
    assert runner.run_cycle(st, ON + timedelta(days=14)).trace == []
    later = runner.run_cycle(st, ON + timedelta(days=15))
    assert [t.rule for t in later.trace] == ["wpm/refund-by-check", "wpm/close-at-zero"]


def test_postponed_account_waits_but_a_zero_balance_closes(tmp_path, setup):
    runs = run_cycle(tmp_path, setup,
                     [acct("A1", cc_postpone_date="2027-01-01"),
                      acct("A2", cc_postpone_date="2027-01-01")],
                     [sa("DEP1", "DEP-RES", start="2024-01-01", payoff="-100.00"),
                      sa("DEP2", "DEP-RES", start="2024-01-01", payoff="-100.00",
                         account_id="A2"),
                      sa("EL2", "E-RES", payoff="500.00", current="500.00", account_id="A2")],
                     ON)
    assert not runs["A1"].state.checks and runs["A1"].state.sas["DEP1"].status == "stopped"
    # A2's deposit (plus interest) went entirely to debt: zero balance closes despite postponement
    assert runs["A2"].state.sas["DEP2"].status == "closed"


def test_apply_deposit_pays_in_distribution_order(tmp_path, setup):
    runs = run_cycle(tmp_path, setup, [acct()],
                     [sa("DEP1", "DEP-RES", start="2024-01-01", payoff="-100.00",
                         last_interest_date="2026-11-21"),
                      sa("GAS1", "G-RES", start="2019-01-01", payoff="50.00", current="50.00"),
                      sa("EL2", "E-RES", start="2021-01-01", payoff="40.00", current="40.00"),
                      sa("EL1", "E-RES", start="2020-01-01", payoff="40.00", current="40.00")],
                     ON)
    transfers = [(s, a) for s, c, a in adjustments(runs["A1"].state) if c == "transfer"
                 and s != "DEP1"]
    # electric (priority 10) before gas (20); older electric first
    assert transfers == [("EL1", "-40.00"), ("EL2", "-40.00"), ("GAS1", "-20.00")]
    assert money(runs["A1"].state, "GAS1") == ("30.00", "30.00")


def test_debit_residual_goes_to_default_review(tmp_path, setup):
    # an unbilled current balance larger than the deposit leaves a debit of 20.00
    runs = run_cycle(tmp_path, setup, [acct()],
                     [sa("DEP1", "DEP-RES", start="2024-01-01", payoff="20.00", current="0.00",
                         last_interest_date="2026-11-21")], ON)
    st = runs["A1"].state
    assert [t.todo_type for t in st.todos] == ["WO-MANUAL"]


def test_python_and_durable_back_ends_agree_on_a_scenario(tmp_path, setup):
    common = dict(accounts=[acct()], sas=[sa("DEP1", "DEP-RES", start="2024-01-01",
                                              payoff="-100.00"),
                                           sa("EL1", "E-RES", payoff="60.00", current="60.00")])
    a = run_cycle(tmp_path / "a", setup, on=ON, backend="durable", **common)
    b = run_cycle(tmp_path / "b", setup, on=ON, backend="python", **common)
    assert [t.as_dict() for t in a["A1"].trace] == [t.as_dict() for t in b["A1"].trace]
