"""`deprules test --junit` writes reports Jenkins accepts: valid against junit-10.xsd.

tests/data/junit-10.xsd states the facts of the Jenkins xUnit plugin's junit-10.xsd (see its
header). Validation needs lxml, a test extra (pyproject.toml [project.optional-dependencies]).
"""

from __future__ import annotations

import textwrap

import pytest

etree = pytest.importorskip("lxml.etree")

from click.testing import CliRunner  # noqa: E402

from deprules.cli import cli  # noqa: E402


@pytest.fixture(scope="module")
def xsd(root):
    return etree.XMLSchema(etree.parse(str(root / "tests" / "data" / "junit-10.xsd")))


def _assert_valid(xsd, document) -> None:
    ok = xsd.validate(document)
    assert ok, "\n".join(str(e) for e in list(xsd.error_log)[:20])


def test_shipped_packs_junit_report_validates(root, tmp_path, monkeypatch, xsd):
    monkeypatch.chdir(root)
    out = tmp_path / "packs.xml"
    r = CliRunner().invoke(cli, ["test", "packs", "--junit", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    doc = etree.parse(str(out))
    _assert_valid(xsd, doc)
    cases = doc.findall("testsuite/testcase")
    assert cases and all(c.get("classname") and c.get("name") and c.get("time") for c in cases)
    # CI servers show system-out: the scenario's FILE:LINE, seed steps and trace are there
    out_text = cases[0].find("system-out").text
    assert " at packs/" in out_text and "trace of account" in out_text


FAILING = """\
    given:
      account: {customer_class: RES, credit_rating: 100}
    scenarios:
      - name: passes
        given:
          service_agreements:
            - {sa_id: DEP1, sa_type: DEP-RES, start_date: 2024-01-01, payoff_balance: "-100.00", last_interest_date: 2026-11-21}
        when: {date: 2026-11-21}
        expect:
          service_agreements: {DEP1: {status: active}}
      - name: fails
        given:
          service_agreements:
            - {sa_id: DEP1, sa_type: DEP-RES, start_date: 2024-01-01, payoff_balance: "-100.00", last_interest_date: 2026-11-21}
        when: {date: 2026-11-21}
        expect:
          service_agreements: {DEP1: {status: closed}}
    """


def test_failing_pack_read_from_stdin_reports_to_stdout_valid(root, monkeypatch, xsd):
    """`deprules test - --junit -`: the pack from stdin, the XML (alone) on stdout."""
    monkeypatch.chdir(root)
    r = CliRunner().invoke(cli, ["test", "-", "--junit", "-"],
                           input=textwrap.dedent(FAILING), catch_exceptions=False)
    assert r.exit_code == 1, r.output
    doc = etree.fromstring(r.stdout.encode())
    _assert_valid(xsd, doc)
    suite = doc.find("testsuite")
    assert suite.get("file") == "<stdin>" and suite.get("failures") == "1"
    failure = doc.find("testsuite/testcase[@name='fails']/failure")
    assert failure.get("message").startswith("<stdin>:11: service_agreements.DEP1.status: "
                                             "expected closed, actual active")
    # the human report went to stderr
    assert "FAIL   fails" in r.stderr and "1 failed" in r.stderr


def test_junit_to_stdout_refuses_json_output(root, monkeypatch):
    monkeypatch.chdir(root)
    r = CliRunner().invoke(cli, ["test", "packs", "--junit", "-", "--format", "json"])
    assert r.exit_code == 2 and "--junit - writes to standard output" in r.stderr
