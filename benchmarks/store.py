"""The ledger store commands as a user runs them: cold processes on a SQLite store.

    nice .venv/bin/python benchmarks/store.py --accounts 10000 --repeat 3
    nice .venv/bin/python benchmarks/store.py --accounts 200000 --repeat 1

For each size (extract generated once and cached as Parquet under benchmarks/.cache/) it
times, each in a fresh ``deprules`` process (wall time, CPU of it and its worker processes
and peak RSS from ``os.wait4``, and the peak of the RSS summed over it and its workers):

- ``ledger init`` of the extract into a new store file;
- ``ledger show`` of one account;
- one CSR command: ``sa pending-stop`` of one active SA (one account read, one written);
- ``run cycle`` on a fresh copy of the initial store (``--workers N`` passed on when given),
  then a second ``run cycle`` on the same date (a no-op: it writes its journal entry only;
  the rows it wrote are printed);
- ``ledger check`` of the whole store after the cycle (set-at-a-time SQL queries).

The store file's size is printed after ``ledger init`` and after the first cycle (its WAL
checkpointed into it), and how long after the first cycle exits the background checkpoint
(``deprules.ledger.checkpoint``) has folded its WAL; the next command starts only then.
Medians of ``--repeat`` runs are printed as a Markdown table (and written as JSON with
``--json``). Nothing here asserts a time: the figures are for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

from run import TreePeak, extract_dir  # noqa: E402


def cold(args: list[str], env: dict | None = None, stdout: Path | None = None) -> dict:
    """One ``deprules`` process: wall seconds and peak RSS (MiB); output discarded (or
    written to ``stdout``).

    Started with ``posix_spawn`` (no copy of this process's memory), so the child's peak RSS
    from ``os.wait4`` is its own, not this benchmark's at the time of a fork."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
    err = tempfile.TemporaryFile()
    null = os.open(stdout or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    t = time.perf_counter()
    pid = os.posix_spawn(sys.executable, [sys.executable, str(ROOT / "cli.py"), *map(str, args)],
                         full_env, file_actions=[(os.POSIX_SPAWN_DUP2, null, 1),
                                                 (os.POSIX_SPAWN_DUP2, err.fileno(), 2)])
    tree = TreePeak(pid)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t
    tree.stop()
    os.close(null)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        err.seek(0)
        raise SystemExit(f"{' '.join(map(str, args))} failed ({code}):\n{err.read().decode()}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mib": usage.ru_maxrss / 1024, "tree_rss_mib": tree.rss / 2**20}


def _active_sas(store: Path, n: int) -> list[str]:
    conn = sqlite3.connect(store)
    try:
        return [r[0] for r in conn.execute(
            "SELECT sa_id FROM service_agreements WHERE status = 'active' AND sa_type LIKE 'DEP%' "
            "ORDER BY sa_id LIMIT ?", (n,))]
    finally:
        conn.close()


def _last_journal(store: Path) -> dict:
    conn = sqlite3.connect(store)
    try:
        return json.loads(conn.execute("SELECT detail FROM journal ORDER BY seq DESC LIMIT 1"
                                       ).fetchone()[0] or "{}")
    finally:
        conn.close()


def measure(accounts: int, repeat: int, engine: str, work: Path, workers: int | None = None
            ) -> dict:
    extract = extract_dir(accounts, seed=7)
    work.mkdir(parents=True, exist_ok=True)
    init_store = work / f"init-{accounts}.db"
    runs: dict[str, list[dict]] = {k: [] for k in
                                   ("ledger init", "ledger show", "sa pending-stop", "run cycle",
                                    "second run cycle", "ledger check")}
    for _ in range(repeat):
        for p in work.glob(f"init-{accounts}.db*"):
            p.unlink()
        runs["ledger init"].append(cold(["ledger", "init", "--extract", extract, "--store",
                                         init_store]))
    size_mib = init_store.stat().st_size / 2**20
    first = sorted(_first_account(init_store))
    sas = _active_sas(init_store, repeat)
    for i in range(repeat):
        runs["ledger show"].append(cold(["ledger", "show", first[0], "--store", init_store]))
        runs["sa pending-stop"].append(cold(["sa", "pending-stop", sas[i % len(sas)], "--date",
                                             f"2026-12-{10 + i:02d}", "--store", init_store,
                                             "--reason", "benchmark"]))
    folds = []
    for i in range(repeat):
        store = work / f"cycle-{accounts}-{i}.db"
        for p in work.glob(store.name + "*"):
            p.unlink()
        shutil.copyfile(init_store, store)
        os.sync()  # the copy on disk: its write-back does not compete with the cycle's fsyncs
        args = ["run", "cycle", "--store", store, "--date", "2026-11-21", "--engine", engine]
        args += ["--workers", workers] if workers else []
        runs["run cycle"].append(cold(args))
        folds.append(_folded_after(store))
        changed = _last_journal(store).get("accounts_written")
        cycle_mib = _checkpointed_mib(store)
        runs["second run cycle"].append(cold(args))
        second_written = _last_journal(store).get("accounts_written")
        runs["ledger check"].append(cold(["ledger", "check", "--store", store]))
        for p in work.glob(store.name + "*"):  # 4 GB at a million accounts
            p.unlink()
        os.sync()
    out = {"accounts": accounts, "engine": engine, "store_mib": round(size_mib, 1),
           "store_mib_after_cycle": round(cycle_mib, 1),
           "cycle_accounts_written": changed, "second_cycle_accounts_written": second_written,
           "cycle_checkpoint_s": statistics.median(folds),
           "commands": {k: {"wall": statistics.median(r["wall"] for r in v),
                            "cpu": statistics.median(r["cpu"] for r in v),
                            "rss_mib": statistics.median(r["rss_mib"] for r in v),
                            "tree_rss_mib": statistics.median(r["tree_rss_mib"] for r in v),
                            "runs": len(v)} for k, v in runs.items()}}
    for p in work.glob("cycle-*"):
        p.unlink()
    return out


def _folded_after(store: Path, timeout: float = 600.0) -> float:
    """Seconds from the cycle's exit until its WAL is folded into the store file by the
    background checkpoint (deprules.ledger.checkpoint): 0 when the command folded it itself.
    The next command starts only then, so it is not measured against that process."""
    t = time.perf_counter()
    wal = Path(f"{store}-wal")
    while wal.exists() and wal.stat().st_size > 0 and time.perf_counter() - t < timeout:
        time.sleep(0.1)
    return time.perf_counter() - t


def _checkpointed_mib(store: Path) -> float:
    conn = sqlite3.connect(store)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return store.stat().st_size / 2**20


def _first_account(store: Path) -> list[str]:
    conn = sqlite3.connect(store)
    try:
        return [conn.execute("SELECT MIN(account_id) FROM accounts").fetchone()[0]]
    finally:
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", default="10000", help="comma-separated sizes")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--engine", default="vector", choices=["vector", "python", "durable"])
    ap.add_argument("--workers", type=int, help="--workers of run cycle (default: its own)")
    ap.add_argument("--work", type=Path, default=HERE / ".cache" / "store-bench")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}", file=sys.stderr)
    results = []
    for n in (int(x) for x in args.accounts.split(",")):
        r = measure(n, args.repeat, args.engine, args.work, args.workers)
        results.append(r)
        print(f"\n{n:,} accounts (store {r['store_mib']} MiB after init, "
              f"{r['store_mib_after_cycle']} MiB after the cycle, engine {r['engine']}; cycle wrote "
              f"{r['cycle_accounts_written']} accounts, the second "
              f"{r['second_cycle_accounts_written']}; its WAL folded by the background "
              f"checkpoint {r['cycle_checkpoint_s']:.1f} s after it exited):")
        print("| command | wall (s) | CPU (s) | peak RSS (MiB) | with workers (MiB) | runs |\n"
              "|---|---:|---:|---:|---:|---:|")
        for k, v in r["commands"].items():
            print(f"| `{k}` | {v['wall']:.2f} | {v['cpu']:.2f} | {v['rss_mib']:.0f} | "
                  f"{v['tree_rss_mib']:.0f} | {v['runs']} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
