"""The service's ledger endpoints (``deprules serve --store PATH``): the CSR desk, To Do and
A/P operations and batch runs over HTTP, with the CLI's rules, money, audit and atomicity.

Every changing call is one :func:`deprules.desk.perform` (or one store batch) as the
authenticated user: the user is in the cause of every row and journal entry it writes, the
store's journal names the command (``serve POST /v1/ledger/...``). Reads answer what the CLI's
``--format json`` prints. Without ``--tokens`` the service refuses every change (an
anonymous change could not be audited).

Answers: 200 with the result document; 404 for an unknown operation or entity; 409 for a
change the ledger refuses (an illegal move, a broken invariant); 422 for bad fields (each
named); 503 with Retry-After while another writer holds the store past the wait.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import Request  # a module-level name: FastAPI resolves the annotations

from .errors import (DeprulesError, EngineError, InputError, InvariantError, LedgerError,
                     NotFoundError, StoreLockedError)

# action -> roles allowed (the service's ACCESS gets these)
LEDGER_ACCESS = {
    "ledger-read": frozenset({"analyst", "csr", "approver", "ap", "operator"}),
    "ledger-csr": frozenset({"csr"}),
    "ledger-approver": frozenset({"approver"}),
    "ledger-ap": frozenset({"ap"}),
    "ledger-run": frozenset({"operator"}),
}
PROCESSES = ("DEPRFND", "SAACT", "STOP", "BILLING", "WPM", "cycle")


class LedgerCallError(Exception):
    def __init__(self, status: int, message: str, code: str, problems=None):
        super().__init__(message)
        self.status, self.message, self.code, self.problems = status, message, code, problems


def status_of(exc: DeprulesError) -> tuple[int, str]:
    if isinstance(exc, StoreLockedError):
        return 503, "store-locked"
    if isinstance(exc, (LedgerError, InvariantError, EngineError)):
        return 409, "refused"
    if isinstance(exc, NotFoundError):
        return 404, "not-found"
    if isinstance(exc, InputError):
        return 422, "bad-input"
    return 500, "store-error"


def problems_of(problems: list[tuple[str, str]]) -> list[dict]:
    return [{"field": f, "message": m, "code": "bad-field"} for f, m in problems]


def read_account(store, setup, account_id: str) -> dict:
    from .desk import account_document

    return account_document(store, setup, account_id)


def read_todos(store, setup, query: dict) -> dict:
    from .desk import list_todos
    from .storeops import open_ledger, todo_scope

    todo_type, status, account = (query.get("type") or None, query.get("status") or None,
                                  query.get("account_id") or None)
    ledger, _ = open_ledger(store, setup, todo_scope(todo_type, status, account))
    return {"todos": list_todos(ledger, todo_type, status, account, setup)}


def read_checks(store, setup, query: dict) -> dict:
    from .desk import list_checks
    from .storeops import checks_scope, open_ledger

    status = query.get("status") or None
    ledger, _ = open_ledger(store, setup, checks_scope(status))
    return {"check_requests": list_checks(ledger, setup, status)}


def change(store, setup, path: str, body: Any, ident, wait: float) -> dict:
    """Run the desk operation ``path`` (``refund/partial``...) with the JSON ``body`` as the
    token's user; an approval checks the token's roles (deprules.approvals)."""
    from .approvals import deciding_as
    from .desk import OPERATIONS, parse_values, run_operation

    op = OPERATIONS.get(path)
    if op is None:
        raise LedgerCallError(404, f"no ledger operation {path!r}; known: "
                              f"{', '.join(sorted(OPERATIONS))}", "not-found")
    values, problems = parse_values(op, body, setup)
    if problems:
        raise LedgerCallError(422, "invalid fields", "bad-fields", problems_of(problems))
    with deciding_as(ident.roles):
        result = run_operation(op, store, setup, ident.user, values, wait)
    return result.as_dict()


def check_run(body: Any) -> dict:
    """The fields of POST /v1/ledger/runs (LedgerCallError 400/422 naming the wrong ones)."""
    problems = []
    if not isinstance(body, dict):
        raise LedgerCallError(400, "the body must be a JSON object", "not-an-object")
    known = {"process", "date", "reason", "allow_backdate", "wait"}
    problems += [(k, f"unknown field {k!r} (expected {', '.join(sorted(known))})")
                 for k in body if k not in known]
    process = body.get("process")
    if process not in PROCESSES:
        problems.append(("process", f"process must be one of {', '.join(PROCESSES)}"))
    on = None
    try:
        on = date.fromisoformat(body.get("date") or "")
    except (TypeError, ValueError):
        problems.append(("date", "date is required: the process date YYYY-MM-DD"))
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        problems.append(("reason", "reason must be a string"))
    backdate = body.get("allow_backdate", False)
    if not isinstance(backdate, bool):
        problems.append(("allow_backdate", "allow_backdate must be true or false"))
    wait = body.get("wait", False)
    if not isinstance(wait, bool):
        problems.append(("wait", "wait must be true or false"))
    if problems:
        raise LedgerCallError(422, "invalid fields", "bad-fields", problems_of(problems))
    return {"process": process, "date": on.isoformat(), "reason": reason,
            "allow_backdate": backdate, "wait": wait}


def run_batch(store, setup, req: dict, ident, wait: float, progress=None) -> dict:
    """POST /v1/ledger/runs: {"process": "cycle", "date": "YYYY-MM-DD", "reason": "...",
    "allow_backdate": false}, on the vector back end (as ``deprules run``);
    ``progress(done, total)`` after each chunk of changed accounts."""
    from .processes import run_store_batch
    from .storeops import store_session

    process, on = req["process"], date.fromisoformat(req["date"])
    with store_session(store, setup, ident.user, f"run {process} {on.isoformat()}",
                       req["reason"], scope=(), kind="run", process_date=on, wait=wait,
                       allow_backdate=req["allow_backdate"]) as s:
        summary = run_store_batch(s, setup, process, on, s.run_id, progress=progress)
        s.summary.update(summary.as_journal())
        s.summary["engine"] = "vector"
    return summary.as_dict()


# ---- A/P files (seed 1.7 - 1.9) -----------------------------------------------------------
AP_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.csv$")


class _Nothing(Exception):
    """Inside a store session: nothing to mark, commit nothing."""


def _date_field(body: dict, problems: list) -> date:
    v = body.get("date")
    if v is None:
        return date.today()
    try:
        if not isinstance(v, str) or len(v) != 10:
            raise ValueError
        return date.fromisoformat(v)
    except ValueError:
        problems.append(("date", "date must be a date YYYY-MM-DD (the operation date; "
                                 "default today)"))
        return date.today()


def _fields(body: Any, known: set[str]) -> tuple[dict, list]:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise LedgerCallError(400, "the body must be a JSON object", "not-an-object")
    problems = [(k, f"unknown field {k!r} (expected {', '.join(sorted(known))})")
                for k in body if k not in known]
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        problems.append(("reason", "reason must be a string"))
    return body, problems


def ap_export(store, setup, body: Any, ident, wait: float, ap_dir: Path | None) -> dict:
    """POST /v1/ledger/ap/export: ``ap export`` into the server's A/P folder. The file is
    written under a temporary name and fsynced before the transaction that marks its check
    requests ``requested`` commits (and records the batch), then linked to its name: the
    CLI's sequence (``apfiles``), so a kill at any point loses nothing and marks nothing
    twice; the next export delivers a batch committed but not linked."""
    from . import apfiles, desk
    from .desk.common import manual_cause
    from .errors import StoreError
    from .ledger.sqlstore import Store
    from .storeops import store_session

    if ap_dir is None:
        raise LedgerCallError(404, "A/P files are not served: start deprules serve with "
                              "--ap-dir DIR", "not-enabled")
    body, problems = _fields(body, {"date", "reason", "file"})
    on = _date_field(body, problems)
    name = body.get("file")
    if name is None:
        name = f"ap-{on.isoformat()}-{uuid.uuid4().hex[:8]}.csv"
    if not isinstance(name, str) or not AP_FILE.match(name):
        problems.append(("file", "file is a file name NAME.csv (letters, digits, '.', '_', "
                                 "'-'), written in the server's --ap-dir"))
    if problems:
        raise LedgerCallError(422, "invalid fields", "bad-fields", problems_of(problems))
    reason = body.get("reason", "")
    out_file = Path(ap_dir) / name
    st = Store.open(store)
    notes = apfiles.deliver_pending(st, wait)
    if out_file.exists():
        raise LedgerCallError(409, f"{name} exists in the A/P folder; A/P files are never "
                              "overwritten", "exists")
    tmp = apfiles.tmp_name(out_file)
    tmp.unlink(missing_ok=True)  # debris of an export killed before its commit
    scope = lambda r: r.accounts_where("checks", "status = 'not_selected'")  # noqa: E731
    batch, rows, summary = None, [], {}
    try:
        with store_session(store, setup, ident.user, f"ap export {out_file}", reason,
                           scope=scope, process_date=on, wait=wait) as s:
            cause = manual_cause(setup, s.run_id, ident.user, reason, "AP")
            rows, summary = desk.ap_export(s.ledger, setup, on, cause)
            text = apfiles.csv_text(rows)
            sha = apfiles.write_synced(tmp, text)  # the whole file on disk before the commit
            if not rows:
                raise _Nothing()
            ids = {r["request_id"] for r in rows}
            total = sum(c.amount for a in s.ledger.states.values() for c in a.checks
                        if c.check_id in ids)
            batch = s.run_id
            apfiles.record(s.writer.conn, batch, s.generation + 1, out_file, len(rows), total,
                           sha, text)
            s.summary.update(summary, batch=batch)
    except _Nothing:
        pass
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        apfiles.publish(tmp, out_file)
        if batch:
            apfiles.mark_delivered(st, batch, wait)
    except OSError as e:
        if not batch:
            raise StoreError(f"cannot write {out_file}: {e}") from e
        raise StoreError(f"the check requests are marked requested (A/P batch {batch}) but "
                         f"{out_file} could not be made from {tmp}: {e}; fix that and export "
                         "again: it delivers the batch first") from e
    return {"ok": True, "action": "ap_export", "file": str(out_file), **summary,
            "request_ids": [r["request_id"] for r in rows],
            "download": f"/v1/ledger/ap/files/{name}", "notes": notes}


def ap_paid(store, setup, body: Any, ident, wait: float) -> dict:
    """POST /v1/ledger/ap/paid: ``ap paid`` with the A/P file's text as ``csv`` (a
    request_id column; an amount column is checked too). Every line is checked first: one
    unknown request, or one not requested, refuses the whole file."""
    import csv
    import io

    from . import desk
    from .desk.common import manual_cause
    from .errors import InputError
    from .storeops import by_id, store_session

    body, problems = _fields(body, {"date", "reason", "csv", "file"})
    on = _date_field(body, problems)
    text = body.get("csv")
    if not isinstance(text, str) or not text.strip():
        problems.append(("csv", "csv is required: the A/P file's text (a request_id column, "
                                "optionally amount)"))
    source = body.get("file", "request.csv")
    if not isinstance(source, str) or not source or len(source) > 200 or "\n" in source:
        problems.append(("file", "file is the name the A/P file goes by in messages"))
    if problems:
        raise LedgerCallError(422, "invalid fields", "bad-fields", problems_of(problems))
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        if not reader.fieldnames or "request_id" not in reader.fieldnames:
            raise InputError(f"{source}:1: the header has no request_id column")
        rows = [(reader.line_num, row) for row in reader
                if any((v or "").strip() for v in row.values() if isinstance(v, str))]
    except csv.Error as exc:
        raise InputError(f"{source}:{reader.line_num}: not CSV: {exc}") from None
    ids = [(row.get("request_id") or "").strip() for _, row in rows]
    reason = body.get("reason", "")
    with store_session(store, setup, ident.user, f"ap paid {source}", reason,
                       scope=by_id("check", *ids), process_date=on, wait=wait) as s:
        cause = manual_cause(setup, s.run_id, ident.user, reason, "AP")
        summary = desk.ap_paid(s.ledger, setup, rows, on, cause, source=source)
        s.summary.update({"paid": summary["paid"], "amount": summary["amount"]})
    return {"ok": True, "action": "ap_paid", "file": source, **summary}


def register(app, service, answer, refused, authorize, body_of) -> None:
    """Add the /v1/ledger endpoints to the service's FastAPI ``app``."""
    from fastapi.responses import Response
    from starlette.concurrency import run_in_threadpool

    from .api import RequestError
    from .service import SCHEMA_VERSION

    settings = service.settings

    def failure(exc: Exception) -> Response:
        if isinstance(exc, LedgerCallError):
            body = {"schema_version": SCHEMA_VERSION, "ok": False, "error": exc.message,
                    "code": exc.code}
            if exc.problems:
                body["problems"] = exc.problems
            return answer(exc.status, body)
        status, code = status_of(exc)
        headers = {"Retry-After": "5"} if status == 503 else None
        return answer(status, {"schema_version": SCHEMA_VERSION, "ok": False,
                               "error": str(exc), "code": code, "kind": type(exc).__name__},
                      headers)

    def gate(request: Request, action: str, changes: bool = False):
        """The caller's identity, or the Response refusing it: the ledger not served, the
        token missing or without the role, or a change on a read-only service."""
        if settings.store is None:
            return refused(404, "the ledger is not served: start deprules serve with --store "
                           "PATH", "not-enabled")
        ident = authorize(request, action)
        if isinstance(ident, Response):
            return ident
        if changes and service.tokens is None:
            return refused(403, "ledger changes need known users: start deprules serve with "
                           "--tokens FILE (without it the ledger is read-only)", "forbidden")
        return ident

    async def call(request: Request, action: str, work, changes: bool,
                   body: Any = None) -> Response:
        ident = gate(request, action, changes)
        if isinstance(ident, Response):
            return ident
        try:
            if changes and body is None:
                body = await body_of(request)
            setup = service.decider.current.setup
            doc = await run_in_threadpool(work, setup, body, ident)
        except (LedgerCallError, DeprulesError) as exc:
            service.metrics.count("ledger", "refused")
            return failure(exc)
        service.metrics.count("ledger", "ok")
        if changes:
            service.decisions.write({"time": _now(), "user": ident.user,
                                     "endpoint": request.url.path,
                                     "config_hash": service.decider.hash, "status": 200,
                                     "result": {k: doc.get(k) for k in
                                                ("action", "account_id", "process",
                                                 "accounts_changed") if k in doc}})
        return answer(200, {"schema_version": SCHEMA_VERSION,
                            "config_hash": service.decider.hash, **doc})

    store = lambda: settings.store  # noqa: E731

    @app.get("/v1/ledger/accounts/{account_id}")
    async def ledger_account(account_id: str, request: Request):
        return await call(request, "ledger-read",
                          lambda setup, _b, _u: read_account(store(), setup, account_id), False)

    @app.get("/v1/ledger/todos")
    async def ledger_todos(request: Request):
        q = dict(request.query_params)
        return await call(request, "ledger-read",
                          lambda setup, _b, _u: read_todos(store(), setup, q), False)

    @app.get("/v1/ledger/checks")
    async def ledger_checks(request: Request):
        q = dict(request.query_params)
        return await call(request, "ledger-read",
                          lambda setup, _b, _u: read_checks(store(), setup, q), False)

    @app.post("/v1/ledger/runs")
    async def ledger_run(request: Request):
        ident = gate(request, "ledger-run", changes=True)
        if isinstance(ident, Response):
            return ident
        try:
            req = check_run(await body_of(request))
        except LedgerCallError as exc:
            service.metrics.count("ledger", "refused")
            return failure(exc)
        if req["wait"]:  # answered when it has committed, as before jobs
            return await call(request, "ledger-run",
                              lambda setup, _b, ident: run_batch(store(), setup, req, ident,
                                                                 settings.store_wait), True,
                              body=req)

        def work(progress, ident=ident):
            doc = run_batch(store(), service.decider.current.setup, req, ident,
                            settings.store_wait, progress)
            service.decisions.write({"time": _now(), "user": ident.user,
                                     "endpoint": "/v1/ledger/runs",
                                     "config_hash": service.decider.hash, "status": 200,
                                     "result": {k: doc.get(k) for k in
                                                ("process", "accounts_changed") if k in doc}})
            return {"schema_version": SCHEMA_VERSION, "config_hash": service.decider.hash,
                    **doc}

        try:
            job = service.jobs.submit_work("run", ident.user, req, work)
        except RequestError as exc:
            return answer(exc.status, exc.as_dict())
        return answer(202, job.as_dict(), {"Location": f"/v1/ledger/runs/{job.id}"})

    @app.get("/v1/ledger/runs/{job_id}")
    async def ledger_run_get(job_id: str, request: Request):
        ident = gate(request, "ledger-run")
        if isinstance(ident, Response):
            return ident
        job = service.jobs.get(job_id)
        if job is None or job.kind != "run":
            return refused(404, f"no batch run {job_id}", "not-found")
        return answer(200, job.as_dict())

    @app.post("/v1/ledger/ap/export")
    async def ledger_ap_export(request: Request):
        return await call(request, "ledger-ap",
                          lambda setup, body, ident: ap_export(store(), setup, body, ident,
                                                               settings.store_wait,
                                                               settings.ap_dir), True)

    @app.post("/v1/ledger/ap/paid")
    async def ledger_ap_paid(request: Request):
        return await call(request, "ledger-ap",
                          lambda setup, body, ident: ap_paid(store(), setup, body, ident,
                                                             settings.store_wait), True)

    @app.get("/v1/ledger/ap/files/{name}")
    async def ledger_ap_file(name: str, request: Request):
        from fastapi.responses import FileResponse

        ident = gate(request, "ledger-ap")
        if isinstance(ident, Response):
            return ident
        path = Path(settings.ap_dir) / name if settings.ap_dir is not None and \
            AP_FILE.match(name) else None
        if path is None or not path.is_file():
            return refused(404, f"no A/P file {name}", "not-found")
        return FileResponse(path, filename=name, media_type="text/csv")

    @app.post("/v1/ledger/{group}/{verb}")
    async def ledger_change(group: str, verb: str, request: Request):
        from .desk import OPERATIONS

        op = OPERATIONS.get(f"{group}/{verb}")
        action = {"csr": "ledger-csr", "approver": "ledger-approver", "ap": "ledger-ap"}[
            op.role] if op is not None else "ledger-read"
        return await call(request, action,
                          lambda setup, body, ident: change(store(), setup, f"{group}/{verb}",
                                                            body, ident, settings.store_wait),
                          True)


def _now() -> str:
    from .service import utc_now

    return utc_now()
