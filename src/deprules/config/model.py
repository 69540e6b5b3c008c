"""Frozen, typed configuration objects (money in minor units, dates as ``date``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from ..users import Users


@dataclass(frozen=True)
class Rate:
    effective: date
    annual_percent: Fraction  # exact, from decimal text


@dataclass(frozen=True)
class Interest:
    algorithm: str
    day_count: str
    min_days_held: int
    rounding: str
    rates: tuple[Rate, ...]


@dataclass(frozen=True)
class DepositClass:
    code: str
    description: str
    refund_criteria: str  # REFUND-RES | REFUND-COM | DEPREFUND-NO
    hold_months: int | None
    good_customer: str  # CREDITRATING | BADCUST | LATEPAYMENTS
    max_late_payments: int | None
    refund_method: str  # APPLYDEPOSIT | DEPREF-TODO
    interest: Interest | None
    months_between_interest: int | None


@dataclass(frozen=True)
class SaType:
    code: str
    description: str
    special_role: str
    deposit_class: str
    distribution_priority: int
    distribution_code: str

    @property
    def is_cash_deposit(self) -> bool:
        return self.special_role == "cash_deposit"


@dataclass(frozen=True)
class AdjustmentType:
    code: str
    description: str
    category: str
    ft_algorithm: str
    distribution_code: str | None
    ap_request_type: str | None
    approval_profile: str | None


@dataclass(frozen=True)
class WriteOffCriterion:
    algorithm: str
    position: int  # 1-based order in the control
    lower: int | None = None
    upper: int | None = None
    min_refund: int | None = None
    todo_type: str | None = None


@dataclass(frozen=True)
class WriteOffControl:
    customer_class: str
    grace_days: int
    criteria: tuple[WriteOffCriterion, ...]

    def criterion(self, algorithm: str) -> WriteOffCriterion | None:
        for c in self.criteria:
            if c.algorithm == algorithm:
                return c
        return None


# What a To Do type's message may name in {braces}: the values the executor fills in
TODO_PLACEHOLDERS = ("account_id", "sa_id", "balance", "adjustment_id", "amount")


@dataclass(frozen=True)
class TodoType:
    code: str
    role: str
    priority: int
    message: str


@dataclass(frozen=True)
class ApprovalProfile:
    code: str
    description: str
    threshold: int
    approver_role: str
    timeout_days: int | None = None  # CI_ADTIMEOUT: days an adjustment may wait
    timeout_todo_type: str = "ADJ-TIMEOUT"


@dataclass(frozen=True)
class Installation:
    currency: str
    minor_units: int
    credit_rating_threshold: int
    rounding: str
    default_day_count: str
    bill_due_days: int
    customer_classes: Mapping[str, str]
    distribution_codes: Mapping[str, str]


@dataclass(frozen=True)
class Config:
    """The whole validated configuration of an installation."""

    installation: Installation
    deposit_classes: Mapping[str, DepositClass]
    sa_types: Mapping[str, SaType]
    adjustment_types: Mapping[str, AdjustmentType]
    batch_types: Mapping[str, str]
    write_off_controls: Mapping[str, WriteOffControl]
    todo_types: Mapping[str, TodoType]
    approval_profiles: Mapping[str, ApprovalProfile]
    source: str = ""
    # config/users.yaml (None: no users file, so names are not checked); not in the hash:
    # who may act is not part of what the rules decide
    users: "Users | None" = field(default=None, compare=False)
    # canonical JSON-able form of everything above; hashed with the rules
    raw: Mapping = field(default_factory=dict, compare=False, repr=False)
    hash: str = ""

    def adjustment_type_for(self, category: str) -> AdjustmentType:
        return self.adjustment_types[self.batch_types[category]]
