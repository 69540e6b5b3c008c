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

from datetime import date
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


def run_batch(store, setup, body: Any, ident, wait: float) -> dict:
    """POST /v1/ledger/runs: {"process": "cycle", "date": "YYYY-MM-DD", "reason": "...",
    "allow_backdate": false}, on the vector back end (as ``deprules run``)."""
    from .processes import run_store_batch
    from .storeops import store_session

    problems = []
    if not isinstance(body, dict):
        raise LedgerCallError(400, "the body must be a JSON object", "not-an-object")
    known = {"process", "date", "reason", "allow_backdate"}
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
    if problems:
        raise LedgerCallError(422, "invalid fields", "bad-fields", problems_of(problems))
    with store_session(store, setup, ident.user, f"run {process} {on.isoformat()}", reason,
                       scope=(), kind="run", process_date=on, wait=wait,
                       allow_backdate=backdate) as s:
        summary = run_store_batch(s, setup, process, on, s.run_id)
        s.summary.update(summary.as_journal())
        s.summary["engine"] = "vector"
    return summary.as_dict()


def register(app, service, answer, refused, authorize, body_of) -> None:
    """Add the /v1/ledger endpoints to the service's FastAPI ``app``."""
    from fastapi.responses import Response
    from starlette.concurrency import run_in_threadpool

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

    def enabled() -> Response | None:
        if settings.store is None:
            return refused(404, "the ledger is not served: start deprules serve with --store "
                           "PATH", "not-enabled")
        return None

    async def call(request: Request, action: str, work, changes: bool) -> Response:
        off = enabled()
        if off is not None:
            return off
        ident = authorize(request, action)
        if isinstance(ident, Response):
            return ident
        if changes and service.tokens is None:
            return refused(403, "ledger changes need known users: start deprules serve with "
                           "--tokens FILE (without it the ledger is read-only)", "forbidden")
        try:
            body = await body_of(request) if changes else None
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
        return await call(request, "ledger-run",
                          lambda setup, body, ident: run_batch(store(), setup, body, ident,
                                                               settings.store_wait), True)

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
