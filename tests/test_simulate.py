"""deprules simulate: hand-checked numbers, determinism, Dask, horizon, errors, report."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import acct, sa, write_extract

AS_OF = date(2026, 11, 21)


def _small_extract(folder: Path) -> Path:
    """Six accounts whose outcomes and money are worked out by hand below.

    A1 RES: deposit 200.00 held 15 months (2025-08-01), nothing else -> refund by check of
       200.00 + interest 0.24: DEPINTRF credits the first year (months_between_interest
       12: 200.00 x 0.09% x 365 / 365 = 0.18), the stop the 112 days since 2026-08-01
       (0.0552 -> 0.06). Kept (hold 18 months), it earns only the 0.18.
    A2 RES: deposit 100.00 held 34 months, interest already settled to the process date,
       electric owes 98.00 -> 98.00 applied to debt, residual credit 2.00 refunded by check.
    A3 RES: credit rating 100 (threshold 300) -> not eligible (credit_rating).
    A4 COM: deposit 1000.00 held since 2020, interest settled -> refund check 1000.00.
    A5 RES: no deposit.
    A6 RES: do-not-refund switch -> not eligible (do_not_refund).
    """
    accounts = [acct("A1"), acct("A2"), acct("A3", credit_rating=100),
                acct("A4", customer_class="COM"), acct("A5"),
                acct("A6", do_not_refund="true")]
    settled = AS_OF.isoformat()
    sas = [
        sa("S1", "DEP-RES", start="2025-08-01", payoff="-200.00", account_id="A1",
           total_deposit_amount="200.00"),
        sa("S2", "DEP-RES", start="2024-01-01", payoff="-100.00", account_id="A2",
           total_deposit_amount="100.00", last_interest_date=settled),
        sa("S3", "E-RES", start="2024-01-01", payoff="98.00", current="98.00", account_id="A2"),
        sa("S4", "DEP-RES", start="2025-01-01", payoff="-150.00", account_id="A3",
           last_interest_date=settled),
        sa("S5", "DEP-COM", start="2020-01-01", payoff="-1000.00", account_id="A4",
           last_interest_date=settled),
        sa("S6", "E-RES", start="2024-01-01", payoff="50.00", current="50.00", account_id="A5"),
        sa("S7", "DEP-RES", start="2020-01-01", payoff="-300.00", account_id="A6",
           last_interest_date=settled),
    ]
    return write_extract(folder, accounts, sas)


BAND_OVERLAY = """\
write_off_controls:
  RES:
    criteria:
      - {algorithm: WO-CRIT-NCD, todo_type: NCD-REDEEM}
      - {algorithm: WO-WRITEDOWN, lower: "-5.00", upper: "25.00"}
      - {algorithm: WO-AP-ADJ, min_refund: "5.00"}
      - {algorithm: WO-CRIT-DFLT, todo_type: WO-MANUAL}
"""


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return _small_extract(tmp_path_factory.mktemp("small") / "extract")


def _run(root: Path, extract: Path, **kw):
    from deprules.simulate import simulate

    return simulate(extract, kw.pop("as_of", AS_OF), config_dir=root / "config",
                    rules_dir=root / "rules", **kw)


def _counts(impact: dict, side: str) -> dict:
    return {o: e[side] for o, e in impact["outcomes"].items() if e.get(side)}


def _money(impact: dict, side: str) -> dict:
    return {c: e[side] for c, e in impact["money"].items()}


def test_baseline_numbers_by_hand(root, small):
    impact = _run(root, small).impact
    assert impact["schema_version"] == 1 and impact["candidate"] is None
    assert impact["accounts"] == 6
    assert _counts(impact, "baseline") == {
        "refunded_by_check": 3, "not_eligible_credit_rating": 1,
        "not_eligible_do_not_refund": 1, "no_deposit": 1}
    assert _money(impact, "baseline") == {
        "refund_checks": "1202.24", "applied_to_debt": "98.00", "interest": "0.24",
        "write_downs": "0.00"}
    assert impact["by_customer_class"]["COM"]["money"]["refund_checks"]["baseline"] == "1000.00"


def test_longer_hold_flips_a_refund_to_not_eligible(root, small):
    result = _run(root, small, sets=["deposit_classes.RES.refund_criteria.hold_months=18"])
    impact = result.impact
    assert _counts(impact, "candidate") == {
        "refunded_by_check": 2, "not_eligible_credit_rating": 1,
        "not_eligible_months_held": 1, "not_eligible_do_not_refund": 1, "no_deposit": 1}
    assert impact["outcomes"]["refunded_by_check"]["delta"] == -1
    assert _money(impact, "candidate") == {
        "refund_checks": "1002.00", "applied_to_debt": "98.00", "interest": "0.18",
        "write_downs": "0.00"}
    assert impact["money"]["refund_checks"]["delta"] == "-200.24"
    assert impact["transitions"]["refunded_by_check"] == {
        "refunded_by_check": 2, "not_eligible_months_held": 1}
    assert impact["changed_accounts"] == 1
    (t,) = impact["examples"]
    assert (t["from"], t["to"], t["accounts"]) == (
        "refunded_by_check", "not_eligible_months_held", 1)
    ex = t["examples"][0]
    assert ex["account_id"] == "A1"
    assert ex["reason"] == "RES hold_months 12 → 18: months_held 15 < 18"
    assert impact["candidate"]["changes"] == [{
        "path": "deposit_classes.RES.refund_criteria.hold_months",
        "baseline": 12, "candidate": 18}]
    row = next(r for r in result.rows if r.account_id == "A1")
    assert row.changed and row.money_baseline == (20024, 0, 24, 0)
    assert row.money_candidate == (0, 0, 18, 0)  # the year credited by DEPINTRF


def test_wider_write_down_band_flips_a_residual_to_write_down(root, small, tmp_path):
    overlay = tmp_path / "band.yaml"
    overlay.write_text(BAND_OVERLAY)
    impact = _run(root, small, overlays=[overlay]).impact
    assert impact["transitions"]["refunded_by_check"] == {
        "refunded_by_check": 2, "written_down": 1}
    assert _counts(impact, "candidate")["written_down"] == 1
    assert _money(impact, "candidate") == {
        "refund_checks": "1200.24", "applied_to_debt": "98.00", "interest": "0.24",
        "write_downs": "2.00"}
    assert impact["money"]["write_downs"]["delta"] == "2.00"
    ex = impact["examples"][0]["examples"][0]
    assert ex["account_id"] == "A2"
    assert ex["rule_baseline"] == "wpm/refund-by-check"
    assert ex["rule_candidate"] == "wpm/write-down"
    assert "writedown.lower -1.00 → -5.00" in ex["reason"]
    assert "payoff_balance -2.00" in ex["reason"]
    assert ex["money_delta"] == {"refund_checks": "-2.00", "write_downs": "2.00"}


def test_horizon_projects_each_month(root, tmp_path):
    # held 11 months on the process date: refunded on the second monthly run
    folder = write_extract(tmp_path / "x", [acct("A1")], [
        sa("S1", "DEP-RES", start="2025-12-21", payoff="-100.00", account_id="A1",
           last_interest_date="2026-12-21")])
    impact = _run(root, folder, horizon=3).impact
    assert impact["horizon_months"] == 3
    assert impact["process_dates"] == ["2026-11-21", "2026-12-21", "2027-01-21"]
    months = impact["monthly"]
    assert [m["baseline"]["money"]["refund_checks"] for m in months] == [
        "0.00", "100.00", "0.00"]
    assert [m["baseline"]["outcomes"] for m in months] == [
        {"not_eligible_months_held": 1}, {"refunded_by_check": 1}, {"refunded_by_check": 1}]
    assert impact["outcomes"] == {"refunded_by_check": {"baseline": 1}}


def test_process_dates_are_counted_from_the_first_date():
    from deprules.simulate import process_dates

    assert process_dates(date(2027, 1, 31), 3) == (
        date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31))
    assert process_dates(AS_OF, None) == (AS_OF,)


def _cli(root: Path, *args: str):
    from deprules.cli.main import cli

    return CliRunner().invoke(
        cli, ["simulate", "--config", str(root / "config"), "--rules", str(root / "rules"),
              *args])


def _demo_args(root: Path) -> list[str]:
    return ["--extract", str(root / "examples" / "extract"), "--as-of", "2026-11-21",
            "--whatif", str(root / "examples" / "whatif")]


def test_same_impact_whatever_workers_and_partitions(root, tmp_path):
    from deprules.extract import generate_extract
    from deprules.extract import write_extract as write_generated

    extract = tmp_path / "gen"
    write_generated(generate_extract(120, seed=7), extract, "csv")
    args = ["--extract", str(extract), "--as-of", "2026-11-21",
            "--whatif", str(root / "examples" / "whatif"), "--horizon", "2"]
    outs = []
    for name, extra in (("w1", ["--workers", "1", "--partition-size", "1000",
                                "--rules-engine", "python"]),
                        ("w2", ["--workers", "2", "--partition-size", "1",
                                "--rules-engine", "python"]),
                        ("vector", ["--rules-engine", "vector", "--reasons", "all"])):
        out = tmp_path / name
        r = _cli(root, *args, "--out", str(out), *extra)
        assert r.exit_code == 0, r.stderr
        outs.append(out)
    a = outs[0]
    for b in outs[1:]:
        assert (a / "impact.json").read_bytes() == (b / "impact.json").read_bytes()
        assert (a / "accounts.csv").read_bytes() == (b / "accounts.csv").read_bytes()
    impact = json.loads((a / "impact.json").read_text())
    assert impact["accounts"] == 120 and impact["changed_accounts"] > 0
    text = (a / "impact.json").read_text()
    assert str(root) not in text and str(tmp_path) not in text  # no absolute paths


def test_durable_python_and_vector_give_the_same_impact(root, tmp_path):
    outs = [_cli(root, *_demo_args(root), "--format", "json", "--rules-engine", engine)
            for engine in ("python", "durable", "vector")]
    assert all(o.exit_code == 0 for o in outs), "".join(o.stderr for o in outs)
    assert outs[0].stdout == outs[1].stdout == outs[2].stdout


def test_dask_local_cluster_equals_local(root, tmp_path):
    pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    local = _cli(root, *_demo_args(root), "--format", "json", "--workers", "1")
    for engine in ("vector", "python"):  # vector: the default
        dask = _cli(root, *_demo_args(root), "--format", "json", "--engine", "dask",
                    "--workers", "2", "--partition-size", "50", "--rules-engine", engine)
        assert local.exit_code == 0 and dask.exit_code == 0, local.stderr + dask.stderr
        assert dask.stdout == local.stdout, engine


def test_bad_overlay_exits_1_pointing_at_the_overlay(root, small, tmp_path):
    overlay = tmp_path / "bad.yaml"
    overlay.write_text("deposit_classes:\n  RES:\n    refund_criteria:\n"
                       "      hold_months: twelve\n")
    r = _cli(root, "--extract", str(small), "--as-of", "2026-11-21", "--whatif", str(overlay))
    assert r.exit_code == 1
    assert f"{overlay}:4:20:" in r.stderr
    assert "hold_months" in r.stderr and "Traceback" not in r.stderr


def test_whatif_folder_of_overlays(root):
    from deprules.config import load_config

    config = load_config(root / "config", overlays=[root / "examples" / "whatif"])
    assert config.deposit_classes["RES"].hold_months == 18
    assert config.deposit_classes["COM"].hold_months == 24
    band = config.write_off_controls["RES"].criterion("WO-WRITEDOWN")
    assert (band.lower, band.upper) == (-500, 2500)


def test_report_and_tables(root, small, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "out"
    r = _cli(root, "--extract", str(small), "--as-of", "2026-11-21", "--out", str(out),
             "--set", "deposit_classes.RES.refund_criteria.hold_months=18", "--horizon", "2")
    assert r.exit_code == 0, r.stderr
    assert "refunded_by_check" in r.stdout and "Money (USD)" in r.stdout
    html = (out / "report.html").read_text()
    assert '<table class="transitions matrix">' in html and "<svg" in html
    assert "Monthly projection" in html and "hold months (deposit classes RES refund " \
        "criteria) raised from 12 to 18" in html
    assert 'id="glossary"' in html and "not_eligible_months_held" in html
    assert "deprules 0." in html and "change per month" in html
    assert "(1 accounts)" not in html and " 1 accounts" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    for svg in re.findall(r"<svg.*?</svg>", html, re.S):
        ET.fromstring(svg)  # well-formed
    table = pq.read_table(out / "accounts.parquet")
    assert str(table.schema.field("refund_checks_baseline").type) == "int64"
    rows = {r["account_id"]: r for r in table.to_pylist()}
    assert rows["A1"]["refund_checks_baseline"] == 20024
    assert rows["A1"]["outcome_candidate"] == "not_eligible_months_held"
    csv_text = (out / "accounts.csv").read_text()
    assert "A1,RES,refunded_by_check,not_eligible_months_held,200.24," in csv_text


def test_report_escapes_text():
    from deprules.simulate.report_html import render_html

    impact = {"as_of": "2026-11-21", "accounts": 1, "candidate": None, "horizon_months": None,
              "baseline": {"config_hash": "<b>x</b>"}, "minor_units": 2, "currency": "USD",
              "outcomes": {"<script>": {"baseline": 1}},
              "money": {c: {"baseline": "0.00"} for c in
                        ("refund_checks", "applied_to_debt", "interest", "write_downs")},
              "by_customer_class": {}}
    html = render_html(impact, "<src>")
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;src&gt;" in html


def test_candidate_rules_folder_shows_an_edited_rules_impact(root, small, tmp_path):
    """A rule author's edited rule, simulated over the whole extract: the candidate is the
    baseline configuration with another rules folder. A1 (rating 500) was refunded 200.24
    under 'credit rating >= the threshold (300)'; the edited rule needs 600, so A1 is not
    eligible and its refund goes (A2, rating 500 too, had its deposit applied to debt)."""
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(root / "rules", rules)
    f = rules / "10-deprfnd.yaml"
    text = f.read_text()
    assert text.count("account.credit_rating >= installation.credit_rating_threshold") == 1
    f.write_text(text.replace("account.credit_rating >= installation.credit_rating_threshold",
                              "account.credit_rating >= 600"))
    impacts = []
    for engine in ("vector", "python"):
        r = _cli(root, "--extract", str(small), "--as-of", AS_OF.isoformat(),
                 "--candidate-rules", str(rules), "--rules-engine", engine, "--format", "json")
        assert r.exit_code == 0, r.output
        impacts.append(json.loads(r.stdout))
    assert impacts[0] == impacts[1]  # the vector back end takes any rule book, exactly
    impact = impacts[0]
    assert impact["candidate"]["changes"] == []
    assert impact["candidate"]["rule_changes"] == [{
        "rule": "deprfnd/refund-good-credit-rating", "change": "changed",
        "file": f"{f}:{text[:text.index('deprfnd/refund-good-credit-rating')].count(chr(10)) + 1}"}]
    assert impact["candidate"]["config_hash"] != impact["baseline"]["config_hash"]
    a1 = next(t for t in impact["examples"] if any(e["account_id"] == "A1" for e in t["examples"]))
    assert (a1["from"], a1["to"]) == ("refunded_by_check", "not_eligible_credit_rating")
    assert next(e for e in a1["examples"] if e["account_id"] == "A1")["reason"] == \
        "credit_rating 500 < 600"
    # the terminal says which rules changed
    r = _cli(root, "--extract", str(small), "--as-of", AS_OF.isoformat(),
             "--candidate-rules", rules)
    assert f"rules from {rules}: deprfnd/refund-good-credit-rating changed" in r.stdout


@pytest.mark.parametrize("engine", ["python", "vector"])
def test_horizon_what_if_on_months_between_interest_moves_money_monthly(root, tmp_path,
                                                                         engine):
    """Shipped RES credits interest yearly (months_between_interest 12); the what-if credits
    it monthly. 1,000.00 from 2026-08-21, kept (credit rating 0), 0.09 % actual/365 (a day
    earns 0.0024658):
    - baseline: no anniversary within the 3 months: no interest;
    - candidate, 2026-11-21: three months settled, 31 + 30 + 31 days on 1,000.00 =
      0.0764 -> 0.08, 0.0740 -> 0.07, 0.08: 0.23;
      2026-12-21: 30 days on 1,000.23 (the 0.23 is held from 2026-11-21) = 0.0740 -> 0.07;
      2027-01-21: 31 days on 1,000.30 = 0.0765 -> 0.08."""
    folder = write_extract(tmp_path / "x", [acct("A1", credit_rating=0)], [
        sa("S1", "DEP-RES", start="2026-08-21", payoff="-1000.00", account_id="A1")])
    result = _run(root, folder, horizon=3, rules_engine=engine,
                  sets=["deposit_classes.RES.months_between_interest=1"])
    impact = result.impact
    assert impact["candidate"]["changes"] == [{
        "path": "deposit_classes.RES.months_between_interest", "baseline": 12, "candidate": 1}]
    months = impact["monthly"]
    assert [m["baseline"]["money"]["interest"] for m in months] == ["0.00", "0.00", "0.00"]
    assert [m["candidate"]["money"]["interest"] for m in months] == ["0.23", "0.07", "0.08"]
    assert impact["money"]["interest"] == {"baseline": "0.00", "candidate": "0.38",
                                           "delta": "0.38"}


def test_deposit_class_per_account_and_examples_per_class(root, tmp_path):
    """An account's deposit class is its cash deposits' classes (both: COM+RES; none without
    one), the same on every rules engine, in accounts.csv and impact.json; examples are the
    first five of each transition and class, so a small class of a long transition is shown
    too (A9 is the only COM account of refunded_by_check -> not_eligible_months_held, after
    eight RES ones)."""
    accounts = [acct(f"A{i}") for i in range(1, 9)] + [
        acct("A9", customer_class="COM"), acct("B1"), acct("B2", customer_class="COM")]
    sas = [sa(f"S{i}", "DEP-RES", start="2025-08-01", payoff="-200.00", account_id=f"A{i}")
           for i in range(1, 9)]
    sas += [sa("S9", "DEP-COM", start="2024-08-01", payoff="-500.00", account_id="A9"),
            sa("T1", "E-RES", start="2024-01-01", payoff="5.00", current="5.00",
               account_id="B1"),
            sa("T2", "DEP-COM", start="2020-01-01", payoff="-100.00", account_id="B2",
               last_interest_date=AS_OF.isoformat()),
            sa("T3", "DEP-RES", start="2020-01-01", payoff="-100.00", account_id="B2",
               last_interest_date=AS_OF.isoformat())]
    folder = write_extract(tmp_path / "x", accounts, sas)
    sets = ["deposit_classes.RES.refund_criteria.hold_months=18",
            "deposit_classes.COM.refund_criteria.hold_months=36"]
    results = [_run(root, folder, sets=sets, rules_engine=e) for e in ("vector", "python")]
    for r in results:
        dc = dict(zip(r.table["account_id"], r.table["deposit_class"]))
        assert dc["A1"] == "RES" and dc["A9"] == "COM" and dc["B1"] == "none"
        assert dc["B2"] == "COM+RES"
    assert results[0].impact == results[1].impact
    impact = results[0].impact
    assert {k: v["accounts"] for k, v in impact["by_deposit_class"].items()} == {
        "COM": 1, "COM+RES": 1, "RES": 8, "none": 1}
    (t,) = [t for t in impact["examples"] if t["to"] == "not_eligible_months_held"]
    assert t["accounts"] == 9 and t["by_deposit_class"] == {"COM": 1, "RES": 8}
    assert t["by_class"] == {"COM": {"COM": 1}, "RES": {"RES": 8}}
    shown = [e["account_id"] for e in t["examples"]]
    assert shown == ["A1", "A2", "A3", "A4", "A5", "A9"]
    assert [e["deposit_class"] for e in t["examples"]][-1] == "COM"
    out = tmp_path / "out"
    results[0].write(out)
    lines = (out / "accounts.csv").read_text().splitlines()
    assert lines[0].endswith(",reason,deposit_class")
    assert [line for line in lines if line.startswith("B2,")][0].endswith(",COM+RES")
