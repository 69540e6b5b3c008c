"""The JSON Schemas of the service's HTTP documents (deprules.http_schemas): served at
/v1/schemas and referenced by /openapi.json; real requests and answers of a running server
validate against them."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from deprules.http_schemas import http_schemas, openapi

from test_service import (AS_OF, SAMPLE, SAMPLE_IDS, TABLES, auth, read_table, rows_of, srv,
                          tokens, wait_for)  # noqa: F401  (fixtures)


def check(name: str, doc) -> None:
    schema = http_schemas()[name]
    errors = sorted(Draft202012Validator(schema).iter_errors(doc), key=str)
    assert not errors, f"{name}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5])


def test_schemas_are_valid_and_served(srv):
    listed = srv.client.get("/v1/schemas").json()["schemas"]
    assert set(listed) == set(http_schemas())
    for name, schema in http_schemas().items():
        Draft202012Validator.check_schema(schema)
        assert srv.client.get(listed[name]).json() == json.loads(json.dumps(schema))
    assert srv.client.get("/v1/schemas/nope").status_code == 404
    doc = srv.client.get("/openapi.json").json()
    assert doc == json.loads(json.dumps(openapi()))
    refs = {v for p in json.dumps(doc).split('"$ref": ')[1:] for v in [p.split('"')[1]]}
    assert refs and refs <= set(listed.values())  # every body named is served


def test_committed_http_schemas_are_what_the_server_serves(srv):
    # schemas/http/ (written by `deprules schema export schemas`) against a running server
    from test_service import ROOT

    folder = ROOT / "schemas" / "http"
    listed = srv.client.get("/v1/schemas").json()["schemas"]
    files = {p.name for p in folder.glob("*.schema.json")}
    assert files == {f"{name}.schema.json" for name in listed}
    for name, path in sorted(listed.items()):
        served = srv.client.get(path)
        assert served.status_code == 200
        assert json.loads((folder / f"{name}.schema.json").read_text(encoding="utf-8")) == \
            served.json(), f"schemas/http/{name}.schema.json is stale: run `deprules schema " \
            "export schemas`"
    assert json.loads((folder / "openapi.json").read_text(encoding="utf-8")) == \
        srv.client.get("/openapi.json").json()


def test_real_requests_and_answers_validate(srv, tokens):
    h = auth(tokens)
    account_id = SAMPLE_IDS[2]
    body = {"account_id": account_id, "as_of": AS_OF, **rows_of(SAMPLE, account_id)}
    check("evaluate-request", body)
    r = srv.client.post("/v1/evaluate", json=body, headers=h)
    assert r.status_code == 200
    check("evaluate", r.json())
    batch = {"as_of": AS_OF, **{t: read_table(SAMPLE, t) for t in TABLES},
             "account_ids": SAMPLE_IDS[:5]}
    check("evaluate-batch-request", batch)
    r = srv.client.post("/v1/evaluate/batch", json=batch, headers=h)
    check("evaluate-batch", r.json())
    r = srv.client.post("/v1/evaluate", json={**body, "as_of": "21/11/2026"}, headers=h)
    assert r.status_code == 422
    check("problems", r.json())
    r = srv.client.post("/v1/evaluate", content=b"{nope", headers=h)
    assert r.status_code == 400
    check("problems", r.json())
    r = srv.client.post("/v1/evaluate", json=body)
    assert r.status_code == 401
    check("error", r.json())
    check("health", srv.client.get("/health").json())
    check("ready", srv.client.get("/ready").json())
    sim = {"extract": "extract", "as_of": AS_OF, "horizon": 2}
    check("simulation-request", sim)
    r = srv.client.post("/v1/simulations", json=sim, headers=h)
    assert r.status_code == 202
    check("job", r.json())
    done = wait_for(lambda: (lambda j: j if j["status"] in ("done", "failed") else None)(
        srv.client.get(f"/v1/simulations/{r.json()['id']}", headers=h).json()), "the job")
    assert done["status"] == "done"
    check("job", done)


@pytest.mark.parametrize("name,bad", [
    ("evaluate-request", {"account_id": "A1", "as_of": "2026-11-21", "accounts": [],
                          "service_agreements": [{"payoff_balance": 1.5}]}),
    ("evaluate-request", {"account_id": "A1", "as_of": "2026-11-21", "accounts": []}),
    ("run-request", {"process": "NIGHTLY", "date": "2026-11-21"}),
    ("ap-export-request", {"file": "../x.csv"}),
])
def test_schemas_refuse_what_the_service_refuses(name, bad):
    assert list(Draft202012Validator(http_schemas()[name]).iter_errors(bad))
