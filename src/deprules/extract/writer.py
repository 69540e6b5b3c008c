"""Write an :class:`Extract` back to a folder, in the format the reader loads.

CSV: money as decimal text with the currency's minor units, dates ``YYYY-MM-DD``, booleans
``true``/``false``, blanks for missing dates.  Parquet: money as string columns of decimal
text (exact, and read back by the same parser as CSV), dates as ``date32``, integers as
``int64``, booleans as ``bool``, in row groups of :data:`ROW_GROUP_ROWS` rows with
statistics (the one-account reader skips the row groups that cannot hold an account).
Statuses are written as names in both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

from deprules.errors import InputError

from .context import BOOL, COUNT, DATE, INT, MONEY, TABLES, Column
from .reader import Extract

FORMATS = ("csv", "parquet")
#: rows per Parquet row group: small enough that one account costs a few milliseconds per
#: table (``deprules evaluate`` reads only the row groups that may hold it: about 15 ms for
#: a whole row group of service agreements, 4 times that at 65,536 rows), large enough that
#: the footer stays small (2.4 million SAs: 149 row groups) and the files 5 % larger at most
ROW_GROUP_ROWS = 16_384


def write_extract(extract: Extract, out_dir: str | Path, fmt: str = "csv",
                  minor_units: int = 2, row_group_rows: int = ROW_GROUP_ROWS) -> Path:
    """Write the four tables to ``out_dir`` (created if needed) and return its path.

    A table file of the other format with the same name is removed, so the folder never
    holds both ``accounts.csv`` and ``accounts.parquet``. Every table is converted and
    written next to its final name before any is renamed into place: a table that cannot
    be converted, or a full disk, leaves the folder as it was. An index of the folder
    (``deprules.index``) is removed: it described the files replaced (``extract generate``
    and ``ledger export`` write a new one for CSV).
    """
    write_extract_chunks(lambda: iter([extract]), out_dir, fmt, minor_units, row_group_rows)
    return Path(out_dir)


def write_extract_chunks(chunks: Callable[[], Iterator[Extract]], out_dir: str | Path,
                         fmt: str = "csv", minor_units: int = 2,
                         row_group_rows: int = ROW_GROUP_ROWS) -> dict[str, int]:
    """:func:`write_extract` of the extract whose tables are the chunks' tables one after
    the other (``chunks()``: a fresh iterator of them, e.g. ``generate_chunks``), one chunk
    in memory at a time; the same files as :func:`write_extract` of the whole (Parquet row
    groups of ``row_group_rows`` rows across chunks). The rows written per table.

    A CSV table with a value that needs quoting is written again, quoted, from a second
    ``chunks()`` (as :func:`write_extract` quotes a whole table then)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown extract format {fmt!r}; use csv or parquet")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    other = "parquet" if fmt == "csv" else "csv"
    staged = {t: (out / f".{t}.{fmt}.tmp", out / f"{t}.{fmt}") for t in TABLES}
    rows = {t: 0 for t in TABLES}
    try:
        quoted = _write_pass(chunks(), staged, fmt, minor_units, row_group_rows, rows, set())
        if quoted:  # CSV tables with a value to quote: those again, every string quoted
            _write_pass(chunks(), staged, fmt, minor_units, row_group_rows, {}, quoted)
    except BaseException:
        for tmp, _ in staged.values():
            tmp.unlink(missing_ok=True)
        raise
    from .csvindex import INDEX_NAME

    (out / INDEX_NAME).unlink(missing_ok=True)  # it described the files replaced here
    for table, (tmp, target) in staged.items():
        os.replace(tmp, target)
        (out / f"{table}.{other}").unlink(missing_ok=True)
    return rows


def _write_pass(chunks: Iterator[Extract], staged: dict, fmt: str, mu: int, group: int,
                rows: dict[str, int], quoted: set[str]) -> set[str]:
    """Write every table (or only the ``quoted`` ones, quoted) of the chunks; the CSV
    tables that need quoting (written no further in this pass)."""
    tables = list(quoted) if quoted else list(TABLES)
    sinks = {t: (_CsvSink(staged[t][0], bool(quoted)) if fmt == "csv" else
                 _ParquetSink(staged[t][0], group)) for t in tables}
    needs: set[str] = set()
    try:
        for chunk in chunks:
            for table in tables:
                frame = getattr(chunk, table)
                if table in rows:
                    rows[table] += len(frame)
                if table in needs:
                    continue
                if not sinks[table].write(_to_arrow(table, frame, fmt, mu)):
                    needs.add(table)
    finally:
        for sink in sinks.values():
            sink.close()
    return needs


class _CsvSink:
    """A CSV table written chunk by chunk: the header, then the rows unquoted (easier to
    read; Arrow would quote the header and every string), or with ``quote`` every string
    quoted, as Arrow writes a table whose values need it."""

    def __init__(self, path: Path, quote: bool):
        self.f = open(path, "wb")
        self.quote, self.first = quote, True

    def write(self, data: pa.Table) -> bool:
        """False when a value needs quoting (a comma, quote or line break) and this sink
        does not quote."""
        if self.quote:
            pv.write_csv(data, self.f, pv.WriteOptions(include_header=self.first,
                                                       quoting_style="needed"))
        else:
            if self.first:
                self.f.write((",".join(data.column_names) + "\n").encode("utf-8"))
            try:
                pv.write_csv(data, self.f, pv.WriteOptions(include_header=False,
                                                           quoting_style="none"))
            except pa.ArrowInvalid:
                return False
        self.first = False
        return True

    def close(self) -> None:
        self.f.close()


class _ParquetSink:
    """A Parquet table written chunk by chunk in row groups of ``group`` rows (the last
    one smaller), as ``pq.write_table(whole, row_group_size=group)`` writes them."""

    def __init__(self, path: Path, group: int):
        self.path, self.group = path, group
        self.writer: pq.ParquetWriter | None = None
        self.pending: pa.Table | None = None
        self.written = 0

    def write(self, data: pa.Table) -> bool:
        self.pending = data if self.pending is None else pa.concat_tables([self.pending, data])
        full = self.pending.num_rows // self.group * self.group
        if full:
            self._write(self.pending.slice(0, full))
            self.pending = self.pending.slice(full)
        return True

    def _write(self, data: pa.Table) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, data.schema)
        self.writer.write_table(data, row_group_size=self.group)
        self.written += data.num_rows

    def close(self) -> None:
        if self.pending is not None and (self.pending.num_rows or not self.written):
            self._write(self.pending)
        self.pending = None
        if self.writer is not None:
            self.writer.close()


def _to_arrow(table: str, frame: pd.DataFrame, fmt: str, mu: int) -> pa.Table:
    missing = [c.name for c in TABLES[table] if c.name not in frame.columns]
    if missing:
        raise InputError(f"table {table} has no column(s) {', '.join(missing)}")
    arrays = [_column(c, frame[c.name], fmt, mu) for c in TABLES[table]]
    return pa.table(arrays, names=[c.name for c in TABLES[table]])


def _column(spec: Column, series: pd.Series, fmt: str, mu: int) -> pa.Array:
    kind = spec.kind
    if kind == MONEY:
        return format_money_array(series.to_numpy(dtype=np.int64), mu)
    if kind == DATE:
        days = pd.to_datetime(series).to_numpy().astype("datetime64[D]")
        dates = pa.array(days, type=pa.date32(), from_pandas=True)
        return dates if fmt == "parquet" else pc.fill_null(pc.cast(dates, pa.string()), "")
    if kind in (INT, COUNT):
        ints = pa.array(series.to_numpy(dtype=np.int64))
        return ints if fmt == "parquet" else pc.cast(ints, pa.string())
    if kind == BOOL:
        flags = pa.array(series.to_numpy(dtype=bool))
        return flags if fmt == "parquet" else pc.cast(flags, pa.string())
    text = pa.array(series.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    return pc.fill_null(text, "")


def format_money_array(minor: np.ndarray, mu: int = 2) -> pa.Array:
    """Vectorised :func:`deprules.money.format_money`: minor units -> decimal text."""
    minor = np.asarray(minor, dtype=np.int64)
    whole, part = np.divmod(np.abs(minor), 10**mu)
    sign = pa.array(np.where(minor < 0, "-", ""))
    whole_text = pc.cast(pa.array(whole), pa.string())
    if mu == 0:
        return pc.binary_join_element_wise(sign, whole_text, "")
    part_text = pc.utf8_lpad(pc.cast(pa.array(part), pa.string()), mu, "0")
    return pc.binary_join_element_wise(sign, whole_text, ".", part_text, "")
