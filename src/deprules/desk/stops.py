"""Stops, final bills and closing (seed 2.0, 2.6, 2.7, 2.9, 3.0.2.6): a pending stop, a
stop now with its stop processing, the final bill and its completion (which applies the
refund method), closing a deposit at zero.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from ..errors import LedgerError
from ..ledger import Ledger
from ..ledger.executor import Executor
from ..ledger.model import AccountState, Cause
from ..workspace import Setup
from .common import Result, _step, _m, find_sa, find_bill, _result


# ---- stop, bill, close (seed 2.0, 2.6, 2.7, 2.9, 3.0.2.6) --------------------------------------
def set_pending_stop(ledger: Ledger, setup: Setup, sa_id: str, stop_date: date, on: date,
                     cause: Cause) -> Result:
    """active -> pending_stop on ``on``, with the CSR's stop date (SAACT stops it then)."""
    st, sa = find_sa(ledger, sa_id)
    if sa.status not in ("active", "pending_stop"):
        raise LedgerError(f"SA {sa_id} is {sa.status}; only an active SA can be set to pending "
                          "stop")
    if stop_date < sa.start_date:
        raise LedgerError(f"stop date {stop_date} is before SA {sa_id} started "
                          f"({sa.start_date})")
    since = len(st.journal)
    ex = Executor(st, setup.config, on)
    c = _step(cause, "2.0")
    if sa.status == "pending_stop":
        ex.set_stop_date(sa, stop_date, c)
    else:
        ex.set_status(sa, "pending_stop", c, stop_date=stop_date)
    r = _result("pending_stop", st, since, setup,
                f"SA {sa_id} is pending stop on {sa.stop_date}", [sa_id])
    if not r.changed:
        r.message += " (already; nothing changed)"
    return r


class _OneSA:
    """A matcher that only sees one SA's fact: the rules run for that SA alone."""

    def __init__(self, inner, sa_id: str):
        self.inner, self.sa_id, self.name = inner, sa_id, inner.name

    def match(self, process: str, facts: list[dict], account_id: str):
        return self.inner.match(process, [f for f in facts if f["id"] == self.sa_id], account_id)


def run_rules_for_sa(st: AccountState, setup: Setup, process: str, sa_id: str, on: date,
                     cause: Cause, backend: str = "durable"):
    """Run one process's rules for one SA, as the batch would, on behalf of ``cause.user``."""
    from ..rules.engine import make_matcher
    from ..runner import AccountRun, Runner

    runner = Runner(setup.book, run_id=cause.run_id, user=cause.user,
                    matcher_factory=lambda book: _OneSA(make_matcher(book, backend), sa_id))
    run = AccountRun(st)
    lists = ("adjustments", "fts", "bills", "todos", "checks", "journal")
    before = {attr: len(getattr(st, attr)) for attr in lists}
    runner.run_process(run, process, on)
    if cause.reason:  # the runner's causes carry no reason: give what it made the CSR's
        for attr in lists:
            for obj in getattr(st, attr)[before[attr]:]:
                obj.cause = replace(obj.cause, reason=cause.reason)
    return run


def _made(st: AccountState, since: int, kind: str) -> list[str]:
    """Ids of the entities of ``kind`` (adjustment, todo, ...) journaled since ``since``."""
    return [e.entity_id for e in st.journal[since:] if e.kind == kind]


def manual_stop(ledger: Ledger, setup: Setup, sa_id: str, on: date, cause: Cause,
                backend: str = "durable") -> Result:
    """Stop an SA now (seed 2.6) and run stop processing (STOP rules: interest, sync-up).

    A pending-stop SA keeps its stop date when it is on or before ``on``; a later one moves
    to ``on``. An SA already stopped only gets its stop processing.
    """
    st, sa = find_sa(ledger, sa_id)
    if sa.status not in ("active", "pending_stop", "stopped"):
        raise LedgerError(f"SA {sa_id} is {sa.status}; only an active or pending-stop SA can "
                          "be stopped")
    if on < sa.start_date:
        raise LedgerError(f"stop date {on} is before SA {sa_id} started ({sa.start_date})")
    since = len(st.journal)
    c = _step(cause, "2.6")
    ex = Executor(st, setup.config, on)
    if sa.status != "stopped" and sa.stop_date is not None and sa.stop_date > on:
        ex.set_stop_date(sa, on, c)  # stopped at once, before the pending stop date
    ex.set_status(sa, "stopped", c, stop_date=on)
    run = run_rules_for_sa(st, setup, "STOP", sa_id, on, cause, backend)
    new = [st.adjustment(i) for i in _made(st, since, "adjustment")]
    figures = {a.category: _m(setup, a.amount) for a in new}
    r = _result("stop", st, since, setup, f"SA {sa_id} stopped on {sa.stop_date}", [sa_id],
                stop_date=sa.stop_date.isoformat(), rules=[t.rule for t in run.trace],
                interest=figures.get("deposit_interest", _m(setup, 0)),
                sync_up=figures.get("sync_up", _m(setup, 0)))
    if not r.changed:
        r.message += " (already, with its stop processing; nothing changed)"
    return r


def final_bill(ledger: Ledger, setup: Setup, sa_id: str, on: date, cause: Cause) -> Result:
    """The final bill segment of a stopped, synced deposit SA, frozen (seed 2.7, 2.8)."""
    st, sa = find_sa(ledger, sa_id)
    m = lambda x: _m(setup, x)  # noqa: E731
    if not setup.config.sa_types[sa.sa_type].is_cash_deposit:
        raise LedgerError(f"SA {sa_id} ({sa.sa_type}) is not a cash deposit SA; deprules bills "
                          "cash deposits only")
    existing = st.final_bill(sa_id)
    if existing is not None:
        return _result("final_bill", st, len(st.journal), setup,
                       f"SA {sa_id} already has final bill {existing.bill_id} "
                       f"({existing.status}); nothing changed", [sa_id],
                       bill_id=existing.bill_id)
    if sa.status != "stopped":
        raise LedgerError(f"SA {sa_id} is {sa.status}; only a stopped SA gets a final bill "
                          f"(deprules sa stop {sa_id} --date ...)")
    if sa.stop_date is None or (sa.last_interest_date or sa.start_date) < sa.stop_date:
        raise LedgerError(f"SA {sa_id}: interest to the stop date {sa.stop_date} is not settled; "
                          f"run its stop processing first (deprules sa stop {sa_id} --date ...)")
    if sa.payoff_balance != sa.current_balance:
        raise LedgerError(f"SA {sa_id} is not synced: payoff {m(sa.payoff_balance)}, current "
                          f"{m(sa.current_balance)}; run its stop processing first "
                          f"(deprules sa stop {sa_id} --date ...)")
    since = len(st.journal)
    bill = Executor(st, setup.config, on).create_final_bill(sa, _step(cause, "2.7"))
    return _result("final_bill", st, since, setup,
                   f"final bill {bill.bill_id} for {m(bill.amount)} on SA {sa_id} frozen",
                   [sa_id], bill_id=bill.bill_id, amount=m(bill.amount))


def complete_bill(ledger: Ledger, setup: Setup, bill_id: str, on: date, cause: Cause,
                  backend: str = "durable") -> Result:
    """Complete a final bill (seed 2.9): the BILLING rules run the deposit class's refund
    method (3.0: APPLYDEPOSIT or DEPREF-TODO) and complete it."""
    st, bill = find_bill(ledger, bill_id)
    m = lambda x: _m(setup, x)  # noqa: E731
    if bill.status == "complete":
        return _result("complete_bill", st, len(st.journal), setup,
                       f"bill {bill_id} is already complete (due {bill.due_date}); nothing "
                       "changed", [bill.sa_id], bill_id=bill_id)
    if bill.status != "frozen":
        raise LedgerError(f"bill {bill_id} is {bill.status}; only a frozen bill completes")
    if st.final_bill(bill.sa_id) is not bill:
        raise LedgerError(f"bill {bill_id} is not the latest bill of SA {bill.sa_id}")
    since = len(st.journal)
    run = run_rules_for_sa(st, setup, "BILLING", bill.sa_id, on, cause, backend)
    if bill.status != "complete":
        raise LedgerError(f"the BILLING rules did not complete bill {bill_id} (fired: "
                          f"{', '.join(t.rule for t in run.trace) or 'none'}); see "
                          "deprules rules list")
    entries = st.journal[since:]
    method = next((e.details().get("method") for e in entries if e.kind == "refund_method"), None)
    todos = _made(st, since, "todo")
    transfers = [{"sa_id": a.sa_id, "amount": m(-a.amount)}
                 for a in map(st.adjustment, _made(st, since, "adjustment"))
                 if a.category == "transfer" and a.amount < 0]
    return _result("complete_bill", st, since, setup,
                   f"bill {bill_id} completed, due {bill.due_date} (refund method {method})",
                   [bill.sa_id], bill_id=bill_id, due_date=bill.due_date.isoformat(),
                   refund_method=method, transfers=transfers, todos=todos,
                   rules=[t.rule for t in run.trace])


def close_sa(ledger: Ledger, setup: Setup, sa_id: str, on: date, cause: Cause) -> Result:
    """Close a finaled cash deposit SA at zero balances (seed 3.0.2.6, 3.1.2.8)."""
    st, sa = find_sa(ledger, sa_id)
    if sa.status == "closed":
        return _result("close", st, len(st.journal), setup,
                       f"SA {sa_id} is already closed; nothing changed", [sa_id])
    if not setup.config.sa_types[sa.sa_type].is_cash_deposit:
        raise LedgerError(f"SA {sa_id} ({sa.sa_type}) is not a cash deposit SA; deprules closes "
                          "cash deposits only (other SAs are billed outside deprules)")
    if sa.status not in ("stopped", "reactivated"):
        raise LedgerError(f"SA {sa_id} is {sa.status}; only a stopped SA can be closed")
    bill = st.final_bill(sa_id)
    if bill is None or bill.status != "complete":
        state = f"bill {bill.bill_id} is {bill.status}" if bill else "there is none"
        raise LedgerError(f"SA {sa_id} cannot be closed before its final bill is complete "
                          f"({state})")
    waiting = [a.adjustment_id for a in st.adjustments
               if a.sa_id == sa_id and a.status in ("incomplete", "pending_approval")]
    if waiting:
        raise LedgerError(f"SA {sa_id} cannot be closed while adjustments {', '.join(waiting)} "
                          "are not frozen (freeze, approve, reject or cancel them first)")
    since = len(st.journal)
    Executor(st, setup.config, on).close(sa, _step(cause, "3.0.2.6"))  # refuses a balance
    return _result("close", st, since, setup, f"SA {sa_id} closed", [sa_id])
