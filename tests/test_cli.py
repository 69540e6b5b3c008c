"""The command line as a user drives it: exit codes, located errors, JSON contracts."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from helpers import acct, sa, write_extract

from deprules.cli import cli


@pytest.fixture()
def run(root, monkeypatch):
    monkeypatch.chdir(root)
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture()
def extract(tmp_path):
    return write_extract(
        tmp_path / "extract", [acct("A1"), acct("A2", credit_rating=100)],
        [sa("DEP1", "DEP-RES", start="2024-01-01", payoff="-100.00"),
         sa("EL1", "E-RES", payoff="60.00", current="60.00"),
         sa("DEP2", "DEP-RES", start="2024-01-01", payoff="-80.00", account_id="A2")])


def test_validate_ok(run):
    r = run("validate")
    assert r.exit_code == 0 and r.output.startswith("valid:")
    data = json.loads(run("validate", "--format", "json").output)
    assert data["ok"] is True and len(data["config_hash"]) == 64


def test_validate_reports_every_problem_located(run, root, tmp_path):
    cfg = tmp_path / "config"
    shutil.copytree(root / "config", cfg)
    text = (cfg / "deposit_classes.yaml").read_text()
    text = text.replace("hold_months: 12", "hold_months: twelve", 1)
    text = text.replace("algorithm: APPLYDEPOSIT", "algorithm: APPLYDEPOSITS", 1)
    (cfg / "deposit_classes.yaml").write_text(text)
    r = run("validate", "--config", cfg)
    assert r.exit_code == 1
    lines = [line for line in r.output.splitlines() if "deposit_classes.yaml" in line]
    assert any(":13:20: $.deposit_classes.RES.refund_criteria.hold_months:" in line
               and "[wrong-type]" in line for line in lines), r.output
    assert any("$.deposit_classes.RES.refund_method.algorithm" in line and "[unknown-value]"
               in line for line in lines), r.output
    data = json.loads(run("validate", "--config", cfg, "--format", "json").output)
    assert data["ok"] is False and {p["code"] for p in data["problems"]} == {"wrong-type",
                                                                             "unknown-value"}


def test_validate_locates_bad_rule_conditions(run, root, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(root / "rules", rules)
    f = rules / "10-deprfnd.yaml"
    f.write_text(f.read_text().replace("sa.months_held >=", "sa.months_helt >=", 1))
    r = run("validate", "--rules", rules)
    assert r.exit_code == 1
    assert "10-deprfnd.yaml:20:9:" in r.output and "unknown fact field 'sa.months_helt'" in \
        r.output and "[unknown-field]" in r.output, r.output


def test_evaluate_json_contract(run, extract):
    r = run("evaluate", "A1", "--extract", extract, "--as-of", "2026-11-21", "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert {"account_id", "as_of", "config_hash", "service_agreements", "adjustments", "checks",
            "todos", "trace"} <= set(data)
    assert data["account_id"] == "A1" and data["as_of"] == "2026-11-21"
    dep = next(s for s in data["service_agreements"] if s["sa_id"] == "DEP1")
    assert dep == {**dep, "status": "closed", "payoff_balance": "0.00",
                   "current_balance": "0.00", "sa_type": "DEP-RES"}
    # 100.00 from 2024-01-01: DEPINTRF credits 2024 (0.11) and 2025 (0.09), the stop the
    # 324 days of 2026 (0.09 % -> 0.0799 -> 0.08)
    interest = [a for a in data["adjustments"] if a["category"] == "deposit_interest"]
    assert [(a["rule"], a["seed_step"], a["amount"]) for a in interest] == [
        ("depintrf/periodic-interest", "2.4", "-0.11"),
        ("depintrf/periodic-interest", "2.4", "-0.09"),
        ("stop/deposit-interest", "2.4", "-0.08")]
    check = data["checks"][0]
    assert check["payee_account_id"] == "A1" and check["status"] == "not_selected"
    assert data["trace"][0]["process"] == "DEPINTRF"
    first = next(t for t in data["trace"] if t["process"] == "DEPRFND")
    assert first["inputs"]["months_held"] == 34
    assert first["inputs"]["hold_months"] == 12


def test_evaluate_explain_says_why_not(run, extract):
    r = run("evaluate", "A2", "--extract", extract, "--as-of", "2026-11-21", "--explain")
    assert r.exit_code == 0
    # not refunded: only its yearly interest is credited
    assert "(depintrf/periodic-interest)" in r.output and "deprfnd/refund" not in \
        r.output.split("Why not:")[0]
    assert "account.credit_rating is 100, needs >= 300" in r.output
    r = run("evaluate", "A2", "--extract", extract, "--as-of", "2024-12-31", "--explain")
    assert r.exit_code == 0 and "Nothing happened" in r.output  # no year complete yet


def test_evaluate_errors_are_messages_not_tracebacks(run, extract, tmp_path):
    r = run("evaluate", "NOPE", "--extract", extract, "--as-of", "2026-11-21")
    assert r.exit_code == 2 and "account 'NOPE' is not in the extract" in r.output
    r = run("evaluate", "A1", "--extract", extract, "--as-of", "2026-13-01")
    assert r.exit_code == 2 and "YYYY-MM-DD" in r.output
    r = run("evaluate", "A1", "--extract", tmp_path / "missing", "--as-of", "2026-11-21")
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_extract_check_reports_located_problems(run, tmp_path):
    bad = write_extract(tmp_path / "bad", [acct("A1", customer_class="XXX")],
                        [sa("S1", "DEP-RES", payoff="12.345"),
                         sa("S1", "NOPE", account_id="ZZ")])
    r = run("extract", "check", bad)
    assert r.exit_code == 1
    assert "accounts.csv:2:" in r.output and "unknown-customer-class" in r.output
    assert "service_agreements.csv:2:" in r.output and "bad-money" in r.output
    assert "service_agreements.csv:3:" in r.output and "duplicate-id" in r.output
    assert "unknown-account" in r.output and "unknown-sa-type" in r.output


def test_store_cycle_is_atomic_idempotent_and_round_trips(run, extract, tmp_path):
    store = tmp_path / "store"
    assert run("ledger", "init", "--extract", extract, "--store", store).exit_code == 0
    r = run("run", "cycle", "--store", store, "--date", "2026-11-21", "--format", "json")
    assert r.exit_code == 0, r.output
    first = json.loads(r.output)
    # A1 refunded, A2 kept with its yearly interest credited
    assert first["accounts_changed"] == 2 and first["checks_requested"] == 1
    assert first["rules_fired"]["depintrf/periodic-interest"] == 2
    again = json.loads(run("run", "cycle", "--store", store, "--date", "2026-11-21",
                           "--format", "json").output)
    assert again["accounts_changed"] == 0 and again["rules_fired"] == {}
    assert run("ledger", "check", "--store", store).exit_code == 0
    shown = json.loads(run("ledger", "show", "A1", "--store", store, "--format", "json").output)
    assert {s["sa_id"]: s["status"] for s in shown["service_agreements"]}["DEP1"] == "closed"
    assert any(e["kind"] == "status" and e["rule"] == "wpm/close-at-zero"
               for e in shown["journal"])
    out = tmp_path / "exported"
    assert run("ledger", "export", "--store", store, "--out", out).exit_code == 0
    store2 = tmp_path / "store2"
    assert run("ledger", "init", "--extract", out, "--store", store2).exit_code == 0
    shown2 = json.loads(run("ledger", "show", "A1", "--store", store2, "--format",
                            "json").output)
    strip = lambda s: {k: v for k, v in s.items()}  # noqa: E731
    assert [strip(s) for s in shown2["service_agreements"]] == \
        [strip(s) for s in shown["service_agreements"]]


def test_run_on_a_missing_store_is_an_error(run, tmp_path):
    r = run("run", "cycle", "--store", tmp_path / "nope", "--date", "2026-11-21")
    assert r.exit_code == 2 and "error:" in r.output


def test_config_show_resolves_overrides(run):
    r = run("config", "show", "--set", "deposit_classes.RES.refund_criteria.hold_months=18")
    assert r.exit_code == 0 and "RES: REFUND-RES after 18 months" in r.output
    r = run("config", "show", "--set", "deposit_classes.RES.refund_criteria.hold_months=x")
    assert r.exit_code == 1 and "--set deposit_classes.RES.refund_criteria.hold_months" in \
        r.output and "[wrong-type]" in r.output


def test_rules_list_and_vocabulary(run):
    r = run("rules", "list", "--format", "json")
    rules = json.loads(r.output)["rules"]
    assert {x["seed_step"] for x in rules} >= {"2.0.1", "2.2", "2.3", "2.4", "2.5", "2.8", "3.0.1.1",
                                               "3.0.1.0", "3.0.1.2", "3.0.1.3", "3.0.1.4",
                                               "3.0.2.0"}
    assert "sa.months_held" in run("rules", "vocabulary").output


def test_approval_decisions_are_worded_right():
    from deprules.results import describe_change

    assert describe_change({"kind": "approve", "entity_id": "A1-ADJ001", "by": "carol"}) == \
        "adjustment A1-ADJ001 approved by carol"
    assert describe_change({"kind": "reject", "entity_id": "A1-ADJ001", "by": "carol"}) == \
        "adjustment A1-ADJ001 rejected by carol"


def test_explain_never_lists_a_rule_that_fired_as_why_not(root):
    """--explain's why-not is judged on each process's first round; a rule that fired in a
    later round (sync-up after interest, close-at-zero after the refund) is not a why-not."""
    from deprules.cli import cli

    extract = root / "examples" / "extract"
    ids = [line.split(",")[0] for line in
           (extract / "accounts.csv").read_text().splitlines()[1:]]
    listed = 0
    for account in ids[:40]:
        r = CliRunner().invoke(cli, ["evaluate", account, "--extract", str(extract),
                                     "--config", str(root / "config"), "--rules",
                                     str(root / "rules"), "--as-of", "2026-11-21",
                                     "--explain", "--format", "json"])
        assert r.exit_code == 0, r.output
        doc = json.loads(r.output)
        fired = {(t["rule"], t["sa_id"]) for t in doc["trace"]}
        why_not = {(w["rule"], w["sa_id"]) for w in doc["why_not"]}
        assert not fired & why_not, (account, sorted(fired & why_not))
        listed += len(why_not)
    assert listed  # the why-not list itself is still there


def test_run_depintrf_alone_on_a_store(run, extract, tmp_path):
    """deprules run DEPINTRF: only the periodic interest (no refund), idempotent, and the
    cycle later pays at the stop only the days since the last credit.
    A1's DEP1 (100.00 from 2024-01-01): 2024 at 0.11 % = 0.1103 -> 0.11, 2025 at 0.09 % =
    0.09; A2's DEP2 (80.00): 0.0882 -> 0.09 and 0.072 -> 0.07."""
    store = tmp_path / "store"
    assert run("ledger", "init", "--extract", extract, "--store", store).exit_code == 0
    r = run("run", "DEPINTRF", "--store", store, "--date", "2026-11-21", "--format", "json")
    assert r.exit_code == 0, r.output
    first = json.loads(r.output)
    assert first["process"] == "DEPINTRF" and first["accounts_changed"] == 2
    assert first["rules_fired"] == {"depintrf/periodic-interest": 2}
    assert first["money_by_category"] == {"deposit_interest": "-0.36"}
    again = json.loads(run("run", "DEPINTRF", "--store", store, "--date", "2026-11-21",
                           "--format", "json").output)
    assert again["accounts_changed"] == 0 and again["money_by_category"] == {}
    shown = json.loads(run("ledger", "show", "A1", "--store", store, "--format",
                           "json").output)
    dep = next(s for s in shown["service_agreements"] if s["sa_id"] == "DEP1")
    assert dep["status"] == "active" and dep["payoff_balance"] == "-100.20"
    assert dep["last_interest_date"] == "2026-01-01"
    # the cycle then refunds A1: the stop pays 2026-01-01 to 2026-11-21 only (0.08)
    cyc = json.loads(run("run", "cycle", "--store", store, "--date", "2026-11-21",
                         "--format", "json").output)
    assert "depintrf/periodic-interest" not in cyc["rules_fired"]
    assert cyc["money_by_category"]["deposit_interest"] == "-0.08"
    assert run("ledger", "check", "--store", store).exit_code == 0
