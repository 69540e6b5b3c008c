"""Partial refunds (seed 1.1 - 1.9): part of an active cash deposit paid out, to the
account's debt first when asked, by A/P check for the rest; the whole refund waits when its
A/P part needs approval.
"""

from __future__ import annotations

from datetime import date

from ..errors import LedgerError
from ..ledger import Ledger
from ..ledger.executor import FT_ALGORITHMS, Executor
from ..ledger.model import AccountState, Adjustment, Cause, ServiceAgreement
from ..workspace import Setup
from .common import _CREDIT_USES, Result, _step, _m, find_sa, _result, _pending_credit_use


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
