"""Manual steps of a scenario (CSR, approver, A/P), done by :mod:`deprules.desk`.

Each step calls the same library function as the ``deprules refund / sa / bill /
adjust / todo / ap`` commands, on the scenario's in-memory ledger, with a cause
naming the step's user (``by:``, default csr1) and reason. In the trace a step is
a ``CSR`` entry (rule ``manual/<operation>``) with the journal entries it wrote;
rules it sets off (stop processing after a manual stop, the refund method at bill
completion) follow as entries of their own process, so ``rules_fired`` sees them.
"""

from __future__ import annotations

from datetime import date

from .. import desk
from ..approvals import approval_timeouts
from ..check_reversal import reverse_check
from ..errors import LedgerError
from ..ledger import Ledger
from ..ledger.model import AccountState
from ..runner import TraceEntry
from ..users import require_user
from ..workspace import Setup
from .model import Step

# operation -> the seed step it stands for in the trace
SEED_STEPS = {
    "partial_refund": "1.2", "set_total": "1.3", "pending_stop": "2.0", "stop": "2.6",
    "final_bill": "2.7", "complete_bill": "2.9", "transfer": "3.0.2.3",
    "create_adjustment": "3.0.2.5", "freeze_adjustment": "3.0.2.5", "cancel_adjustment": "",
    "approve_adjustment": "", "reject_adjustment": "", "work_todo": "3.0.2.1",
    "complete_todo": "3.0.2.1", "ap_export": "1.7", "ap_paid": "1.8", "close": "3.0.2.6",
    "hold_check": "1.7", "release_check": "1.7", "void_check": "1.9", "return_check": "1.9",
    "approval_timeout": "3.0.2.5",
}


def apply_operation(step: Step, states: dict[str, AccountState], setup: Setup, on: date,
                    run_id: str) -> list[tuple[str, TraceEntry]]:
    """Do one manual step; returns its trace entries as (account id, entry)."""
    if step.op != "approval_timeout":  # a batch process, by batch
        require_user(setup.config.users, step.by, "the step's by:")
    ledger = Ledger(states, setup.config)
    cause = desk.manual_cause(setup, run_id, step.by, step.reason)
    before = {aid: len(st.journal) for aid, st in states.items()}
    args = step.args if isinstance(step.args, dict) else {}
    result = _DISPATCH[step.op](ledger, setup, args, on, cause)
    out: list[tuple[str, TraceEntry]] = []
    for aid in sorted(states):
        entries = states[aid].journal[before[aid]:]
        if entries:
            out.extend((aid, t) for t in _trace(step, entries, setup, result))
    return out


def _trace(step: Step, entries, setup: Setup, result) -> list[TraceEntry]:
    """The step's own entry, then one per rule firing it set off (by the entries' causes)."""
    rules = {r.id: r for r in setup.book.rules}
    groups: list[tuple[str, str, list]] = []
    for e in entries:
        rule = e.cause.rule if e.cause.rule in rules else ""
        k = (rule, e.sa_id if rule else "")
        if not groups or (groups[-1][0], groups[-1][1]) != k:
            groups.append((k[0], k[1], []))
        groups[-1][2].append(e)
    out = []
    own_sa = (step.args.get("sa") or step.args.get("from") or "") \
        if isinstance(step.args, dict) else ""
    for rule_id, sa_id, group in groups:
        changes = [dict(kind=e.kind, entity_id=e.entity_id, **e.details()) for e in group]
        if rule_id:
            r = rules[rule_id]
            out.append(TraceEntry(group[0].cause.process, r.id, r.seed_step, sa_id,
                                  r.outcome or r.description, {}, 0, changes))
        else:
            inputs = {k: v for k, v in (step.args or {}).items()} \
                if isinstance(step.args, dict) else {}
            # a manual step is a CSR entry; the ADTIMEOUT batch step keeps its own process
            process = group[0].cause.process if group[0].cause.process == "ADTIMEOUT" \
                else "CSR"
            out.append(TraceEntry(process, f"manual/{step.op}", SEED_STEPS.get(step.op, ""),
                                  own_sa or group[0].sa_id, f"{_outcome(step, result)} "
                                  f"(by {step.by})",
                                  {k: str(v) for k, v in inputs.items()}, 0, changes))
    return out


def _outcome(step: Step, result) -> str:
    if isinstance(result, tuple):  # ap_export: (rows, summary)
        result = result[1]
    if isinstance(result, dict):
        return f"{step.op}: " + ", ".join(f"{k} {v}" for k, v in result.items())
    return getattr(result, "message", "") or step.op


# ---- arguments -> deprules.desk ------------------------------------------------------------------
def _amount(setup: Setup, text) -> int:
    return desk.parse_amount(str(text), setup, "amount")


def _adjustment_id(ledger: Ledger, ref: dict) -> str:
    if "id" in ref:
        return ref["id"]
    found = [a for st in ledger.states.values() for a in st.adjustments
             if (ref.get("sa") is None or a.sa_id == ref["sa"])
             and (ref.get("category") is None or a.category == ref["category"])
             and (ref.get("type") is None or a.adjustment_type == ref["type"])]
    if not found:
        raise LedgerError(f"no adjustment matches {ref}")
    return found[-1].adjustment_id


def _todo_id(ledger: Ledger, ref: dict) -> str:
    if "id" in ref:
        return ref["id"]
    found = [t for st in ledger.states.values() for t in st.todos
             if t.status != "complete" and (ref.get("sa") is None or t.sa_id == ref["sa"])
             and (ref.get("type") is None or t.todo_type == ref["type"])]
    if not found:
        raise LedgerError(f"no open To Do matches {ref}")
    return found[-1].todo_id


def _bill_id(ledger: Ledger, sa_id: str) -> str:
    st, _ = desk.find_sa(ledger, sa_id)
    bill = st.final_bill(sa_id)
    if bill is None:
        raise LedgerError(f"SA {sa_id} has no final bill to complete")
    return bill.bill_id


def _matching_checks(ledger, a) -> list:
    """The check requests ``a`` names: by id and/or SA (every one when it names neither)."""
    return [c for st in ledger.states.values() for c in st.checks
            if (a.get("id") is None or c.check_id == a["id"])
            and (a.get("sa") is None or c.sa_id == a["sa"])]


def _check_id(ledger, a) -> str:
    """The one check request ``a`` names: by id, or the only one on its SA."""
    checks = _matching_checks(ledger, a)
    if len(checks) != 1:
        raise LedgerError(f"{len(checks)} check requests match {a or 'no filter'}; name one "
                          "(id, or the sa of the only one)")
    return checks[0].check_id


def _ap_paid(ledger, setup, a, on, cause):
    checks = [c for c in _matching_checks(ledger, a) if a or c.status == "requested"]
    if not checks:
        raise LedgerError(f"no check request matches {a or 'status requested'}")
    rows = [(n, {"request_id": c.check_id}) for n, c in enumerate(checks, start=1)]
    return desk.ap_paid(ledger, setup, rows, on, cause, source="ap_paid")


_DISPATCH = {
    "partial_refund": lambda L, s, a, on, c: desk.partial_refund(
        L, s, a["sa"], _amount(s, a["amount"]), on, c, apply_to_debt=a.get("apply_to_debt",
                                                                           False)),
    "set_total": lambda L, s, a, on, c: desk.set_total_deposit(
        L, s, a["sa"], _amount(s, a["amount"]), on, c),
    "pending_stop": lambda L, s, a, on, c: desk.set_pending_stop(
        L, s, a["sa"], date.fromisoformat(a["stop_date"]) if a.get("stop_date") else on, on, c),
    "stop": lambda L, s, a, on, c: desk.manual_stop(L, s, a["sa"], on, c),
    "final_bill": lambda L, s, a, on, c: desk.final_bill(L, s, a["sa"], on, c),
    "complete_bill": lambda L, s, a, on, c: desk.complete_bill(
        L, s, _bill_id(L, a["sa"]), on, c),
    "transfer": lambda L, s, a, on, c: desk.transfer(
        L, s, a["from"], a["to"], _amount(s, a["amount"]), on, c,
        overpay=bool(a.get("overpay", False))),
    "create_adjustment": lambda L, s, a, on, c: desk.create_adjustment(
        L, s, a["sa"], a.get("type") or s.config.batch_types.get(a.get("category") or "", ""),
        _amount(s, a["amount"]), on, c, freeze=a.get("freeze", True)),
    "freeze_adjustment": lambda L, s, a, on, c: desk.freeze_adjustment(
        L, s, _adjustment_id(L, a), on, c),
    "cancel_adjustment": lambda L, s, a, on, c: desk.cancel_adjustment(
        L, s, _adjustment_id(L, a), on, c),
    "approve_adjustment": lambda L, s, a, on, c: desk.approve_adjustment(
        L, s, _adjustment_id(L, a), on, c),
    "reject_adjustment": lambda L, s, a, on, c: desk.reject_adjustment(
        L, s, _adjustment_id(L, a), on, c),
    "work_todo": lambda L, s, a, on, c: desk.work_todo(L, s, _todo_id(L, a), on, c),
    "complete_todo": lambda L, s, a, on, c: desk.complete_todo(L, s, _todo_id(L, a), on, c),
    "ap_export": lambda L, s, a, on, c: desk.ap_export(L, s, on, c),
    "ap_paid": _ap_paid,
    "hold_check": lambda L, s, a, on, c: desk.hold_check(L, s, _check_id(L, a), on, c, True),
    "release_check": lambda L, s, a, on, c: desk.hold_check(L, s, _check_id(L, a), on, c,
                                                              False),
    "close": lambda L, s, a, on, c: desk.close_sa(L, s, a["sa"], on, c),
    "void_check": lambda L, s, a, on, c: reverse_check(L, s, _check_id(L, a), "void", on, c),
    "return_check": lambda L, s, a, on, c: reverse_check(L, s, _check_id(L, a), "returned", on,
                                                         c),
    "approval_timeout": lambda L, s, a, on, c: approval_timeouts(L, s.config, on, c),
}
