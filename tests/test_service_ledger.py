"""The ledger behind HTTP (deprules serve --store): a real uvicorn server on a loopback port,
a real store file, the same results as the CLI, roles, audit and refusals that change
nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from deprules.cli import cli
from deprules.ledger.sqlstore import Store
from deprules.service import ServiceSettings
from deprules.tokens import add_token
from helpers import acct, sa, write_extract
from test_service import ThreadServer

ROOT = Path(__file__).resolve().parents[1]
ON = "2026-11-21"
ROLES = ("analyst", "csr", "approver", "ap", "operator")


def invoke(*args):
    r = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r


def domain_store(path: Path, tmp_path: Path) -> Path:
    """DOMAIN.md section 5: the deposit's payoff -200.00; the gas SA owes 50.00."""
    extract = write_extract(tmp_path / f"x-{path.name}", [acct(), acct("A2")], [
        sa("DEP1", "DEP-RES", start="2025-06-01", payoff="-200.00",
           total_deposit_amount="200.00"),
        sa("G1", "G-RES", start="2024-01-01", payoff="50.00", current="50.00"),
        sa("E1", "E-RES", start="2024-01-01", payoff="0.00"),
        # A2: a refund of 800.00 is above the CSR-STD approval threshold (500.00)
        sa("DEP2", "DEP-RES", start="2025-06-01", payoff="-1000.00",
           total_deposit_amount="1000.00", account_id="A2")])
    invoke("ledger", "init", "--extract", extract, "--store", path)
    return path


@pytest.fixture()
def served(tmp_path):
    tokens = tmp_path / "tokens.json"
    keys = {role: add_token(tokens, f"{role}-1", [role])[0] for role in ROLES}
    store = domain_store(tmp_path / "store.db", tmp_path)
    settings = ServiceSettings(config_dir=ROOT / "config", rules_dir=ROOT / "rules",
                               tokens=tokens, decision_log=tmp_path / "decisions.jsonl",
                               reload_interval=0, store=store, store_wait=0.5)
    with ThreadServer(settings) as srv:
        srv.keys, srv.store, srv.tmp = keys, store, tmp_path
        yield srv


def call(srv, method: str, path: str, role: str | None, body=None):
    headers = {"Authorization": f"Bearer {srv.keys[role]}"} if role else {}
    return srv.client.request(method, path, headers=headers,
                              content=None if body is None else json.dumps(body))


def test_partial_refund_over_http_equals_the_cli_and_is_audited(served, tmp_path):
    body = {"sa_id": "DEP1", "amount": "120.00", "apply_to_debt": True, "date": ON,
            "reason": "customer asked for part of the deposit"}
    r = call(served, "POST", "/v1/ledger/refund/partial", "csr", body)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["ok"] and doc["changes"] and doc["action"] == "partial_refund"
    assert (doc["ap_refund"], doc["current_only"]) == ("70.00", "-120.00")
    # the same operation by the CLI on a copy of the store before it: the same rows
    cli_store = domain_store(tmp_path / "cli.db", tmp_path)
    out = invoke("refund", "partial", "DEP1", "--amount", "120.00", "--apply-to-debt",
                 "--date", ON, "--store", cli_store, "--by", "csr-1", "--reason",
                 "customer asked for part of the deposit", "--format", "json")
    cli_doc = json.loads(out.stdout)
    assert {k: v for k, v in doc.items() if k != "config_hash"} == cli_doc
    http_account = call(served, "GET", "/v1/ledger/accounts/A1", "analyst").json()
    cli_account = json.loads(invoke("ledger", "show", "A1", "--store", cli_store,
                                    "--format", "json").stdout)

    assert {k: v for k, v in http_account.items() if k != "config_hash"} == cli_account
    # who did it is the token's user, in every journal entry and in the store's journal
    assert {e["user"] for e in http_account["journal"]} == {"csr-1"}
    last = Store.open(served.store).journal(1)[0]
    assert last["user"] == "csr-1" and last["command"].startswith("refund partial DEP1")
    log = [json.loads(x) for x in (served.tmp / "decisions.jsonl").read_text().splitlines()]
    assert log[-1]["endpoint"] == "/v1/ledger/refund/partial" and log[-1]["user"] == "csr-1"


def test_roles_decide_who_may_change_what(served):
    body = {"sa_id": "DEP1", "amount": "10.00", "date": ON}
    assert call(served, "POST", "/v1/ledger/refund/partial", None, body).status_code == 401
    for role in ("analyst", "approver", "ap", "operator"):
        r = call(served, "POST", "/v1/ledger/refund/partial", role, body)
        assert r.status_code == 403 and "allowed roles: csr" in r.json()["error"], role
    assert call(served, "POST", "/v1/ledger/runs", "csr",
                {"process": "cycle", "date": ON}).status_code == 403
    assert call(served, "POST", "/v1/ledger/ap/hold", "csr",
                {"check_id": "A1-CHK001"}).status_code == 403
    # every role may read
    for role in ROLES:
        assert call(served, "GET", "/v1/ledger/accounts/A1", role).status_code == 200
    assert Store.open(served.store).generation() == 1


def test_bad_fields_unknown_entities_and_refused_moves_change_nothing(served):
    gen = Store.open(served.store).generation()
    r = call(served, "POST", "/v1/ledger/refund/partial", "csr",
             {"sa_id": "DEP1", "amount": 120, "colour": "red", "date": "21/11/2026"})
    assert r.status_code == 422
    fields = {p["field"] for p in r.json()["problems"]}
    assert fields == {"amount", "colour", "date"}
    r = call(served, "POST", "/v1/ledger/refund/partial", "csr", {"amount": "1.00"})
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "sa_id"
    r = call(served, "POST", "/v1/ledger/sa/close", "csr", {"sa_id": "NOPE"})
    assert r.status_code == 404, r.text
    r = call(served, "POST", "/v1/ledger/sa/close", "csr", {"sa_id": "DEP1", "date": ON})
    assert r.status_code == 409 and r.json()["kind"] == "LedgerError", r.text
    r = call(served, "POST", "/v1/ledger/no/such", "csr", {})
    assert r.status_code == 404 and "refund/partial" in r.json()["error"]
    r = call(served, "GET", "/v1/ledger/accounts/NOPE", "csr")
    assert r.status_code == 404
    assert Store.open(served.store).generation() == gen


def test_approval_batch_run_to_dos_and_checks(served):
    # above the approval threshold: waits for an approver, never approved by its creator
    r = call(served, "POST", "/v1/ledger/refund/partial", "csr",
             {"sa_id": "DEP2", "amount": "800.00", "date": ON})
    assert r.status_code == 200, r.text
    assert r.json()["waits_for_approval"] is True
    todos = call(served, "GET", "/v1/ledger/todos?type=ADJ-APPROVAL", "approver").json()["todos"]
    assert len(todos) == 1 and todos[0]["status"] == "open"
    adj = todos[0]["adjustment_id"]
    r = call(served, "POST", "/v1/ledger/adjust/approve", "approver",
             {"adjustment_id": adj, "date": ON, "reason": "checked"})
    assert r.status_code == 200, r.text
    assert r.json()["adjustment"]["approved_by"] == "approver-1"
    checks = call(served, "GET", "/v1/ledger/checks?status=not_selected", "ap").json()
    assert [c["amount"] for c in checks["check_requests"]] == ["800.00"]
    r = call(served, "POST", "/v1/ledger/ap/hold", "ap",
             {"check_id": checks["check_requests"][0]["request_id"], "reason": "address"})
    assert r.status_code == 200, r.text
    # the nightly batch over HTTP, on the vector back end, audited as the operator
    r = call(served, "POST", "/v1/ledger/runs", "operator",
             {"process": "cycle", "date": ON, "wait": True})
    assert r.status_code == 200, r.text
    assert r.json()["accounts"] == 2
    last = Store.open(served.store).journal(1)[0]
    assert (last["kind"], last["user"], last["engine"]) == ("run", "operator-1", "vector")
    r = call(served, "POST", "/v1/ledger/runs", "operator", {"process": "cycle",
                                                              "date": "2026-01-01",
                                                              "wait": True})
    assert r.status_code == 422 and "allow-backdate" in r.json()["error"]


def test_without_tokens_the_ledger_is_read_only(tmp_path):
    store = domain_store(tmp_path / "store.db", tmp_path)
    settings = ServiceSettings(config_dir=ROOT / "config", rules_dir=ROOT / "rules",
                               reload_interval=0, store=store)
    with ThreadServer(settings) as srv:
        assert srv.client.get("/v1/ledger/accounts/A1").status_code == 200
        r = srv.client.post("/v1/ledger/sa/pending-stop",
                            content=json.dumps({"sa_id": "E1", "stop_date": ON}))
        assert r.status_code == 403 and "--tokens" in r.json()["error"]
    assert Store.open(store).generation() == 1


def test_without_a_store_the_ledger_endpoints_say_how_to_enable_them(tmp_path):
    settings = ServiceSettings(config_dir=ROOT / "config", rules_dir=ROOT / "rules",
                               reload_interval=0)
    with ThreadServer(settings) as srv:
        r = srv.client.get("/v1/ledger/accounts/A1")
        assert r.status_code == 404 and "--store" in r.json()["error"]


def test_an_approval_over_http_checks_the_token_roles_against_the_profile(tmp_path):
    """A profile whose approver_role is operator: an approver's token may call the endpoint,
    but the profile refuses it (the token's roles, not a users file, decide)."""
    import shutil

    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    f = config / "approval_profiles.yaml"
    f.write_text(f.read_text().replace("approver_role: approver", "approver_role: operator"))
    tokens = tmp_path / "tokens.json"
    keys = {role: add_token(tokens, f"{role}-1", [role])[0] for role in ROLES}
    store = tmp_path / "store.db"
    extract = write_extract(tmp_path / "x", [acct("A2")], [
        sa("DEP2", "DEP-RES", start="2025-06-01", payoff="-1000.00",
           total_deposit_amount="1000.00", account_id="A2")])
    invoke("ledger", "init", "--extract", extract, "--store", store, "--config", config)
    settings = ServiceSettings(config_dir=config, rules_dir=ROOT / "rules", tokens=tokens,
                               reload_interval=0, store=store)
    with ThreadServer(settings) as srv:
        srv.keys = keys
        r = call(srv, "POST", "/v1/ledger/refund/partial", "csr",
                 {"sa_id": "DEP2", "amount": "800.00", "date": ON})
        assert r.status_code == 200 and r.json()["waits_for_approval"], r.text
        gen = Store.open(store).generation()
        r = call(srv, "POST", "/v1/ledger/adjust/approve", "approver",
                 {"adjustment_id": r.json()["ap_adjustment_id"], "date": ON})
        assert r.status_code == 409, r.text
        assert "needs role operator" in r.json()["error"]
        assert Store.open(store).generation() == gen


# ---- A/P files and batch runs as jobs -------------------------------------------------------
def _wait_job(srv, job_id):
    from test_service import wait_for

    return wait_for(lambda: (lambda j: j if j["status"] not in ("queued", "running") else None)(
        call(srv, "GET", f"/v1/ledger/runs/{job_id}", "operator").json()), "the batch run")


@pytest.fixture()
def served_ap(tmp_path):
    tokens = tmp_path / "tokens.json"
    keys = {role: add_token(tokens, f"{role}-1", [role])[0] for role in ROLES}
    store = domain_store(tmp_path / "store.db", tmp_path)
    (tmp_path / "ap").mkdir()
    settings = ServiceSettings(config_dir=ROOT / "config", rules_dir=ROOT / "rules",
                               tokens=tokens, reload_interval=0, store=store, store_wait=0.5,
                               ap_dir=tmp_path / "ap", jobs_dir=tmp_path / "jobs")
    with ThreadServer(settings) as srv:
        srv.keys, srv.store, srv.tmp = keys, store, tmp_path
        yield srv


def test_batch_run_as_a_job_then_ap_export_and_paid_equal_the_cli(served_ap, tmp_path):
    srv = served_ap
    cli_store = domain_store(tmp_path / "cli.db", tmp_path)
    # a refund by check: the cycle stops the deposit SA and refunds it
    for store_args, how in ((None, "http"), (cli_store, "cli")):
        if how == "http":
            r = call(srv, "POST", "/v1/ledger/sa/pending-stop", "csr",
                     {"sa_id": "DEP1", "stop_date": ON, "date": ON})
            assert r.status_code == 200, r.text
        else:
            invoke("sa", "pending-stop", "DEP1", "--date", ON, "--store",
                   cli_store, "--by", "csr-1")
    r = call(srv, "POST", "/v1/ledger/runs", "operator", {"process": "cycle", "date": ON})
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/v1/ledger/runs/{r.json()['id']}"
    job = _wait_job(srv, r.json()["id"])
    assert job["status"] == "done" and job["kind"] == "run", job
    assert job["result"]["accounts"] == 2 and job["progress"]["accounts_done"] >= 1
    cli_run = json.loads(invoke("run", "cycle", "--date", ON, "--store", cli_store,
                                "--format", "json").stdout)
    assert {k: v for k, v in job["result"].items() if k not in ("config_hash", "run_id")} == \
        {k: v for k, v in cli_run.items() if k != "run_id"}
    checks = call(srv, "GET", "/v1/ledger/checks?status=not_selected", "ap").json()
    assert checks["check_requests"], checks

    # A/P export: role ap only; the file in --ap-dir, as the CLI writes it
    body = {"date": ON, "file": "nov.csv", "reason": "weekly A/P"}
    assert call(srv, "POST", "/v1/ledger/ap/export", "csr", body).status_code == 403
    r = call(srv, "POST", "/v1/ledger/ap/export", "ap", body)
    assert r.status_code == 200, r.text
    doc = r.json()
    cli_doc = json.loads(invoke("ap", "export", "--out", tmp_path / "cli-nov.csv", "--date", ON,
                                "--store", cli_store, "--by", "ap-1", "--format",
                                "json").stdout)
    assert doc["requests"] == cli_doc["requests"] >= 1 and doc["amount"] == cli_doc["amount"]
    assert doc["request_ids"] == cli_doc["request_ids"]
    data = (srv.tmp / "ap" / "nov.csv").read_bytes()
    assert data == (tmp_path / "cli-nov.csv").read_bytes()
    text = data.decode("utf-8")
    f = call(srv, "GET", doc["download"], "ap")
    assert f.status_code == 200 and f.content == data
    assert call(srv, "GET", "/v1/ledger/ap/files/..%2Fstore.db", "ap").status_code == 404
    # never overwritten; a bad name refused; nothing marked twice
    gen = Store.open(srv.store).generation()
    assert call(srv, "POST", "/v1/ledger/ap/export", "ap", body).status_code == 409
    r = call(srv, "POST", "/v1/ledger/ap/export", "ap", {"file": "../x.csv"})
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "file"
    assert Store.open(srv.store).generation() == gen
    requested = call(srv, "GET", "/v1/ledger/checks?status=requested", "ap").json()
    assert [c["request_id"] for c in requested["check_requests"]] == doc["request_ids"]
    last = Store.open(srv.store).journal(1)[0]
    assert last["user"] == "ap-1" and last["command"].startswith("ap export ")

    # A/P says paid: a wrong amount refuses the whole file, changing nothing
    rid = doc["request_ids"][0]
    wrong = "request_id,amount\n" + f"{rid},1.00\n"
    r = call(srv, "POST", "/v1/ledger/ap/paid", "ap", {"csv": wrong, "date": ON})
    assert r.status_code == 422 and "the file says 1.00" in r.json()["error"], r.text
    assert Store.open(srv.store).generation() == gen
    r = call(srv, "POST", "/v1/ledger/ap/paid", "ap", {"csv": text, "date": ON,
                                                        "file": "nov.csv"})
    assert r.status_code == 200, r.text
    paid = tmp_path / "cli-nov.csv"
    cli_paid = json.loads(invoke("ap", "paid", paid, "--date", ON, "--store", cli_store,
                                 "--by", "ap-1", "--format", "json").stdout)
    assert {k: v for k, v in r.json().items() if k not in ("config_hash", "file")} == \
        {k: v for k, v in cli_paid.items() if k != "file"}
    assert call(srv, "GET", "/v1/ledger/checks?status=paid", "ap").json()["check_requests"]
    # the answers are the documents of the HTTP schemas (deprules.http_schemas)
    from test_service_schemas import check

    check("job", job)
    check("run", {"schema_version": 1, **job["result"]})
    check("ap-export", doc)
    check("ap-paid", r.json())
    check("ledger-show", call(srv, "GET", "/v1/ledger/accounts/A1", "csr").json())
    check("ap-list", call(srv, "GET", "/v1/ledger/checks", "ap").json())
    check("todo-list", call(srv, "GET", "/v1/ledger/todos", "ap").json())
    check("csr-result", call(srv, "POST", "/v1/ledger/sa/pending-stop", "csr",
                             {"sa_id": "E1", "stop_date": ON, "date": ON}).json())
    r = call(srv, "POST", "/v1/ledger/ap/paid", "ap", {"csv": "amount\n1.00\n"})
    assert r.status_code == 422 and "request_id" in r.json()["error"]


def test_a_failed_run_job_says_why(served_ap):
    r = call(served_ap, "POST", "/v1/ledger/runs", "operator",
             {"process": "cycle", "date": ON, "wait": True})
    assert r.status_code == 200, r.text
    r = call(served_ap, "POST", "/v1/ledger/runs", "operator",
             {"process": "cycle", "date": "2026-01-01"})
    assert r.status_code == 202
    job = _wait_job(served_ap, r.json()["id"])
    assert job["status"] == "failed" and "allow-backdate" in job["error"]["message"]
    assert job["error"]["status"] == 422
    assert call(served_ap, "GET", "/v1/ledger/runs/nope", "operator").status_code == 404
    assert call(served_ap, "GET", f"/v1/ledger/runs/{job['id']}", "csr").status_code == 403
    r = call(served_ap, "POST", "/v1/ledger/runs", "operator", {"process": "nope"})
    assert r.status_code == 422
