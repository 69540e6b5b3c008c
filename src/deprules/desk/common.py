"""Results, causes and look-ups shared by the desks: what a manual operation returns
(:class:`Result`), its base cause, amounts typed by a user, and finding an SA, adjustment,
bill, To Do or check request by id.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Iterable

from ..errors import InputError, LedgerError, NotFoundError
from ..ledger import Ledger
from ..ledger.model import AccountState, Adjustment, Cause, ServiceAgreement
from ..money import MoneyFormatError, format_money, parse_money
from ..workspace import Setup


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
    from ..results import describe_change

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


def _adjustment_row(a: Adjustment, setup: Setup) -> dict:
    return {"adjustment_id": a.adjustment_id, "sa_id": a.sa_id,
            "adjustment_type": a.adjustment_type, "category": a.category,
            "amount": _m(setup, a.amount), "status": a.status, "created_by": a.created_by,
            "user": a.cause.user, "approved_by": a.approved_by or None,
            "rejected_by": a.rejected_by or None, "twin_id": a.twin_id or None,
            "group_id": a.group_id or None}
