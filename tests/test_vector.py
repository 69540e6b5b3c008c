"""The vector back end agrees exactly with the per-account runner (the reference).

Generated extracts under the shipped configuration and variants of it, one date and a
multi-date horizon, plus hand-made accounts for the paths the generator never takes
(several deposits of one class, a deposit in debit, the per-account fallback). Compared:
every SA's final status, stop date, balances, last interest date and final bill; every
adjustment in creation order (with its id number, twin, type, amount, rule); checks;
To Dos (with message); and the trace of rule firings (process, round, SA, rule).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deprules.extract import generate_extract, load_extract
from deprules.ledger.tables import states_from_extract
from deprules.runner import Runner
from deprules.vector import VectorCycle, plain, prepare, reference_frames, run_cycle_frames
from deprules.vector.frames import with_ids
from deprules.workspace import extract_context, load_setup

ROOT = Path(__file__).resolve().parents[1]
ON = date(2026, 11, 21)

WIDE_BAND = [
    'write_off_controls.RES.criteria.1={algorithm: WO-WRITEDOWN, lower: "-5.00", '
    'upper: "25.00"}',
    'write_off_controls.RES.criteria.2={algorithm: WO-AP-ADJ, min_refund: "5.00"}',
]
CONFIGS = {
    "shipped": [],
    "hold18-late1-band": ["deposit_classes.RES.refund_criteria.hold_months=18",
                          "deposit_classes.RES.good_customer={algorithm: LATEPAYMENTS, "
                          "max_late_payments: 1}", *WIDE_BAND],
    "depref-todo-min180": ["deposit_classes.RES.refund_method.algorithm=DEPREF-TODO",
                           "deposit_classes.COM.interest.min_days_held=180",
                           "deposit_classes.RES.interest.min_days_held=180"],
    "due10-grace": ["installation.bill_due_days=10", "write_off_controls.RES.grace_days=5",
                    "write_off_controls.COM.grace_days=3"],
    "actual-actual-half-even": ["deposit_classes.RES.interest.day_count=actual/actual",
                                "deposit_classes.RES.interest.rounding=half_even",
                                "deposit_classes.COM.refund_criteria.hold_months=6"],
    "30-360-rates": ["deposit_classes.COM.interest.day_count=30/360",
                     "deposit_classes.RES.interest.day_count=30/360",
                     'deposit_classes.RES.interest.rates=[{effective: "2020-01-01", '
                     'annual_percent: "3.125"}, {effective: "2024-02-29", annual_percent: '
                     '"1.7"}, {effective: "2026-06-30", annual_percent: "4"}]'],
    # effective-dated values (docs/configuration.md), changing between the horizon's dates
    "dated": [
        "deposit_classes.RES.refund_criteria.hold_months=[{value: 12}, "
        "{effective: 2027-01-01, value: 18}]",
        "installation.credit_rating_threshold=[{value: 300}, {effective: 2026-12-15, "
        "value: 450}]",
        "deposit_classes.COM.refund_method.algorithm=[{value: APPLYDEPOSIT}, "
        "{effective: 2027-02-01, value: DEPREF-TODO}]",
        "deposit_classes.COM.good_customer={algorithm: LATEPAYMENTS, max_late_payments: "
        "[{value: 2}, {effective: 2027-01-01, value: 1}]}",
        "deposit_classes.RES.months_between_interest=[{value: 12}, {effective: 2027-01-01, "
        "value: 3}]",
        "deposit_classes.COM.months_between_interest=[{value: 12}, {effective: 2027-02-28, "
        "value: 0}]",
        'deposit_classes.RES.interest.rates=[{effective: "2020-01-01", annual_percent: "5"}]',
        'write_off_controls.RES.criteria.1={algorithm: WO-WRITEDOWN, lower: [{value: "-1.00"}, '
        '{effective: 2026-12-31, value: "-5.00"}], upper: [{value: "10.00"}, '
        '{effective: 2027-03-01, value: "25.00"}]}',
        'write_off_controls.RES.criteria.2={algorithm: WO-AP-ADJ, min_refund: [{value: "1.00"}, '
        '{effective: 2026-12-31, value: "5.00"}]}',
    ],
}
DATED_DATES = [ON, date(2026, 12, 15), date(2026, 12, 31), date(2027, 1, 31), date(2027, 2, 28),
               date(2027, 3, 1), date(2027, 5, 21)]

_setups: dict = {}


def setup_for(name_or_sets):
    key = name_or_sets if isinstance(name_or_sets, str) else tuple(name_or_sets)
    if key not in _setups:
        sets = CONFIGS[key] if isinstance(key, str) else list(key)
        _setups[key] = load_setup(ROOT / "config", ROOT / "rules", sets=sets)
    return _setups[key]


def reference(extract, book, dates, processes=None, explain=False) -> list[dict]:
    """The per-account runner over the extract, one frame set per date."""
    from deprules.rules.vocabulary import PROCESSES

    states = states_from_extract(extract, book.config)
    runner = Runner(book, backend="python", run_id="ref")
    out = []
    for on in dates:
        before = {aid: (len(s.adjustments), len(s.checks), len(s.todos))
                  for aid, s in states.items()}
        runs = {aid: runner.run_cycle(s, on, processes or PROCESSES, explain=explain)
                for aid, s in sorted(states.items())}
        out.append(reference_frames(states, runs, before, book.config))
    return out


WHY_KEY = ["account_id", "process", "rule", "sa_id", "condition"]


def assert_same(result, ref: dict, what: str = "") -> None:
    names = ["sas", "adjustments", "checks", "todos", "trace"]
    if result.why_not is not None:
        names.append("why_not")
    # sa_rows: every row's SA as a position in the sas frame (what simulate aggregates by)
    sa_ids = result.sas["sa_id"].to_numpy(dtype=object)
    for name in names[1:]:
        frame = getattr(result, name)
        assert (sa_ids[result.sa_rows[name]] == frame["sa_id"].to_numpy(dtype=object)).all(), \
            f"{what} {name}: sa_rows do not point at the rows' SAs"
    for name in names:
        got = plain(getattr(result, name)).reset_index(drop=True)
        want = plain(ref[name]).reset_index(drop=True)
        if name == "why_not":  # the runner lists an account's SAs in extract row order
            got = got.sort_values(WHY_KEY, kind="stable").reset_index(drop=True)
            want = want.sort_values(WHY_KEY, kind="stable").reset_index(drop=True)
        if got.empty and want.empty:
            continue
        try:
            pd.testing.assert_frame_equal(got, want, check_dtype=False)
        except AssertionError:
            # name the first differing account to make the failure readable
            accts = sorted(set(got["account_id"]) | set(want["account_id"]))
            for a in accts:
                g = got[got["account_id"] == a].reset_index(drop=True)
                w = want[want["account_id"] == a].reset_index(drop=True)
                if not g.equals(w):
                    raise AssertionError(f"{what} {name} differ for account {a}:\nvector\n"
                                         f"{g.to_string()}\nreference\n{w.to_string()}")
            raise


# ---- generated extracts ---------------------------------------------------------------
@pytest.mark.parametrize("config,seed,accounts", [
    ("shipped", 1, 1000),
    ("shipped", 2, 800),
    ("hold18-late1-band", 3, 800),
    ("depref-todo-min180", 4, 700),
    ("actual-actual-half-even", 5, 700),
    ("30-360-rates", 6, 700),
])
def test_generated_extract_matches_the_runner(config, seed, accounts):
    setup = setup_for(config)
    extract = generate_extract(accounts, seed=seed, as_of=ON)
    explain = seed % 2 == 1  # why-not for half of them (all processes)
    result = run_cycle_frames(extract, setup.book, ON, explain=explain)
    [ref] = reference(extract, setup.book, [ON], explain=explain)
    assert_same(result, ref, f"{config}/{seed}")
    assert (result.why_not is not None) == explain
    assert result.fallback_accounts == ()
    # the extract exercises the rules
    assert len(result.trace) > accounts and len(result.adjustments) > accounts // 2
    rules = set(result.trace["rule"].astype(str))
    assert {"deprfnd/refund-good-credit-rating", "saact/finalize-pending-stop",
            "stop/sync-up", "billing/refund-method-todo" if "depref" in config else
            "billing/refund-method-apply-deposit", "billing/complete-final-bill",
            "wpm/close-at-zero"} <= rules


def test_horizon_carries_state_across_dates():
    """Monthly runs with due days and grace: WPM acts on later dates, DEPRFND picks up
    deposits whose hold period ends between runs."""
    setup = setup_for("due10-grace")
    extract = generate_extract(500, seed=7, as_of=ON)
    dates = [ON, ON + timedelta(days=12), ON + timedelta(days=40)]
    cyc = VectorCycle(extract, setup.book)
    refs = reference(extract, setup.book, dates)
    later = set()
    for i, (on, ref) in enumerate(zip(dates, refs)):
        res = cyc.run(on)
        assert_same(res, ref, str(on))
        if i:
            later |= set(res.trace["rule"].astype(str))
    # the later dates did what the first could not (refunds after due date + grace)
    assert {"wpm/refund-by-check", "saact/finalize-pending-stop"} <= later


def test_effective_dated_values_over_a_horizon_match_the_runner():
    """Every monthly run of the vector engine decides with the values in effect on its
    process date, as the per-account runner does: hold months, credit threshold, late
    payments, refund method, months between interest and the write-off amounts each change
    between two of the dates."""
    setup = setup_for("dated")
    assert len(setup.config.dated) == 9 and setup.config.change_dates()[0] == date(2026, 12, 15)
    extract = generate_extract(600, seed=31, as_of=ON)
    cyc = VectorCycle(extract, setup.book)
    refs = reference(extract, setup.book, DATED_DATES, explain=True)
    views = set()
    for on, ref in zip(DATED_DATES, refs):
        res = cyc.run(on, explain=True)
        assert_same(res, ref, f"dated/{on}")
        assert res.fallback_accounts == ()
        views.add(cyc.engine.book.view)
    assert len(views) == 6  # each date after the first saw another set of values


def test_second_run_on_the_same_date_changes_nothing():
    setup = setup_for("shipped")
    extract = generate_extract(300, seed=8, as_of=ON)
    cyc = VectorCycle(extract, setup.book)
    first = cyc.run(ON)
    again = cyc.run(ON)
    assert len(first.trace) > 0
    assert len(again.trace) == 0 and len(again.adjustments) == 0 and len(again.todos) == 0
    pd.testing.assert_frame_equal(plain(first.sas), plain(again.sas))


def test_prepared_columns_are_shared_by_baseline_and_candidate():
    base, cand = setup_for("shipped"), setup_for("hold18-late1-band")
    extract = generate_extract(400, seed=9, as_of=ON)
    prepared = prepare(extract, base.config)
    for setup in (base, cand, base):
        res = run_cycle_frames(extract, setup.book, ON, prepared=prepared)
        [ref] = reference(extract, setup.book, [ON])
        assert_same(res, ref)


def test_single_processes_and_ids():
    setup = setup_for("shipped")
    extract = generate_extract(300, seed=10, as_of=ON)
    res = run_cycle_frames(extract, setup.book, ON, processes=("DEPRFND", "SAACT", "STOP"))
    [ref] = reference(extract, setup.book, [ON], processes=("DEPRFND", "SAACT", "STOP"))
    assert_same(res, ref)
    assert set(res.trace["process"].astype(str)) <= {"DEPRFND", "SAACT", "STOP"}
    ids = with_ids(run_cycle_frames(extract, setup.book, ON).adjustments)
    states = states_from_extract(extract, setup.config)
    runner = Runner(setup.book, backend="python")
    want = []
    for aid, s in sorted(states.items()):
        runner.run_cycle(s, ON)
        want += [(a.adjustment_id, a.twin_id) for a in s.adjustments]
    assert list(zip(ids["adjustment_id"], ids["twin_id"])) == want


def test_firing_counts():
    setup = setup_for("shipped")
    extract = generate_extract(200, seed=12, as_of=ON)
    res = run_cycle_frames(extract, setup.book, ON)
    counts = res.firing_counts()
    assert counts["firings"].sum() == len(res.trace)
    t = plain(res.trace)
    first = t["account_id"].iloc[0]
    want = t[t["account_id"] == first].groupby("rule").size().to_dict()
    got = counts[counts["account_id"].astype(str) == first]
    assert dict(zip(got["rule"].astype(str), got["firings"])) == want


# ---- hand-made accounts: the paths the generator does not take -------------------------
def _extract(tmp_path: Path, setup, accounts, sas, ncds=(), fts=()):
    from helpers import write_extract

    folder = write_extract(tmp_path / "x", accounts, sas, ncds, fts)
    return load_extract(folder, extract_context(setup.config))


def _check(tmp_path, setup, accounts, sas, ncds=(), fts=(), dates=(ON,), explain=True):
    extract = _extract(tmp_path, setup, accounts, sas, ncds, fts)
    cyc = VectorCycle(extract, setup.book)
    refs = reference(extract, setup.book, list(dates), explain=explain)
    results = []
    for on, ref in zip(dates, refs):
        res = cyc.run(on, explain=explain)
        assert_same(res, ref, str(on))
        results.append(res)
    return results


def test_two_deposits_of_one_class_apply_in_waves(tmp_path):
    from helpers import acct, sa

    setup = setup_for("shipped")
    accounts = [acct("A1", credit_rating=600), acct("A2", credit_rating=600)]
    sas = [
        # A1: two deposits held long enough, two debts; both deposits refund in one run
        sa("S1", "DEP-RES", start="2024-01-15", payoff="-100.00", account_id="A1"),
        sa("S2", "DEP-RES", start="2024-03-15", payoff="-80.00", account_id="A1"),
        sa("S3", "E-RES", start="2023-01-01", payoff="120.00", current="120.00",
           account_id="A1"),
        sa("S4", "G-RES", start="2023-06-01", payoff="30.00", current="30.00",
           account_id="A1"),
        # A2: same priority debts ordered by start date, then sa_id
        sa("T1", "DEP-RES", start="2024-01-15", payoff="-50.00", account_id="A2"),
        sa("T4", "E-RES", start="2023-01-01", payoff="20.00", current="20.00", account_id="A2"),
        sa("T3", "E-RES", start="2023-01-01", payoff="20.00", current="20.00", account_id="A2"),
        sa("T2", "E-RES", start="2022-01-01", payoff="5.00", current="5.00", account_id="A2"),
    ]
    [res] = _check(tmp_path, setup, accounts, sas)
    assert res.fallback_accounts == ()
    t = plain(res.adjustments)
    transfers = t[t["category"] == "transfer"]
    assert {"S1", "S2", "S3", "S4", "T1", "T2", "T3", "T4"} <= set(transfers["sa_id"])


def test_why_not_for_configuration_only_failures(tmp_path):
    """Every DEPRFND variant impossible (DEPREFUND-NO, BADCUST): nothing runs, yet the
    why-not says why, like the runner."""
    setup = setup_for(("deposit_classes.COM.good_customer={algorithm: BADCUST}",
                       "deposit_classes.RES.refund_criteria={algorithm: DEPREFUND-NO}"))
    extract = generate_extract(200, seed=15, as_of=ON)
    res = run_cycle_frames(extract, setup.book, ON, explain=True)
    [ref] = reference(extract, setup.book, [ON], explain=True)
    assert_same(res, ref)
    assert "DEPRFND" in set(res.why_not["process"].astype(str))


def test_deposit_in_debit_goes_to_the_per_account_runner(tmp_path):
    from helpers import acct, sa

    setup = setup_for("shipped")
    accounts = [acct("A1", credit_rating=600), acct("A2", credit_rating=600)]
    sas = [
        sa("S1", "DEP-RES", status="stopped", start="2024-01-15", stop_date="2026-11-01",
           payoff="-100.00", account_id="A1"),
        sa("S2", "DEP-RES", status="stopped", start="2024-02-15", stop_date="2026-11-01",
           payoff="40.00", current="40.00", account_id="A1"),
        sa("S3", "E-RES", start="2023-01-01", payoff="25.00", current="25.00", account_id="A1"),
        sa("T1", "DEP-RES", start="2024-01-15", payoff="-50.00", account_id="A2"),
        sa("T2", "E-RES", start="2022-01-01", payoff="5.00", current="5.00", account_id="A2"),
    ]
    dates = (ON, ON + timedelta(days=31))
    res = _check(tmp_path, setup, accounts, sas, dates=dates)
    assert res[0].fallback_accounts == ("A1",)
    assert res[1].fallback_accounts == ("A1",)


def test_history_seizure_ncd_and_postponement(tmp_path):
    from helpers import acct, sa

    setup = setup_for("shipped")
    accounts = [acct("A1", credit_rating=100), acct("A2", credit_rating=900,
                                                    cc_postpone_date="2026-12-01"),
                acct("A3", credit_rating=900, customer_class="COM"),
                acct("A4", credit_rating=900, do_not_refund="true")]
    sas = [
        # A1: bad customer, every service finished: the deposit is seized
        sa("S1", "DEP-RES", start="2025-06-30", payoff="-200.00", account_id="A1"),
        sa("S2", "E-RES", status="stopped", start="2025-06-30", stop_date="2026-10-01",
           payoff="12.34", current="12.34", account_id="A1"),
        sa("S3", "G-RES", status="pending_stop", start="2025-06-30", stop_date="2026-11-20",
           account_id="A1"),
        # A2: postponed: the refund waits in WPM; FT history gives a changing balance
        sa("T1", "DEP-RES", start="2024-02-29", payoff="-300.00", account_id="A2"),
        # A3: COM held 24 months to the day (month-end clamp), with an active NCD
        sa("U1", "DEP-COM", start="2024-11-30", payoff="-1500.55", account_id="A3"),
        sa("U2", "E-COM", status="closed", start="2020-01-01", stop_date="2021-01-01",
           account_id="A3"),
        # A4: do-not-refund but seizable
        sa("V1", "DEP-RES", start="2020-01-31", payoff="-0.50", account_id="A4"),
        sa("V2", "E-RES", status="canceled", start="2020-01-31", account_id="A4"),
    ]
    ncds = [dict(ncd_id="N1", account_id="A3", deposit_class="COM",
                 ncd_type="surety_bond", amount="1000.00", start_date="2024-01-01")]
    fts = [dict(ft_id="F1", sa_id="T1", date="2024-02-29", payoff_amount="0.00",
                current_amount="300.00"),
           dict(ft_id="F2", sa_id="T1", date="2024-03-10", payoff_amount="-100.00",
                current_amount="-100.00"),
           dict(ft_id="F3", sa_id="T1", date="2025-07-01", payoff_amount="-200.00",
                current_amount="-200.00")]
    res = _check(tmp_path, setup, accounts, sas, ncds, fts,
                 dates=(ON, date(2026, 12, 1), date(2027, 1, 5)))
    fired = set(plain(res[0].trace)["rule"])
    assert {"saact/seize-deposit", "wpm/non-cash-deposit"} <= fired


def test_errors_name_rule_and_account(tmp_path):
    """A configuration whose rules would close an SA with money on it fails like the
    runner does (EngineError naming rule and account)."""
    from deprules.errors import EngineError
    from helpers import acct, sa

    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    text = (rules / "50-wpm.yaml").read_text()
    text = text.replace("      - sa.payoff_balance == 0\n      - sa.current_balance == 0\n", "")
    (rules / "50-wpm.yaml").write_text(text)
    setup = load_setup(ROOT / "config", rules)
    extract = _extract(tmp_path, setup, [acct("A1", credit_rating=600,
                                              cc_postpone_date="2027-01-01")],
                       [sa("S1", "DEP-RES", start="2024-01-15", payoff="-100.00")])
    with pytest.raises(EngineError) as vec:
        run_cycle_frames(extract, setup.book, ON)
    with pytest.raises(EngineError) as ref:
        reference(extract, setup.book, [ON])
    assert "wpm/close-at-zero" in str(vec.value) and "A1" in str(vec.value)
    assert str(vec.value) == str(ref.value)


def test_unsorted_extract_with_ids_of_varying_width():
    """Rows in any order, ids of different lengths ("A12" sorts before "A2"): the vector
    back end orders accounts and SAs like the runner does (by id text)."""
    from dataclasses import replace

    setup = setup_for("shipped")
    ex = generate_extract(400, seed=13, as_of=ON)
    rng = np.random.default_rng(0)

    def short(s: pd.Series) -> pd.Series:
        return s.map(lambda x: x[0] + x[1:].lstrip("0")).astype(object)

    def shuffled(df: pd.DataFrame) -> pd.DataFrame:
        return df.iloc[rng.permutation(len(df))].reset_index(drop=True)

    acc = ex.accounts.assign(account_id=short(ex.accounts["account_id"]))
    sas = ex.service_agreements.assign(account_id=short(ex.service_agreements["account_id"]),
                                       sa_id=short(ex.service_agreements["sa_id"]))
    ncd = ex.non_cash_deposits.assign(account_id=short(ex.non_cash_deposits["account_id"]))
    fts = ex.financial_transactions.assign(sa_id=short(ex.financial_transactions["sa_id"]))
    ex = replace(ex, accounts=shuffled(acc), service_agreements=shuffled(sas),
                 non_cash_deposits=shuffled(ncd), financial_transactions=shuffled(fts))
    res = run_cycle_frames(ex, setup.book, ON, explain=("DEPRFND", "WPM"))
    [ref] = reference(ex, setup.book, [ON], explain=True)
    ref["why_not"] = ref["why_not"][ref["why_not"]["process"].isin(["DEPRFND", "WPM"])]
    assert_same(res, ref)


def test_class_without_interest(tmp_path):
    import shutil

    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    text = (config / "deposit_classes.yaml").read_text()
    head, com = text.split("\n  COM:\n")
    start = com.index("    interest:")
    end = com.index("    months_between_interest")
    (config / "deposit_classes.yaml").write_text(head + "\n  COM:\n" + com[:start] + com[end:])
    setup = load_setup(config, ROOT / "rules")
    assert setup.config.deposit_classes["COM"].interest is None
    extract = generate_extract(500, seed=14, as_of=ON)
    res = run_cycle_frames(extract, setup.book, ON)
    [ref] = reference(extract, setup.book, [ON])
    assert_same(res, ref)
    assert "stop/no-interest-configured" in set(res.trace["rule"].astype(str))


@pytest.mark.parametrize("rounding", ["half_up", "half_even"])
def test_interest_rounding_ties(tmp_path, rounding):
    """36.5 % a year, actual/365: a day earns balance / 1000 exactly, so 5.00, 15.00 and
    25.00 held one day earn 0.5, 1.5 and 2.5 minor units: ties in both modes."""
    from helpers import acct, sa

    setup = setup_for((
        'deposit_classes.RES.interest.rates=[{effective: "2020-01-01", annual_percent: "36.5"}]',
        f"deposit_classes.RES.interest.rounding={rounding}"))
    accounts = [acct(f"A{i}", credit_rating=600) for i in range(3)]
    sas = [sa(f"S{i}", "DEP-RES", status="stopped", start="2024-01-15", stop_date="2026-11-20",
              last_interest_date="2026-11-19", payoff=f"-{p}.00", account_id=f"A{i}")
           for i, p in enumerate((5, 15, 25))]
    [res] = _check(tmp_path, setup, accounts, sas)
    t = plain(res.adjustments)
    got = t[t["category"] == "deposit_interest"]["amount"].tolist()
    # half-even: 0.5 -> 0 (no adjustment of 0.00), 1.5 -> 2, 2.5 -> 2
    assert got == ([-1, -2, -3] if rounding == "half_up" else [-2, -2])


# ---- DEPINTRF: periodic interest ------------------------------------------------------------
@pytest.mark.parametrize("months,seed", [(1, 21), (3, 22), (12, 23)])
def test_periodic_interest_horizon_matches_the_runner(months, seed):
    """months_between_interest 1, 3, 12 on every class, monthly dates (month ends included):
    periodic interest posted on one date is held (and earns) on the next ones."""
    setup = setup_for((f"deposit_classes.RES.months_between_interest={months}",
                       f"deposit_classes.COM.months_between_interest={months}",
                       "deposit_classes.COM.interest.day_count=30/360",
                       "deposit_classes.RES.interest.min_days_held=90",
                       'deposit_classes.RES.interest.rates=[{effective: "2020-01-01", '
                       'annual_percent: "4.25"}, {effective: "2027-01-01", '
                       'annual_percent: "3"}]'))
    extract = generate_extract(400, seed=seed, as_of=ON)
    dates = [ON, date(2026, 12, 31), date(2027, 1, 31), date(2027, 2, 28), date(2027, 5, 21)]
    cyc = VectorCycle(extract, setup.book)
    refs = reference(extract, setup.book, dates)
    per_date = []
    for on, ref in zip(dates, refs):
        res = cyc.run(on)
        assert_same(res, ref, f"{months}/{on}")
        assert res.fallback_accounts == ()
        t = plain(res.adjustments)
        per_date.append(int((t["process"] == "DEPINTRF").sum()))
    assert per_date[0] > 0  # the first date settles the backlog of completed periods
    if months == 1:
        assert all(n > 0 for n in per_date)  # then every month credits again


def test_periodic_interest_with_history_and_several_periods(tmp_path):
    """FT history, a month-end start, a last interest date off the schedule and two deposits
    of one account: several settlements in one run, each on the balance of its own days."""
    from helpers import acct, sa

    setup = setup_for(("deposit_classes.RES.months_between_interest=1",
                       'deposit_classes.RES.interest.rates=[{effective: "2020-01-01", '
                       'annual_percent: "36.5"}]'))
    accounts = [acct("A1", credit_rating=0), acct("A2", credit_rating=0)]
    sas = [sa("S1", "DEP-RES", start="2026-01-31", payoff="-300.00", account_id="A1"),
           sa("S2", "DEP-RES", start="2025-08-31", payoff="-50.00", account_id="A1",
              last_interest_date="2026-09-15"),
           sa("T1", "DEP-RES", start="2026-05-31", payoff="-1000.00", account_id="A2")]
    fts = [dict(ft_id="F1", sa_id="S1", date="2026-01-31", payoff_amount="-100.00",
                current_amount="-100.00"),
           dict(ft_id="F2", sa_id="S1", date="2026-04-10", payoff_amount="-200.00",
                current_amount="-200.00")]
    res = _check(tmp_path, setup, accounts, sas, fts=fts,
                 dates=(ON, date(2026, 11, 30), date(2026, 12, 31)))
    t = plain(res[0].adjustments)
    # S1: periods to Feb 28 ... Oct 31 (9 of them); S2: Sep 30 (stub from Sep 15), Oct 31;
    # T1: Jun 30 ... Oct 31 (5)
    assert t.groupby("sa_id").size().to_dict() == {"S1": 9, "S2": 2, "T1": 5}
    # T1: 1,000.00 at 36.5 % earns 1.00 a day: May 31 - Jun 30 = 30 days -> 30.00
    assert t[t["sa_id"] == "T1"]["amount"].iloc[0] == -3000
    last = plain(res[2].sas).set_index("sa_id")["last_interest_date"]
    assert str(last["S1"].date()) == "2026-12-31" and str(last["T1"].date()) == "2026-12-31"
