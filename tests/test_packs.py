"""Regression packs: loading (located errors), running, reports, --update, capture, coverage,
JUnit and the pytest plugin, on small packs written in tmp_path."""

from __future__ import annotations

import json
import re
import shutil
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from helpers import acct, sa, write_extract

from deprules.cli import cli
from deprules.errors import ScenarioError
from deprules.packs import SetupCache, load_packs, run_scenarios, select
from deprules.packs.coverage import Coverage

GOOD = """\
    # a comment the update keeps
    pack: small
    given:
      account: {customer_class: RES, credit_rating: 500}
    scenarios:
      - name: refund-after-12-months
        seed_step: "2.0.1"
        given:
          service_agreements:
            - {sa_id: DEP1, sa_type: DEP-RES, start_date: 2024-01-01, payoff_balance: "-100.00", last_interest_date: 2026-11-21}
        when: {date: 2026-11-21}
        expect:
          service_agreements:
            DEP1: {status: closed}   # closed at the end
          checks: [{amount: "100.00"}]

      # the seizure case
      - name: seizure-after-electric-stopped
        seed_step: "2.3"
        given:
          account: {credit_rating: 100}
          service_agreements:
            - {sa_id: DEP1, sa_type: DEP-RES, start_date: 2026-08-01, payoff_balance: "-200.00", last_interest_date: 2026-11-21}
            - {sa_id: EL1, sa_type: E-RES, status: stopped, start_date: 2020-01-01, stop_date: 2026-11-01, payoff_balance: "30.00", current_balance: "30.00"}
        when: {date: 2026-11-21}
        expect:
          service_agreements:
            DEP1: {status: closed}
          rules_fired: [saact/seize-deposit]
    """

FAILING = """\
    given:
      account: {customer_class: RES, credit_rating: 100}
    scenarios:
      - name: seizure-expected-wrongly
        given:
          service_agreements:
            - {sa_id: DEP1, sa_type: DEP-RES, start_date: 2026-08-01, payoff_balance: "-200.00", last_interest_date: 2026-11-21}
            - {sa_id: EL1, sa_type: E-RES, status: stopped, start_date: 2020-01-01, stop_date: 2026-11-01, payoff_balance: "30.00", current_balance: "30.00"}
        when: {date: 2026-11-21}
        expect:
          service_agreements:
            DEP1: {status: stopped, payoff_balance: "-170.00"}
          adjustments:
            - {sa_id: DEP1, category: sync_up, amount: "-200.00"}
          checks: [{amount: "171.00"}]
          rules_not_fired: [saact/seize-deposit]
    """


def write(tmp_path, text: str, name: str = "small.yaml", folder: str = "packs"):
    path = tmp_path / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope="module")
def cache(root):
    return SetupCache(root / "config", root / "rules")


@pytest.fixture()
def run(root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, [str(a) for a in args] + ["--config", root / "config",
                                                             "--rules", root / "rules"],
                             catch_exceptions=False)

    return invoke


# ---- loading: every problem located in the pack file -------------------------------------------
def problems_of(path, cache) -> list[str]:
    with pytest.raises(ScenarioError) as exc:
        load_packs([path], rule_ids=cache.rule_ids())
    return [p.render() for p in exc.value.problems]


def test_schema_and_semantic_problems_are_located(tmp_path, cache, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, """\
        scenarios:
          - name: one
            given:
              account: {customer_class: RES, credit_rating: 1}
              service_agreements:
                - {sa_id: DEP1, sa_type: DEP-RES, payoff_balance: -100.00}
            when: {date: 2026-11-21}
            expect:
              rules_fired: [deprfnd/refund-good-credit]
              adjustments: [{categroy: sync_up}]
          - name: one
            given: {account: {customer_class: RES, credit_rating: 1}}
            when:
              date: 2026-11-21
              steps:
                - {run: cycle, stop: {sa: DEP1}}
        """)
    found = problems_of(path, cache)
    # the schema runs first: the unquoted money is reported alone, at its value
    assert found == ["packs/small.yaml:6:59: $.scenarios[0].given.service_agreements[0]."
                     "payoff_balance: -100.00 is not of type string (money as decimal text in "
                     "quotes, e.g. \"-200.00\") [wrong-type]"]
    path.write_text(path.read_text().replace("-100.00}", '"-100.00"}'))
    found = problems_of(path, cache)
    assert any(f.startswith("packs/small.yaml:9:21: $.scenarios[0].expect.rules_fired[0]: "
                            "unknown rule 'deprfnd/refund-good-credit'") for f in found), found
    assert any(f.startswith("packs/small.yaml:10:22: $.scenarios[0].expect.adjustments[0]."
                            "categroy: unknown field 'categroy'") for f in found), found
    assert any(f.startswith("packs/small.yaml:16:11: $.scenarios[1].when.steps[0]: a step does "
                            "exactly one thing") for f in found), found
    assert any(f.startswith("packs/small.yaml:11:11: $.scenarios[1].name: duplicate scenario "
                            "name 'one' (first at line 2)") for f in found), found


def test_yaml_syntax_error_is_located(tmp_path, cache, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, "scenarios:\n  - name: a\n    when: {date: 2026-11-21\n")
    (found,) = problems_of(path, cache)
    assert found.startswith("packs/small.yaml:4:1: YAML syntax error")


def test_bad_overlay_and_bad_rows_fail_the_scenario_at_the_pack_node(tmp_path, run):
    write(tmp_path, """\
        given:
          account: {customer_class: RES, credit_rating: 500}
        scenarios:
          - name: bad-overlay
            given:
              config:
                deposit_classes:
                  RES:
                    refund_criteria: {hold_months: -3}
              set: ["installation.bill_due_days=soon"]
              service_agreements:
                - {sa_id: DEP1, sa_type: DEP-RES, start_date: 2024-01-01}
            when: {date: 2026-11-21}
          - name: bad-row
            given:
              service_agreements:
                - {sa_id: DEP1, sa_type: DEP-NOPE, start_date: 2024-01-01}
                - {sa_id: DEP2, sa_type: DEP-RES, start_date: 2024-02-30}
            when: {date: 2026-11-21}
        """)
    r = run("test", "packs")
    assert r.exit_code == 1, r.output
    out = r.output
    assert "ERROR  bad-overlay" in out and "ERROR  bad-row" in out
    assert ("packs/small.yaml:9:44: $.deposit_classes.RES.refund_criteria.hold_months: -3 is "
            "less than the minimum of 0 [out-of-range]") in out, out
    assert ("packs/small.yaml:10:13: $.bill_due_days: 'soon' is not of type integer" in out
            and "(from set installation.bill_due_days) [wrong-type]" in out), out
    assert ("packs/small.yaml:17:34: $.scenarios[1].given.service_agreements[0].sa_type: "
            "service agreements[0] sa_type: 'DEP-NOPE' is not a configured SA type") in out, out
    assert ("packs/small.yaml:18:55: $.scenarios[1].given.service_agreements[1].start_date: "
            "service agreements[1] start_date: '2024-02-30' is not a date") in out, out
    assert "2 scenario(s): 0 passed, 0 failed, 2 error(s)" in out


# ---- running: pass, fail with expected vs actual, -k, JSON ----------------------------------------
def test_failing_scenario_shows_expected_vs_actual_and_the_trace(tmp_path, run):
    write(tmp_path, FAILING)
    r = run("test", "packs")
    assert r.exit_code == 1
    out = r.output
    assert "FAIL   seizure-expected-wrongly" in out
    assert "at packs/small.yaml:4" in out
    expected_vs_actual = """\
    service_agreements.DEP1.status
      expected: stopped
      actual:   closed
    service_agreements.DEP1.payoff_balance
      expected: -170.00
      actual:   0.00
    adjustments
      expected: 1 item(s)
      actual:   4 item(s)
      expected:
        - {sa_id: DEP1, category: sync_up, amount: -200.00}
      actual:
        - {sa_id: DEP1, category: sync_up, amount: -200.00}
        - {sa_id: DEP1, category: transfer, amount: 30.00}
        - {sa_id: EL1, category: transfer, amount: -30.00}
        - {sa_id: DEP1, category: ap_refund, amount: 170.00}
    checks[0].amount
      expected: 171.00
      actual:   170.00"""
    assert expected_vs_actual in out, out
    assert "rules_not_fired\n      expected: saact/seize-deposit does not fire\n" \
           "      actual:   it fired" in out
    # the account's trace: each rule that fired, what it saw and what it changed
    assert "trace of account A1:" in out
    assert "[SAACT 2.2] DEP1: deposit seized (all covered SAs finished)  (saact/seize-deposit)" \
        in out
    assert "saw: other_same_class_sas=1, other_same_class_unfinished=0, status=active" in out
    assert "-> DEP1: active -> pending_stop (stop date 2026-11-21)" in out
    assert "1 scenario(s): 0 passed, 1 failed, 0 error(s)" in out


def test_json_report(tmp_path, run):
    write(tmp_path, FAILING)
    r = run("test", "packs", "--format", "json")
    assert r.exit_code == 1
    data = json.loads(r.output)
    assert data["ok"] is False and data["summary"]["failed"] == 1
    (sc,) = data["scenarios"]
    assert sc["id"] == "packs/small.yaml::seizure-expected-wrongly" and sc["line"] == 4
    assert {"field": "service_agreements.DEP1.status", "expected": "stopped",
            "actual": "closed"} in sc["mismatches"]
    assert [t["rule"] for t in sc["trace"]][:2] == ["saact/seize-deposit",
                                                   "saact/finalize-pending-stop"]


def test_k_selects_scenarios_and_file_name_selects_one(tmp_path, run, cache, monkeypatch):
    write(tmp_path, GOOD)
    r = run("test", "packs", "-k", "seizure")
    assert r.exit_code == 0, r.output
    assert "seizure-after-electric-stopped" in r.output
    assert "refund-after-12-months" not in r.output
    assert "1 scenario(s): 1 passed" in r.output
    r = run("test", "packs/small.yaml::refund-after-12-months")
    assert "1 scenario(s): 1 passed" in r.output and "seizure" not in r.output
    packs = load_packs([tmp_path / "packs"])
    names = lambda k: [s.name for s in select(packs, k)]  # noqa: E731
    assert names("2.3 or refund") == ["refund-after-12-months",
                                      "seizure-after-electric-stopped"]
    assert names("small and not 2.3") == ["refund-after-12-months"]
    assert names("(seizure)") == ["seizure-after-electric-stopped"]
    r = run("test", "packs", "-k", "nothing-matches")
    assert r.exit_code == 2 and "no scenario selected" in r.output
    r = run("test", "packs", "-k", "a and")
    assert r.exit_code == 2 and "-k 'a and': expected a word" in r.output


def test_manual_steps_and_expected_errors(tmp_path, run):
    write(tmp_path, """\
        given:
          account: {customer_class: RES, credit_rating: 500}
          service_agreements:
            - {sa_id: DEP1, sa_type: DEP-RES, start_date: 2026-01-01, payoff_balance: "-200.00", total_deposit_amount: "200.00"}
            - {sa_id: GAS1, sa_type: G-RES, start_date: 2020-01-01, payoff_balance: "50.00", current_balance: "50.00"}
        scenarios:
          - name: partial-refund
            when:
              date: 2026-11-21
              steps:
                - partial_refund: {sa: DEP1, amount: "120.00", apply_to_debt: true}
                - ap_export: {}
                - cancel_adjustment: {sa: DEP1, category: ap_refund}
                  expect_error: cancel only while not_selected
            expect:
              service_agreements:
                DEP1: {payoff_balance: "-80.00", current_balance: "0.00", total_deposit_amount: "80.00"}
              checks: [{amount: "70.00", status: requested}]
          - name: expected-error-that-does-not-come
            when:
              date: 2026-11-21
              steps:
                - set_total: {sa: DEP1, amount: "100.00"}
                  expect_error: refused
        """)
    r = run("test", "packs")
    assert r.exit_code == 1
    assert "PASS   partial-refund" in r.output
    assert ("when.steps[0] (set_total)\n      expected: an error containing 'refused'\n"
            "      actual:   the step succeeded") in r.output
    assert "[CSR 1.2] DEP1: partial refund A1-PR001 of 120.00 on SA DEP1 done" not in r.output


# ---- JUnit ------------------------------------------------------------------------------------------
def test_junit_xml_has_one_testcase_per_scenario(tmp_path, run):
    write(tmp_path, GOOD)
    write(tmp_path, FAILING, name="failing.yaml")
    r = run("test", "packs", "--junit", "out/packs.xml")
    assert r.exit_code == 1
    root = ET.parse(tmp_path / "out" / "packs.xml").getroot()
    assert root.tag == "testsuites" and root.get("tests") == "3" and root.get("failures") == "1"
    cases = root.findall("testsuite/testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("packs.failing", "seizure-expected-wrongly"),
        ("packs.small", "refund-after-12-months"),
        ("packs.small", "seizure-after-electric-stopped")]
    failure = cases[0].find("failure")
    assert re.match(r"packs/failing\.yaml:\d+: service_agreements\.DEP1\.status: expected "
                    r"stopped, actual closed \(and ", failure.get("message"))
    assert "expected: -170.00" in failure.text and "trace of account A1" in failure.text
    assert cases[1].find("failure") is None
    # the place, seed steps and trace of every scenario are its system-out (junit-10.xsd has
    # no properties or file/line attributes on a testcase); the pack file is the suite's
    out = cases[1].find("system-out").text
    assert re.match(r"scenario refund-after-12-months at packs/small\.yaml:\d+\n"
                    r"seed steps: 2\.0\.1\n", out) and "trace of account A1" in out
    assert root.find("testsuite").get("file") == "packs/failing.yaml"
    assert cases[1].find("properties") is None and cases[1].get("file") is None


# ---- --update -----------------------------------------------------------------------------------------
def test_update_shows_a_diff_rewrites_expectations_and_then_passes(tmp_path, run):
    path = write(tmp_path, GOOD.replace('checks: [{amount: "100.00"}]',
                                        'checks: [{amount: "99.00", status: paid}]')
                 .replace("rules_fired: [saact/seize-deposit]",
                          "rules_fired: [saact/seize-deposit, wpm/write-down]"))
    before = path.read_text()
    r = run("test", "packs", "--diff")
    assert r.exit_code == 1 and path.read_text() == before  # --diff writes nothing
    assert '-      checks: [{amount: "99.00", status: paid}]' in r.output
    assert '+      checks: [{amount: "100.00", status: not_selected}]' in r.output
    r = run("test", "packs", "--update")
    assert r.exit_code == 0, r.output
    assert "updated packs/small.yaml: refund-after-12-months, seizure-after-electric-stopped" \
        in r.output
    after = path.read_text()
    assert after.startswith("# a comment the update keeps\n")
    assert "\n  # the seizure case\n" in after  # comments outside expect blocks stay
    # unchanged lines stay as written (with their comments); flow lists stay flow
    assert 'DEP1: {status: closed}   # closed at the end\n      checks: [{amount: "100.00", ' \
           'status: not_selected}]\n' in after
    assert "rules_fired: [saact/seize-deposit]\n" in after
    assert "wpm/write-down" not in after
    r = run("test", "packs")
    assert r.exit_code == 0 and "2 passed" in r.output
    r = run("test", "packs", "--diff")
    assert "expectations already match: nothing to update" in r.output


def test_update_adds_full_expectations_to_a_scenario_without_any(tmp_path, run):
    path = write(tmp_path, """\
        scenarios:
          - name: no-expectations-yet
            given:
              account: {customer_class: RES, credit_rating: 500}
              service_agreements:
                - {sa_id: DEP1, sa_type: DEP-RES, start_date: 2024-01-01, payoff_balance: "-100.00", last_interest_date: 2026-11-21}
            when: {date: 2026-11-21}
          - name: second
            given:
              account: {customer_class: RES, credit_rating: 1}
              service_agreements:
                - {sa_id: DEP1, sa_type: DEP-RES, start_date: 2024-01-01, payoff_balance: "-100.00"}
            when: {date: 2026-11-21}
        """)
    r = run("test", "packs", "--update", "-k", "no-expectations")
    assert r.exit_code == 0, r.output
    text = path.read_text()
    assert text.count("expect:") == 1
    assert textwrap.dedent("""\
        when: {date: 2026-11-21}
        expect:
          service_agreements:
            DEP1: {status: closed, payoff_balance: "0.00", current_balance: "0.00"}
          adjustments:
            - {sa_id: DEP1, category: sync_up, amount: "-100.00", status: frozen}
            - {sa_id: DEP1, category: ap_refund, amount: "100.00", status: frozen}
          bills:
            - {sa_id: DEP1, amount: "-100.00", status: complete}
          checks:
            - {sa_id: DEP1, amount: "100.00", status: not_selected}
          todos: []
          rules_fired:
            - deprfnd/refund-good-credit-rating
        """).replace("\n", "\n    ") in "    " + text.replace("\n", "\n"), text
    assert run("test", "packs").exit_code == 0


# ---- capture ----------------------------------------------------------------------------------------
def test_capture_turns_accounts_into_passing_scenarios(tmp_path, run):
    write_extract(tmp_path / "extract", [acct("A1"), acct("A2", credit_rating=100)],
                  [sa("DEP1", "DEP-RES", start="2024-01-01", payoff="-100.00"),
                   sa("EL1", "E-RES", payoff="60.00", current="60.00"),
                   sa("DEP2", "DEP-RES", start="2026-01-01", payoff="-80.00", account_id="A2")],
                  fts=[dict(ft_id="F1", sa_id="DEP1", date="2024-01-01", payoff_amount="-100.00",
                            current_amount="0.00")])
    r = run("pack", "capture", "A1", "A2", "--extract", "extract", "--as-of", "2026-11-21",
            "--out", "packs/captured.yaml")
    assert r.exit_code == 0, r.output
    text = (tmp_path / "packs" / "captured.yaml").read_text()
    assert "- name: capture-A1-2026-11-21" in text and "- name: capture-A2-2026-11-21" in text
    assert '- {ft_id: F1, sa_id: DEP1, date: "2024-01-01", payoff_amount: "-100.00"' in text
    assert "- deprfnd/refund-good-credit-rating" in text
    r = run("test", "packs/captured.yaml")
    assert r.exit_code == 0 and "2 scenario(s): 2 passed" in r.output, r.output
    r = run("pack", "capture", "A1", "--extract", "extract", "--as-of", "2026-11-21",
            "--out", "packs/captured.yaml")
    assert r.exit_code == 2 and "exists; use --force" in r.output
    r = run("pack", "capture", "A1", "--extract", "extract", "--as-of", "2026-11-21",
            "--out", "packs/ref.yaml", "--reference")
    assert 'from_extract: {dir: "../extract", accounts: [A1]}' in \
        (tmp_path / "packs" / "ref.yaml").read_text()
    assert run("test", "packs/ref.yaml").exit_code == 0


# ---- coverage ----------------------------------------------------------------------------------------
def test_coverage_numbers_on_a_small_pack(tmp_path, cache, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, """\
        given:
          account: {customer_class: RES, credit_rating: 500}
        scenarios:
          - name: held-11-months
            given:
              service_agreements:
                - {sa_id: DEP1, sa_type: DEP-RES, start_date: 2025-12-21, payoff_balance: "-100.00"}
            when: {date: 2026-11-21, run: DEPRFND}
          - name: held-12-months
            given:
              service_agreements:
                - {sa_id: DEP1, sa_type: DEP-RES, start_date: 2025-11-21, payoff_balance: "-100.00"}
            when: {date: 2026-11-21, run: DEPRFND}
        """)
    cov = Coverage(cache.base.book)
    results = run_scenarios(select(load_packs([tmp_path / "packs"])), cache, observe=cov.observe)
    for r in results:
        cov.add_result(r)
    data = cov.as_dict()
    assert data["rules"]["covered"] == 1 and data["rules"]["total"] == 18
    fired = [x["rule"] for x in data["rules"]["items"] if x["fired"]]
    assert fired == ["deprfnd/refund-good-credit-rating"]
    conds = {(x["rule"], x["index"]): (x["seen_true"], x["seen_false"])
             for x in data["conditions"]["items"]}
    rule = "deprfnd/refund-good-credit-rating"
    # status: active, then pending_stop in the second round; not do_not_refund, algorithm,
    # good customer algorithm: only ever true; months held: false (11) and true (12); credit
    # rating: true (reached once)
    assert [conds[(rule, i)] for i in range(6)] == [(True, True)] + [(True, False)] * 3 + \
        [(True, True), (True, False)]
    late = "deprfnd/refund-few-late-payments"  # LATEPAYMENTS is not configured: false
    assert [conds[(late, i)] for i in range(6)] == [(True, True)] + [(True, False)] * 2 + \
        [(False, True)] + [(False, False)] * 2
    th = {(x["rule"], x["index"], x["class"]): x for x in data["thresholds"]["items"]}
    months = th[(rule, 4, "RES")]
    assert (months["values"], months["seen_true"], months["seen_false"], months["on_point"]) == \
        (["12"], True, True, True)
    assert th[(rule, 5, "RES")]["seen_false"] is False
    assert th[(rule, 4, "COM")]["seen_true"] is False  # no commercial scenario
    # only DEPRFND ran: 8 + 5 outcomes of its two rules, of 2 x 81 conditions in all
    assert data["conditions"]["covered"] == 8 + 5 and data["conditions"]["total"] == 2 * 81
    # 22 thresholds of the baseline's possible variants; months held both sides, rating one
    assert data["thresholds"]["covered"] == 3 and data["thresholds"]["total"] == 2 * 22
    assert data["total"] == {"covered": 1 + 13 + 3, "total": 18 + 162 + 44,
                             "percent": round(100 * 17 / 224, 1)}
    assert data["seed_steps"]["2.0.1"]["rules"] == [1, 2]


def test_coverage_report_and_fail_under(tmp_path, run):
    write(tmp_path, GOOD)
    r = run("test", "packs", "--coverage", "--fail-under", "95")
    assert r.exit_code == 1
    assert "rules fired" in r.output and "Not covered:" in r.output
    assert "rule wpm/write-down [3.0.1.4] never fired" in r.output
    assert "is below --fail-under 95%" in r.output
    r = run("test", "packs", "--coverage", "--fail-under", "10", "--format", "json")
    assert r.exit_code == 0
    data = json.loads(r.output)
    assert data["ok"] is True and data["coverage"]["rules"]["total"] == 18
    r = run("test", "packs", "--fail-under", "10")
    assert r.exit_code == 2 and "--fail-under needs --coverage" in r.output


# ---- the pytest plugin ------------------------------------------------------------------------------
def test_pytest_plugin_collects_scenarios_as_items(tmp_path, root):
    write(tmp_path, GOOD)
    write(tmp_path, FAILING, name="failing.yaml")
    write(tmp_path, "scenarios: [1]\n", name="not-a-pack.yaml", folder="config")
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "--rootdir",
         str(tmp_path), f"--deprules-config={root / 'config'}",
         f"--deprules-rules={root / 'rules'}", "-k", "not refund", "."],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    # one item per scenario, named by it; -k deselects by name; config/*.yaml is not a pack
    assert "collected 3 items / 1 deselected / 2 selected" in out, out
    assert "packs/failing.yaml::seizure-expected-wrongly FAILED" in out
    assert "packs/small.yaml::seizure-after-electric-stopped PASSED" in out
    assert "not-a-pack" not in out
    # the failure: expected vs actual per field, then the trace
    assert ("service_agreements.DEP1.status\n    expected: stopped\n    actual:   closed"
            in out), out
    assert "trace of account A1:" in out
    assert "FAILED packs/failing.yaml::seizure-expected-wrongly" in out


def test_a_rule_expected_to_fire_says_why_it_did_not(tmp_path):
    """The failure names the first condition that held the rule back, with the value seen
    and the threshold, as evaluate --explain does."""
    from click.testing import CliRunner

    from deprules.cli import cli

    pack = tmp_path / "p.yaml"
    pack.write_text(
        "pack: why-not\n"
        "scenarios:\n"
        "  - name: refund-expected-but-rating-too-low\n"
        "    seed_step: \"2.0.1\"\n"
        "    given:\n"
        "      account: {customer_class: RES, credit_rating: 100}\n"
        "      service_agreements:\n"
        "        - {sa_id: DEP1, sa_type: DEP-RES, start_date: 2024-01-01, "
        "payoff_balance: \"-100.00\"}\n"
        "    when: {date: 2026-11-21}\n"
        "    expect:\n"
        "      rules_fired: [deprfnd/refund-good-credit-rating]\n")
    r = CliRunner().invoke(cli, ["test", str(pack)])
    assert r.exit_code == 1, r.output
    assert "it did not fire" in r.output
    assert ("why not, DEPRFND on DEP1: account.credit_rating >= "
            "installation.credit_rating_threshold (account.credit_rating is 100, needs >= 300)"
            in r.output)


# ---- a candidate rules folder in a pack ----------------------------------------------------
CANDIDATE_PACK = """\
pack: candidate-rules
given:
  account: {customer_class: RES, credit_rating: 700}
  service_agreements:
    - {sa_id: DEP1, sa_type: DEP-RES, start_date: 2026-01-15, payoff_balance: "-200.00", last_interest_date: 2026-11-21}
scenarios:
  - name: shipped-rules-keep-a-deposit-held-10-months
    when: {date: 2026-11-21}
    expect:
      service_agreements: {DEP1: {status: active}}
      rules_not_fired: [deprfnd/refund-good-credit-rating]
  - name: candidate-rules-refund-after-9-months
    given: {rules: candidate-rules}
    when: {date: 2026-11-21}
    expect:
      service_agreements: {DEP1: {status: closed}}
      rules_fired: [deprfnd/refund-good-credit-rating]
"""


def _candidate_rules(root, folder):
    """The shipped rules with the good-credit refund after 9 months whatever the class's
    hold period (12 for RES): an edited rule, as a rule author would try it."""
    shutil.copytree(root / "rules", folder)
    f = folder / "10-deprfnd.yaml"
    old = "      - sa.months_held >= deposit_class.refund_criteria.hold_months\n"
    text = f.read_text()
    assert text.count(old) >= 1
    f.write_text(text.replace(old, "      - sa.months_held >= 9\n", 1))


def test_a_scenario_can_run_a_candidate_rules_folder(root, tmp_path, run):
    _candidate_rules(root, tmp_path / "candidate-rules")
    pack = tmp_path / "candidate.yaml"
    pack.write_text(CANDIDATE_PACK)
    r = run("test", pack, "--coverage", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [s["status"] for s in doc["scenarios"]] == ["passed", "passed"]
    # coverage is of --rules: the candidate scenario does not count
    cov = doc["coverage"]
    assert cov["scenarios"] == 1  # the one run with --rules
    rule = next(i for i in cov["rules"]["items"] if i["rule"] == "deprfnd/refund-good-credit-rating")
    assert rule["fired"] is False and rule["scenarios"] == []


def test_a_candidate_rules_folder_is_checked_where_it_is_named(root, tmp_path, run):
    pack = tmp_path / "candidate.yaml"
    pack.write_text(CANDIDATE_PACK.replace("rules: candidate-rules", "rules: nowhere"))
    r = run("test", pack)
    assert r.exit_code == 1 and "no rules folder" in r.output and "candidate.yaml:" in r.output
    _candidate_rules(root, tmp_path / "candidate-rules")
    pack.write_text(CANDIDATE_PACK.replace("rules_fired: [deprfnd/refund-good-credit-rating]",
                                           "rules_fired: [deprfnd/no-such-rule]"))
    r = run("test", pack)
    assert r.exit_code == 1, r.output
    assert "unknown rule 'deprfnd/no-such-rule' in the scenario's rules folder" in r.output
