"""What ``--out DIR`` holds: per-account outcomes (CSV and Parquet), impact.json, report.html.

The four are written next to their final names and renamed into place together, once all
are on disk: a reader never sees half a file, nor new files beside stale ones.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..money import format_money, format_money_array
from .report_html import render_html
from .table import COLUMNS, MONEY_BASELINE, MONEY_CANDIDATE

if TYPE_CHECKING:
    from . import SimulationResult

#: rows of accounts.csv and accounts.parquet built at a time: the row group
#: ``pq.write_table`` writes by default (1024 * 1024 rows), so accounts.parquet written a
#: row group at a time is the file written at once, and neither file needs the whole
#: table as text in memory (10,000,000 accounts)
ROWS = 1024 * 1024


def _write_synced(path: Path, data: bytes | Iterable[bytes]) -> None:
    with open(path, "wb") as fh:
        for part in [data] if isinstance(data, bytes) else data:
            fh.write(part)
        fh.flush()
        os.fsync(fh.fileno())


def _slices(n: int, rows: int = ROWS) -> list[tuple[int, int]]:
    return [(lo, min(n, lo + rows)) for lo in range(0, n, rows)] or [(0, 0)]


def _money_text(col: np.ndarray, mu: int) -> list[str]:
    """Decimal text of a money column ("" for None)."""
    if col.dtype == np.int64:
        return format_money_array(col, mu).to_pylist()
    return ["" if v is None else format_money(v, mu) for v in col.tolist()]


def accounts_csv(result: "SimulationResult") -> bytes:
    """accounts.csv (:func:`accounts_csv_chunks`) as one piece of bytes."""
    return b"".join(accounts_csv_chunks(result))


def accounts_csv_chunks(result: "SimulationResult", rows: int = ROWS) -> Iterator[bytes]:
    """accounts.csv: the bytes ``csv.writer`` (minimal quoting, ``\\n`` line ends) writes
    for the table (``accounts_csv_rows``), built column by column with Arrow string
    kernels (8 s of ``writerows`` at 1,000,000 accounts became well under a second), the
    header and then ``rows`` rows at a time."""
    yield (",".join(_csv_cell(c) for c in COLUMNS) + "\n").encode("utf-8")
    n = len(result.table)
    for lo, hi in _slices(n, rows):
        if hi > lo:
            yield _csv_rows(result, lo, hi)


def _csv_rows(result: "SimulationResult", lo: int, hi: int) -> bytes:
    """The lines of accounts.csv for the table's rows ``lo`` to ``hi``."""
    mu = result.minor_units
    t = result.table
    n = hi - lo
    has_c = result.impact["candidate"] is not None
    empty = pa.array([""] * n, pa.string()) if not has_c else None

    def col(name: str) -> np.ndarray:
        return t[name].to_numpy()[lo:hi]

    def text(name: str) -> pa.Array:
        return pa.array(t[name].to_numpy(dtype=object)[lo:hi], pa.string(), from_pandas=False)

    cols = [text("account_id"), text("customer_class"), text("outcome_baseline"),
            text("outcome_candidate") if has_c else empty]
    cols += [_money_arrow(col(c), mu) for c in MONEY_BASELINE]
    cols += [_money_arrow(col(c), mu) if has_c else empty for c in MONEY_CANDIDATE]
    cols += [pa.array(np.where(col("changed").astype(bool), "true", "false")),
             text("rule_baseline"), text("rule_candidate") if has_c else empty,
             text("reason"), text("deposit_class")]
    cells = [_csv_cells(pc.cast(pc.fill_null(c, ""), pa.large_string())) for c in cols]
    large = pa.large_string()
    # the line end on the last cell, then one join: one pass over the lines' bytes
    cells[-1] = pc.binary_join_element_wise(cells[-1], pa.scalar("", large),
                                            pa.scalar("\n", large))
    lines = pc.binary_join_element_wise(*cells, pa.scalar(",", large))
    offsets = np.frombuffer(lines.buffers()[1], np.int64)[lines.offset:lines.offset + n + 1]
    return bytes(memoryview(lines.buffers()[2])[int(offsets[0]):int(offsets[-1])])


def _quoting_chars() -> str:
    """The characters that make ``csv.writer`` (minimal quoting, ``\\n`` line ends) quote a
    cell, asked of this Python's csv module (``\\r`` is one in some versions only)."""
    out = ""
    for ch in ',"\r\n':
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([f"a{ch}b", "c"])
        if buf.getvalue().startswith('"'):
            out += ch
    return out


_QUOTING = _quoting_chars()
_QUOTED = "[" + "".join("\\" + c if c in '"' else c for c in _QUOTING) + "]"


def _csv_cell(text: str) -> str:
    if any(ch in text for ch in _QUOTING):
        return '"' + text.replace('"', '""') + '"'
    return text


_QUOTING_BYTES = np.frombuffer(_QUOTING.encode("ascii"), np.uint8)


def _csv_cells(arr: pa.Array) -> pa.Array:
    """``_csv_cell`` of every value (the column's bytes are looked at once first: most
    columns hold no character that needs quoting)."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    data = arr.buffers()[2]
    if data is None or not np.isin(np.frombuffer(data, np.uint8), _QUOTING_BYTES).any():
        return arr
    needs = pc.match_substring_regex(arr, _QUOTED)
    if not pc.any(needs).as_py():
        return arr
    q = pa.scalar('"', arr.type)
    quoted = pc.binary_join_element_wise(q, pc.replace_substring(arr, '"', '""'), q,
                                         pa.scalar("", arr.type))
    return pc.if_else(needs, quoted, arr)


def _money_arrow(col: np.ndarray, mu: int) -> pa.Array:
    """``format_money`` of each value, formatted once per distinct value (most are 0)."""
    if col.dtype == np.int64:
        codes, uniq = pd.factorize(col)  # hashing, no sort (np.unique sorted: 0.1 s a column)
        return format_money_array(uniq, mu).take(pa.array(codes))
    return pa.array(_money_text(col, mu), pa.string())


def accounts_csv_rows(result: "SimulationResult") -> bytes:
    """accounts.csv written row by row with ``csv.writer`` (what ``accounts_csv`` must
    equal; tests/test_simulate_outputs.py)."""
    mu = result.minor_units
    t = result.table
    has_c = result.impact["candidate"] is not None
    cols: list[list] = [t["account_id"].tolist(), t["customer_class"].tolist(),
                        t["outcome_baseline"].tolist(),
                        t["outcome_candidate"].tolist() if has_c else [""] * len(t)]
    empty = [""] * len(t)
    cols += [_money_text(t[c].to_numpy(), mu) for c in MONEY_BASELINE]
    cols += [_money_text(t[c].to_numpy(), mu) if has_c else empty for c in MONEY_CANDIDATE]
    cols += [np.where(t["changed"].to_numpy(bool), "true", "false").tolist(),
             t["rule_baseline"].tolist(),
             t["rule_candidate"].tolist() if has_c else empty, t["reason"].tolist(),
             t["deposit_class"].tolist()]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    w.writerows(zip(*cols))
    return buf.getvalue().encode("utf-8")


def accounts_table(result: "SimulationResult", lo: int = 0, hi: int | None = None
                   ) -> pa.Table:
    """accounts.parquet's table, of the table's rows ``lo`` to ``hi`` (all by default)."""
    t = result.table
    hi = len(t) if hi is None else hi
    has_c = result.impact["candidate"] is not None

    def col(name: str, dtype=None) -> np.ndarray:
        return t[name].to_numpy(dtype=dtype)[lo:hi]

    cols: dict[str, pa.Array] = {}
    for name in ("account_id", "customer_class", "outcome_baseline", "outcome_candidate"):
        cols[name] = pa.array(col(name, object), pa.string())
    for name in MONEY_BASELINE + MONEY_CANDIDATE:  # int64 minor units, never float
        values = col(name)
        if name in MONEY_CANDIDATE and not has_c:
            cols[name] = pa.nulls(hi - lo, pa.int64())
        elif values.dtype == np.int64:
            cols[name] = pa.array(values, pa.int64())
        else:  # beyond int64: Arrow refuses, as the old writer did
            cols[name] = pa.array(values.tolist(), pa.int64())
    cols["changed"] = pa.array(col("changed").astype(bool), pa.bool_())
    for name in ("rule_baseline", "rule_candidate", "reason", "deposit_class"):
        cols[name] = pa.array(col(name, object), pa.string())
    table = pa.table(cols)
    meta = {b"deprules.minor_units": str(result.minor_units).encode(),
            b"deprules.money": b"int64 minor units of the installation currency"}
    return table.replace_schema_metadata(meta)


def accounts_parquet_chunks(result: "SimulationResult", rows: int = ROWS) -> Iterator[bytes]:
    """accounts.parquet, a row group of ``rows`` rows at a time (``pq.write_table`` of the
    whole :func:`accounts_table` writes the same bytes for the default ``rows``)."""
    sink = _Drain()
    writer = None
    for lo, hi in _slices(len(result.table), rows):
        table = accounts_table(result, lo, hi)
        if writer is None:
            writer = pq.ParquetWriter(sink, table.schema)
        writer.write_table(table, row_group_size=rows)
        yield sink.take()
    assert writer is not None
    writer.close()
    yield sink.take()


class _Drain:
    """A file to write to that hands its bytes over as they come (``take``)."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.size = 0
        self.closed = False

    def write(self, data) -> int:
        data = bytes(data)
        self.parts.append(data)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def write_outputs(result: "SimulationResult", out_dir: Path) -> list[Path]:
    """Write the four files into ``out_dir`` all or none.

    Each is rendered and written next to its final name (``.NAME.tmp``, fsynced); only when
    all four are on disk are they renamed into place. A failure on the way (a report that
    cannot be rendered, a full disk) removes what was written, and a folder this call
    created, so ``out_dir`` is left as it was: never new files beside stale ones. (Only a
    rename failing, which takes a failing disk, could leave some renamed and not others.)"""
    makers = (
        ("accounts.csv", lambda: accounts_csv_chunks(result)),
        ("accounts.parquet", lambda: accounts_parquet_chunks(result)),
        ("impact.json", lambda: result.json().encode("utf-8")),
        ("report.html", lambda: render_html(result.impact, result.source).encode("utf-8")),
    )
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for name, make in makers:
            data = make()
            tmp = out_dir / f".{name}.tmp"
            staged.append((tmp, out_dir / name))
            _write_synced(tmp, data)
        for tmp, final in staged:
            os.replace(tmp, final)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        if created:
            try:
                out_dir.rmdir()
            except OSError:
                pass
        raise
    return [final for _, final in staged]
