"""The ledger's tables: which entity class each one holds and how its fields are typed.

Shared by :mod:`deprules.ledger.tables` (pandas) and :mod:`deprules.ledger.sqlrows`
(SQLite) without importing pandas, so one-account commands start fast.
"""

from __future__ import annotations

from dataclasses import fields

from .model import (
    FT,
    Account,
    Adjustment,
    Bill,
    Cause,
    CheckRequest,
    GLLine,
    HistoryFT,
    JournalEntry,
    NonCashDeposit,
    ServiceAgreement,
    ToDo,
)

CAUSE_COLUMNS = [f.name for f in fields(Cause)]

# table name -> (entity class, AccountState attribute, whether the entity has a cause)
ENTITIES: dict[str, tuple[type, str]] = {
    "accounts": (Account, "account"),
    "service_agreements": (ServiceAgreement, "sas"),
    "adjustments": (Adjustment, "adjustments"),
    "fts": (FT, "fts"),
    "gl_lines": (GLLine, "gl_lines"),
    "bills": (Bill, "bills"),
    "todos": (ToDo, "todos"),
    "checks": (CheckRequest, "checks"),
    "non_cash_deposits": (NonCashDeposit, "ncds"),
    "ft_history": (HistoryFT, "history"),
    "journal": (JournalEntry, "journal"),
}

DATE_FIELDS = {"cc_postpone_date", "start_date", "stop_date", "last_interest_date", "created_on",
               "date", "completed_on", "due_date", "end_date", "on"}
INT_FIELDS = {"credit_rating", "late_payments_12m", "current_balance", "payoff_balance",
              "opening_payoff", "opening_current",
              "total_deposit_amount", "amount", "payoff_amount", "current_amount", "seq"}
BOOL_FIELDS = {"do_not_refund", "refund_method_applied"}
