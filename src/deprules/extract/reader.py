"""Load an extract folder into typed tables, or report everything that is wrong with it.

Each table is ``NAME.csv`` or ``NAME.parquet``.  Every cell is first turned into trimmed
text (``""`` for blank) and then parsed column by column with Arrow compute kernels, so a
million rows take seconds and money never passes through a float.  Per-cell Python work
happens only to word the messages of bad cells, and at most :data:`CAP` of those per
(file, reason code).

Parquet columns may be text (parsed like CSV cells) or native: money as ``decimal``
(extra zero decimals allowed), never ``float`` (inexact) nor integer (whole units or
minor units would be a guess); dates as ``date32``/``date64`` or ``timestamp`` (the date
part is used); integers, booleans and status codes as integer/boolean columns.

Locations: ``file`` is the table's file name, ``line`` the CSV line (header = 1, first data
row = 2; for Parquet the row index + 1; 0 for a problem with the whole column or file),
``column`` the 1-based column position in the file (0 when the column is missing).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

from deprules.errors import ExtractError, InputError, Problem
from deprules.money import MoneyFormatError, parse_money

from .context import (
    BOOL, COUNT, DATE, ID, INT, MONEY, REQUIRED_TABLES, STATUS, STATUS_CODES, STATUS_NAMES,
    TABLES, TEXT, Column, ExtractContext, dtype_of,
)

CAP = 50  # problems shown per (file, code); the rest are counted in one summary problem
MIN_YEAR, MAX_YEAR = 1700, 2261  # what datetime64[ns] can hold, in whole years
MAX_ROWS_ENV = "DEPRULES_EXTRACT_MAX_ROWS"
DEFAULT_MAX_ROWS = 50_000_000


def max_rows() -> int:
    """Rows a table may have: ``$DEPRULES_EXTRACT_MAX_ROWS``, default 50,000,000."""
    from deprules.yamlload import env_limit

    return env_limit(MAX_ROWS_ENV, DEFAULT_MAX_ROWS)


@dataclass(eq=False)
class Extract:
    """The four extract tables, typed (see ``TABLES`` for columns and dtypes)."""

    accounts: pd.DataFrame
    service_agreements: pd.DataFrame
    non_cash_deposits: pd.DataFrame
    financial_transactions: pd.DataFrame
    source: str = ""

    def tables(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in TABLES}


def empty_table(table: str) -> pd.DataFrame:
    """An empty table with the columns and dtypes of a loaded one."""
    return pd.DataFrame({c.name: pd.Series([], dtype=dtype_of(c)) for c in TABLES[table]})


def load_extract(path: str | Path, ctx: ExtractContext) -> Extract:
    """Load and validate an extract folder; raise :class:`ExtractError` listing every problem."""
    problems, extract = _load(Path(path), ctx)
    if problems:
        raise ExtractError(problems, what=str(path))
    assert extract is not None
    return extract


def check_extract(path: str | Path, ctx: ExtractContext) -> list[Problem]:
    """Every problem of an extract folder (an empty list when it loads)."""
    return _load(Path(path), ctx)[0]


# --------------------------------------------------------------------------- problems


class _Report:
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

    def rows(self, col: _Col, mask: np.ndarray, code: str, message: Callable[[int], str]) -> None:
        """One problem per row where ``mask`` holds, located at ``col``; ``message(row)``."""
        idx = np.flatnonzero(mask)
        if not len(idx):
            return
        key = (col.file, code)
        show = idx[: max(self.cap - self._shown[key], 0)]
        for i in show:
            self.add(col.file, col.lines[i], col.index, col.name, message(int(i)), code)
        if len(idx) > len(show):
            self._hidden[key] += len(idx) - len(show)

    def problems(self) -> list[Problem]:
        out = list(self._items)
        for (file, code), n in self._hidden.items():
            out.append(Problem(file, 0, 0, "", f"{n} more problem(s) of this kind not shown", code))
        return sorted(out)


@dataclass
class _Col:
    """One column of a table as trimmed text (``""`` = blank), with its location."""

    file: str
    name: str
    index: int  # 1-based position in the file
    text: pa.ChunkedArray
    lines: np.ndarray

    def cell(self, i: int) -> str:
        return self.text[i].as_py()


@dataclass
class _Raw:
    table: str
    file: str
    fmt: str
    n: int
    lines: np.ndarray
    cols: dict[str, _Col]
    unusable: set[str]  # columns present but of a type that cannot hold the values


# --------------------------------------------------------------------------- reading files


def _load(folder: Path, ctx: ExtractContext) -> tuple[list[Problem], Extract | None]:
    if not folder.exists():
        raise InputError(f"extract folder {folder} does not exist")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder; an extract is a folder of tables")
    limit = max_rows()
    report = _Report()
    raws: dict[str, _Raw | None] = {}
    present: dict[str, bool] = {}
    for table in TABLES:
        csv_path, pq_path = folder / f"{table}.csv", folder / f"{table}.parquet"
        has_csv, has_pq = csv_path.is_file(), pq_path.is_file()
        present[table] = has_csv or has_pq
        if has_csv and has_pq:
            report.add(csv_path.name, 0, 0, "", f"both {csv_path.name} and {pq_path.name} exist; "
                       "keep one of them", "duplicate-table")
            raws[table] = None
        elif has_csv:
            raws[table] = _read_csv(csv_path, table, report, limit)
        elif has_pq:
            raws[table] = _read_parquet(pq_path, table, ctx, report, limit)
    missing = [t for t in REQUIRED_TABLES if not present[t]]
    if missing:
        names = " and ".join(f"{t}.csv (or .parquet)" for t in missing)
        raise InputError(f"extract folder {folder} has no {names}")

    parsed = {t: _parse(raw, ctx, report) for t, raw in raws.items() if raw is not None}
    _cross_checks(parsed, ctx, report)
    problems = report.problems()
    if problems:
        return problems, None
    frames = {t: (parsed[t].frame() if t in parsed else empty_table(t)) for t in TABLES}
    return [], Extract(**frames, source=str(folder))


def _too_many_rows(report: _Report, file: str, line: int, limit: int) -> None:
    report.add(file, line, 0, "", f"the table has more than {limit:,} rows, the limit "
               f"({MAX_ROWS_ENV}); split the extract or raise the limit", "too-many-rows")


def _csv_lines_over(path: Path, limit: int) -> bool:
    """True when the file has more than ``limit`` lines after the header (counted, not parsed).

    A quoted line break counts as a line, so this errs towards refusing; files of at most
    ``limit`` bytes cannot exceed it and are not read.
    """
    if path.stat().st_size <= limit:
        return False
    lines = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            lines += chunk.count(b"\n")
            if lines > limit + 1:
                return True
    return False


def _read_csv(path: Path, table: str, report: _Report, limit: int = DEFAULT_MAX_ROWS
              ) -> _Raw | None:
    file = path.name
    try:
        if _csv_lines_over(path, limit):
            _too_many_rows(report, file, limit + 2, limit)
            return None
    except OSError as exc:
        report.add(file, 0, 0, "", f"cannot read the file: {exc.strerror or exc}", "bad-file")
        return None
    try:
        with open(path, "rb") as f:
            first = f.readline().removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as exc:
        report.add(file, 1, 0, "", f"the header is not UTF-8 text ({exc.reason}); save the file "
                   "as UTF-8", "bad-file")
        return None
    except OSError as exc:
        report.add(file, 0, 0, "", f"cannot read the file: {exc.strerror or exc}", "bad-file")
        return None
    if not first.strip():
        wanted = ",".join(c.name for c in TABLES[table] if c.required)
        report.add(file, 1, 0, "", f"the file has no header line; the first line must name the "
                   f"columns, e.g. {wanted}", "empty-table")
        return None
    header = [h.strip() for h in next(csv.reader([first]))]
    names = [f"c{i}" for i in range(len(header))]
    skipped: list = []

    def on_invalid_row(row: pv.InvalidRow) -> str:
        skipped.append(row)
        return "skip"

    def read(use_threads: bool) -> pa.Table:
        return pv.read_csv(
            path,
            read_options=pv.ReadOptions(column_names=names, skip_rows=1, use_threads=use_threads),
            parse_options=pv.ParseOptions(ignore_empty_lines=False, invalid_row_handler=on_invalid_row),
            convert_options=pv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False, quoted_strings_can_be_null=False,
            ),
        )

    try:
        data = read(use_threads=True)
        if skipped:  # read again serially: only then does Arrow know the rows' line numbers
            skipped.clear()
            data = read(use_threads=False)
    except pa.ArrowInvalid as exc:
        report.add(file, _bad_utf8_line(path), 0, "", _arrow_message(exc), "bad-file")
        return None
    lines = np.arange(2, data.num_rows + 2, dtype=np.int64)
    if skipped:
        numbers = [r.number or 0 for r in skipped]
        if all(numbers):
            lines = np.setdiff1d(np.arange(2, data.num_rows + len(skipped) + 2), numbers)
        for r, number in zip(skipped, numbers):
            report.add(file, number, 0, "", f"the line has {r.actual_columns} field(s); the header "
                       f"has {r.expected_columns} (an unquoted comma or line break?)", "bad-file")
    texts = [pc.utf8_trim_whitespace(data.column(i)) for i in range(len(names))]
    if texts:  # blank lines are not rows
        keep = pc.invert(_all_blank(texts)).to_numpy(zero_copy_only=False)
        if not keep.all():
            texts = [t.filter(pa.array(keep)) for t in texts]
            lines = lines[keep]
    return _raw(table, file, "csv", header, texts, lines, 1, report)


def _all_blank(texts: list[pa.ChunkedArray]) -> pa.ChunkedArray:
    acc = pc.equal(texts[0], "")
    for t in texts[1:]:
        acc = pc.and_(acc, pc.equal(t, ""))
    return acc


def _bad_utf8_line(path: Path) -> int:
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return data.count(b"\n", 0, exc.start) + 1
    return 0


def _arrow_message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "UTF8" in text or "UTF-8" in text:
        return f"the file is not UTF-8 text ({text}); save it as UTF-8"
    return f"cannot read the file: {text}"


def _raw(table: str, file: str, fmt: str, header: list[str], texts: list[pa.ChunkedArray],
         lines: np.ndarray, header_line: int, report: _Report,
         unusable: set[str] | None = None) -> _Raw:
    cols: dict[str, _Col] = {}
    for i, (name, text) in enumerate(zip(header, texts), start=1):
        if name in cols:
            if name in {c.name for c in TABLES[table]}:
                report.add(file, header_line, i, name, f"column {name!r} appears twice (first as "
                           f"column {cols[name].index}); keep one", "duplicate-column")
            continue
        cols[name] = _Col(file, name, i, text, lines)
    n = len(lines)
    return _Raw(table, file, fmt, n, lines, cols, unusable or set())


def _read_parquet(path: Path, table: str, ctx: ExtractContext, report: _Report,
                  limit: int = DEFAULT_MAX_ROWS) -> _Raw | None:
    file = path.name
    try:
        if pq.ParquetFile(path).metadata.num_rows > limit:  # from the footer, nothing read
            _too_many_rows(report, file, limit + 1, limit)
            return None
        data = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        report.add(file, 0, 0, "", f"not a readable Parquet file: {exc}", "bad-file")
        return None
    if data.num_columns == 0:
        report.add(file, 0, 0, "", "the Parquet file has no columns", "empty-table")
        return None
    kinds = {c.name: c.kind for c in TABLES[table]}
    header, texts, unusable = [], [], set()
    for i, field in enumerate(data.schema, start=1):
        header.append(field.name)
        if field.name not in kinds:
            texts.append(pa.chunked_array([], pa.string()))  # ignored column
            continue
        text, problem = _parquet_text(data.column(i - 1), kinds[field.name], ctx.minor_units)
        if problem is not None:
            code, message = problem
            report.add(file, 0, i, field.name, message, code)
            unusable.add(field.name)
            text = pa.chunked_array([pa.nulls(data.num_rows, pa.string())])
        texts.append(pc.utf8_trim_whitespace(pc.fill_null(text, "")))
    lines = np.arange(1, data.num_rows + 1, dtype=np.int64)
    return _raw(table, file, "parquet", header, texts, lines, 0, report, unusable)


_KIND_CODE = {MONEY: "bad-money", DATE: "bad-date", INT: "bad-integer", COUNT: "bad-integer",
              BOOL: "bad-boolean", STATUS: "unknown-status"}


def _parquet_text(col: pa.ChunkedArray, kind: str, mu: int):
    """Parquet column -> text the CSV parsers accept, or ``(None, (code, message))``."""
    t = col.type
    if pa.types.is_dictionary(t):
        col, t = pc.cast(col, t.value_type), t.value_type
    is_text = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
    if is_text:
        return pc.cast(col, pa.string()), None
    code = _KIND_CODE.get(kind, "bad-file")
    if kind == MONEY:
        if pa.types.is_decimal(t):
            text = pc.cast(col, pa.string())
            if t.scale > mu:  # decimal(p, 4) holding 12.3400 is exact; 12.3456 is reported
                pattern = rf"^([+-]?\d+)\.0+$" if mu == 0 else rf"^([+-]?\d+\.\d{{{mu}}})0+$"
                text = pc.replace_substring_regex(text, pattern, r"\1")
            return text, None
        if pa.types.is_floating(t):
            return None, (code, f"money column of type {t} (binary floating point) cannot hold "
                                "exact amounts; store it as decimal or as decimal text")
        if pa.types.is_integer(t):
            return None, (code, f"money column of type {t}: whole units or minor units would be "
                                "a guess; store it as decimal or as decimal text like -200.00")
    elif kind == DATE:
        if pa.types.is_timestamp(t):
            return pc.cast(pc.cast(col, pa.date32(), safe=False), pa.string()), None
        if pa.types.is_date(t):
            return pc.cast(col, pa.string()), None
    elif kind in (INT, COUNT):
        if pa.types.is_integer(t) or pa.types.is_floating(t):  # 3.0 -> "3", 3.5 reported per row
            return pc.cast(col, pa.string()), None
    elif kind in (BOOL, STATUS):
        if pa.types.is_boolean(t) or pa.types.is_integer(t):
            return pc.cast(col, pa.string()), None
    else:  # ids, references and codes
        try:
            return pc.cast(col, pa.string()), None
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            pass
    return None, (code, f"column of type {t} cannot hold {kind} values; store it as text")


# --------------------------------------------------------------------------- parsing columns


def _np(arr) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False)


def _objects(arr: pa.ChunkedArray) -> np.ndarray:
    """Strings as a numpy object array (through pandas: several times faster than Arrow's)."""
    return arr.to_pandas().to_numpy(dtype=object)


def _blank(col: _Col) -> np.ndarray:
    return _np(pc.equal(col.text, ""))


def _parse_money(col: _Col, mu: int) -> tuple[np.ndarray, np.ndarray]:
    digits = 18 - mu  # keeps every accepted amount inside int64
    fraction = rf"(\.\d{{1,{mu}}})?" if mu else ""
    ok = pc.match_substring_regex(col.text, rf"^[+-]?\d{{1,{digits}}}{fraction}$")
    src = pc.if_else(ok, col.text, "0")
    if isinstance(src, pa.ChunkedArray):
        src = src.combine_chunks()
    # the cells that matched are exact decimals of at most 18 digits: Arrow's decimal cast
    # reads them, and a decimal128's unscaled value (its low 64 bits, as it fits int64) is
    # the amount in minor units
    dec = pc.cast(src, pa.decimal128(18, mu))
    words = np.frombuffer(dec.buffers()[1], dtype=np.int64)
    value = words[2 * dec.offset:2 * (dec.offset + len(dec)):2].copy()
    return value, _np(ok)


def _money_message(text: str, mu: int) -> str:
    try:
        parse_money(text, mu)
    except MoneyFormatError as exc:
        return str(exc)
    if not text.isascii():
        return f"{text!r} has digits other than 0-9; write the amount with ASCII digits"
    return (f"{text!r} is too large an amount (more than {18 - mu} digits before the point "
            "would not fit the ledger's 64-bit integers)")


def _int_message(text: str, what: str) -> str:
    digits = text.lstrip("+-")
    if digits.isascii() and digits.isdigit() and len(digits) > 18 and (
            what.startswith("a whole") or not text.startswith("-")):
        return f"{text!r} is too large ({len(digits)} digits; at most 18 fit a 64-bit integer)"
    return f"{text!r} is not {what}"


def _parse_int(col: _Col, signed: bool) -> tuple[np.ndarray, np.ndarray]:
    pattern = r"^[+-]?\d{1,18}$" if signed else r"^\+?\d{1,18}$"
    ok = pc.match_substring_regex(col.text, pattern)
    value = _np(pc.cast(pc.utf8_ltrim(pc.if_else(ok, col.text, "0"), "+"), pa.int64()))
    return value.astype(np.int64), _np(ok)


def _parse_date(col: _Col, blank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Arrow's cast is strict about YYYY-MM-DD and the calendar, but fails the whole column;
    # try it first (the usual, clean case) and find the bad cells only when it fails
    try:
        days = _np(pc.cast(pc.if_else(pa.array(blank), "2000-01-01", col.text), pa.date32()))
    except pa.ArrowInvalid:
        return _parse_date_cells(col)
    ok = ~blank & (days >= _LOW) & (days <= _HIGH)
    days[~ok] = np.datetime64("NaT", "D")
    return days.astype("datetime64[ns]"), ok


_LOW, _HIGH = np.datetime64(f"{MIN_YEAR}-01-01", "D"), np.datetime64(f"{MAX_YEAR}-12-31", "D")


def _parse_date_cells(col: _Col) -> tuple[np.ndarray, np.ndarray]:
    shaped = pc.match_substring_regex(col.text, r"^\d{4}-\d{2}-\d{2}$")
    src = pc.if_else(shaped, col.text, "2000-01-01")
    in_range = pc.and_(pc.greater_equal(src, str(_LOW)), pc.less_equal(src, str(_HIGH)))
    src = pc.if_else(in_range, src, "2000-01-01")
    stamp = pc.strptime(src, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2024-02-30 over to March; a changed day of month means no such date
    same_day = pc.equal(pc.day(stamp), pc.cast(pc.utf8_slice_codeunits(src, 8, 10), pa.int64()))
    ok = _np(pc.fill_null(pc.and_(pc.and_(shaped, in_range), same_day), False))
    value = _np(stamp).astype("datetime64[ns]")
    value[~ok] = np.datetime64("NaT", "ns")
    return value, ok


_BOOL_WORDS = ["true", "yes", "1", "false", "no", "0"]


def _parse_bool(col: _Col) -> tuple[np.ndarray, np.ndarray]:
    pos = pc.index_in(pc.utf8_lower(col.text), value_set=pa.array(_BOOL_WORDS))
    ok = _np(pc.is_valid(pos))
    return _np(pc.fill_null(pc.less(pos, 3), False)).astype(bool), ok


_STATUS_KEYS = list(STATUS_CODES) + list(STATUS_NAMES)
_STATUS_OUT = pa.array(list(STATUS_CODES.values()) + list(STATUS_NAMES))


def _parse_status(col: _Col) -> tuple[np.ndarray, np.ndarray]:
    pos = pc.index_in(pc.utf8_lower(col.text), value_set=pa.array(_STATUS_KEYS))
    names = pc.fill_null(pc.take(_STATUS_OUT, pos), "")
    return _objects(names), _np(pc.is_valid(pos))


def _vocabulary(kind: str, ctx: ExtractContext) -> tuple[frozenset[str], str, str]:
    what = kind.split(":", 1)[1]
    return {
        "customer_class": (ctx.customer_classes, "unknown-customer-class", "customer class"),
        "sa_type": (frozenset(ctx.sa_types), "unknown-sa-type", "SA type"),
        "deposit_class": (ctx.deposit_classes, "unknown-deposit-class", "deposit class"),
        "ncd_type": (ctx.ncd_types, "unknown-ncd-type", "non-cash deposit type"),
    }[what]


def _known(values: frozenset[str], limit: int = 12) -> str:
    names = sorted(values)
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "") if names else "none"


@dataclass
class _Parsed:
    raw: _Raw
    values: dict[str, np.ndarray]
    blank: dict[str, np.ndarray]
    complete: bool  # every required column is present and usable
    valid: dict[str, np.ndarray] = field(default_factory=dict)  # money cells that parsed
    unique_keys: bool = False  # the key column was found free of duplicates
    _key_set: pa.Array | None = None

    def frame(self) -> pd.DataFrame:
        data = {}
        for c in TABLES[self.raw.table]:
            data[c.name] = pd.Series(self.values[c.name], dtype=dtype_of(c))
        return pd.DataFrame(data)


def _parse(raw: _Raw, ctx: ExtractContext, report: _Report) -> _Parsed:
    values: dict[str, np.ndarray] = {}
    blanks: dict[str, np.ndarray] = {}
    valids: dict[str, np.ndarray] = {}
    complete = True
    mu = ctx.minor_units
    header_line = 1 if raw.fmt == "csv" else 0
    for spec in TABLES[raw.table]:
        col = raw.cols.get(spec.name)
        if col is None:
            if spec.required:
                complete = False
                hint = next((h for h in raw.cols if h.lower() == spec.name.lower()), None)
                extra = f" (found {hint!r}: names are case-sensitive)" if hint else ""
                report.add(raw.file, header_line, 0, spec.name, f"required column {spec.name!r} "
                           f"is missing{extra}", "missing-column")
            continue
        if spec.name in raw.unusable:
            complete = False
            continue
        blank = _blank(col)
        blanks[spec.name] = blank
        if not spec.nullable:
            report.rows(col, blank, "missing-value", lambda i, n=spec.name: f"{n} is required; "
                        "the cell is blank")
        values[spec.name] = _parse_column(col, spec, blank, ctx, report, mu, valids)
    unique = _check_duplicates(raw, values, blanks, report) if complete else False
    return _Parsed(raw, values, blanks, complete, valids, unique)


def _parse_column(col: _Col, spec: Column, blank: np.ndarray, ctx: ExtractContext,
                  report: _Report, mu: int, valid: dict | None = None) -> np.ndarray:
    kind = spec.kind
    if kind in (ID, TEXT) or kind.startswith("ref:"):
        return _objects(col.text)
    if kind.startswith("enum:"):
        allowed, code, what = _vocabulary(kind, ctx)
        ok = _np(pc.is_in(col.text, value_set=pa.array(sorted(allowed), pa.string())))
        report.rows(col, ~ok & ~blank, code, lambda i: f"{col.cell(i)!r} is not a configured "
                    f"{what}; known: {_known(allowed)}")
        return _objects(col.text)
    if kind == MONEY:
        value, ok = _parse_money(col, mu)
        if valid is not None:
            valid[spec.name] = ok
        report.rows(col, ~ok & ~blank, "bad-money", lambda i: _money_message(col.cell(i), mu))
    elif kind in (INT, COUNT):
        value, ok = _parse_int(col, signed=kind == INT)
        what = "a whole number" if kind == INT else "a count (a whole number, 0 or more)"
        report.rows(col, ~ok & ~blank, "bad-integer", lambda i: _int_message(col.cell(i), what))
    elif kind == DATE:
        value, ok = _parse_date(col, blank)
        report.rows(col, ~ok & ~blank, "bad-date", lambda i: _date_message(col.cell(i)))
    elif kind == BOOL:
        value, ok = _parse_bool(col)
        report.rows(col, ~ok & ~blank, "bad-boolean", lambda i: f"{col.cell(i)!r} is not a yes/no "
                    "value; write true or false (also accepted: yes, no, 1, 0)")
    elif kind == STATUS:
        value, ok = _parse_status(col)
        report.rows(col, ~ok & ~blank, "unknown-status", lambda i: f"{col.cell(i)!r} is not an SA "
                    f"status; write a name ({', '.join(STATUS_NAMES)}) or a code (10 to 70)")
    else:  # pragma: no cover - TABLES only uses the kinds above
        raise ValueError(f"unknown column kind {kind!r}")
    return value


def _date_message(text: str) -> str:
    if text.startswith("<value out of range"):  # a native Parquet date Arrow cannot print
        return (f"the date is out of range (years {MIN_YEAR} to {MAX_YEAR}); leave the cell "
                "blank when there is no date")
    head = text[:4]
    if head.isdigit() and not MIN_YEAR <= int(head) <= MAX_YEAR and len(text) == 10:
        return (f"{text!r} is out of range (years {MIN_YEAR} to {MAX_YEAR}); leave the cell "
                "blank when there is no date")
    return f"{text!r} is not a date; write YYYY-MM-DD, e.g. 2026-11-21"


# --------------------------------------------------------------------------- row and table checks


def _check_duplicates(raw: _Raw, values: dict, blanks: dict, report: _Report) -> bool:
    """Report repeated keys; True when the key column has none.

    Extracts usually come sorted by key: a strictly increasing column (one comparison per
    row) has no duplicates, and only a column that is not is hashed."""
    key = TABLES[raw.table][0]
    col = raw.cols[key.name]
    text = col.text.combine_chunks()
    if len(text) < 2 or _strictly_increasing(text):
        return True
    ids = pd.Series(values[key.name])
    dup = ids.duplicated(keep="first").to_numpy() & ~blanks[key.name]
    if not dup.any():
        return True
    shown = set(ids[dup].head(report.cap))
    firsts = ids[ids.isin(shown) & ~ids.duplicated(keep="first")]
    first_line = {v: raw.lines[i] for i, v in firsts.items()}
    report.rows(col, dup, "duplicate-id", lambda i: f"duplicate {key.name} {ids[i]!r}; first on "
                f"line {first_line.get(ids[i], '?')}")
    return False


def _strictly_increasing(text: pa.Array) -> bool:
    """Every value greater than the one before (byte order; blanks make it false)."""
    return bool(pc.all(pc.greater(text[1:], text[:-1])).as_py()) and text[0].as_py() != ""


def _ids(parsed: _Parsed | None) -> pa.Array | None:
    """The key values of a table, when the table loaded far enough to know them (computed
    once per table: several tables refer to accounts)."""
    if parsed is None or not parsed.complete:
        return None
    if parsed._key_set is None:
        key = TABLES[parsed.raw.table][0].name
        text = parsed.raw.cols[key].text.combine_chunks()
        # a key column without duplicates is its own set of values
        parsed._key_set = text if parsed.unique_keys else pc.unique(text)
    return parsed._key_set


def _check_reference(parsed: _Parsed, column: str, target: _Parsed | None, code: str,
                     report: _Report) -> None:
    keys = _ids(target)
    if keys is None or column not in parsed.values:
        return
    col = parsed.raw.cols[column]
    known = _np(pc.is_in(col.text, value_set=keys))
    missing = ~known & ~parsed.blank[column]
    report.rows(col, missing, code, lambda i: f"{column} {col.cell(i)!r} is not in "
                f"{target.raw.file}")


def _cross_checks(parsed: dict[str, _Parsed], ctx: ExtractContext, report: _Report) -> None:
    accounts = parsed.get("accounts")
    sas = parsed.get("service_agreements")
    ncds = parsed.get("non_cash_deposits")
    fts = parsed.get("financial_transactions")
    if sas is not None:
        _check_reference(sas, "account_id", accounts, "unknown-account", report)
        _check_service_agreements(sas, ctx, report)
    if ncds is not None:
        _check_reference(ncds, "account_id", accounts, "unknown-account", report)
        _check_order(ncds, "start_date", "end_date", report)
        _check_sign(ncds, "amount", report, "a non-cash deposit's amount must be more than 0.00",
                    allow_zero=False)
        if "end_date" not in ncds.values:
            ncds.values["end_date"] = np.full(ncds.raw.n, np.datetime64("NaT", "ns"))
    if fts is not None:
        _check_reference(fts, "sa_id", sas, "unknown-sa", report)
    if accounts is not None:
        v, n = accounts.values, accounts.raw.n
        v.setdefault("late_payments_12m", np.zeros(n, np.int64))
        v.setdefault("do_not_refund", np.zeros(n, bool))
        v.setdefault("cc_postpone_date", np.full(n, np.datetime64("NaT", "ns")))


def _check_sign(parsed: _Parsed, column: str, report: _Report, message: str,
                allow_zero: bool = True) -> None:
    """Refuse negative (and, unless allowed, zero) amounts where they make no sense."""
    if column not in parsed.values or column not in parsed.raw.cols:
        return
    v = parsed.values[column]
    col = parsed.raw.cols[column]
    valid = parsed.valid[column]  # a cell that is not an amount is reported already
    bad = valid & ~parsed.blank[column] & ((v < 0) if allow_zero else (v <= 0))
    report.rows(col, bad, "out-of-range", lambda i: f"{col.cell(i)!r}: {message}")


def _check_order(parsed: _Parsed, first: str, then: str, report: _Report) -> None:
    v = parsed.values
    if first not in v or then not in v:
        return
    start, stop = v[first], v[then]
    before = ~np.isnat(start) & ~np.isnat(stop) & (stop < start)
    report.rows(parsed.raw.cols[then], before, "stop-before-start", lambda i: f"{then} "
                f"{_day(stop[i])} is before {first} {_day(start[i])}")


def _day(value: np.datetime64) -> str:
    return str(value.astype("datetime64[D]"))


def _check_service_agreements(sas: _Parsed, ctx: ExtractContext, report: _Report) -> None:
    v = sas.values
    if "status" in v and "stop_date" in v:
        needs_stop = np.isin(v["status"], ["pending_stop", "stopped"])
        report.rows(sas.raw.cols["stop_date"], needs_stop & sas.blank["stop_date"],
                    "missing-stop-date", lambda i: f"an SA with status {v['status'][i]} needs a "
                    "stop_date")
    _check_order(sas, "start_date", "stop_date", report)
    _check_sign(sas, "total_deposit_amount", report, "total_deposit_amount (what the utility "
                "wants to hold) cannot be negative")
    if "payoff_balance" in v and "sa_type" in v:
        deposit_types = [code for code, info in ctx.sa_types.items() if info.is_cash_deposit]
        is_deposit = _np(pc.is_in(sas.raw.cols["sa_type"].text,
                                  value_set=pa.array(deposit_types, pa.string())))
        derived = np.where(is_deposit, np.maximum(-v["payoff_balance"], 0), 0).astype(np.int64)
        given = v.get("total_deposit_amount")
        if given is None:
            v["total_deposit_amount"] = derived
        else:
            v["total_deposit_amount"] = np.where(sas.blank["total_deposit_amount"], derived, given)
    if "start_date" in v:
        given = v.get("last_interest_date")
        if given is None:
            v["last_interest_date"] = v["start_date"].copy()
        else:
            v["last_interest_date"] = np.where(sas.blank["last_interest_date"], v["start_date"], given)

