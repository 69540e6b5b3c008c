"""JSON Schemas (draft 2020-12) of the decision service's HTTP documents: requests and
responses. ``GET /v1/schemas`` lists them, ``GET /v1/schemas/NAME`` answers one, and
``GET /openapi.json`` (OpenAPI 3.1) references them by those URLs. Each is self-contained:
a response that is a document the CLI prints too (``evaluate``, ``run``, ``csr-result``,
``ap-export``...) embeds that document's output schema (``deprules.output_schemas``) under
``$defs``. ``tests/test_service_schemas.py`` validates real requests and answers against
them. docs/service.md, "Schemas".
"""

from __future__ import annotations

import copy
from functools import lru_cache

BASE = "https://deprules.example/schemas/http/"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
VERSION = {"type": "integer", "const": 1, "description": "Version of this document's "
           "layout: 1. It changes only when a key changes meaning or goes away."}
HASH = {"type": "string", "pattern": "^[0-9a-f]{16,64}$",
        "description": "Hash of the configuration and rules that answered."}
DATE = {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
TIME = {"type": ["string", "null"], "description": "UTC, ISO 8601 with Z."}
CELL = {"type": ["string", "integer", "boolean", "null"],
        "description": "A cell as text in a CSV extract (money as decimal text, \"-300.00\"); "
        "null is a blank cell, integers and booleans are taken as their text. A number with "
        "a fraction is refused: money is never a float."}
ROWS = {"type": "array", "maxItems": 100_000,
        "items": {"type": "object", "additionalProperties": CELL},
        "description": "Rows with the column names of the extract format "
        "(docs/extract-format.md)."}
PROBLEM = {"type": "object", "required": ["message", "code"], "properties": {
    "field": {"type": "string", "description": "The request field (accounts[3], "
              "service_agreements[0].payoff_balance)."},
    "table": {"type": "string"}, "row": {"type": ["integer", "null"]},
    "column": {"type": ["string", "null"]}, "message": {"type": "string"},
    "code": {"type": "string"}, "file": {"type": "string"}, "line": {"type": "integer"},
    "path": {"type": "string"}}}
TABLE_FIELDS = {"accounts": ROWS, "service_agreements": ROWS, "non_cash_deposits": ROWS,
                "financial_transactions": ROWS}
CANDIDATE = {
    "whatif": {"type": "object", "description": "An overlay: configuration sections as an "
               "overlay YAML file holds them."},
    "set": {"type": "array", "items": {"type": "string", "pattern": "="},
            "description": "PATH=VALUE changes, as --set."},
}


def _doc(name: str, title: str, description: str, body: dict, defs: tuple = ()) -> dict:
    from .output_schemas import load_output_schema

    out = {"$schema": DRAFT, "$id": f"{BASE}{name}.schema.json", "title": title,
           "description": description, **body}
    if defs:
        out["$defs"] = {k: copy.deepcopy(load_output_schema(k)) for k in defs}
    return out


def _ref(kind: str, extra: dict | None = None) -> dict:
    """A CLI document (its output schema) with the keys the service adds."""
    ref = {"$ref": f"#/$defs/{kind}"}
    if not extra:
        return ref
    return {"allOf": [ref, {"type": "object", "properties": extra}]}


def _job() -> dict:
    return {"type": "object", "required": ["schema_version", "id", "kind", "status", "user",
                                           "created", "progress", "request", "error"],
            "properties": {
                "schema_version": VERSION,
                "id": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
                "kind": {"enum": ["simulation", "run"]},
                "status": {"enum": ["queued", "running", "done", "failed", "canceled",
                                    "interrupted"]},
                "user": {"type": "string"}, "created": TIME, "started": TIME,
                "finished": TIME,
                "progress": {"type": "object", "required": ["accounts_done", "accounts"],
                             "properties": {"accounts_done": {"type": "integer", "minimum": 0},
                                            "accounts": {"type": ["integer", "null"]}}},
                "request": {"type": "object"},
                "error": {"type": ["object", "null"], "properties": {
                    "kind": {"type": "string"}, "message": {"type": "string"},
                    "status": {"type": "integer"}, "problems": {"type": "array"}}},
                "files": {"type": "object", "additionalProperties": {"type": "string"}},
                "impact": {"$ref": "#/$defs/impact"},
                "result": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/run"}]}}}


@lru_cache(maxsize=None)
def http_schemas() -> dict[str, dict]:
    """name -> schema of every HTTP document of the service."""
    s: dict[str, dict] = {}
    s["evaluate-request"] = _doc(
        "evaluate-request", "POST /v1/evaluate", "One account's extract rows (DESIGN.md 1.6).",
        {"type": "object", "additionalProperties": False,
         "required": ["account_id", "as_of", "accounts", "service_agreements"],
         "properties": {"account_id": {"type": "string", "minLength": 1}, "as_of": DATE,
                        "explain": {"type": "boolean"}, **CANDIDATE, **TABLE_FIELDS}})
    s["evaluate-batch-request"] = _doc(
        "evaluate-batch-request", "POST /v1/evaluate/batch", "The rows of many accounts.",
        {"type": "object", "additionalProperties": False,
         "required": ["as_of", "accounts", "service_agreements"],
         "properties": {"as_of": DATE, "explain": {"type": "boolean"},
                        "account_ids": {"type": "array", "minItems": 1,
                                        "items": {"type": "string", "minLength": 1}},
                        "engine": {"enum": ["vector", "python"]}, **CANDIDATE,
                        **TABLE_FIELDS}})
    s["evaluate"] = _doc(
        "evaluate", "200 of POST /v1/evaluate",
        "The deprules evaluate --format json document (DESIGN.md 1.5).",
        _ref("evaluate"), ("evaluate",))
    s["evaluate-batch"] = _doc(
        "evaluate-batch", "200 of POST /v1/evaluate/batch",
        "One evaluate document per account, sorted by account id.",
        {"type": "object", "required": ["schema_version", "config_hash", "as_of", "engine",
                                        "accounts", "results"],
         "properties": {"schema_version": VERSION, "config_hash": HASH, "as_of": DATE,
                        "engine": {"enum": ["vector", "python"]},
                        "accounts": {"type": "integer", "minimum": 0},
                        "results": {"type": "array", "items": {"$ref": "#/$defs/evaluate"}}}},
        ("evaluate",))
    s["problems"] = _doc(
        "problems", "400, 408, 413, 422, 429 with located problems",
        "A request refused for what it holds; every problem found.",
        {"type": "object", "required": ["schema_version", "ok", "problems"],
         "properties": {"schema_version": VERSION, "ok": {"const": False},
                        "problems": {"type": "array", "items": PROBLEM},
                        "decision_id": {"type": "string"}, "config_hash": HASH,
                        "error": {"type": "string"}, "code": {"type": "string"}}})
    s["error"] = _doc(
        "error", "401, 403, 404, 409, 422, 500, 503, 504",
        "A call refused or failing: what and why, never a traceback.",
        {"type": "object", "required": ["schema_version", "ok", "error"],
         "properties": {"schema_version": VERSION, "ok": {"const": False},
                        "error": {"type": "string"}, "code": {"type": "string"},
                        "kind": {"type": "string"}, "decision_id": {"type": "string"},
                        "config_hash": HASH, "problems": {"type": "array", "items": PROBLEM}}})
    s["health"] = _doc("health", "GET /health", "The service can evaluate.",
                       {"type": "object", "required": ["ok", "config_hash"],
                        "properties": {"ok": {"const": True}, "config_hash": HASH}})
    s["ready"] = _doc(
        "ready", "GET /ready", "Whether the service takes work, and the last reload's result.",
        {"type": "object", "required": ["ready", "config_hash", "loaded_at", "reload"],
         "properties": {"ready": {"type": "boolean"}, "config_hash": HASH, "loaded_at": TIME,
                        "worker": {"type": "integer", "minimum": 0,
                                   "description": "the worker process that answered "
                                                  "(--workers N: 0 to N-1)"},
                        "pid": {"type": "integer"},
                        "reload": {"type": "object", "required": ["ok", "checked_at",
                                                                  "problems"],
                                   "properties": {"ok": {"type": "boolean"},
                                                  "checked_at": TIME,
                                                  "problems": {"type": "array"}}}}})
    s["simulation-request"] = _doc(
        "simulation-request", "POST /v1/simulations", "A what-if simulation to run as a job.",
        {"type": "object", "additionalProperties": False, "required": ["extract", "as_of"],
         "properties": {"extract": {"type": "string", "minLength": 1}, "as_of": DATE,
                        "horizon": {"type": "integer", "minimum": 1, "maximum": 120},
                        **CANDIDATE}})
    s["job"] = _doc("job", "A job: POST and GET /v1/simulations, /v1/ledger/runs",
                    "A simulation or batch run going on in the service, or done.", _job(),
                    ("impact", "run"))
    s["run-request"] = _doc(
        "run-request", "POST /v1/ledger/runs", "A batch run over the store.",
        {"type": "object", "additionalProperties": False, "required": ["process", "date"],
         "properties": {"process": {"enum": ["DEPRFND", "SAACT", "STOP", "BILLING", "WPM",
                                             "cycle"]},
                        "date": DATE, "reason": {"type": "string"},
                        "allow_backdate": {"type": "boolean"}, "wait": {"type": "boolean"}}})
    s["run"] = _doc("run", "200 of POST /v1/ledger/runs with wait",
                    "The deprules run --format json document.",
                    _ref("run", {"config_hash": HASH}), ("run",))
    s["ledger-operation-request"] = _doc(
        "ledger-operation-request", "POST /v1/ledger/{operation}",
        "The fields of a CSR, To Do, approval or A/P operation (docs/service.md, the table "
        "of operations): money as decimal text, dates YYYY-MM-DD.",
        {"type": "object", "properties": {
            "reason": {"type": "string"}, "date": DATE,
            "amount": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}},
         "additionalProperties": {"type": ["string", "boolean"]}})
    s["csr-result"] = _doc("csr-result", "200 of POST /v1/ledger/{operation}",
                           "The CLI command's --format json document.",
                           _ref("csr-result", {"config_hash": HASH}), ("csr-result",))
    s["ledger-show"] = _doc("ledger-show", "GET /v1/ledger/accounts/{id}",
                            "The ledger show --format json document.",
                            _ref("ledger-show", {"config_hash": HASH}), ("ledger-show",))
    s["todo-list"] = _doc("todo-list", "GET /v1/ledger/todos", "As todo list --format json.",
                          _ref("todo-list", {"config_hash": HASH}), ("todo-list",))
    s["ap-list"] = _doc("ap-list", "GET /v1/ledger/checks", "As ap list --format json.",
                        _ref("ap-list", {"config_hash": HASH}), ("ap-list",))
    s["ap-export-request"] = _doc(
        "ap-export-request", "POST /v1/ledger/ap/export", "An A/P export into --ap-dir.",
        {"type": "object", "additionalProperties": False, "properties": {
            "date": DATE, "reason": {"type": "string"},
            "file": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.csv$"}}})
    s["ap-export"] = _doc(
        "ap-export", "200 of POST /v1/ledger/ap/export",
        "The ap export --format json document, with the file's download URL.",
        _ref("ap-export", {"config_hash": HASH, "download": {"type": "string"},
                           "notes": {"type": "array", "items": {"type": "string"}}}),
        ("ap-export",))
    s["ap-paid-request"] = _doc(
        "ap-paid-request", "POST /v1/ledger/ap/paid", "The file A/P sends back, as text.",
        {"type": "object", "additionalProperties": False, "required": ["csv"],
         "properties": {"csv": {"type": "string", "minLength": 1},
                        "file": {"type": "string"}, "date": DATE,
                        "reason": {"type": "string"}}})
    s["ap-paid"] = _doc("ap-paid", "200 of POST /v1/ledger/ap/paid",
                        "The ap paid --format json document.",
                        _ref("ap-paid", {"config_hash": HASH}), ("ap-paid",))
    return s


def url(name: str) -> str:
    return f"/v1/schemas/{name}"


def openapi() -> dict:
    """The service's OpenAPI 3.1 document; bodies reference the schemas by URL."""
    def body(name):
        return {"required": True, "content": {"application/json": {
            "schema": {"$ref": url(name)}}}}

    def answers(ok: str, code: str = "200", *errors: str):
        out = {code: {"description": ok.split(":")[0], "content": {"application/json": {
            "schema": {"$ref": url(ok.split(":")[-1])}}}}}
        for e in errors or ("401", "403", "422"):
            out[e] = {"description": "refused", "content": {"application/json": {"schema": {
                "$ref": url("problems" if e in ("400", "413", "429") else "error")}}}}
        return out

    paths = {
        "/health": {"get": {"responses": answers("health", "200", "503")}},
        "/ready": {"get": {"responses": answers("ready", "200", "503")}},
        "/v1/evaluate": {"post": {"requestBody": body("evaluate-request"),
                                  "responses": {**answers("evaluate", "200", "401", "403",
                                                          "413", "500", "504"),
                                                "400": {"description": "not JSON",
                                                        "content": {"application/json": {
                                                            "schema": {"$ref": url("problems")}}}},
                                                "422": {"description": "bad fields or rows",
                                                        "content": {"application/json": {
                                                            "schema": {"$ref": url("problems")}}}}}}},
        "/v1/evaluate/batch": {"post": {"requestBody": body("evaluate-batch-request"),
                                        "responses": answers("evaluate-batch", "200", "401",
                                                             "403", "413", "422")}},
        "/v1/simulations": {"post": {"requestBody": body("simulation-request"),
                                     "responses": answers("job", "202", "401", "403", "422",
                                                          "429")}},
        "/v1/simulations/{id}": {"get": {"responses": answers("job", "200", "401", "403",
                                                              "404")}},
        "/v1/ledger/accounts/{id}": {"get": {"responses": answers("ledger-show", "200", "401",
                                                                  "404")}},
        "/v1/ledger/todos": {"get": {"responses": answers("todo-list", "200", "401")}},
        "/v1/ledger/checks": {"get": {"responses": answers("ap-list", "200", "401")}},
        "/v1/ledger/runs": {"post": {"requestBody": body("run-request"),
                                     "responses": {**answers("job", "202", "401", "403", "422",
                                                             "429"),
                                                   "200": {"description": "with wait",
                                                           "content": {"application/json": {
                                                               "schema": {"$ref": url("run")}}}}}}},
        "/v1/ledger/runs/{id}": {"get": {"responses": answers("job", "200", "401", "403",
                                                              "404")}},
        "/v1/ledger/ap/export": {"post": {"requestBody": body("ap-export-request"),
                                          "responses": answers("ap-export", "200", "401",
                                                               "403", "409", "422", "503")}},
        "/v1/ledger/ap/paid": {"post": {"requestBody": body("ap-paid-request"),
                                        "responses": answers("ap-paid", "200", "401", "403",
                                                             "409", "422", "503")}},
        "/v1/ledger/{group}/{verb}": {"post": {"requestBody": body("ledger-operation-request"),
                                               "responses": answers("csr-result", "200", "401",
                                                                    "403", "404", "409",
                                                                    "422", "503")}},
    }
    for p, ops in paths.items():
        for op in ops.values():
            params = [seg[1:-1] for seg in p.split("/") if seg.startswith("{")]
            if params:
                op["parameters"] = [{"name": n, "in": "path", "required": True,
                                     "schema": {"type": "string"}} for n in params]
    return {"openapi": "3.1.0",
            "info": {"title": "deprules decision service", "version": "1",
                     "description": "docs/service.md; every schema at /v1/schemas."},
            "components": {"securitySchemes": {"bearer": {"type": "http",
                                                          "scheme": "bearer"}}},
            "security": [{"bearer": []}], "paths": paths}
