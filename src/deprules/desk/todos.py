"""To Dos (seed 3.0.2.1): the lists, one To Do with its account, taking and completing one.
"""

from __future__ import annotations

from datetime import date

from ..errors import LedgerError, NotFoundError
from ..ledger import Ledger
from ..ledger.executor import Executor
from ..ledger.model import AccountState, Cause
from ..workspace import Setup
from .common import Result, _step, _m, find_todo, sa_row, _result, _adjustment_row


# ---- To Dos (seed 3.0.2.1) -----------------------------------------------------------------------
def todo_row(st: AccountState, t) -> dict:
    return {"todo_id": t.todo_id, "todo_type": t.todo_type, "account_id": st.account_id,
            "sa_id": t.sa_id, "role": t.role, "status": t.status, "message": t.message,
            "created_on": t.created_on.isoformat(), "adjustment_id": t.adjustment_id or None,
            "worked_by": t.worked_by or None,
            "completed_on": t.completed_on.isoformat() if t.completed_on else None,
            "completed_by": t.completed_by or None}


def list_todos(ledger: Ledger, todo_type: str | None = None, status: str | None = None,
               account_id: str | None = None, setup: Setup | None = None) -> list[dict]:
    """To Do rows, most urgent first: by their type's configured ``priority`` (1 first),
    then oldest first, then by id. Each row carries its ``priority`` (None without setup)."""
    if account_id is not None and account_id not in ledger.states:
        raise NotFoundError(f"account {account_id!r} is not in the ledger")
    states = [ledger.states[account_id]] if account_id else \
        [ledger.states[k] for k in sorted(ledger.states)]
    types = setup.config.todo_types if setup is not None else {}
    rows = []
    for st in states:
        for t in st.todos:
            if (todo_type is None or t.todo_type == todo_type) and \
                    (status is None or t.status == status):
                row = todo_row(st, t)
                tt = types.get(t.todo_type)
                row["priority"] = tt.priority if tt is not None else None
                rows.append(row)
    never = 1 << 30  # a type no longer configured sorts last
    rows.sort(key=lambda r: (r["priority"] if r["priority"] is not None else never,
                             r["created_on"], r["todo_id"]))
    return rows


def show_todo(ledger: Ledger, setup: Setup, todo_id: str) -> dict:
    """A To Do with what its worker needs: the account's SAs and the adjustment it is about."""
    st, t = find_todo(ledger, todo_id)
    out = todo_row(st, t)
    out["service_agreements"] = [sa_row(st, s, setup)
                                 for s in sorted(st.sas.values(), key=lambda s: s.sa_id)]
    adj = st.adjustment(t.adjustment_id) if t.adjustment_id else None
    if adj is not None:
        out["adjustment"] = _adjustment_row(adj, setup)
    return out


def work_todo(ledger: Ledger, setup: Setup, todo_id: str, on: date, cause: Cause) -> Result:
    """Take a To Do: open -> being_worked by ``cause.user``."""
    st, t = find_todo(ledger, todo_id)
    since = len(st.journal)
    Executor(st, setup.config, on).work_todo(t, cause.user, _step(cause, "3.0.2.1"))
    r = _result("todo_work", st, since, setup, f"To Do {todo_id} ({t.todo_type}) is being "
                f"worked by {t.worked_by}: {t.message}", [t.sa_id], todo_id=todo_id)
    if not r.changed:
        r.message += " (already; nothing changed)"
    return r


def complete_todo(ledger: Ledger, setup: Setup, todo_id: str, on: date, cause: Cause) -> Result:
    """open or being_worked -> complete. An approval To Do completes by approve or reject."""
    st, t = find_todo(ledger, todo_id)
    adj = st.adjustment(t.adjustment_id) if t.adjustment_id else None
    if adj is not None and adj.status == "pending_approval":
        raise LedgerError(f"To Do {todo_id} asks for a decision on adjustment "
                          f"{adj.adjustment_id}: approve or reject it instead")
    since = len(st.journal)
    Executor(st, setup.config, on).complete_todo(t, cause.user, _step(cause, "3.0.2.1"))
    r = _result("todo_complete", st, since, setup, f"To Do {todo_id} ({t.todo_type}) complete",
                [t.sa_id], todo_id=todo_id)
    sa = st.sas.get(t.sa_id)
    if not r.changed:
        r.message += " (already; nothing changed)"
    elif t.todo_type == "DEPREF" and sa is not None and sa.status != "closed" and (
            sa.payoff_balance or sa.current_balance):
        r.message += (f"; note: SA {sa.sa_id} still has payoff {_m(setup, sa.payoff_balance)}, "
                      "which the write-off monitor (WPM) now handles")
    return r
