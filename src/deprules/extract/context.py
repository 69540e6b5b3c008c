"""What an extract must conform to: the installation's vocabulary and the table layouts.

:class:`ExtractContext` carries the parts of the configuration the extract is checked
against (customer classes, deposit classes, SA types, minor units).  ``TABLES`` is the
extract format of DESIGN.md section 1.3: for every table, its columns in output order
and what each holds.  The reader and the writer share it, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: CC&B SA status codes and the names deprules uses everywhere else.
STATUS_CODES: dict[str, str] = {
    "10": "pending_start",
    "20": "active",
    "30": "pending_stop",
    "40": "stopped",
    "50": "reactivated",
    "60": "closed",
    "70": "canceled",
}
STATUS_NAMES: tuple[str, ...] = tuple(STATUS_CODES.values())

NCD_TYPES: frozenset[str] = frozenset({"letter_of_credit", "surety_bond", "third_party_guarantee"})


@dataclass(frozen=True)
class SaTypeInfo:
    """The facts about one SA type the extract needs."""

    code: str
    is_cash_deposit: bool
    deposit_class: str


@dataclass(frozen=True)
class ExtractContext:
    """The configuration an extract is validated against."""

    minor_units: int
    customer_classes: frozenset[str]
    deposit_classes: frozenset[str]
    sa_types: Mapping[str, SaTypeInfo]
    ncd_types: frozenset[str] = NCD_TYPES


# Column kinds.  "id" is the table's key; "ref:<table>" must name a key of that table;
# "enum:<what>" must be in the context's vocabulary; the rest are value types.
ID, TEXT, INT, COUNT, BOOL, DATE, MONEY, STATUS = (
    "id", "text", "int", "count", "bool", "date", "money", "status",
)


@dataclass(frozen=True)
class Column:
    """One column of an extract table."""

    name: str
    kind: str
    required: bool = True  # the column must be in the file
    nullable: bool = False  # a blank cell is allowed (the reader fills a default)


TABLES: dict[str, tuple[Column, ...]] = {
    "accounts": (
        Column("account_id", ID),
        Column("customer_class", "enum:customer_class"),
        Column("credit_rating", INT),
        Column("late_payments_12m", COUNT, required=False, nullable=True),
        Column("do_not_refund", BOOL, required=False, nullable=True),
        Column("cc_postpone_date", DATE, required=False, nullable=True),
    ),
    "service_agreements": (
        Column("sa_id", ID),
        Column("account_id", "ref:accounts"),
        Column("sa_type", "enum:sa_type"),
        Column("status", STATUS),
        Column("start_date", DATE),
        Column("stop_date", DATE, nullable=True),
        Column("current_balance", MONEY),
        Column("payoff_balance", MONEY),
        Column("total_deposit_amount", MONEY, required=False, nullable=True),
        Column("last_interest_date", DATE, required=False, nullable=True),
    ),
    "non_cash_deposits": (
        Column("ncd_id", ID),
        Column("account_id", "ref:accounts"),
        Column("deposit_class", "enum:deposit_class"),
        Column("ncd_type", "enum:ncd_type"),
        Column("amount", MONEY),
        Column("start_date", DATE),
        Column("end_date", DATE, required=False, nullable=True),
    ),
    "financial_transactions": (
        Column("ft_id", ID),
        Column("sa_id", "ref:service_agreements"),
        Column("date", DATE),
        Column("payoff_amount", MONEY),
        Column("current_amount", MONEY),
    ),
}

REQUIRED_TABLES: tuple[str, ...] = ("accounts", "service_agreements")

#: numpy/pandas dtype of every output column, by kind.
DTYPES: dict[str, str] = {
    ID: "object", TEXT: "object", INT: "int64", COUNT: "int64", BOOL: "bool",
    DATE: "datetime64[ns]", MONEY: "int64", STATUS: "object",
}


def dtype_of(column: Column) -> str:
    """The pandas dtype a column has in a loaded :class:`~deprules.extract.Extract`."""
    return DTYPES.get(column.kind, "object")
