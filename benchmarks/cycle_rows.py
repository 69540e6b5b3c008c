"""Where a store batch's writing goes: the CPU of each table's inserts and of building the
rows, for the accounts a cycle writes from the vector engine's columns.

    .venv/bin/python benchmarks/cycle_rows.py --store STORE --date 2026-11-21

Runs ``deprules run cycle`` in this process on STORE (use a fresh copy of a store made by
``ledger init``: the cycle commits) with ``StoreRows.write`` and ``StoreRows._chunk`` timed
(``time.process_time``, summed per table), and prints a Markdown table: rows and CPU
seconds per table, then the build and the whole write. Nothing here asserts a time; the
figures are for docs/performance.md.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--date", default="2026-11-21")
    args = ap.parse_args()
    from deprules.vector import storerows

    cpu: collections.Counter = collections.Counter()
    rows: collections.Counter = collections.Counter()
    chunk, write = storerows.StoreRows._chunk, storerows.StoreRows.write

    def timed_chunk(self, lo, hi):
        t = time.process_time()
        try:
            return chunk(self, lo, hi)
        finally:
            cpu["building the rows"] += time.process_time() - t

    class Timed:
        """The writer's connection, each ``executemany`` timed per table."""

        def __init__(self, conn):
            self.conn = conn

        def executemany(self, sql, params):
            table = sql.split()[2]
            t = time.process_time()
            cur = self.conn.executemany(sql, params)
            cpu[table] += time.process_time() - t
            rows[table] += cur.rowcount
            return cur

        def __getattr__(self, name):
            return getattr(self.conn, name)

    def timed_write(self, conn, progress=None):
        t = time.process_time()
        try:
            return write(self, Timed(conn), progress)
        finally:
            cpu["writing, in all"] += time.process_time() - t

    storerows.StoreRows._chunk, storerows.StoreRows.write = timed_chunk, timed_write
    from deprules.cli import cli

    t = time.perf_counter()
    try:
        cli(["run", "cycle", "--store", args.store, "--date", args.date,
             "--config", str(ROOT / "config"), "--rules", str(ROOT / "rules")],
            standalone_mode=False)
    finally:
        print(f"\nwall {time.perf_counter() - t:.1f} s, CPU {time.process_time():.1f} s\n")
        print("| table (`SET`: SAs updated) | rows | CPU s | µs per row |")
        print("|---|---:|---:|---:|")
        for name, s in cpu.most_common():
            n = rows.get(name)
            per = f"{s / n * 1e6:.1f}" if n else ""
            print(f"| {name} | {n or ''} | {s:.2f} | {per} |")


if __name__ == "__main__":
    main()
