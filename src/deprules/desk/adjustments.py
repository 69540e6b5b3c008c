"""Adjustments by hand and their approval (seed 1.3, 3.0.2.2, 3.0.2.3): transfers,
adjustments created, frozen and canceled, approved or rejected by an approver (never their
creator), and the total deposit amount.
"""

from __future__ import annotations

from datetime import date

from ..errors import InputError, LedgerError
from ..ledger import Ledger
from ..ledger.executor import Executor
from ..ledger.model import AccountState, Adjustment, Cause
from ..workspace import Setup
from .common import (
    Result, _step, _m, find_sa, find_adjustment, _result, _pending_credit_use, _open_sa,
    _adjustment_row)
from .refunds import _group, _group_deposit, _check_group_can_post


# ---- adjustments ---------------------------------------------------------------------------------
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
    from ..check_reversal import reversal_adjustments

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
