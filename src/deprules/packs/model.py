"""What a pack file holds, once loaded: packs, scenarios, their given / when / expect.

Values stay as the YAML gave them (text for money and dates); every object keeps
the path of its YAML node so that anything found wrong later (a bad overlay, a
bad SA row, an unknown rule) is reported at ``FILE:LINE:COL`` of the pack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Problem
from ..yamlload import LoadedYaml

YPath = tuple  # a path into the pack document, e.g. ("scenarios", 3, "given", "account")

# The fields an expectation may name, per list (what `deprules evaluate --format json` shows)
ITEM_FIELDS: dict[str, tuple[str, ...]] = {
    "adjustments": ("adjustment_id", "sa_id", "adjustment_type", "category", "amount", "status",
                    "created_by", "rule", "seed_step", "account_id"),
    "bills": ("bill_id", "sa_id", "amount", "status", "due_date", "account_id"),
    "checks": ("check_id", "sa_id", "payee_account_id", "amount", "status", "account_id"),
    "todos": ("todo_id", "todo_type", "sa_id", "role", "status", "account_id"),
}
SA_FIELDS = ("status", "payoff_balance", "current_balance", "total_deposit_amount", "stop_date",
             "last_interest_date")
MONEY_FIELDS = frozenset({"amount", "payoff_balance", "current_balance", "total_deposit_amount"})
# the fields --update and capture write for each list, in this order
DEFAULT_ITEM_FIELDS: dict[str, tuple[str, ...]] = {
    "adjustments": ("sa_id", "category", "amount", "status"),
    "bills": ("sa_id", "amount", "status"),
    "checks": ("sa_id", "amount", "status"),
    "todos": ("sa_id", "todo_type", "status"),
}
DEFAULT_SA_FIELDS = ("status", "payoff_balance", "current_balance")

STEP_META = ("date", "by", "reason", "expect_error")


@dataclass
class Row:
    """One given row (account, SA, NCD or FT) and where each of its values was written."""

    data: dict
    base: YPath  # the row's own node
    where: dict[str, YPath] = field(default_factory=dict)  # key -> node of that value

    def path(self, key: str | None = None) -> YPath:
        if key is not None and key in self.where:
            return self.where[key]
        return self.base if key is None else self.base + (key,)


@dataclass
class Given:
    overlays: list[YPath] = field(default_factory=list)  # nodes holding config overlays
    sets: list[tuple[str, YPath]] = field(default_factory=list)
    accounts: list[Row] = field(default_factory=list)
    service_agreements: list[Row] = field(default_factory=list)
    non_cash_deposits: list[Row] = field(default_factory=list)
    financial_transactions: list[Row] = field(default_factory=list)
    from_extract: tuple[Path, list[str] | None, YPath] | None = None
    # a candidate rules folder (relative to the pack file) used instead of --rules
    rules: tuple[Path, YPath] | None = None


@dataclass
class Step:
    op: str  # "run" or a manual operation
    args: Any
    date: str | None
    by: str
    reason: str
    expect_error: str | None
    path: YPath


@dataclass
class Scenario:
    pack: "Pack"
    index: int
    name: str
    description: str
    seed_steps: tuple[str, ...]
    given: Given
    date: str
    steps: list[Step]
    expect: dict | None

    @property
    def doc(self) -> LoadedYaml:
        return self.pack.doc

    @property
    def base(self) -> YPath:
        return ("scenarios", self.index)

    @property
    def file(self) -> str:
        return self.pack.display

    @property
    def line(self) -> int:
        return self.doc.where(self.base)[0]

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"

    def problem(self, path: YPath, message: str, code: str, key: bool = False) -> Problem:
        return self.doc.problem(path, message, code, key=key)


@dataclass
class Pack:
    path: Path
    display: str  # the path as shown in messages
    doc: LoadedYaml
    name: str
    description: str
    scenarios: list[Scenario] = field(default_factory=list)
