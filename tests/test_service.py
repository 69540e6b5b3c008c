"""The decision service (deprules serve): a real uvicorn server on a free loopback port,
talked to over HTTP with httpx. No timing assertions: polling with generous deadlines only
to wait for the server, a reload or a job."""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from deprules.cli import cli
from deprules.service import Service, ServiceSettings, create_app
from deprules.tokens import add_token, read_tokens, remove_tokens

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "extract"
AS_OF = "2026-11-21"
TABLES = ("accounts", "service_agreements", "non_cash_deposits", "financial_transactions")
DEADLINE = 120.0  # seconds: generous, the suite runs on loaded machines


def wait_for(predicate, what: str, deadline: float = DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class ThreadServer:
    """uvicorn.Server on a socket bound to 127.0.0.1:0, in a thread."""

    def __init__(self, settings: ServiceSettings):
        import uvicorn

        self.service = Service(settings)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(create_app(self.service), log_level="warning",
                                lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        wait_for(lambda: self.server.started, "the server to start")
        self.client = httpx.Client(base_url=self.url, timeout=DEADLINE)
        return self

    def __exit__(self, *exc):
        self.client.close()
        self.server.should_exit = True
        self.thread.join(DEADLINE)
        self.sock.close()


def read_table(folder: Path, table: str) -> list[dict]:
    path = folder / f"{table}.csv"
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def rows_of(folder: Path, account_id: str) -> dict:
    """The request rows of one account of an extract folder (CSV text values)."""
    t = {name: read_table(folder, name) for name in TABLES}
    sas = [r for r in t["service_agreements"] if r["account_id"] == account_id]
    ids = {r["sa_id"] for r in sas}
    return {"accounts": [r for r in t["accounts"] if r["account_id"] == account_id],
            "service_agreements": sas,
            "non_cash_deposits": [r for r in t["non_cash_deposits"]
                                  if r["account_id"] == account_id],
            "financial_transactions": [r for r in t["financial_transactions"]
                                       if r["sa_id"] in ids]}


def cli_evaluate(extract: Path, account_id: str, config=ROOT / "config",
                 rules=ROOT / "rules") -> dict:
    res = CliRunner().invoke(cli, ["evaluate", account_id, "--extract", str(extract),
                                   "--as-of", AS_OF, "--config", str(config),
                                   "--rules", str(rules), "--format", "json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


SAMPLE_IDS = [r["account_id"] for r in read_table(SAMPLE, "accounts")]
ROLES = ("analyst", "csr", "approver", "ap", "operator")


@pytest.fixture(scope="module")
def tokens(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("tokens") / "tokens.json"
    return path, {role: add_token(path, f"user-{role}", [role])[0] for role in ROLES}


@pytest.fixture(scope="module")
def srv(tmp_path_factory, tokens):
    tmp = tmp_path_factory.mktemp("serve")
    settings = ServiceSettings(config_dir=ROOT / "config", rules_dir=ROOT / "rules",
                               tokens=tokens[0], decision_log=tmp / "decisions.jsonl",
                               extracts=ROOT / "examples", jobs_dir=tmp / "jobs",
                               max_body_bytes=2_000_000, reload_interval=0)
    with ThreadServer(settings) as s:
        s.log = tmp / "decisions.jsonl"
        yield s


def auth(tokens, role="analyst") -> dict:
    return {"Authorization": f"Bearer {tokens[1][role]}"}


def evaluate(srv, tokens, body, role="analyst", **kw):
    return srv.client.post("/v1/evaluate", json=body, headers=auth(tokens, role), **kw)


# ---- the evaluate document equals the CLI's -------------------------------------------------
def test_evaluate_equals_cli_on_the_sample(srv, tokens):
    chosen = SAMPLE_IDS[::4]
    assert len(chosen) >= 40
    for account_id in chosen:
        r = evaluate(srv, tokens, {"account_id": account_id, "as_of": AS_OF,
                                   **rows_of(SAMPLE, account_id)})
        assert r.status_code == 200, r.text
        assert r.json() == cli_evaluate(SAMPLE, account_id), account_id
        assert r.headers["x-deprules-config-hash"] == r.json()["config_hash"]
        assert r.headers["x-deprules-decision-id"]


def test_evaluate_explain_equals_cli(srv, tokens, tmp_path):
    account_id = SAMPLE_IDS[1]
    r = evaluate(srv, tokens, {"account_id": account_id, "as_of": AS_OF, "explain": True,
                               **rows_of(SAMPLE, account_id)})
    res = CliRunner().invoke(cli, ["evaluate", account_id, "--extract", str(SAMPLE), "--as-of",
                                   AS_OF, "--explain", "--config", str(ROOT / "config"),
                                   "--rules", str(ROOT / "rules"), "--format", "json"])
    assert r.status_code == 200
    assert r.json() == json.loads(res.output)
    assert "why_not" in r.json()


def _pack_scenarios():
    from deprules.packs.loader import load_packs

    out = []
    for pack in load_packs([ROOT / "packs"]):
        for sc in pack.scenarios:
            g = sc.given
            if len(sc.steps) == 1 and sc.steps[0].op == "run" and sc.steps[0].args == "cycle" \
                    and not g.overlays and not g.sets and g.from_extract is None \
                    and sc.steps[0].date is None:
                out.append(sc)
    return out


def test_evaluate_equals_cli_on_pack_scenarios(srv, tokens, tmp_path):
    """Every regression-pack scenario that is one cycle on the baseline configuration: its
    given rows as a request, and as an extract folder for `deprules evaluate`."""
    from deprules.extract import TABLES as COLUMNS
    from deprules.packs.given import DEFAULTS, _cell

    scenarios = _pack_scenarios()
    assert len(scenarios) >= 20
    for k, sc in enumerate(scenarios):
        g = sc.given
        tables = {"accounts": g.accounts, "service_agreements": g.service_agreements,
                  "non_cash_deposits": g.non_cash_deposits,
                  "financial_transactions": g.financial_transactions}
        body = {"as_of": sc.date}
        folder = tmp_path / f"sc{k}"
        folder.mkdir()
        for table, rows in tables.items():
            cols = [c.name for c in COLUMNS[table]]
            data = [{c: _cell({**DEFAULTS.get(table, {}), **r.data}.get(c)) for c in cols}
                    for r in rows]
            body[table] = data
            with (folder / f"{table}.csv").open("w", newline="") as fh:
                w = csv.DictWriter(fh, cols)
                w.writeheader()
                w.writerows(data)
        for account in body["accounts"]:
            body["account_id"] = account["account_id"]
            r = evaluate(srv, tokens, body)
            assert r.status_code == 200, (sc.name, r.text)
            res = CliRunner().invoke(cli, ["evaluate", account["account_id"], "--extract",
                                           str(folder), "--as-of", sc.date, "--config",
                                           str(ROOT / "config"), "--rules",
                                           str(ROOT / "rules"), "--format", "json"])
            assert res.exit_code == 0, res.output
            assert r.json() == json.loads(res.output), sc.name


def test_batch_documents_equal_evaluate(srv, tokens):
    body = {"as_of": AS_OF, **{t: read_table(SAMPLE, t) for t in TABLES}}
    r = srv.client.post("/v1/evaluate/batch", json=body, headers=auth(tokens))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["accounts"] == len(SAMPLE_IDS) == len(doc["results"])
    assert doc["config_hash"] == r.headers["x-deprules-config-hash"]
    by_id = {d["account_id"]: d for d in doc["results"]}
    for account_id in SAMPLE_IDS[::7]:
        one = evaluate(srv, tokens, {"account_id": account_id, "as_of": AS_OF,
                                     **rows_of(SAMPLE, account_id)})
        assert by_id[account_id] == one.json()
    some = srv.client.post("/v1/evaluate/batch", json={**body, "account_ids": SAMPLE_IDS[:3]},
                           headers=auth(tokens))
    assert [d["account_id"] for d in some.json()["results"]] == sorted(SAMPLE_IDS[:3])
    unknown = srv.client.post("/v1/evaluate/batch", json={**body, "account_ids": ["NOPE"]},
                              headers=auth(tokens))
    assert unknown.status_code == 422 and unknown.json()["problems"][0]["field"] == "account_ids"


def test_candidate_whatif_and_set(srv, tokens):
    account_id = SAMPLE_IDS[0]
    base = {"account_id": account_id, "as_of": AS_OF, **rows_of(SAMPLE, account_id)}
    plain = evaluate(srv, tokens, base).json()
    whatif = {"deposit_classes": {"RES": {"refund_criteria": {"hold_months": 18}}}}
    a = evaluate(srv, tokens, {**base, "whatif": whatif})
    b = evaluate(srv, tokens, {**base, "set": ["deposit_classes.RES.refund_criteria."
                                               "hold_months=18"]})
    assert a.status_code == b.status_code == 200
    assert a.json()["config_hash"] != plain["config_hash"]
    assert a.json()["config_hash"] == b.json()["config_hash"] == \
        a.headers["x-deprules-config-hash"]
    bad = evaluate(srv, tokens, {**base, "set": ["deposit_classes.RES.refund_criteria."
                                                 "hold_months=abc"]})
    assert bad.status_code == 422
    p = bad.json()["problems"][0]
    assert p["field"] == "set" and p["path"].endswith("hold_months")
    bad = evaluate(srv, tokens, {**base, "whatif": {"deposit_classes": {"RES": {
        "refund_criteria": {"hold_months": "x"}}}}})
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "whatif"


# ---- bad input: 400/422 naming the field, never a 500 -----------------------------------------
def test_bad_json_and_types(srv, tokens):
    h = {**auth(tokens), "content-type": "application/json"}
    for body in (b"{bad", b"", b"\xff\xfe", b"[1, 2]", b'{"a": NaN}', b"[" * 100000):
        r = srv.client.post("/v1/evaluate", content=body, headers=h)
        assert r.status_code == 400, (body[:10], r.text)
        assert r.json()["problems"] and "Traceback" not in r.text
    r = evaluate(srv, tokens, {"account_id": 5, "as_of": "2026-13-01", "accounts": {},
                               "service_agreements": [{"sa_id": 1.5}, "x"], "explain": "yes",
                               "set": "a=b", "surprise": 1})
    assert r.status_code == 422
    fields = {p["field"] for p in r.json()["problems"]}
    assert {"account_id", "as_of", "accounts", "service_agreements[0].sa_id",
            "service_agreements[1]", "explain", "set", "surprise"} <= fields
    r = evaluate(srv, tokens, {"as_of": AS_OF})
    assert r.status_code == 422
    assert {p["field"] for p in r.json()["problems"]} == {"account_id", "accounts",
                                                         "service_agreements"}


def test_row_problems_are_located(srv, tokens):
    account_id = SAMPLE_IDS[0]
    rows = rows_of(SAMPLE, account_id)
    rows["accounts"][0]["credit_rating"] = "x"
    rows["service_agreements"][1]["payoff_balance"] = "12.345"
    rows["service_agreements"][0]["sa_type"] = "NOPE"
    r = evaluate(srv, tokens, {"account_id": account_id, "as_of": AS_OF, **rows})
    assert r.status_code == 422
    got = {(p["table"], p["row"], p["column"], p["code"]) for p in r.json()["problems"]}
    assert ("accounts", 0, "credit_rating", "bad-integer") in got
    assert ("service_agreements", 1, "payoff_balance", "bad-money") in got
    assert ("service_agreements", 0, "sa_type", "unknown-sa-type") in got
    # the same problems the CLI finds in the same rows as an extract
    assert r.json()["decision_id"]
    del rows["service_agreements"][0]["stop_date"]
    r = evaluate(srv, tokens, {"account_id": "NOT-THERE", "as_of": AS_OF,
                               **rows_of(SAMPLE, account_id)})
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "account_id"


def test_body_size_limit(srv, tokens):
    big = {"account_id": "A", "as_of": AS_OF, "accounts": [{"x": "y" * 3_000_000}],
           "service_agreements": []}
    r = evaluate(srv, tokens, big)
    assert r.status_code == 413 and r.json()["problems"][0]["code"] == "too-large"


def test_internal_error_is_500_without_traceback(srv, tokens, monkeypatch):
    def boom(body):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(srv.service.decider, "evaluate", boom)
    account_id = SAMPLE_IDS[0]
    r = srv.client.post("/v1/evaluate", json={"account_id": account_id, "as_of": AS_OF,
                                              **rows_of(SAMPLE, account_id)},
                        headers=auth(tokens))
    assert r.status_code == 500
    assert r.json()["decision_id"] and "secret" not in r.text and "Traceback" not in r.text


# ---- auth --------------------------------------------------------------------------------------
def test_auth_missing_wrong_and_roles(srv, tokens):
    body = {"account_id": SAMPLE_IDS[0], "as_of": AS_OF, **rows_of(SAMPLE, SAMPLE_IDS[0])}
    assert srv.client.post("/v1/evaluate", json=body).status_code == 401
    r = srv.client.post("/v1/evaluate", json=body, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = srv.client.post("/v1/evaluate", json=body, headers={"Authorization": "Basic abc"})
    assert r.status_code == 401
    for role in ("analyst", "csr", "approver", "operator"):
        assert evaluate(srv, tokens, body, role).status_code == 200, role
    assert evaluate(srv, tokens, body, "ap").status_code == 403
    # a candidate configuration: analyst and operator only
    r = evaluate(srv, tokens, {**body, "set": ["deposit_classes.RES.refund_criteria."
                                               "hold_months=18"]}, "csr")
    assert r.status_code == 403
    batch = {"as_of": AS_OF, **rows_of(SAMPLE, SAMPLE_IDS[0])}
    assert srv.client.post("/v1/evaluate/batch", json=batch,
                           headers=auth(tokens, "csr")).status_code == 403
    assert srv.client.post("/v1/config/reload", headers=auth(tokens, "analyst")).status_code \
        == 403
    assert srv.client.post("/v1/config/reload", headers=auth(tokens, "operator")).status_code \
        == 200
    for role in ROLES:
        r = srv.client.get("/v1/config", headers=auth(tokens, role))
        assert r.status_code == 200 and r.json()["user"] == f"user-{role}"
    assert srv.client.post("/v1/simulations", json={}, headers=auth(tokens, "approver")
                           ).status_code == 403
    # open: the operations probes
    for path in ("/health", "/ready", "/metrics"):
        assert srv.client.get(path).status_code == 200


def test_removed_token_is_revoked(srv, tokens):
    token, entry = add_token(tokens[0], "temp", ["analyst"])
    h = {"Authorization": f"Bearer {token}"}
    assert srv.client.get("/v1/config", headers=h).status_code == 200
    remove_tokens(tokens[0], token_id=entry["id"])
    assert srv.client.get("/v1/config", headers=h).status_code == 401
    assert srv.client.get("/v1/config", headers=auth(tokens)).status_code == 200


# ---- operations ---------------------------------------------------------------------------------
def test_health_ready_metrics(srv, tokens):
    h = srv.client.get("/health")
    assert h.json()["ok"] is True and h.headers["x-deprules-config-hash"] == \
        h.json()["config_hash"]
    ready = srv.client.get("/ready").json()
    assert ready["ready"] is True and ready["reload"]["ok"] is True
    evaluate(srv, tokens, {"account_id": SAMPLE_IDS[0], "as_of": AS_OF,
                           **rows_of(SAMPLE, SAMPLE_IDS[0])})
    text = srv.client.get("/metrics").text
    assert "# TYPE deprules_http_requests_total counter" in text
    assert 'deprules_http_requests_total{endpoint="/v1/evaluate",method="POST",status="200"}' \
        in text
    assert 'deprules_http_request_duration_seconds_bucket{endpoint="/v1/evaluate",le="+Inf"}' \
        in text
    assert "deprules_decisions_total{outcome=" in text
    assert 'deprules_config_reloads_total{result="invalid"}' in text
    assert f'deprules_config_info{{config_hash="{h.json()["config_hash"]}"}} 1' in text
    r = srv.client.get("/nowhere")
    assert r.status_code == 404 and r.headers["x-deprules-config-hash"]


def test_decision_log(srv, tokens):
    account_id = SAMPLE_IDS[2]
    r = evaluate(srv, tokens, {"account_id": account_id, "as_of": AS_OF,
                               **rows_of(SAMPLE, account_id)}, "csr")
    did = r.headers["x-deprules-decision-id"]
    bad = evaluate(srv, tokens, {"account_id": account_id, "as_of": "nope",
                                 **rows_of(SAMPLE, account_id)})
    lines = [json.loads(x) for x in srv.log.read_text().splitlines()]
    mine = next(x for x in lines if x["decision_id"] == did)
    assert mine["user"] == "user-csr" and mine["endpoint"] == "/v1/evaluate"
    assert mine["config_hash"] == r.json()["config_hash"] and mine["status"] == 200
    assert mine["input_digest"].startswith("sha256:") and mine["time"].endswith("Z")
    assert mine["result"]["account_id"] == account_id
    assert set(mine["result"]["outcomes"]) == {t["outcome"] for t in r.json()["trace"]}
    refused = next(x for x in lines if x["decision_id"] == bad.json()["decision_id"])
    assert refused["status"] == 422


# ---- simulations ----------------------------------------------------------------------------------
def test_simulation_job(srv, tokens):
    from datetime import date

    from deprules.simulate import simulate

    h = auth(tokens)
    r = srv.client.post("/v1/simulations", headers=h, json={
        "extract": "extract", "as_of": AS_OF,
        "whatif": {"deposit_classes": {"RES": {"refund_criteria": {"hold_months": 18}}}}})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    done = wait_for(lambda: (lambda j: j if j["status"] in ("done", "failed") else None)(
        srv.client.get(f"/v1/simulations/{job_id}", headers=h).json()), "the simulation")
    assert done["status"] == "done", done
    assert done["progress"]["accounts"] == done["progress"]["accounts_done"] == len(SAMPLE_IDS)
    expected = simulate(SAMPLE, date(2026, 11, 21), config_dir=ROOT / "config",
                        rules_dir=ROOT / "rules", sets=["deposit_classes.RES.refund_criteria."
                                                        "hold_months=18"])
    assert done["impact"]["candidate"]["config_hash"] == \
        expected.impact["candidate"]["config_hash"]
    assert done["impact"]["outcomes"] == expected.impact["outcomes"]
    assert set(done["files"]) == {"accounts.csv", "accounts.parquet", "impact.json",
                                  "report.html"}
    f = srv.client.get(done["files"]["impact.json"], headers=h)
    assert f.status_code == 200 and json.loads(f.content) == done["impact"]
    assert srv.client.get(f"/v1/simulations/{job_id}/files/../../etc", headers=h
                          ).status_code == 404
    assert srv.client.get("/v1/simulations/nope", headers=h).status_code == 404
    for bad in ({"extract": "../..", "as_of": AS_OF}, {"extract": "extract"},
                {"extract": "extract", "as_of": AS_OF, "horizon": 0}):
        assert srv.client.post("/v1/simulations", headers=h, json=bad).status_code == 422


# ---- hot reload ---------------------------------------------------------------------------------
def test_hot_reload_valid_and_invalid(tmp_path, tokens):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    settings = ServiceSettings(config_dir=tmp_path / "config", rules_dir=tmp_path / "rules",
                               tokens=tokens[0], reload_interval=0.1)
    h = auth(tokens, "operator")
    with ThreadServer(settings) as s:
        first = s.client.get("/v1/config", headers=h).json()["config_hash"]
        body = {"account_id": SAMPLE_IDS[0], "as_of": AS_OF, **rows_of(SAMPLE, SAMPLE_IDS[0])}
        path = tmp_path / "config" / "deposit_classes.yaml"
        text = path.read_text()
        assert "hold_months: 12" in text
        path.write_text(text.replace("hold_months: 12", "hold_months: 18", 1))
        second = wait_for(lambda: (lambda x: x if x != first else None)(
            s.client.get("/v1/config", headers=h).json()["config_hash"]), "a reload")
        r = s.client.post("/v1/evaluate", json=body, headers=h)
        assert r.json()["config_hash"] == second == r.headers["x-deprules-config-hash"]
        # an invalid change: refused, located, the last good configuration keeps serving
        path.write_text(text.replace("hold_months: 12", "hold_months: [oops", 1))
        ready = wait_for(lambda: (lambda x: x if not x["reload"]["ok"] else None)(
            s.client.get("/ready").json()), "the invalid change to be reported")
        p = ready["reload"]["problems"][0]
        assert p["file"].endswith("deposit_classes.yaml") and p["line"] > 0
        assert p["location"] == f"{p['file']}:{p['line']}:{p['column']}"
        assert ready["config_hash"] == second
        r = s.client.post("/v1/evaluate", json=body, headers=h)
        assert r.status_code == 200 and r.json()["config_hash"] == second
        status = s.client.get("/v1/config", headers=h).json()
        assert status["reload"]["ok"] is False and status["config_hash"] == second
        assert 'deprules_config_reloads_total{result="invalid"} 1' in s.client.get(
            "/metrics").text
        path.write_text(text)
        wait_for(lambda: s.client.get("/v1/config", headers=h).json()["config_hash"] == first,
                 "the fixed configuration")
        assert s.client.get("/ready").json()["reload"]["ok"] is True


# ---- the command line -----------------------------------------------------------------------------
def test_token_commands(tmp_path):
    path = tmp_path / "t.json"
    runner = CliRunner()
    res = runner.invoke(cli, ["token", "add", "--tokens", str(path), "--user", "ann",
                              "--role", "analyst", "--role", "csr"])
    assert res.exit_code == 0, res.output
    token = res.stdout.strip().splitlines()[0]
    assert token.startswith("drt_") and len(token) > 40
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert token not in path.read_text()
    [entry] = read_tokens(path)
    assert entry["user"] == "ann" and entry["roles"] == ["analyst", "csr"]
    res = runner.invoke(cli, ["token", "list", "--tokens", str(path), "--format", "json"])
    assert json.loads(res.output)["tokens"][0]["id"] == entry["id"]
    assert "sha256" not in res.output
    res = runner.invoke(cli, ["token", "add", "--tokens", str(path), "--user", "bob",
                              "--role", "king"])
    assert res.exit_code == 2
    res = runner.invoke(cli, ["token", "remove", "--tokens", str(path), "--user", "ann"])
    assert res.exit_code == 0 and read_tokens(path) == []
    res = runner.invoke(cli, ["token", "remove", "--tokens", str(path), "--id", "x"])
    assert res.exit_code == 2


def test_serve_refuses_non_loopback_without_tokens():
    res = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--config",
                                   str(ROOT / "config"), "--rules", str(ROOT / "rules")])
    assert res.exit_code == 2 and "without --tokens" in res.output


def test_serve_process_answers_and_shuts_down_gracefully(tmp_path):
    """The real command: port 0, the port it prints, an answer, SIGTERM, a clean shutdown."""
    import signal

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "deprules"), "serve", "--port",
                             "0", "--config", str(ROOT / "config"), "--rules",
                             str(ROOT / "rules"), "--decision-log", str(tmp_path / "d.jsonl")],
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = wait_for(lambda: (lambda x: x if "listening on" in x or not x else None)(
            proc.stderr.readline()), "the listening line")
        url = line.split("listening on ")[1].split()[0]
        wait_for(lambda: _get(url + "/health"), "the server to answer")
        account_id = SAMPLE_IDS[3]
        r = httpx.post(url + "/v1/evaluate", json={"account_id": account_id, "as_of": AS_OF,
                                                    **rows_of(SAMPLE, account_id)},
                       timeout=DEADLINE)
        assert r.status_code == 200 and r.json()["account_id"] == account_id
        proc.send_signal(signal.SIGTERM)
        # uvicorn finishes the requests in flight, runs the shutdown (jobs, decision log),
        # then re-raises the signal: the exit status is SIGTERM's, as systemd expects
        assert proc.wait(DEADLINE) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in proc.stderr.read()
        assert (tmp_path / "d.jsonl").read_text().count("\n") == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _get(url):
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_python_api_is_the_one_the_service_uses():
    from deprules.api import Decider, RequestError

    with Decider(ROOT / "config", ROOT / "rules") as d:
        account_id = SAMPLE_IDS[5]
        doc = d.evaluate({"account_id": account_id, "as_of": AS_OF,
                          **rows_of(SAMPLE, account_id)})
        assert doc == cli_evaluate(SAMPLE, account_id)
        with pytest.raises(RequestError) as e:
            d.evaluate({"account_id": account_id, "as_of": AS_OF, "accounts": "x",
                        "service_agreements": []})
        assert e.value.status == 422 and e.value.problems[0]["field"] == "accounts"
    with Decider(ROOT / "config", ROOT / "rules", engine="durable") as d:  # the CLI's engine
        assert d.evaluate({"account_id": account_id, "as_of": AS_OF,
                           **rows_of(SAMPLE, account_id)}) == doc
