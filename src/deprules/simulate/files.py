"""What ``--out DIR`` holds: per-account outcomes (CSV and Parquet), impact.json, report.html.

The four are written next to their final names and renamed into place together, once all
are on disk: a reader never sees half a file, nor new files beside stale ones.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..money import format_money, format_money_array
from .report_html import render_html
from .table import COLUMNS, MONEY_BASELINE, MONEY_CANDIDATE

if TYPE_CHECKING:
    from . import SimulationResult

def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _money_text(col: np.ndarray, mu: int) -> list[str]:
    """Decimal text of a money column ("" for None)."""
    if col.dtype == np.int64:
        return format_money_array(col, mu).to_pylist()
    return ["" if v is None else format_money(v, mu) for v in col.tolist()]


def accounts_csv(result: "SimulationResult") -> bytes:
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


def accounts_table(result: "SimulationResult") -> pa.Table:
    t = result.table
    has_c = result.impact["candidate"] is not None
    cols: dict[str, pa.Array] = {}
    for name in ("account_id", "customer_class", "outcome_baseline", "outcome_candidate"):
        cols[name] = pa.array(t[name].to_numpy(dtype=object), pa.string())
    for name in MONEY_BASELINE + MONEY_CANDIDATE:  # int64 minor units, never float
        values = t[name].to_numpy()
        if name in MONEY_CANDIDATE and not has_c:
            cols[name] = pa.nulls(len(t), pa.int64())
        elif values.dtype == np.int64:
            cols[name] = pa.array(values, pa.int64())
        else:  # beyond int64: Arrow refuses, as the old writer did
            cols[name] = pa.array(values.tolist(), pa.int64())
    cols["changed"] = pa.array(t["changed"].to_numpy(bool), pa.bool_())
    for name in ("rule_baseline", "rule_candidate", "reason", "deposit_class"):
        cols[name] = pa.array(t[name].to_numpy(dtype=object), pa.string())
    table = pa.table(cols)
    meta = {b"deprules.minor_units": str(result.minor_units).encode(),
            b"deprules.money": b"int64 minor units of the installation currency"}
    return table.replace_schema_metadata(meta)


def write_outputs(result: "SimulationResult", out_dir: Path) -> list[Path]:
    """Write the four files into ``out_dir`` all or none.

    Each is rendered and written next to its final name (``.NAME.tmp``, fsynced); only when
    all four are on disk are they renamed into place. A failure on the way (a report that
    cannot be rendered, a full disk) removes what was written, and a folder this call
    created, so ``out_dir`` is left as it was: never new files beside stale ones. (Only a
    rename failing, which takes a failing disk, could leave some renamed and not others.)"""
    makers = (
        ("accounts.csv", lambda: accounts_csv(result)),
        ("accounts.parquet", lambda: _parquet_bytes(accounts_table(result))),
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


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()
