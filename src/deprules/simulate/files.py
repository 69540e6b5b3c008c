"""What ``--out DIR`` holds: per-account outcomes (CSV and Parquet), impact.json, report.html.

Each file is written next to its final name and renamed into place, so a reader never sees
half a file.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from ..money import format_money
from .outcomes import CATEGORIES
from .report_html import render_html

if TYPE_CHECKING:
    from . import SimulationResult

COLUMNS = (["account_id", "customer_class", "outcome_baseline", "outcome_candidate"]
           + [f"{c}_baseline" for c in CATEGORIES] + [f"{c}_candidate" for c in CATEGORIES]
           + ["changed", "rule_baseline", "rule_candidate", "reason"])


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def accounts_csv(result: "SimulationResult") -> bytes:
    mu = result.minor_units
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in result.rows:
        mc = r.money_candidate
        w.writerow([r.account_id, r.customer_class, r.outcome_baseline, r.outcome_candidate or ""]
                   + [format_money(v, mu) for v in r.money_baseline]
                   + ([format_money(v, mu) for v in mc] if mc is not None else [""] * 4)
                   + ["true" if r.changed else "false", r.rule_baseline, r.rule_candidate or "",
                      r.reason])
    return buf.getvalue().encode("utf-8")


def accounts_table(result: "SimulationResult") -> pa.Table:
    rows = result.rows
    cols: dict[str, pa.Array] = {
        "account_id": pa.array([r.account_id for r in rows], pa.string()),
        "customer_class": pa.array([r.customer_class for r in rows], pa.string()),
        "outcome_baseline": pa.array([r.outcome_baseline for r in rows], pa.string()),
        "outcome_candidate": pa.array([r.outcome_candidate for r in rows], pa.string()),
    }
    for i, c in enumerate(CATEGORIES):  # int64 minor units, never float
        cols[f"{c}_baseline"] = pa.array([r.money_baseline[i] for r in rows], pa.int64())
    for i, c in enumerate(CATEGORIES):
        cols[f"{c}_candidate"] = pa.array(
            [None if r.money_candidate is None else r.money_candidate[i] for r in rows],
            pa.int64())
    cols["changed"] = pa.array([r.changed for r in rows], pa.bool_())
    cols["rule_baseline"] = pa.array([r.rule_baseline for r in rows], pa.string())
    cols["rule_candidate"] = pa.array([r.rule_candidate for r in rows], pa.string())
    cols["reason"] = pa.array([r.reason for r in rows], pa.string())
    table = pa.table(cols)
    meta = {b"deprules.minor_units": str(result.minor_units).encode(),
            b"deprules.money": b"int64 minor units of the installation currency"}
    return table.replace_schema_metadata(meta)


def write_outputs(result: "SimulationResult", out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    path = out_dir / "accounts.csv"
    _atomic_write(path, accounts_csv(result))
    written.append(path)
    path = out_dir / "accounts.parquet"
    sink = pa.BufferOutputStream()
    pq.write_table(accounts_table(result), sink)
    _atomic_write(path, sink.getvalue().to_pybytes())
    written.append(path)
    path = out_dir / "impact.json"
    _atomic_write(path, result.json().encode("utf-8"))
    written.append(path)
    path = out_dir / "report.html"
    _atomic_write(path, render_html(result.impact, result.source).encode("utf-8"))
    written.append(path)
    return written
