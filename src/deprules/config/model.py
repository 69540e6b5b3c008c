"""Frozen, typed configuration objects (money in minor units, dates as ``date``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Mapping

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
class Dated:
    """One effective-dated parameter (DOMAIN.md section 9, "Effective-dated parameters").

    ``entries``: ``(None, first value)`` (it holds from the start), then ``(date, value)``
    with strictly increasing dates; on process date D the entry with the latest date <= D
    applies. ``target`` says where the value goes in the model: ``("installation", attr)``,
    ``("deposit_class", code, attr)`` or ``("write_off", customer_class, position, attr)``.
    """

    path: str  # as in --set: deposit_classes.RES.refund_criteria.hold_months
    target: tuple
    entries: tuple[tuple[date | None, Any], ...]

    def index_on(self, on: date) -> int:
        i = 0
        for j, (eff, _) in enumerate(self.entries):
            if eff is not None and eff <= on:
                i = j
        return i

    def on(self, on: date) -> Any:
        return self.entries[self.index_on(on)][1]

    @property
    def dates(self) -> tuple[date, ...]:
        return tuple(eff for eff, _ in self.entries if eff is not None)


@dataclass(frozen=True)
class Config:
    """The whole validated configuration of an installation.

    Effective-dated parameters (``dated``) hold their first value in the fields below;
    :meth:`on` gives the configuration as it applies on a process date. The runner and the
    vector engine always decide with ``config.on(process_date)``.
    """

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
    # effective-dated parameters, in file order; () when every value is plain
    dated: tuple[Dated, ...] = ()
    # which entry of each ``dated`` parameter this view holds (() for the first entries)
    effective_key: tuple[int, ...] = ()
    _views: dict = field(default_factory=dict, compare=False, repr=False)

    def on(self, on: date) -> "Config":
        """The configuration as it applies on process date ``on``: every effective-dated
        parameter holds the value of its entry with the latest effective date <= ``on``.
        Views are cached, one per distinct choice of entries; the hash stays the whole
        configuration's (every dated entry included)."""
        if not self.dated:
            return self
        self._views.setdefault(self.effective_key, self)
        key = tuple(d.index_on(on) for d in self.dated)
        if not any(key):
            key = ()
        if key == self.effective_key:
            return self
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = _view(self, key)
        return view

    def change_dates(self) -> tuple[date, ...]:
        """Every date on which some effective-dated parameter changes, in order."""
        return tuple(sorted({d for x in self.dated for d in x.dates}))

    def adjustment_type_for(self, category: str) -> AdjustmentType:
        return self.adjustment_types[self.batch_types[category]]


def _view(config: Config, key: tuple[int, ...]) -> Config:
    """``config`` with entry ``key[i]`` of each dated parameter (() = the first entries)."""
    inst = config.installation
    classes = dict(config.deposit_classes)
    controls = dict(config.write_off_controls)
    for i, d in enumerate(config.dated):
        value = d.entries[key[i] if key else 0][1]
        kind = d.target[0]
        if kind == "installation":
            inst = replace(inst, **{d.target[1]: value})
        elif kind == "deposit_class":
            code, attr = d.target[1:]
            classes[code] = replace(classes[code], **{attr: value})
        elif kind == "write_off":
            cls, position, attr = d.target[1:]
            wo = controls[cls]
            controls[cls] = replace(wo, criteria=tuple(
                replace(c, **{attr: value}) if c.position == position else c
                for c in wo.criteria))
        else:  # pragma: no cover - the loader makes only these
            raise ValueError(f"unknown dated target {d.target!r}")
    return replace(config, installation=inst, deposit_classes=classes,
                   write_off_controls=controls, effective_key=key, _views=config._views)
