"""The manual paths (DOMAIN.md section 5): what a CSR, an approver and A/P do on the ledger.

Every function takes the ledger, the setup (configuration and rules), its arguments and a
base :class:`Cause` (process, run, configuration hash, user, reason: see
:func:`manual_cause`); it sets the seed step itself. Changes go through the
:class:`Executor`, each journaled with its cause, and the function returns a
:class:`Result`. A refused move raises :class:`LedgerError` or :class:`InputError` before
anything has changed; only a failure inside the rules that ``manual_stop`` and
``complete_bill`` run can leave a change half made, so run these functions inside
:func:`deprules.storeops.store_session` (which then commits nothing) or discard the ledger.

Decisions where the sources are silent (docs/csr.md says the same to users):

- Partial refund needing approval (its A/P part above the approval profile's threshold):
  the whole partial refund waits. Its transfers, A/P and current-only adjustments are
  created but not frozen and ``total_deposit_amount`` is unchanged; approving the A/P
  adjustment freezes all of them together (the check request is made then) and reduces the
  total; rejecting it cancels all of them. So no money moves until the refund is decided,
  and the deposit's current balance never shows half a refund.
- Canceling any adjustment of a partial refund cancels the whole refund (reversing FTs)
  and gives the amount back to ``total_deposit_amount``; canceling one side of a transfer
  cancels its twin.
- ``total_deposit_amount`` never goes below 0.00.
- A transfer moves credit: the SA it comes from must have that much credit left.
- deprules closes cash deposit SAs only, and only once their final bill is complete.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Iterable

from .errors import InputError, LedgerError, NotFoundError
from .ledger import Ledger
from .ledger.executor import FT_ALGORITHMS, Executor
from .ledger.model import AccountState, Adjustment, Cause, ServiceAgreement
from .money import MoneyFormatError, format_money, parse_money
from .workspace import Setup

AP_COLUMNS = ["request_id", "payee_account_id", "payee_name", "amount", "date",
              "adjustment_id", "sa_id"]

# unfrozen adjustments in these categories already claim a deposit's credit
_CREDIT_USES = ("transfer", "ap_refund")


@dataclass
class Result:
    """What a manual operation did: a summary, its figures and the journal entries it wrote."""

    action: str
    account_id: str
    message: str
    data: dict = field(default_factory=dict)
    changes: list[dict] = field(default_factory=list)
    balances: list[dict] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def as_dict(self) -> dict:
        return {"ok": True, "action": self.action, "account_id": self.account_id,
                "message": self.message, **self.data, "changes": self.changes,
                "service_agreements": self.balances}

    def render(self) -> str:
        lines = [self.message]
        for text in map(describe, self.changes):
            if text:  # a freeze is indented under its adjustment
                lines.append(f"     {text}" if text.startswith(" ") else f"  -> {text}")
        for b in self.balances:
            total = f"  total {b['total_deposit_amount']}" if b.get("total_deposit_amount") else ""
            lines.append(f"  {b['sa_id']:<12} {b['sa_type']:<8} {b['status']:<13} payoff "
                         f"{b['payoff_balance']:>10}  current {b['current_balance']:>10}{total}")
        return "\n".join(lines)


def describe(c: dict) -> str:
    """One journal entry as a phrase (the one wording lives in results.describe_change)."""
    from .results import describe_change

    return describe_change(c)


# ---- causes, look-ups, results ----------------------------------------------------------------
def manual_cause(setup: Setup, run_id: str, user: str, reason: str = "",
                 process: str = "CSR") -> Cause:
    """The base cause of a manual operation (the functions add the seed step)."""
    return Cause(process=process, run_id=run_id, config_hash=setup.hash, user=user,
                 reason=reason)


def _step(cause: Cause, seed_step: str) -> Cause:
    return replace(cause, seed_step=seed_step, rule="")


def _m(setup: Setup, minor: int) -> str:
    return format_money(minor, setup.config.installation.minor_units)


def parse_amount(text: str, setup: Setup, what: str = "--amount") -> int:
    """Decimal text from a user into minor units; a clear InputError otherwise."""
    try:
        return parse_money(text, setup.config.installation.minor_units)
    except MoneyFormatError as exc:
        raise InputError(f"{what}: {exc}") from None


def find_sa(ledger: Ledger, sa_id: str) -> tuple[AccountState, ServiceAgreement]:
    st = ledger.find_sa(sa_id)
    if st is None:
        raise NotFoundError(f"SA {sa_id!r} is not in the ledger")
    return st, st.sas[sa_id]


def _find(ledger: Ledger, entity_id: str, attr: str, key: str, what: str):
    # ids are "<account>-<kind><n>": look in that account first, then everywhere
    prefix = entity_id.rsplit("-", 1)[0]
    first = [ledger.states[prefix]] if prefix in ledger.states else []
    for st in first + [s for s in ledger.states.values() if s.account_id != prefix]:
        for obj in getattr(st, attr):
            if getattr(obj, key) == entity_id:
                return st, obj
    raise NotFoundError(f"{what} {entity_id!r} is not in the ledger")


def find_adjustment(ledger: Ledger, adjustment_id: str):
    return _find(ledger, adjustment_id, "adjustments", "adjustment_id", "adjustment")


def find_todo(ledger: Ledger, todo_id: str):
    return _find(ledger, todo_id, "todos", "todo_id", "To Do")


def find_bill(ledger: Ledger, bill_id: str):
    return _find(ledger, bill_id, "bills", "bill_id", "bill")


def find_check(ledger: Ledger, check_id: str):
    return _find(ledger, check_id, "checks", "check_id", "check request")


def sa_row(st: AccountState, sa: ServiceAgreement, setup: Setup) -> dict:
    m = lambda x: _m(setup, x)  # noqa: E731
    deposit = setup.config.sa_types[sa.sa_type].is_cash_deposit
    return {"sa_id": sa.sa_id, "account_id": st.account_id, "sa_type": sa.sa_type,
            "status": sa.status, "payoff_balance": m(sa.payoff_balance),
            "current_balance": m(sa.current_balance),
            "stop_date": sa.stop_date.isoformat() if sa.stop_date else None,
            "total_deposit_amount": m(sa.total_deposit_amount) if deposit else None}


def _result(action: str, st: AccountState, since: int, setup: Setup, message: str,
            sa_ids: Iterable[str] = (), **data) -> Result:
    """A Result with the journal entries written since ``since`` and the SAs they touched."""
    entries = st.journal[since:]
    changes = [dict(kind=e.kind, entity_id=e.entity_id, sa_id=e.sa_id, **e.details())
               for e in entries]
    touched = list(dict.fromkeys(list(sa_ids) + [e.sa_id for e in entries]))
    balances = [sa_row(st, st.sas[s], setup) for s in touched if s in st.sas]
    return Result(action, st.account_id, message, data, changes, balances)


def _pending_credit_use(st: AccountState, sa_id: str) -> int:
    """Credit of ``sa_id`` already claimed by adjustments not yet frozen (waiting for approval)."""
    return sum(a.amount for a in st.adjustments
               if a.sa_id == sa_id and a.status in ("incomplete", "pending_approval")
               and a.category in _CREDIT_USES and a.amount > 0)


def _open_sa(sa: ServiceAgreement, what: str) -> None:
    if sa.status in ("closed", "canceled"):
        raise LedgerError(f"SA {sa.sa_id} is {sa.status}; {what}")


# ---- partial refund (seed 1.1 - 1.9) -------------------------------------------------------------
def partial_refund(ledger: Ledger, setup: Setup, sa_id: str, amount: int, on: date,
                   cause: Cause, apply_to_debt: bool = False) -> Result:
    """Refund part of an active cash deposit: debt first (if asked), the rest by check.

    Transfers pay same-class debt in APPLYDEPOSIT order; an ``ap_refund`` adjustment (and
    its check request) takes the rest; one ``current_only`` adjustment puts the deposit's
    current balance back where it was; ``total_deposit_amount`` drops by ``amount``.
    """
    config = setup.config
    st, sa = find_sa(ledger, sa_id)
    m = lambda x: _m(setup, x)  # noqa: E731
    if not config.sa_types[sa.sa_type].is_cash_deposit:
        raise LedgerError(f"SA {sa_id} ({sa.sa_type}) is not a cash deposit SA; only a "
                          "deposit can be refunded")
    if sa.status != "active":
        raise LedgerError(f"SA {sa_id} is {sa.status}; a partial refund needs an active deposit "
                          "SA (a stopped deposit is refunded in full: bill final, bill complete)")
    if amount <= 0:
        raise LedgerError(f"the refund amount must be more than 0.00 (got {m(amount)})")
    waiting = _pending_credit_use(st, sa_id)
    held = max(-sa.payoff_balance, 0) - waiting
    if amount > held:
        note = f" after {m(waiting)} waiting for approval" if waiting else ""
        raise LedgerError(f"refund {m(amount)} is more than the deposit held on SA {sa_id}: "
                          f"{m(max(held, 0))}{note}")
    ex = Executor(st, config, on)
    plan: list[tuple[ServiceAgreement, int]] = []
    left = amount
    if apply_to_debt:
        for debt in ex.debt_order(sa):
            if left <= 0:
                break
            x = min(left, debt.payoff_balance)
            plan.append((debt, x))
            left -= x
    ap_amount = left
    xfer_t = config.adjustment_type_for("transfer")
    ap_t = config.adjustment_type_for("ap_refund")
    co_t = config.adjustment_type_for("current_only")
    # what the transfers and the A/P do to the deposit's current balance, undone by one adjustment
    current_moved = (FT_ALGORITHMS[xfer_t.ft_algorithm][1] * (amount - ap_amount)
                     + FT_ALGORITHMS[ap_t.ft_algorithm][1] * ap_amount)
    if current_moved and FT_ALGORITHMS[co_t.ft_algorithm][1] != 1:
        raise LedgerError(f"adjustment type {co_t.code} (current_only) must use ADJT-CA to put "
                          "the deposit's current balance back")
    waits = ap_amount > 0 and ex.approval_profile(ap_t.code, ap_amount, "csr") is not None
    groups = {a.group_id for a in st.adjustments if a.group_id}
    group_id = f"{st.account_id}-PR{len(groups) + 1:03d}"

    since = len(st.journal)
    created: list[Adjustment] = []
    for debt, x in plan:
        c = _step(cause, "1.4")
        pair = (ex.stage_transfer(sa, debt, x, c) if waits
                else ex.transfer(sa, debt, x, c, created_by="csr"))
        created.extend(pair)
    ap_adj = None
    if ap_amount:
        ap_adj = ex.create_adjustment(sa, ap_t.code, ap_amount, _step(cause, "1.6"),
                                      created_by="csr", freeze=True)
        created.append(ap_adj)
    if current_moved:
        created.append(ex.create_adjustment(sa, co_t.code, -current_moved, _step(cause, "1.4"),
                                            created_by="csr", freeze=not waits))
    for a in created:
        a.group_id = group_id
    ex._journal(_step(cause, "1.2"), "partial_refund", sa_id, group_id, amount=m(amount),
                to_debt=m(amount - ap_amount), ap_refund=m(ap_amount), waits_for_approval=waits,
                adjustments=[a.adjustment_id for a in created])
    if not waits:
        ex.set_total_deposit(sa, max(sa.total_deposit_amount - amount, 0), _step(cause, "1.3"))
    check = next((c for c in st.checks if ap_adj and c.adjustment_id == ap_adj.adjustment_id),
                 None)
    if waits:
        message = (f"partial refund {group_id} of {m(amount)} on SA {sa_id} waits for approval: "
                   f"A/P adjustment {ap_adj.adjustment_id} for {m(ap_amount)} is above the "
                   "approval threshold; nothing is posted until it is approved")
    else:
        message = f"partial refund {group_id} of {m(amount)} on SA {sa_id} done"
    return _result("partial_refund", st, since, setup, message, [sa_id],
                   group_id=group_id, amount=m(amount),
                   transfers=[{"sa_id": d.sa_id, "amount": m(x)} for d, x in plan],
                   ap_refund=m(ap_amount),
                   ap_adjustment_id=ap_adj.adjustment_id if ap_adj else None,
                   check_id=check.check_id if check else None,
                   current_only=m(-current_moved), waits_for_approval=waits)


def _group(st: AccountState, group_id: str) -> list[Adjustment]:
    return [a for a in st.adjustments if a.group_id == group_id]


def _group_deposit(st: AccountState, members: list[Adjustment]) -> tuple[ServiceAgreement, int]:
    """The deposit SA of a partial refund and the amount it refunds."""
    own = [a for a in members if a.category != "transfer" or a.amount > 0]
    sa = st.sas[own[0].sa_id]
    return sa, sum(a.amount for a in own if a.category in _CREDIT_USES)


def _check_group_can_post(st: AccountState, setup: Setup, members: list[Adjustment]) -> None:
    """Before a waiting partial refund is approved: is what it would post still right?"""
    m = lambda x: _m(setup, x)  # noqa: E731
    sa, amount = _group_deposit(st, members)
    gid = members[0].group_id
    if sa.status != "active":
        raise LedgerError(f"partial refund {gid}: deposit SA {sa.sa_id} is now {sa.status}; "
                          "reject this refund")
    if amount > -sa.payoff_balance:
        raise LedgerError(f"partial refund {gid} of {m(amount)} is now more than the deposit "
                          f"held on SA {sa.sa_id} ({m(max(-sa.payoff_balance, 0))}); reject it")
    for a in members:
        if a.category == "transfer" and a.amount < 0:
            debt = st.sas[a.sa_id]
            if debt.status in ("closed", "canceled") or debt.payoff_balance < -a.amount:
                raise LedgerError(
                    f"partial refund {gid}: SA {debt.sa_id} now owes {m(debt.payoff_balance)}, "
                    f"less than the {m(-a.amount)} transfer to it; reject this refund and make "
                    "a new one")


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
    from .rules.engine import make_matcher
    from .runner import AccountRun, Runner

    runner = Runner(setup.book, run_id=cause.run_id, user=cause.user,
                    matcher=_OneSA(make_matcher(setup.book, backend), sa_id))
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


# ---- adjustments ---------------------------------------------------------------------------------
def _adjustment_row(a: Adjustment, setup: Setup) -> dict:
    return {"adjustment_id": a.adjustment_id, "sa_id": a.sa_id,
            "adjustment_type": a.adjustment_type, "category": a.category,
            "amount": _m(setup, a.amount), "status": a.status, "created_by": a.created_by,
            "user": a.cause.user, "approved_by": a.approved_by or None,
            "rejected_by": a.rejected_by or None, "twin_id": a.twin_id or None,
            "group_id": a.group_id or None}


def transfer(ledger: Ledger, setup: Setup, from_sa_id: str, to_sa_id: str, amount: int,
             on: date, cause: Cause, overpay: bool = False) -> Result:
    """Move ``amount`` of credit from one SA to pay another of the same account and deposit
    class (seed 3.0.2.2, 3.0.2.3; CC&B's CI_VALXFRADJ): a transfer pair summing to zero,
    frozen. More than the target's debt is refused unless ``overpay``: the excess then
    stays on the target as a credit, and the result says so."""
    st, from_sa = find_sa(ledger, from_sa_id)
    st_to, to_sa = find_sa(ledger, to_sa_id)
    m = lambda x: _m(setup, x)  # noqa: E731
    if st_to is not st:
        raise LedgerError(f"SA {from_sa_id} is on account {st.account_id} and SA {to_sa_id} on "
                          f"{st_to.account_id}; a transfer stays within one account")
    if from_sa_id == to_sa_id:
        raise LedgerError("a transfer needs two different SAs")
    if amount <= 0:
        raise LedgerError(f"the transfer amount must be more than 0.00 (got {m(amount)})")
    types = setup.config.sa_types
    from_class, to_class = types[from_sa.sa_type].deposit_class, types[to_sa.sa_type].deposit_class
    if from_class != to_class:
        raise LedgerError(f"SA {to_sa_id} ({to_sa.sa_type}) is in deposit class {to_class} and "
                          f"SA {from_sa_id} ({from_sa.sa_type}) in {from_class}; a deposit pays "
                          "only debts of its own deposit class")
    for sa in (from_sa, to_sa):
        _open_sa(sa, "no adjustment can be added")
    credit = -from_sa.payoff_balance - _pending_credit_use(st, from_sa_id)
    if amount > credit:
        raise LedgerError(f"SA {from_sa_id} has {m(max(credit, 0))} of credit to transfer, less "
                          f"than {m(amount)} (payoff {m(from_sa.payoff_balance)})")
    debt = max(to_sa.payoff_balance, 0)
    excess = amount - debt
    if excess > 0 and not overpay:
        raise LedgerError(f"SA {to_sa_id} owes {m(debt)}, less than {m(amount)}: the transfer "
                          f"would leave it {m(excess)} in credit; transfer {m(debt)}, or say "
                          "--overpay to leave the credit on it")
    since = len(st.journal)
    a, b = Executor(st, setup.config, on).transfer(from_sa, to_sa, amount,
                                                   _step(cause, "3.0.2.3"), created_by="csr")
    note = (f"; {m(excess)} more than SA {to_sa_id} owed ({m(debt)}) stays on it as a credit "
            f"(payoff {m(to_sa.payoff_balance)})" if excess > 0 else "")
    return _result("transfer", st, since, setup,
                   f"transferred {m(amount)} from SA {from_sa_id} to SA {to_sa_id} "
                   f"({a.adjustment_id}/{b.adjustment_id}){note}", [from_sa_id, to_sa_id],
                   adjustment_ids=[a.adjustment_id, b.adjustment_id], amount=m(amount),
                   overpaid=m(max(excess, 0)))


def create_adjustment(ledger: Ledger, setup: Setup, sa_id: str, adjustment_type: str,
                      amount: int, on: date, cause: Cause, freeze: bool = True) -> Result:
    """A CSR's adjustment (seed 3.0.2.5); above its approval profile it waits for approval."""
    config = setup.config
    st, sa = find_sa(ledger, sa_id)
    m = lambda x: _m(setup, x)  # noqa: E731
    adj_type = config.adjustment_types.get(adjustment_type)
    if adj_type is None:
        raise InputError(f"unknown adjustment type {adjustment_type!r}; known: "
                         f"{', '.join(sorted(config.adjustment_types))}")
    if adj_type.category == "transfer":
        raise LedgerError(f"{adjustment_type} is a transfer type: use `deprules adjust transfer "
                          "FROM_SA TO_SA` so both sides are made together")
    if amount == 0:
        raise LedgerError("an adjustment of 0.00 is never created")
    _open_sa(sa, "no adjustment can be added")
    if adj_type.category == "ap_refund":
        credit = -sa.payoff_balance - _pending_credit_use(st, sa_id)
        if amount < 0:
            raise LedgerError(f"an A/P refund takes credit off the SA: its amount is positive "
                              f"(the check's amount), not {m(amount)}")
        if amount > credit:
            raise LedgerError(f"refund {m(amount)} is more than the credit on SA {sa_id}: "
                              f"{m(max(credit, 0))}")
    since = len(st.journal)
    adj = Executor(st, config, on).create_adjustment(sa, adj_type.code, amount,
                                                     _step(cause, "3.0.2.5"), created_by="csr",
                                                     freeze=freeze)
    check = next((c for c in st.checks if c.adjustment_id == adj.adjustment_id), None)
    waits = " waits for approval" if adj.status == "pending_approval" else f" {adj.status}"
    return _result("create_adjustment", st, since, setup,
                   f"{adj_type.category} adjustment {adj.adjustment_id} ({adj_type.code}) for "
                   f"{m(amount)} on SA {sa_id}{waits}", [sa_id],
                   adjustment=_adjustment_row(adj, setup),
                   check_id=check.check_id if check else None)


def freeze_adjustment(ledger: Ledger, setup: Setup, adjustment_id: str, on: date,
                      cause: Cause) -> Result:
    """Freeze an incomplete adjustment (or send it for approval when its profile says so)."""
    st, adj = find_adjustment(ledger, adjustment_id)
    if adj.status == "frozen":
        return _result("freeze", st, len(st.journal), setup,
                       f"adjustment {adjustment_id} is already frozen; nothing changed",
                       [adj.sa_id], adjustment=_adjustment_row(adj, setup))
    if adj.group_id:
        raise LedgerError(f"adjustment {adjustment_id} belongs to partial refund {adj.group_id}, "
                          "which is frozen as a whole when its A/P adjustment is approved")
    since = len(st.journal)
    ex = Executor(st, setup.config, on)
    c = _step(cause, adj.cause.seed_step)
    twin = st.adjustment(adj.twin_id) if adj.twin_id else None
    if twin is not None and adj.status == "incomplete":
        ex.freeze(adj, c)  # a transfer pair nets to zero: frozen together, never approved
        ex.freeze(twin, c)
    else:
        _open_sa(st.sas[adj.sa_id], "its adjustments cannot be frozen")
        ex.submit(adj, c)
    return _result("freeze", st, since, setup, f"adjustment {adjustment_id} is {adj.status}",
                   [adj.sa_id], adjustment=_adjustment_row(adj, setup))


def _members(st: AccountState, adj: Adjustment) -> list[Adjustment]:
    """What is decided, frozen or canceled together with ``adj``."""
    if adj.group_id:
        return _group(st, adj.group_id)
    twin = st.adjustment(adj.twin_id) if adj.twin_id else None
    return [adj, twin] if twin is not None else [adj]


def cancel_adjustment(ledger: Ledger, setup: Setup, adjustment_id: str, on: date,
                      cause: Cause) -> Result:
    """Cancel an adjustment (a reversing FT if it was frozen), with its transfer twin or its
    whole partial refund. An A/P refund cancels only while its check is not_selected."""
    st, adj = find_adjustment(ledger, adjustment_id)
    if adj.status == "canceled":
        return _result("cancel", st, len(st.journal), setup,
                       f"adjustment {adjustment_id} is already canceled; nothing changed",
                       [adj.sa_id])
    members = [a for a in _members(st, adj) if a.status != "canceled"]
    from .check_reversal import reversal_adjustments

    if adjustment_id in reversal_adjustments(st):
        raise LedgerError(f"adjustment {adjustment_id} put a void or returned check's money back; "
                          "it cannot be canceled (that would pay the check out again)")
    for a in members:
        _open_sa(st.sas[a.sa_id], f"adjustment {a.adjustment_id} on it cannot be canceled")
        for chk in st.checks:
            if chk.adjustment_id == a.adjustment_id and chk.status != "not_selected":
                raise LedgerError(
                    f"adjustment {a.adjustment_id} cannot be canceled: its check request "
                    f"{chk.check_id} is already {chk.status} (cancel only while not_selected)")
    since = len(st.journal)
    ex = Executor(st, setup.config, on)
    was_frozen = any(a.status == "frozen" for a in members)
    for a in members:
        c = _step(cause, a.cause.seed_step)
        for todo in st.todos:  # the approval To Do ends with its adjustment
            if todo.adjustment_id == a.adjustment_id and todo.status != "complete":
                ex.complete_todo(todo, cause.user, c)
        ex.cancel(a, c)
    note = ""
    if adj.group_id and was_frozen:
        sa, amount = _group_deposit(st, members)
        ex.set_total_deposit(sa, sa.total_deposit_amount + amount, _step(cause, "1.3"))
        note = f" (partial refund {adj.group_id}: {len(members)} adjustments)"
    elif len(members) > 1:
        note = f" (with {', '.join(a.adjustment_id for a in members if a is not adj)})"
    return _result("cancel", st, since, setup, f"adjustment {adjustment_id} canceled{note}",
                   [adj.sa_id], adjustment_ids=[a.adjustment_id for a in members])


def approve_adjustment(ledger: Ledger, setup: Setup, adjustment_id: str, on: date,
                       cause: Cause) -> Result:
    """Approve as ``cause.user`` (never the creator): the adjustment freezes (its check request
    is made if it is an A/P refund) and its ADJ-APPROVAL To Do completes. A partial refund is
    frozen as a whole."""
    st, adj = find_adjustment(ledger, adjustment_id)
    members = _group(st, adj.group_id) if adj.group_id else [adj]
    _decidable(adj)
    ex = Executor(st, setup.config, on)
    ex.check_decider(adj, cause.user, "approve")
    if adj.group_id:
        _check_group_can_post(st, setup, members)
    since = len(st.journal)
    for a in members:  # in the order they were made: transfers, A/P, current-only
        if a is adj:
            ex.approve(adj, cause.user, _step(cause, adj.cause.seed_step))
        elif a.status == "incomplete":
            ex.freeze(a, _step(cause, a.cause.seed_step))
    if adj.group_id:
        sa, amount = _group_deposit(st, members)
        ex.set_total_deposit(sa, max(sa.total_deposit_amount - amount, 0), _step(cause, "1.3"))
    check = next((c for c in st.checks if c.adjustment_id == adjustment_id), None)
    return _result("approve", st, since, setup,
                   f"adjustment {adjustment_id} approved by {cause.user} and frozen"
                   + (f"; check request {check.check_id} for {_m(setup, check.amount)}"
                      if check else ""),
                   [adj.sa_id], adjustment=_adjustment_row(adj, setup),
                   check_id=check.check_id if check else None)


def reject_adjustment(ledger: Ledger, setup: Setup, adjustment_id: str, on: date,
                      cause: Cause) -> Result:
    """Reject as ``cause.user`` (never the creator): the adjustment (and the rest of its
    partial refund) is canceled without posting; its ADJ-APPROVAL To Do completes."""
    st, adj = find_adjustment(ledger, adjustment_id)
    members = _group(st, adj.group_id) if adj.group_id else [adj]
    _decidable(adj)
    since = len(st.journal)
    ex = Executor(st, setup.config, on)
    ex.reject(adj, cause.user, _step(cause, adj.cause.seed_step))
    for a in members:
        if a.status == "incomplete":
            ex.cancel(a, _step(cause, a.cause.seed_step))
    return _result("reject", st, since, setup,
                   f"adjustment {adjustment_id} rejected by {cause.user} and canceled",
                   [adj.sa_id], adjustment=_adjustment_row(adj, setup))


def _decidable(adj: Adjustment) -> None:
    if adj.status == "incomplete" and adj.group_id:
        raise LedgerError(f"adjustment {adj.adjustment_id} is part of partial refund "
                          f"{adj.group_id}: approve or reject its A/P adjustment instead")


# ---- total deposit amount (seed 1.3) ------------------------------------------------------------
def set_total_deposit(ledger: Ledger, setup: Setup, sa_id: str, amount: int, on: date,
                      cause: Cause) -> Result:
    st, sa = find_sa(ledger, sa_id)
    _open_sa(sa, "its total deposit amount cannot change")
    since = len(st.journal)
    Executor(st, setup.config, on).set_total_deposit(sa, amount, _step(cause, "1.3"))
    r = _result("set_total", st, since, setup,
                f"total deposit amount of SA {sa_id} is {_m(setup, amount)}", [sa_id])
    if not r.changed:
        r.message += " (already; nothing changed)"
    return r


# ---- A/P interface (seed 1.7 - 1.9) ------------------------------------------------------------
def check_row(st: AccountState, c, setup: Setup) -> dict:
    return {"request_id": c.check_id, "payee_account_id": c.payee_account_id,
            "payee_name": st.account.name or "", "amount": _m(setup, c.amount),
            "date": c.created_on.isoformat(), "adjustment_id": c.adjustment_id,
            "sa_id": c.sa_id, "status": c.status}


def list_checks(ledger: Ledger, setup: Setup, status: str | None = None) -> list[dict]:
    states = [ledger.states[k] for k in sorted(ledger.states)]
    return [check_row(st, c, setup) for st in states for c in st.checks
            if status is None or c.status == status]


def ap_export(ledger: Ledger, setup: Setup, on: date, cause: Cause) -> tuple[list[dict], dict]:
    """Every not_selected check request, now ``requested`` (seed 1.7). Returns the CSV rows
    (see :data:`AP_COLUMNS`) and a summary."""
    rows, total = [], 0
    c = _step(cause, "1.7")
    for k in sorted(ledger.states):
        st = ledger.states[k]
        pending = [chk for chk in st.checks if chk.status == "not_selected"]
        if not pending:
            continue
        ex = Executor(st, setup.config, on)
        for chk in pending:
            rows.append({col: v for col, v in check_row(st, chk, setup).items()
                         if col in AP_COLUMNS})
            ex.set_check_status(chk, "requested", c)
            total += chk.amount
    return rows, {"requests": len(rows), "amount": _m(setup, total)}


def hold_check(ledger: Ledger, setup: Setup, check_id: str, on: date, cause: Cause,
               hold: bool = True) -> Result:
    """Hold a check request out of the A/P export (seed 1.7; status ``hold``), or release it
    back to ``not_selected`` so the next ``ap export`` takes it. Only a request A/P has not
    taken (not_selected) can be held; its adjustment stays as it is."""
    st, chk = find_check(ledger, check_id)
    want, need = ("hold", "not_selected") if hold else ("not_selected", "hold")
    if chk.status != need:
        raise LedgerError(f"check request {check_id} is {chk.status}; only a {need} request can "
                          f"be {'held' if hold else 'released'}")
    since = len(st.journal)
    Executor(st, setup.config, on).set_check_status(chk, want, _step(cause, "1.7"))
    what = ("held: ap export leaves it out until it is released" if hold
            else "released: the next ap export takes it")
    return _result("ap_hold" if hold else "ap_release", st, since, setup,
                   f"check request {check_id} for {_m(setup, chk.amount)} {what}", [chk.sa_id],
                   check_id=check_id)


def read_ap_csv(path: Path | str) -> list[tuple[int, dict]]:
    """(line number, row) for each non-blank row of an A/P file; it needs a request_id column.

    ``-`` reads standard input, named ``<stdin>`` in messages.
    """
    if str(path) == "-":
        import io

        from .yamlload import read_stdin_bytes

        try:
            text = read_stdin_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(f"<stdin>: byte {exc.start} is not UTF-8; send the A/P file "
                             "as UTF-8") from None
        path, fh = "<stdin>", io.StringIO(text, newline="")
    else:
        try:
            fh = open(path, newline="")
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
    with fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "request_id" not in reader.fieldnames:
            raise InputError(f"{path}:1: the header has no request_id column")
        return [(reader.line_num, row) for row in reader
                if any((v or "").strip() for v in row.values())]


def ap_paid(ledger: Ledger, setup: Setup, rows: list[tuple[int, dict]], on: date, cause: Cause,
            source: str = "file") -> dict:
    """Mark the listed check requests paid (seed 1.8, 1.9); every line is checked first and
    all problems are reported together, naming ``source:line``."""
    if not rows:
        raise InputError(f"{source}: lists no check requests")
    problems, found, seen = [], [], {}
    mu = setup.config.installation.minor_units
    for line, row in rows:
        rid = (row.get("request_id") or "").strip()
        where = f"{source}:{line}"
        if not rid:
            problems.append(f"{where}: no request_id")
            continue
        if rid in seen:
            problems.append(f"{where}: request {rid} is listed twice (also line {seen[rid]})")
            continue
        seen[rid] = line
        try:
            st, chk = find_check(ledger, rid)
        except InputError:
            problems.append(f"{where}: unknown check request {rid}")
            continue
        if chk.status != "requested":
            problems.append(f"{where}: check request {rid} is {chk.status}, not requested")
            continue
        amount = (row.get("amount") or "").strip()
        if amount:
            try:
                paid = parse_money(amount, mu)
            except MoneyFormatError as exc:
                problems.append(f"{where}: amount {exc}")
                continue
            if paid != chk.amount:
                problems.append(f"{where}: check request {rid} is for "
                                f"{format_money(chk.amount, mu)}, the file says {amount}")
                continue
        found.append((st, chk))
    if problems:
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise InputError("nothing marked paid:\n" + "\n".join(problems[:20]) + more)
    c = _step(cause, "1.8")
    executors: dict[str, Executor] = {}
    for st, chk in found:
        ex = executors.setdefault(st.account_id, Executor(st, setup.config, on))
        ex.set_check_status(chk, "paid", c)
    total = sum(chk.amount for _, chk in found)
    return {"paid": len(found), "amount": format_money(total, mu),
            "request_ids": [chk.check_id for _, chk in found]}
