"""The CSR desk on a store: what the CLI's manual commands and the service's ledger
endpoints (``POST /v1/ledger/...``) both run.

:func:`perform` is one changing command: a store session on the accounts it needs, the
operation (a function of :mod:`deprules.desk`, through the executor) with ``who`` and
``reason`` in its cause, every invariant of the changed accounts checked, one commit with its
journal entry; nothing is committed when the operation changed nothing, and any refusal
leaves the store as it was.

:data:`OPERATIONS` describes every desk operation as data (its parameters, the accounts it
reads, the journal's command text, the role that may call it over HTTP), so the service
takes the same parameters and gives the same results as the CLI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError, NotFoundError
from ..ledger.sqlstore import DEFAULT_WAIT
from ..workspace import Setup


class _Unchanged(Exception):
    def __init__(self, result):
        self.result = result


def perform(store: Path | str, setup: Setup, who: str, reason: str, command: str,
            fn: Callable, process: str = "CSR", scope=None, on: date | None = None,
            wait: float = DEFAULT_WAIT):
    """Run ``fn(ledger, cause) -> manual.Result`` in one store session on the accounts of
    ``scope``; commit when it changed something. Returns the Result."""
    from ..storeops import store_session
    from .common import manual_cause

    try:
        with store_session(store, setup, who, command, reason, scope=scope, process_date=on,
                           wait=wait) as s:
            result = fn(s.ledger, manual_cause(setup, s.run_id, who, reason, process))
            if not result.changed:
                raise _Unchanged(result)
            s.summary.update({"account_id": result.account_id, "action": result.action,
                              "message": result.message})
    except _Unchanged as u:
        return u.result
    return result


def account_document(store: Path | str, setup: Setup, account_id: str) -> dict:
    """One account as ``ledger show --format json`` prints it (InputError when absent)."""
    return account_and_document(store, setup, account_id)[1]


def account_and_document(store: Path | str, setup: Setup, account_id: str):
    """(the account's state, its ``ledger show`` document), read in one snapshot."""
    from ..results import account_json
    from ..storeops import by_account, open_ledger

    ledger, meta = open_ledger(store, setup, by_account(account_id))
    st = ledger.states.get(account_id)
    if st is None:
        raise NotFoundError(f"account {account_id!r} is not in store {store}")
    data = {"account_id": account_id, "generation": meta.get("generation")}
    data.update(account_json(st, setup.config.installation.minor_units, setup.config))
    data["journal"] = [{"seq": e.seq, "on": e.on.isoformat(), "kind": e.kind,
                        "entity_id": e.entity_id, "sa_id": e.sa_id, "process": e.cause.process,
                        "rule": e.cause.rule, "seed_step": e.cause.seed_step,
                        "run_id": e.cause.run_id, "user": e.cause.user,
                        "reason": e.cause.reason, "detail": e.details()} for e in st.journal]
    return st, data


# ---- operations as data -------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    name: str
    kind: str = "id"  # id | amount | date | flag | text
    required: bool = True
    help: str = ""


@dataclass(frozen=True)
class Operation:
    """One desk operation: ``path`` is its name under ``/v1/ledger/`` (``refund/partial``)."""

    path: str
    role: str  # who may call it over HTTP: csr | approver | ap
    params: tuple[Param, ...]
    scope: Callable[[dict], Any]  # values -> scope (storeops)
    command: Callable[[dict], str]  # values -> the journal's command text
    call: Callable[..., Any]  # (ledger, setup, values, cause) -> manual.Result
    process: str = "CSR"
    help: str = ""
    date_param: str = "date"  # the process date journaled ("date" by default: today)
    extra: dict = field(default_factory=dict)


def _sa(*keys):
    from ..storeops import by_sa

    return lambda v: by_sa(*(v[k] for k in keys))


def _by(kind, key):
    from ..storeops import by_id

    return lambda v: by_id(kind, v[key])


def _m():
    from .. import desk

    return desk


def _reverse():
    from ..check_reversal import reverse_check

    return reverse_check


DATE = Param("date", "date", False, "date of the operation (default: today)")
OPERATIONS: dict[str, Operation] = {op.path: op for op in (
    Operation("refund/partial", "csr",
              (Param("sa_id"), Param("amount", "amount"), Param("apply_to_debt", "flag", False),
               DATE),
              _sa("sa_id"), lambda v: f"refund partial {v['sa_id']} {v['amount_text']}",
              lambda l, s, v, c: _m().partial_refund(l, s, v["sa_id"], v["amount"], v["date"], c,
                                                     v["apply_to_debt"]),
              help="refund part of an active cash deposit SA (seed 1.1 - 1.9)"),
    Operation("sa/pending-stop", "csr",
              (Param("sa_id"), Param("stop_date", "date", True, "the stop date"), DATE),
              _sa("sa_id"), lambda v: f"sa pending-stop {v['sa_id']} {v['stop_date']}",
              lambda l, s, v, c: _m().set_pending_stop(l, s, v["sa_id"], v["stop_date"],
                                                       v["date"], c),
              help="set an active SA to pending stop with a stop date (seed 2.0)"),
    Operation("sa/stop", "csr", (Param("sa_id"), Param("date", "date", True, "the stop date")),
              _sa("sa_id"), lambda v: f"sa stop {v['sa_id']} {v['date']}",
              lambda l, s, v, c: _m().manual_stop(l, s, v["sa_id"], v["date"], c, "python"),
              help="stop an SA now and run its stop processing (seed 2.6)"),
    Operation("sa/close", "csr", (Param("sa_id"), DATE), _sa("sa_id"),
              lambda v: f"sa close {v['sa_id']}",
              lambda l, s, v, c: _m().close_sa(l, s, v["sa_id"], v["date"], c),
              help="close a stopped cash deposit SA at zero (seed 3.0.2.6)"),
    Operation("bill/final", "csr", (Param("sa_id"), DATE), _sa("sa_id"),
              lambda v: f"bill final {v['sa_id']}",
              lambda l, s, v, c: _m().final_bill(l, s, v["sa_id"], v["date"], c),
              help="create the final bill of a stopped cash deposit SA"),
    Operation("bill/complete", "csr", (Param("bill_id"), DATE), _by("bill", "bill_id"),
              lambda v: f"bill complete {v['bill_id']}",
              lambda l, s, v, c: _m().complete_bill(l, s, v["bill_id"], v["date"], c, "python"),
              help="apply the refund method and complete a final bill"),
    Operation("todo/work", "csr", (Param("todo_id"), DATE), _by("todo", "todo_id"),
              lambda v: f"todo work {v['todo_id']}",
              lambda l, s, v, c: _m().work_todo(l, s, v["todo_id"], v["date"], c),
              help="take a To Do (being_worked by the caller)"),
    Operation("todo/complete", "csr", (Param("todo_id"), DATE), _by("todo", "todo_id"),
              lambda v: f"todo complete {v['todo_id']}",
              lambda l, s, v, c: _m().complete_todo(l, s, v["todo_id"], v["date"], c),
              help="complete a To Do"),
    Operation("adjust/transfer", "csr",
              (Param("from_sa"), Param("to_sa"), Param("amount", "amount"),
               Param("overpay", "flag", False), DATE),
              _sa("from_sa", "to_sa"),
              lambda v: f"adjust transfer {v['from_sa']} {v['to_sa']} {v['amount_text']}"
              + (" --overpay" if v["overpay"] else ""),
              lambda l, s, v, c: _m().transfer(l, s, v["from_sa"], v["to_sa"], v["amount"],
                                               v["date"], c, overpay=v["overpay"]),
              help="move credit from one SA to pay another of its account and class"),
    Operation("adjust/create", "csr",
              (Param("sa_id"), Param("type", "id", True, "adjustment type code"),
               Param("amount", "amount"), Param("no_freeze", "flag", False), DATE),
              _sa("sa_id"),
              lambda v: f"adjust create {v['sa_id']} {v['type']} {v['amount_text']}",
              lambda l, s, v, c: _m().create_adjustment(l, s, v["sa_id"], v["type"],
                                                        v["amount"], v["date"], c,
                                                        not v["no_freeze"]),
              help="create an adjustment (frozen unless no_freeze)"),
    *(Operation(f"adjust/{verb}", role, (Param("adjustment_id"), DATE),
                _by("adjustment", "adjustment_id"),
                (lambda verb: lambda v: f"adjust {verb} {v['adjustment_id']}")(verb),
                (lambda fn: lambda l, s, v, c: getattr(_m(), fn)(l, s, v["adjustment_id"],
                                                                 v["date"], c))(fn),
                help=text)
      for verb, fn, role, text in (
          ("freeze", "freeze_adjustment", "csr", "freeze an incomplete adjustment"),
          ("cancel", "cancel_adjustment", "csr", "cancel an adjustment"),
          ("approve", "approve_adjustment", "approver",
           "approve an adjustment waiting for approval (never its creator)"),
          ("reject", "reject_adjustment", "approver",
           "reject an adjustment waiting for approval (never its creator)"))),
    Operation("deposit/set-total", "csr", (Param("sa_id"), Param("amount", "amount"), DATE),
              _sa("sa_id"), lambda v: f"deposit set-total {v['sa_id']} {v['amount_text']}",
              lambda l, s, v, c: _m().set_total_deposit(l, s, v["sa_id"], v["amount"],
                                                        v["date"], c),
              help="set the total deposit amount of a cash deposit SA (seed 1.3)"),
    *(Operation(f"ap/{verb}", "ap", (Param("check_id"), DATE), _by("check", "check_id"),
                (lambda verb: lambda v: f"ap {verb} {v['check_id']}")(verb),
                (lambda hold: lambda l, s, v, c: _m().hold_check(l, s, v["check_id"], v["date"],
                                                                 c, hold))(verb == "hold"),
                process="AP", help=f"{verb} a check request")
      for verb in ("hold", "release")),
    *(Operation(f"ap/{verb}", "ap", (Param("check_id"), DATE), _by("check", "check_id"),
                (lambda verb: lambda v: f"ap {verb} {v['check_id']}")(verb),
                (lambda to: lambda l, s, v, c: _reverse()(l, s, v["check_id"], to, v["date"],
                                                         c))(to),
                process="AP", help=f"{text} (the money goes back to the deposit SA)")
      for verb, to, text in (("void", "void", "void a requested or paid check"),
                             ("returned", "returned", "a paid check came back"))),
)}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_values(op: Operation, body: Any, setup: Setup) -> tuple[dict, list[tuple[str, str]]]:
    """The typed values of ``op``'s parameters from a JSON object, and the problems found
    as (field, message). ``reason`` is taken too; unknown fields are problems."""
    from .common import parse_amount

    problems: list[tuple[str, str]] = []
    if not isinstance(body, dict):
        return {}, [("", "the body must be a JSON object")]
    known = {p.name for p in op.params} | {"reason"}
    for k in body:
        if k not in known:
            problems.append((k, f"unknown field {k!r} (expected {', '.join(sorted(known))})"))
    values: dict = {"reason": body.get("reason", "")}
    if not isinstance(values["reason"], str):
        problems.append(("reason", "reason must be a string"))
    for p in op.params:
        v = body.get(p.name)
        if v is None:
            if p.required:
                problems.append((p.name, f"{p.name} is required"))
            values[p.name] = {"flag": False, "date": date.today()}.get(p.kind, "")
            continue
        if p.kind == "flag":
            if not isinstance(v, bool):
                problems.append((p.name, f"{p.name} must be true or false"))
            values[p.name] = v is True
        elif p.kind == "date":
            if not isinstance(v, str) or not _DATE.match(v):
                problems.append((p.name, f"{p.name} must be a date YYYY-MM-DD"))
                continue
            try:
                values[p.name] = date.fromisoformat(v)
            except ValueError:
                problems.append((p.name, f"{p.name} {v!r} is not a calendar date"))
        elif p.kind == "amount":
            if not isinstance(v, str):
                problems.append((p.name, f"{p.name} must be a decimal text like \"120.00\" "
                                 "(a JSON number could lose cents)"))
                continue
            try:
                values[p.name] = parse_amount(v, setup, p.name)
                values[p.name + "_text"] = v
            except InputError as exc:
                problems.append((p.name, str(exc)))
        else:
            if not isinstance(v, str) or not v.strip():
                problems.append((p.name, f"{p.name} must be a non-empty string"))
            values[p.name] = v
    return values, problems


def run_operation(op: Operation, store: Path | str, setup: Setup, who: str, values: dict,
                  wait: float = DEFAULT_WAIT):
    """``op`` with typed ``values`` (see :func:`parse_values`) as ``who``: a manual.Result."""
    on = values.get(op.date_param) or date.today()
    return perform(store, setup, who, values.get("reason", ""), op.command(values),
                   lambda ledger, cause: op.call(ledger, setup, values, cause), op.process,
                   op.scope(values), on, wait)


__all__ = ["OPERATIONS", "Operation", "Param", "account_document", "parse_values", "perform",
           "run_operation"]
