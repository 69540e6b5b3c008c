"""The ledger's entities as plain objects: the working state of one account.

The executor mutates these; :mod:`deprules.ledger.tables` turns many of them
into pandas tables at once (and back), never growing a DataFrame row by row.
Money is ``int`` minor units throughout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

SA_STATUS_CODES = {
    "pending_start": 10,
    "active": 20,
    "pending_stop": 30,
    "stopped": 40,
    "reactivated": 50,
    "closed": 60,
    "canceled": 70,
}

# DOMAIN.md section 2: the only moves deprules makes or accepts
LEGAL_MOVES = {
    ("active", "pending_stop"),
    ("active", "stopped"),
    ("pending_stop", "stopped"),
    ("stopped", "closed"),
    ("reactivated", "closed"),
    ("closed", "reactivated"),  # an FT posted to a closed SA: a void or returned check
}

FINISHED = frozenset({"stopped", "closed", "canceled"})


@dataclass(frozen=True, slots=True)
class Cause:
    """Why a change happened: every row the ledger writes carries one."""

    process: str
    rule: str = ""
    seed_step: str = ""
    run_id: str = ""
    config_hash: str = ""
    user: str = "batch"
    reason: str = ""

    def fields(self) -> dict:
        return {
            "process": self.process,
            "rule": self.rule,
            "seed_step": self.seed_step,
            "run_id": self.run_id,
            "config_hash": self.config_hash,
            "user": self.user,
            "reason": self.reason,
        }


@dataclass(slots=True)
class Account:
    account_id: str
    customer_class: str
    credit_rating: int
    late_payments_12m: int = 0
    do_not_refund: bool = False
    cc_postpone_date: date | None = None
    name: str = ""


@dataclass(slots=True)
class ServiceAgreement:
    sa_id: str
    account_id: str
    sa_type: str
    status: str
    start_date: date
    stop_date: date | None
    current_balance: int
    payoff_balance: int
    total_deposit_amount: int = 0
    last_interest_date: date | None = None
    # balances as loaded from the extract: with the FTs they prove every cent
    opening_payoff: int | None = None
    opening_current: int | None = None


@dataclass(slots=True)
class Adjustment:
    adjustment_id: str
    account_id: str
    sa_id: str
    adjustment_type: str
    category: str
    amount: int
    status: str  # incomplete | pending_approval | frozen | canceled
    created_by: str  # batch | csr
    created_on: date
    cause: Cause
    twin_id: str = ""
    ft_id: str = ""
    cancel_ft_id: str = ""
    approved_by: str = ""
    # manual paths: who rejected it, and the partial refund (group) it belongs to
    rejected_by: str = ""
    group_id: str = ""


@dataclass(slots=True)
class FT:
    ft_id: str
    account_id: str
    sa_id: str
    date: date
    payoff_amount: int
    current_amount: int
    source: str  # adjustment | bill_segment
    source_id: str
    cause: Cause
    reverses: str = ""


@dataclass(slots=True)
class GLLine:
    ft_id: str
    account_id: str
    seq: int
    distribution_code: str
    amount: int


@dataclass(slots=True)
class Bill:
    bill_id: str
    account_id: str
    sa_id: str
    amount: int
    status: str  # pending | frozen | complete
    created_on: date
    cause: Cause
    completed_on: date | None = None
    due_date: date | None = None
    refund_method_applied: bool = False


@dataclass(slots=True)
class ToDo:
    todo_id: str
    account_id: str
    sa_id: str
    todo_type: str
    role: str
    message: str
    status: str  # open | being_worked | complete
    created_on: date
    cause: Cause
    adjustment_id: str = ""
    worked_by: str = ""
    completed_on: date | None = None
    completed_by: str = ""


@dataclass(slots=True)
class CheckRequest:
    check_id: str
    account_id: str
    sa_id: str
    adjustment_id: str
    payee_account_id: str
    amount: int  # positive: what the customer receives
    status: str  # not_selected | requested | paid | canceled | hold | void | returned
    request_type: str
    created_on: date
    cause: Cause


@dataclass(slots=True)
class NonCashDeposit:
    ncd_id: str
    account_id: str
    deposit_class: str
    ncd_type: str
    amount: int
    start_date: date
    end_date: date | None = None

    def active_on(self, d: date) -> bool:
        return self.start_date <= d and (self.end_date is None or d < self.end_date)


@dataclass(slots=True)
class HistoryFT:
    """An FT from the extract: history for the average daily balance, never reposted."""

    ft_id: str
    account_id: str
    sa_id: str
    date: date
    payoff_amount: int
    current_amount: int


@dataclass(slots=True)
class JournalEntry:
    seq: int
    account_id: str
    sa_id: str
    on: date
    kind: str
    entity_id: str
    detail: dict | str  # a dict while in memory; JSON text once stored
    cause: Cause

    def details(self) -> dict:
        import json

        return self.detail if isinstance(self.detail, dict) else json.loads(self.detail or "{}")


@dataclass(slots=True)
class AccountState:
    """Everything the ledger holds about one account."""

    account: Account
    sas: dict[str, ServiceAgreement] = field(default_factory=dict)
    adjustments: list[Adjustment] = field(default_factory=list)
    fts: list[FT] = field(default_factory=list)
    gl_lines: list[GLLine] = field(default_factory=list)
    bills: list[Bill] = field(default_factory=list)
    todos: list[ToDo] = field(default_factory=list)
    checks: list[CheckRequest] = field(default_factory=list)
    ncds: list[NonCashDeposit] = field(default_factory=list)
    history: list[HistoryFT] = field(default_factory=list)
    journal: list[JournalEntry] = field(default_factory=list)
    # entries of the account journal already stored and not loaded (a batch reads only the
    # accounts' current rows): new entries are numbered after them
    journal_base: int = 0

    @property
    def account_id(self) -> str:
        return self.account.account_id

    def final_bill(self, sa_id: str) -> Bill | None:
        bills = [b for b in self.bills if b.sa_id == sa_id]
        return bills[-1] if bills else None

    def open_todos(self, sa_id: str) -> list[ToDo]:
        return [t for t in self.todos if t.sa_id == sa_id and t.status != "complete"]

    def adjustment(self, adjustment_id: str) -> Adjustment | None:
        return next((a for a in self.adjustments if a.adjustment_id == adjustment_id), None)
