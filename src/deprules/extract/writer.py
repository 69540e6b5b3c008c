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
    if fmt not in FORMATS:
        raise InputError(f"unknown extract format {fmt!r}; use csv or parquet")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    other = "parquet" if fmt == "csv" else "csv"
    tables = {t: _to_arrow(t, frame, fmt, minor_units) for t, frame in extract.tables().items()}
    staged: list[tuple[Path, Path]] = []
    try:
        for table, data in tables.items():
            tmp = out / f".{table}.{fmt}.tmp"
            staged.append((tmp, out / f"{table}.{fmt}"))
            if fmt == "csv":
                _write_csv(data, tmp)
            else:
                pq.write_table(data, tmp, row_group_size=row_group_rows)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    from .csvindex import INDEX_NAME

    (out / INDEX_NAME).unlink(missing_ok=True)  # it described the files replaced here
    for (tmp, target), table in zip(staged, tables):
        os.replace(tmp, target)
        (out / f"{table}.{other}").unlink(missing_ok=True)
    return out


def _write_csv(data: pa.Table, path: Path) -> None:
    with open(path, "wb") as f:
        # unquoted is easier to read (Arrow would quote the header and every string);
        # a value with a comma, quote or line break needs quoting, so then quote
        f.write((",".join(data.column_names) + "\n").encode("utf-8"))
        try:
            pv.write_csv(data, f, pv.WriteOptions(include_header=False, quoting_style="none"))
        except pa.ArrowInvalid:
            f.seek(0)
            f.truncate()
            pv.write_csv(data, f, pv.WriteOptions(quoting_style="needed"))


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
