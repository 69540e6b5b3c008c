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

from . import cells
from .cells import (
    CAP, COUNT_PATTERN, COUNT_WHAT, DATE_PATTERN, DEFAULT_MAX_ROWS, INT_PATTERN, INT_WHAT,
    MAX_CELL_CHARS, MAX_ROWS_ENV, MIN_YEAR, MAX_YEAR, max_rows,
)
from .context import (
    BOOL, COUNT, DATE, ID, INT, MONEY, REQUIRED_TABLES, STATUS, TABLES, TEXT, Column,
    ExtractContext, dtype_of,
)
from .files import NotReadable, TableFile, locate_tables, max_bytes, open_table, present_tables
from .parquet_text import parquet_text as _parquet_text
from .scan import MAX_LINE_BYTES, CsvProblem, CsvScan

__all__ = ["CAP", "DEFAULT_MAX_ROWS", "MAX_ROWS_ENV", "Extract", "check_extract",
           "empty_table", "load_extract", "load_rows", "max_rows"]


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


def empty_table(table: str, text: str = "object") -> pd.DataFrame:
    """An empty table with the columns and dtypes of a loaded one."""
    return pd.DataFrame({c.name: pd.Series([], dtype=_dtype(c, text)) for c in TABLES[table]})


def _dtype(c: Column, text: str):
    dtype = dtype_of(c)
    return _ARROW_TEXT if text == "arrow" and dtype == "object" else dtype


_ARROW_TEXT = pd.StringDtype("pyarrow")


TEXT_DTYPES = ("object", "arrow")


def load_extract(path: str | Path, ctx: ExtractContext, text: str = "object") -> Extract:
    """Load and validate an extract folder; raise :class:`ExtractError` listing every problem.

    ``text``: the dtype of the text columns (ids, codes, statuses): ``object`` (Python
    strings, the default) or ``arrow`` (``string[pyarrow]``: the cells as Arrow buffers,
    about 12 bytes an id instead of about 65, and no conversion; what ``simulate`` uses)."""
    if text not in TEXT_DTYPES:
        raise ValueError(f"text must be one of {TEXT_DTYPES}")
    problems, extract = _load(Path(path), ctx, text)
    if problems:
        raise ExtractError(problems, what=str(path))
    assert extract is not None
    return extract


def check_extract(path: str | Path, ctx: ExtractContext) -> list[Problem]:
    """Every problem of an extract folder (an empty list when it loads)."""
    return _load(Path(path), ctx)[0]


# --------------------------------------------------------------------------- problems


class _Report(cells.Report):
    """:class:`cells.Report`, plus one problem per row of a boolean mask."""

    def rows(self, col: _Col, mask: np.ndarray, code: str, message: Callable[[int], str]) -> None:
        """One problem per row where ``mask`` holds, located at ``col``; ``message(row)``."""
        idx = np.flatnonzero(mask)
        if not len(idx):
            return
        show = idx[: self.room(col.file, code)]
        for i in show:
            self.add(col.file, col.lines[i], col.index, col.name, message(int(i)), code)
        if len(idx) > len(show):
            self.hide(col.file, code, len(idx) - len(show))


@dataclass
class _Col:
    """One column of a table as trimmed text (``""`` = blank), with its location.

    A Parquet column of a native type that holds its kind exactly (dates, integers,
    booleans: ``_native``) keeps its values in ``native`` and is parsed from them; its
    text (what ``parquet_text`` makes of it, as before) is built only when a message
    needs a cell."""

    file: str
    name: str
    index: int  # 1-based position in the file
    _text: pa.ChunkedArray | None
    lines: np.ndarray
    native: pa.ChunkedArray | None = None
    kind: str = ""
    mu: int = 0

    @property
    def text(self) -> pa.ChunkedArray:
        if self._text is None:
            text, _ = _parquet_text(self.native, self.kind, self.mu)
            self._text = pc.utf8_trim_whitespace(pc.fill_null(text, ""))
        return self._text

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


def load_rows(path: str | Path, ctx: ExtractContext, rows: dict[str, np.ndarray],
              text: str = "object") -> tuple[list[Problem], Extract | None]:
    """Some rows of a Parquet extract, read and checked as :func:`load_extract` reads and
    checks a whole one, but the checks across rows (duplicate ids, references) only among
    these rows: ``rows[table]`` are 0-based positions in the table's file, ascending (a
    table not in ``rows`` is read whole). Only the row groups holding them are read.
    Problems are located as in the whole file (row index + 1). A Dask worker of
    ``simulate`` reads its partition of accounts with it (``simulate/vector_dask.py``)."""
    return _load(Path(path), ctx, text, rows)


def _load(folder: Path, ctx: ExtractContext, text: str = "object",
          rows: dict[str, np.ndarray] | None = None) -> tuple[list[Problem], Extract | None]:
    if not folder.exists():
        raise InputError(f"extract folder {folder} does not exist")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder; an extract is a folder of tables")
    limit, byte_limit = max_rows(), max_bytes()
    report = _Report()
    files = locate_tables(folder, report)
    present = present_tables(folder)
    missing = [t for t in REQUIRED_TABLES if t not in present]
    if missing:
        names = " and ".join(f"{t}.csv (or .parquet)" for t in missing)
        raise InputError(f"extract folder {folder} has no {names}")
    raws: dict[str, _Raw | None] = {}
    for table, tf in files.items():
        try:
            if rows is not None and tf.fmt == "csv" and table in rows:
                raise ValueError("only the rows of a Parquet table can be read")
            raws[table] = (_read_csv(tf, report, limit, byte_limit) if tf.fmt == "csv" else
                           _read_parquet(tf, ctx, report, limit, byte_limit,
                                         None if rows is None else rows.get(table)))
        except NotReadable as exc:
            report.add(tf.name, 0, 0, "", exc.message, exc.code)
            raws[table] = None

    parsed = {t: _parse(raw, ctx, report) for t, raw in raws.items() if raw is not None}
    _cross_checks(parsed, ctx, report)
    problems = report.problems()
    if problems:
        return problems, None
    frames = {t: (parsed[t].frame(text) if t in parsed else empty_table(t, text))
              for t in TABLES}
    return [], Extract(**frames, source=str(folder))


def _too_many_rows(report: _Report, file: str, line: int, limit: int) -> None:
    report.add(file, line, 0, "", cells.too_many_rows_message(limit), "too-many-rows")


# Arrow splits the file into blocks and a row must fit in one: larger than any line
_BLOCK_BYTES = 2 * MAX_LINE_BYTES + 2


def _read_csv(tf: TableFile, report: _Report, limit: int = DEFAULT_MAX_ROWS,
              byte_limit: int | None = None) -> _Raw | None:
    """Scan the file (scan.py: UTF-8, line ends, quotes, line lengths, the row limit), then
    let Arrow split it into cells, from the same open file."""
    table, file = tf.table, tf.name
    with open_table(tf.path, max_bytes() if byte_limit is None else byte_limit) as f:
        scan = CsvScan(f, limit, MAX_ROWS_ENV)
        try:
            for _ in scan.blocks():
                pass
        except CsvProblem as p:
            report.add(file, p.line, p.column, p.path, p.message, p.code)
            return None
        except OSError as exc:
            report.add(file, 0, 0, "", f"cannot read the file: {exc.strerror or exc}", "bad-file")
            return None
        if scan.header is None:
            report.add(file, 1, 0, "", cells.no_header_message(table), "empty-table")
            return None
        header = scan.header
        f.seek(0)
        try:
            data, skipped = _arrow_csv(f, len(header))
        except (pa.ArrowException, OSError) as exc:  # the file changed after the scan?
            report.add(file, 0, 0, "", _arrow_message(exc), "bad-file")
            return None
    lines = np.arange(2, data.num_rows + 2, dtype=np.int64)
    if skipped:
        numbers = [r.number or 0 for r in skipped]
        if all(numbers):
            lines = np.setdiff1d(np.arange(2, data.num_rows + len(skipped) + 2), numbers)
        for r, number in zip(skipped, numbers):
            if r.text.strip():  # a line of spaces is a blank line, not a short row
                report.add(file, number, 0, "", cells.ragged_message(r.actual_columns,
                           r.expected_columns), "bad-file")
    texts = [pc.utf8_trim_whitespace(data.column(i)) for i in range(len(header))]
    if texts:  # blank lines are not rows
        keep = pc.invert(_all_blank(texts)).to_numpy(zero_copy_only=False)
        if not keep.all():
            texts = [t.filter(pa.array(keep)) for t in texts]
            lines = lines[keep]
    return _raw(table, file, "csv", header, texts, lines, 1, report)


def _arrow_csv(f, width: int) -> tuple[pa.Table, list]:
    """The data rows as text columns ``c0..``; rows of another width are skipped and handed
    back (with their line numbers: after a skip the file is read again serially, the only
    way Arrow numbers them). ``f`` is read twice at most, from its start."""
    names = [f"c{i}" for i in range(width)]
    skipped: list = []

    def on_invalid_row(row: pv.InvalidRow) -> str:
        skipped.append(row)
        return "skip"

    def read(use_threads: bool) -> pa.Table:
        f.seek(0)
        return pv.read_csv(
            f,
            read_options=pv.ReadOptions(column_names=names, skip_rows=1, use_threads=use_threads,
                                        block_size=_BLOCK_BYTES),
            parse_options=pv.ParseOptions(ignore_empty_lines=False, invalid_row_handler=on_invalid_row),
            convert_options=pv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False, quoted_strings_can_be_null=False,
            ),
        )

    data = read(use_threads=True)
    if skipped:
        skipped.clear()
        data = read(use_threads=False)
    return data, skipped


def _all_blank(texts: list[pa.ChunkedArray]) -> pa.ChunkedArray:
    acc = pc.equal(texts[0], "")
    for t in texts[1:]:
        acc = pc.and_(acc, pc.equal(t, ""))
    return acc


def _arrow_message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "UTF8" in text or "UTF-8" in text:
        return f"the file is not UTF-8 text ({text}); save it as UTF-8"
    return f"cannot read the file: {text}"


def _raw(table: str, file: str, fmt: str, header: list[str], texts: list[pa.ChunkedArray],
         lines: np.ndarray, header_line: int, report: _Report,
         unusable: set[str] | None = None, natives: dict | None = None) -> _Raw:
    positions = cells.header_problems(report, table, file, header, header_line)
    natives = natives or {}
    cols = {}
    for name, i in positions.items():
        native = natives.get(i)
        cols[name] = (_Col(file, name, i, None, lines, *native) if native is not None else
                      _Col(file, name, i, texts[i - 1], lines))
    return _Raw(table, file, fmt, len(lines), lines, cols, unusable or set())


def _native(col: pa.ChunkedArray, kind: str) -> pa.ChunkedArray | None:
    """The column itself when its Parquet type holds values of ``kind`` exactly and they
    can be parsed without going through text: dates as date32/date64/timestamp, integers
    as signed integers, booleans as booleans."""
    t = col.type
    if kind == DATE and (pa.types.is_date(t) or pa.types.is_timestamp(t)):
        return col
    if kind in (INT, COUNT) and pa.types.is_signed_integer(t):
        return col
    if kind == BOOL and pa.types.is_boolean(t):
        return col
    return None


def _read_parquet(tf: TableFile, ctx: ExtractContext, report: _Report,
                  limit: int = DEFAULT_MAX_ROWS, byte_limit: int | None = None,
                  rows: np.ndarray | None = None) -> _Raw | None:
    table, file = tf.table, tf.name
    with open_table(tf.path, max_bytes() if byte_limit is None else byte_limit) as f:
        try:
            pf = pq.ParquetFile(f)
            if pf.metadata.num_rows > limit:  # from the footer, nothing read
                _too_many_rows(report, file, limit + 1, limit)
                return None
            data = pf.read(use_threads=False) if rows is None else _some_rows(pf, rows)
        except (pa.ArrowException, OSError) as exc:
            report.add(file, 0, 0, "", f"not a readable Parquet file: {exc}", "bad-file")
            return None
    if data.num_columns == 0:
        report.add(file, 0, 0, "", "the Parquet file has no columns", "empty-table")
        return None
    kinds = {c.name: c.kind for c in TABLES[table]}
    header, texts, unusable, natives = [], [], set(), {}
    for i, fld in enumerate(data.schema, start=1):
        header.append(fld.name)
        if fld.name not in kinds:
            texts.append(pa.chunked_array([], pa.string()))  # ignored column
            continue
        native = _native(data.column(i - 1), kinds[fld.name])
        if native is not None:
            natives[i] = (native, kinds[fld.name], ctx.minor_units)
            texts.append(None)
            continue
        text, problem = _parquet_text(data.column(i - 1), kinds[fld.name], ctx.minor_units)
        if problem is not None:
            code, message = problem
            report.add(file, 0, i, fld.name, message, code)
            unusable.add(fld.name)
            text = pa.chunked_array([pa.nulls(data.num_rows, pa.string())])
        texts.append(pc.utf8_trim_whitespace(pc.fill_null(text, "")))
    lines = (np.arange(1, data.num_rows + 1, dtype=np.int64) if rows is None else
             np.asarray(rows, dtype=np.int64) + 1)
    return _raw(table, file, "parquet", header, texts, lines, 0, report, unusable, natives)


def _some_rows(pf: pq.ParquetFile, rows: np.ndarray) -> pa.Table:
    """Rows ``rows`` (ascending positions) of a Parquet file: only their row groups read."""
    meta = pf.metadata
    starts = np.cumsum([0] + [meta.row_group(g).num_rows for g in range(meta.num_row_groups)])
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) and (rows[0] < 0 or rows[-1] >= starts[-1]):
        raise IndexError("a row past the end of the file")
    group = np.searchsorted(starts, rows, side="right") - 1
    groups = np.unique(group)
    if not len(groups):
        return pf.schema_arrow.empty_table()
    data = pf.read_row_groups([int(g) for g in groups], use_threads=False)
    sizes = starts[groups + 1] - starts[groups]
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])  # of each group read, in ``data``
    return data.take(pa.array(first[np.searchsorted(groups, group)] + rows - starts[group]))


# --------------------------------------------------------------------------- parsing columns


def _np(arr) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False)


def _objects(arr: pa.ChunkedArray) -> np.ndarray:
    """Strings as a numpy object array (through pandas: several times faster than Arrow's)."""
    return arr.to_pandas().to_numpy(dtype=object)


def _blank(col: _Col) -> np.ndarray:
    if col.native is not None:
        return _np(pc.is_null(col.native))
    return _np(pc.equal(col.text, ""))


def _parse_native(col: _Col, kind: str, blank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, ok) of a native column, as its text would parse (``_native``)."""
    arr = col.native
    if kind == DATE:
        if pa.types.is_timestamp(arr.type):
            arr = pc.cast(arr, pa.date32(), safe=False)
        elif arr.type != pa.date32():
            arr = pc.cast(arr, pa.date32())
        days = _np(arr).astype("datetime64[D]")  # nulls are NaT
        ok = ~blank & (days >= _LOW) & (days <= _HIGH)
        days[~ok] = np.datetime64("NaT", "D")
        return days.astype("datetime64[ns]"), ok
    if kind in (INT, COUNT):  # at most 18 digits, as the text patterns
        value = _np(pc.fill_null(pc.cast(arr, pa.int64()), 0)).astype(np.int64)
        ok = ~blank & (value < 10**18) & (value >= (0 if kind == COUNT else -(10**18) + 1))
        return np.where(ok, value, 0), ok
    value = _np(pc.fill_null(arr, False)).astype(bool)  # BOOL
    return value, ~blank


def _parse_money(col: _Col, mu: int) -> tuple[np.ndarray, np.ndarray]:
    # at most 18 digits: every accepted amount fits int64
    ok = pc.match_substring_regex(col.text, cells.money_pattern(mu))
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


def _parse_int(col: _Col, signed: bool) -> tuple[np.ndarray, np.ndarray]:
    ok = pc.match_substring_regex(col.text, INT_PATTERN if signed else COUNT_PATTERN)
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
    shaped = pc.match_substring_regex(col.text, DATE_PATTERN)
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


def _parse_bool(col: _Col) -> tuple[np.ndarray, np.ndarray]:
    pos = pc.index_in(pc.ascii_lower(col.text), value_set=pa.array(cells.BOOL_WORDS))
    ok = _np(pc.is_valid(pos))
    return _np(pc.fill_null(pc.less(pos, 3), False)).astype(bool), ok


_STATUS_OUT = pa.array([cells.status_cell(k) for k in cells.STATUS_KEYS])


def _parse_status(col: _Col) -> tuple[np.ndarray, np.ndarray]:
    pos = pc.index_in(pc.ascii_lower(col.text), value_set=pa.array(cells.STATUS_KEYS))
    names = pc.fill_null(pc.take(_STATUS_OUT, pos), "")
    return names, _np(pc.is_valid(pos))


@dataclass
class _Parsed:
    raw: _Raw
    values: dict[str, np.ndarray]
    blank: dict[str, np.ndarray]
    complete: bool  # every required column is present and usable
    valid: dict[str, np.ndarray] = field(default_factory=dict)  # money cells that parsed
    unique_keys: bool = False  # the key column was found free of duplicates
    sorted_keys: bool = False  # ... and strictly increasing
    _key_set: pa.Array | None = None

    def frame(self, text: str = "object") -> pd.DataFrame:
        data = {}
        for c in TABLES[self.raw.table]:
            v = self.values[c.name]
            if isinstance(v, (pa.Array, pa.ChunkedArray)):  # a text column
                if text == "arrow":
                    v = pa.chunked_array([v]) if isinstance(v, pa.Array) else v
                    data[c.name] = pd.Series(pd.arrays.ArrowStringArray(v), dtype=_ARROW_TEXT)
                    continue
                v = _objects(v)
            data[c.name] = pd.Series(v, dtype=dtype_of(c))
        return pd.DataFrame(data)


def _parse(raw: _Raw, ctx: ExtractContext, report: _Report) -> _Parsed:
    """Parse every column deprules reads, in ``TABLES`` order (missing columns were reported
    with the header). A column with a cell over ``MAX_CELL_CHARS`` is reported and not
    parsed further: its other problems would be noise."""
    values: dict[str, np.ndarray] = {}
    blanks: dict[str, np.ndarray] = {}
    valids: dict[str, np.ndarray] = {}
    complete = True
    mu = ctx.minor_units
    for spec in TABLES[raw.table]:
        col = raw.cols.get(spec.name)
        if col is None:
            complete = complete and not spec.required
            continue
        if spec.name in raw.unusable:
            complete = False
            continue
        lengths = None if col.native is not None else pc.utf8_length(col.text)
        if lengths is not None and len(col.text) and pc.max(lengths).as_py() > MAX_CELL_CHARS:
            length = _np(lengths)
            report.rows(col, length > MAX_CELL_CHARS, "too-long",
                        lambda i: cells.too_long_message(int(length[i])))
            complete = False
            continue
        blank = _blank(col)
        blanks[spec.name] = blank
        if not spec.nullable:
            report.rows(col, blank, "missing-value",
                        lambda i, n=spec.name: cells.missing_message(n))
        values[spec.name] = _parse_column(col, spec, blank, ctx, report, mu, valids)
    unique = _check_duplicates(raw, values, blanks, report) if complete else False
    parsed = _Parsed(raw, values, blanks, complete, valids, unique)
    if unique:
        key = raw.cols[TABLES[raw.table][0].name].text
        parsed.sorted_keys = len(key) < 2 or _strictly_increasing(key.combine_chunks())
    return parsed


def _parse_column(col: _Col, spec: Column, blank: np.ndarray, ctx: ExtractContext,
                  report: _Report, mu: int, valid: dict | None = None) -> np.ndarray:
    kind = spec.kind
    if kind in (ID, TEXT) or kind.startswith("ref:"):
        return col.text  # text columns stay Arrow until the frame is made (_Parsed.frame)
    if kind.startswith("enum:"):
        allowed, code, what = cells.vocabulary(kind, ctx)
        ok = _np(pc.is_in(col.text, value_set=pa.array(sorted(allowed), pa.string())))
        report.rows(col, ~ok & ~blank, code,
                    lambda i: cells.enum_message(col.cell(i), what, allowed))
        return col.text
    if col.native is not None:
        value, ok = _parse_native(col, kind, blank)
        code, message = {
            DATE: ("bad-date", lambda i: cells.date_message(col.cell(i))),
            INT: ("bad-integer", lambda i: cells.int_message(col.cell(i), INT_WHAT)),
            COUNT: ("bad-integer", lambda i: cells.int_message(col.cell(i), COUNT_WHAT)),
            BOOL: ("bad-boolean", lambda i: cells.bool_message(col.cell(i))),
        }[kind]
        report.rows(col, ~ok & ~blank, code, message)
    elif kind == MONEY:
        value, ok = _parse_money(col, mu)
        if valid is not None:
            valid[spec.name] = ok
        report.rows(col, ~ok & ~blank, "bad-money", lambda i: cells.money_message(col.cell(i), mu))
    elif kind in (INT, COUNT):
        value, ok = _parse_int(col, signed=kind == INT)
        what = INT_WHAT if kind == INT else COUNT_WHAT
        report.rows(col, ~ok & ~blank, "bad-integer",
                    lambda i: cells.int_message(col.cell(i), what))
    elif kind == DATE:
        value, ok = _parse_date(col, blank)
        report.rows(col, ~ok & ~blank, "bad-date", lambda i: cells.date_message(col.cell(i)))
    elif kind == BOOL:
        value, ok = _parse_bool(col)
        report.rows(col, ~ok & ~blank, "bad-boolean", lambda i: cells.bool_message(col.cell(i)))
    elif kind == STATUS:
        value, ok = _parse_status(col)
        report.rows(col, ~ok & ~blank, "unknown-status",
                    lambda i: cells.status_message(col.cell(i)))
    else:  # pragma: no cover - TABLES only uses the kinds above
        raise ValueError(f"unknown column kind {kind!r}")
    return value


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
    ids = pd.Series(_objects(values[key.name]))
    dup = ids.duplicated(keep="first").to_numpy() & ~blanks[key.name]
    if not dup.any():
        return True
    shown = set(ids[dup].head(report.cap))
    firsts = ids[ids.isin(shown) & ~ids.duplicated(keep="first")]
    first_line = {v: raw.lines[i] for i, v in firsts.items()}
    report.rows(col, dup, "duplicate-id", lambda i: cells.duplicate_message(
        key.name, ids[i], first_line.get(ids[i], "?")))
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
    known = _sorted_member(col.text, keys) if target.sorted_keys else None
    if known is None:
        known = _np(pc.is_in(col.text, value_set=keys))
    missing = ~known & ~parsed.blank[column]
    report.rows(col, missing, code,
                lambda i: cells.reference_message(column, col.cell(i), target.raw.file))


def _fixed_bytes(arr) -> tuple[np.ndarray, int] | None:
    """A string column whose values all have one byte length w > 0 (ids usually do) and
    no NUL byte, as sort keys whose order is byte order (Arrow's string order), and w:
    big-endian integers for w <= 8, else a numpy ``S{w}`` view of the bytes. None when
    the column does not qualify."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if not len(arr) or arr.null_count or arr.type != pa.string():
        return None
    offsets = np.frombuffer(arr.buffers()[1], np.int32)[arr.offset:arr.offset + len(arr) + 1]
    w = int(offsets[1] - offsets[0])
    if w <= 0 or int(offsets[-1] - offsets[0]) != w * len(arr) or \
            not (np.diff(offsets) == w).all():
        return None
    data = np.frombuffer(arr.buffers()[2], np.uint8)[int(offsets[0]):int(offsets[-1])]
    if not data.all():  # a NUL byte: numpy's S strings would drop it at the end
        return None
    if w <= 8:
        padded = np.zeros((len(arr), 8), np.uint8)
        padded[:, :w] = data.reshape(-1, w)
        return padded.view(">u8").ravel().astype(np.uint64), w
    return data.view(f"S{w}"), w


def _sorted_member(values, keys) -> np.ndarray | None:
    """Whether each value is one of ``keys`` (strictly increasing), by binary search over
    fixed-width keys (``_fixed_bytes``); None when a column is not fixed-width
    (``pc.is_in`` hashes them then)."""
    k = _fixed_bytes(keys)
    v = _fixed_bytes(values)
    if k is None or v is None:
        return None
    if v[1] != k[1]:  # every key has another length: none can be equal
        return np.zeros(len(v[0]), bool)
    k, v = k[0], v[0]
    at = np.minimum(np.searchsorted(k, v), len(k) - 1)
    return k[at] == v


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
        _check_sign(ncds, "amount", report, cells.NCD_AMOUNT_RULE, allow_zero=False)
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
    report.rows(col, bad, "out-of-range", lambda i: cells.sign_message(col.cell(i), message))


def _check_order(parsed: _Parsed, first: str, then: str, report: _Report) -> None:
    v = parsed.values
    if first not in v or then not in v:
        return
    start, stop = v[first], v[then]
    before = ~np.isnat(start) & ~np.isnat(stop) & (stop < start)
    report.rows(parsed.raw.cols[then], before, "stop-before-start", lambda i: cells.order_message(
        first, then, _day(start[i]), _day(stop[i])))


def _day(value: np.datetime64) -> str:
    return str(value.astype("datetime64[D]"))


def _check_service_agreements(sas: _Parsed, ctx: ExtractContext, report: _Report) -> None:
    v = sas.values
    if "status" in v and "stop_date" in v:
        needs_stop = _np(pc.is_in(v["status"], value_set=pa.array(["pending_stop", "stopped"])))
        report.rows(sas.raw.cols["stop_date"], needs_stop & sas.blank["stop_date"],
                    "missing-stop-date", lambda i: cells.missing_stop_message(v["status"][i]))
    _check_order(sas, "start_date", "stop_date", report)
    _check_sign(sas, "total_deposit_amount", report, cells.TOTAL_DEPOSIT_RULE)
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

