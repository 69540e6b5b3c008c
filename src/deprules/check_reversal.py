"""A void or returned check (seed 1.8, 1.9 not completed): the refund goes back on the SA.

``deprules ap void CHECK_ID`` (A/P voids a check it took: requested or paid) and
``deprules ap returned CHECK_ID`` (a paid check came back: undeliverable, uncashed) both
need a ``--reason``. Decisions (docs/csr.md, "Void and returned checks"):

- The refund is reversed by a new adjustment of the refund's own type for -amount, frozen at
  once, with no check request and no approval (it pays nothing out): its FT is the exact
  negation of the refund's, GL lines included, so the account's money is as before the
  refund. The refund adjustment stays frozen; the check request becomes void or returned.
- A closed SA is reactivated first (an FT on a closed SA reactivates it, as in CC&B); a
  finaled SA holding the credit again is then refunded by the write-off monitor's next run
  (a new check request, which A/P can hold while the address is checked).
- A check of a partial refund on a deposit SA that is still active also gets back its share
  of the current-only correction (a ``current_only`` adjustment, so the current balance stays
  where the partial refund left it) and its amount back in ``total_deposit_amount``: the
  deposit holds that money again.
- The reversal adjustments cannot be canceled (that would pay the check out a second time).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from .errors import InputError, LedgerError
from .ledger import Ledger
from .ledger.executor import FT_ALGORITHMS, Executor
from .ledger.model import AccountState, Cause
from .desk.common import Result, _m, _result, find_check
from .workspace import Setup

SEED_STEP = "1.9"


def reversal_adjustments(st: AccountState) -> set[str]:
    """Ids of the adjustments that put a void or returned check's money back."""
    return {a for e in st.journal if e.kind == "check_reversal"
            for a in e.details().get("adjustment_ids") or ()}


def reverse_check(ledger: Ledger, setup: Setup, check_id: str, to: str, on: date,
                  cause: Cause) -> Result:
    """``to`` is ``void`` or ``returned``: see the module's decisions."""
    st, chk = find_check(ledger, check_id)
    if not cause.reason.strip():
        raise InputError(f"say why check request {check_id} is {to} (--reason TEXT); it is "
                         "kept in the journal")
    config = setup.config
    c = replace(cause, seed_step=SEED_STEP, rule="")
    since = len(st.journal)
    ex = Executor(st, config, on)
    refund = st.adjustment(chk.adjustment_id)
    sa = st.sas[chk.sa_id]
    was_active, was_closed = sa.status == "active", sa.status == "closed"
    rev = ex.reverse_check(chk, to, c)
    made = [rev]
    back_in_total = 0
    if refund is not None and refund.group_id and was_active \
            and config.sa_types[sa.sa_type].is_cash_deposit:
        fc = FT_ALGORITHMS[config.adjustment_types[refund.adjustment_type].ft_algorithm][1]
        if fc:
            co_t = config.adjustment_type_for("current_only")
            if FT_ALGORITHMS[co_t.ft_algorithm][1] != 1:
                raise LedgerError(f"adjustment type {co_t.code} (current_only) must use ADJT-CA "
                                  "to put the deposit's current balance back")
            made.append(ex.create_adjustment(sa, co_t.code, fc * refund.amount, c,
                                             created_by="csr", freeze=False))
            ex.freeze(made[-1], c)
        back_in_total = refund.amount
        ex.set_total_deposit(sa, sa.total_deposit_amount + back_in_total,
                             replace(c, seed_step="1.3"))
    ex._journal(c, "check_reversal", sa.sa_id, chk.check_id, to_status=to,
                amount=_m(setup, chk.amount), adjustment_id=rev.adjustment_id,
                adjustment_ids=[a.adjustment_id for a in made],
                refund_adjustment_id=chk.adjustment_id, reason=cause.reason)
    note = f"; SA {sa.sa_id} reactivated" if was_closed else ""
    return _result(f"ap_{to}", st, since, setup,
                   f"check request {check_id} for {_m(setup, chk.amount)} {to}: the money is "
                   f"back on SA {sa.sa_id} (adjustment {rev.adjustment_id}){note}", [sa.sa_id],
                   check_id=check_id, status=to, adjustment_id=rev.adjustment_id,
                   adjustment_ids=[a.adjustment_id for a in made],
                   total_deposit_back=_m(setup, back_in_total))


__all__ = ["reverse_check", "reversal_adjustments", "SEED_STEP"]
