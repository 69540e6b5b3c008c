"""What a cell of an extract may hold, and the words of every problem, for both readers.

The full reader (``reader.py``) checks whole columns with Arrow kernels; the one-account
reader (``single.py``) checks the cells of one account in Python. Both take their patterns,
vocabularies, limits and messages from here, so a cell is refused by both or by neither,
with the same words and reason code. Pure Python: no pyarrow, no pandas.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

from ..errors import Problem
from ..money import MoneyFormatError, parse_money
from .context import STATUS_CODES, STATUS_NAMES, TABLES, ExtractContext

CAP = 50  # problems shown per (file, code); the rest are counted in one summary problem
MIN_YEAR, MAX_YEAR = 1700, 2261  # what datetime64[ns] can hold, in whole years
MAX_CELL_CHARS = 1024  # a cell of a column deprules reads (ids, codes, amounts, dates)
MAX_ROWS_ENV = "DEPRULES_EXTRACT_MAX_ROWS"
DEFAULT_MAX_ROWS = 50_000_000

BOOL_WORDS = ("true", "yes", "1", "false", "no", "0")  # the first three mean true
STATUS_KEYS = tuple(STATUS_CODES) + STATUS_NAMES


def max_rows() -> int:
    """Rows a table may have: ``$DEPRULES_EXTRACT_MAX_ROWS``, default 50,000,000."""
    from ..yamlload import env_limit

    return env_limit(MAX_ROWS_ENV, DEFAULT_MAX_ROWS)


def money_pattern(mu: int) -> str:
    """Amounts the readers accept: at most 18 digits in all, so every one fits int64."""
    fraction = rf"(\.[0-9]{{1,{mu}}})?" if mu else ""
    return rf"^[+-]?[0-9]{{1,{18 - mu}}}{fraction}$"


INT_PATTERN = r"^[+-]?[0-9]{1,18}$"
COUNT_PATTERN = r"^\+?[0-9]{1,18}$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


# --------------------------------------------------------------------------- problems


class Report:
    """Collects problems, keeping at most CAP per (file, code) and counting the rest."""

    def __init__(self, cap: int = CAP):
        self.cap = cap
        self._items: list[Problem] = []
        self._shown: Counter = Counter()
        self._hidden: Counter = Counter()

    def add(self, file: str, line: int, column: int, path: str, message: str, code: str) -> None:
        key = (file, code)
        if self._shown[key] < self.cap:
            self._shown[key] += 1
            self._items.append(Problem(file, int(line), int(column), path, message, code))
        else:
            self._hidden[key] += 1

    def room(self, file: str, code: str) -> int:
        return max(self.cap - self._shown[(file, code)], 0)

    def hide(self, file: str, code: str, n: int) -> None:
        self._hidden[(file, code)] += n

    def problems(self) -> list[Problem]:
        out = list(self._items)
        for (file, code), n in self._hidden.items():
            out.append(Problem(file, 0, 0, "", f"{n} more problem(s) of this kind not shown", code))
        return sorted(out)


# --------------------------------------------------------------------------- messages


def too_many_rows_message(limit: int) -> str:
    return (f"the table has more than {limit:,} rows, the limit ({MAX_ROWS_ENV}); split the "
            "extract or raise the limit")


def money_message(text: str, mu: int) -> str:
    try:
        parse_money(text, mu)
    except MoneyFormatError as exc:
        return str(exc)
    if not text.isascii():
        return f"{text!r} has digits other than 0-9; write the amount with ASCII digits"
    return (f"{text!r} is too large an amount (more than {18 - mu} digits before the point "
            "would not fit the ledger's 64-bit integers)")


def int_message(text: str, what: str) -> str:
    digits = text.lstrip("+-")
    if digits.isascii() and digits.isdigit() and len(digits) > 18 and (
            what.startswith("a whole") or not text.startswith("-")):
        return f"{text!r} is too large ({len(digits)} digits; at most 18 fit a 64-bit integer)"
    return f"{text!r} is not {what}"


INT_WHAT = "a whole number"
COUNT_WHAT = "a count (a whole number, 0 or more)"


def date_message(text: str) -> str:
    if text.startswith("<value out of range"):  # a native Parquet date Arrow cannot print
        return (f"the date is out of range (years {MIN_YEAR} to {MAX_YEAR}); leave the cell "
                "blank when there is no date")
    head = text[:4]
    if head.isdigit() and not MIN_YEAR <= int(head) <= MAX_YEAR and len(text) == 10:
        return (f"{text!r} is out of range (years {MIN_YEAR} to {MAX_YEAR}); leave the cell "
                "blank when there is no date")
    return f"{text!r} is not a date; write YYYY-MM-DD, e.g. 2026-11-21"


def bool_message(text: str) -> str:
    return (f"{text!r} is not a yes/no value; write true or false (also accepted: yes, no, "
            "1, 0)")


def status_message(text: str) -> str:
    return (f"{text!r} is not an SA status; write a name ({', '.join(STATUS_NAMES)}) or a "
            "code (10 to 70)")


def missing_message(name: str) -> str:
    return f"{name} is required; the cell is blank"


def too_long_message(length: int) -> str:
    return (f"the cell is {length:,} characters long; a cell may hold at most "
            f"{MAX_CELL_CHARS:,}")


def duplicate_message(key: str, value: str, first_line) -> str:
    return f"duplicate {key} {value!r}; first on line {first_line}"


def reference_message(column: str, value: str, target_file: str) -> str:
    return f"{column} {value!r} is not in {target_file}"


def sign_message(text: str, rule: str) -> str:
    return f"{text!r}: {rule}"


NCD_AMOUNT_RULE = "a non-cash deposit's amount must be more than 0.00"
TOTAL_DEPOSIT_RULE = ("total_deposit_amount (what the utility wants to hold) cannot be "
                      "negative")
NEEDS_STOP = ("pending_stop", "stopped")


def order_message(first: str, then: str, first_day: str, then_day: str) -> str:
    return f"{then} {then_day} is before {first} {first_day}"


def missing_stop_message(status: str) -> str:
    return f"an SA with status {status} needs a stop_date"


def ragged_message(actual: int, expected: int) -> str:
    return (f"the line has {actual} field(s); the header has {expected} (an unquoted comma or "
            "line break?)")


def no_header_message(table: str) -> str:
    wanted = ",".join(c.name for c in TABLES[table] if c.required)
    return f"the file has no header line; the first line must name the columns, e.g. {wanted}"


def header_problems(report: Report, table: str, file: str, header: list[str],
                    header_line: int) -> dict[str, int]:
    """Report repeated and missing columns; return ``{name: 1-based position}`` (the first
    position of a repeated name)."""
    positions: dict[str, int] = {}
    known = {c.name for c in TABLES[table]}
    for i, name in enumerate(header, start=1):
        if name in positions:
            if name in known:
                report.add(file, header_line, i, name, f"column {name!r} appears twice (first "
                           f"as column {positions[name]}); keep one", "duplicate-column")
            continue
        positions[name] = i
    for spec in TABLES[table]:
        if spec.required and spec.name not in positions:
            hint = next((h for h in positions if h.lower() == spec.name.lower()), None)
            extra = f" (found {hint!r}: names are case-sensitive)" if hint else ""
            report.add(file, header_line, 0, spec.name, f"required column {spec.name!r} "
                       f"is missing{extra}", "missing-column")
    return positions


# --------------------------------------------------------------------------- vocabularies


def vocabulary(kind: str, ctx: ExtractContext) -> tuple[frozenset[str], str, str]:
    """``(allowed codes, reason code, what they are)`` of an ``enum:`` column."""
    what = kind.split(":", 1)[1]
    return {
        "customer_class": (ctx.customer_classes, "unknown-customer-class", "customer class"),
        "sa_type": (frozenset(ctx.sa_types), "unknown-sa-type", "SA type"),
        "deposit_class": (ctx.deposit_classes, "unknown-deposit-class", "deposit class"),
        "ncd_type": (ctx.ncd_types, "unknown-ncd-type", "non-cash deposit type"),
    }[what]


def known(values: frozenset[str], limit: int = 12) -> str:
    names = sorted(values)
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "") if names else "none"


def enum_message(text: str, what: str, allowed: frozenset[str]) -> str:
    return f"{text!r} is not a configured {what}; known: {known(allowed)}"


# --------------------------------------------------------------------------- one cell, in Python


_INT_RE = re.compile(INT_PATTERN)
_COUNT_RE = re.compile(COUNT_PATTERN)
_DATE_RE = re.compile(DATE_PATTERN)
_MONEY_RE: dict[int, re.Pattern] = {}


def ascii_lower(text: str) -> str:
    """Lower case of ASCII letters only (what Arrow's ``ascii_lower`` does)."""
    return text.lower() if text.isascii() else "".join(
        c.lower() if c.isascii() else c for c in text)


def money_cell(text: str, mu: int) -> int | None:
    """Minor units, or None when the readers refuse the text (see :func:`money_message`)."""
    rx = _MONEY_RE.get(mu)
    if rx is None:
        rx = _MONEY_RE[mu] = re.compile(money_pattern(mu))
    if not rx.match(text):
        return None
    # the pattern admits a sign, at most 18 ASCII digits and at most ``mu`` decimals: what
    # parse_money would give (its Decimal) is the integer of the digits, read directly
    whole, _, frac = text.lstrip("+-").partition(".")
    value = int(whole) * 10**mu + (int(frac) * 10 ** (mu - len(frac)) if frac else 0)
    return -value if text[0] == "-" else value


def int_cell(text: str, signed: bool) -> int | None:
    return int(text) if (_INT_RE if signed else _COUNT_RE).match(text) else None


def date_cell(text: str) -> date | None:
    if not _DATE_RE.match(text):
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        return None
    return value if MIN_YEAR <= value.year <= MAX_YEAR else None


def bool_cell(text: str) -> bool | None:
    low = ascii_lower(text)
    return low in BOOL_WORDS[:3] if low in BOOL_WORDS else None


def status_cell(text: str) -> str | None:
    low = ascii_lower(text)
    return STATUS_CODES.get(low, low) if low in STATUS_KEYS else None
