"""Issue 18's yardstick: a bare one-configuration pandas pass over an extract, against the
whole ``deprules simulate`` (baseline + candidate, every report), on the same files.

    nice .venv/bin/python benchmarks/reference.py --extract /tmp/x1m --repeat 3 \
        [--extract-csv /tmp/x1m-csv]

Each figure is measured in a fresh process, the runs interleaved (reference, simulate,
reference, ...), so a change of load hits both; wall, CPU (user + sys, of the process and
its children: the forked candidate) and peak RSS (``os.wait4``: the largest process) are
medians of ``--repeat`` runs, and the load average is printed with every run.

- ``reference``: what "just pandas" costs for one configuration: read the tables with
  pandas (``pd.read_parquet`` / ``pd.read_csv``, no validation), money text to int minor
  units with string operations (two decimals assumed: the generated extracts have them),
  then ``run.bare_join`` and ``run.bare_compute`` (DEPRFND eligibility and REFUNDINT on a
  constant balance, split at the rate changes; no rules, no ledger, no fixed point);
- ``simulate``: ``deprules simulate --extract DIR --as-of 2026-11-21 --whatif
  examples/whatif --out OUT --format json``, with ``DEPRULES_SIMULATE_TIMINGS=1`` so its
  steps are printed too (``--steps``).

The ratio printed is simulate ÷ reference (the goal: at most 1). Nothing here asserts a
time: the figures are for docs/performance.md.

**Cost per account** (``--accounts``, issue 18): for each size, generate the extract
(``deprules extract generate --accounts N --seed 7 --file-format parquet`` into
``--work``, itself measured), run the same ``simulate`` (every report) ``--repeat`` times
(once from ``--once-from`` accounts), print wall, CPU, peak RSS, the load average and
CPU µs per account, and delete the extract (``--keep`` keeps it):

    nice .venv/bin/python benchmarks/reference.py --accounts 100,10000,100000,1000000,10000000 \
        --repeat 3 --work /tmp/bench
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ON = "2026-11-21"


def worker_reference(folder: Path) -> dict:
    """Runs in its own process: load with pandas, join, compute."""
    sys.path.insert(0, str(HERE))
    from datetime import date

    import pandas as pd

    from run import _setup, bare_compute, bare_join

    config = _setup().config
    t0 = time.perf_counter()
    parquet = (folder / "service_agreements.parquet").exists()

    def read(name: str, dates=()):
        if parquet:
            return pd.read_parquet(folder / f"{name}.parquet")
        return pd.read_csv(folder / f"{name}.csv", parse_dates=list(dates),
                           keep_default_na=False, na_values=[""])

    def minor(col):  # "-400.35" -> -40035 (two decimals)
        return col.astype(str).str.replace(".", "", regex=False).astype("int64")

    acc = read("accounts")
    sas = read("service_agreements", ["start_date", "stop_date", "last_interest_date"])
    for c in ("current_balance", "payoff_balance", "total_deposit_amount"):
        sas[c] = minor(sas[c])
    for c in ("start_date", "last_interest_date"):
        sas[c] = pd.to_datetime(sas[c])
    sas["last_interest_date"] = sas["last_interest_date"].fillna(sas["start_date"])
    acc["do_not_refund"] = acc["do_not_refund"].astype(str).str.lower().isin(["true", "1"])
    t1 = time.perf_counter()
    ex = type("Extract", (), {"accounts": acc, "service_agreements": sas})
    dep = bare_join(ex, config)
    got = bare_compute(dep, config, date.fromisoformat(ON))
    t2 = time.perf_counter()
    return {"load": t1 - t0, "compute": t2 - t1, "result": got}


def run(cmd: list[str], env: dict | None = None) -> dict:
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    loadavg = os.getloadavg()[0]
    t = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT,
                             env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t
    out.seek(0)
    err.seek(0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err.read().decode()}")
    # CPU of the process and of its waited-for children (the forked candidate)
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "peak_mib": usage.ru_maxrss / 1024, "loadavg": loadavg,
            "stdout": out.read().decode(), "stderr": err.read().decode()}


def steps(stderr: str) -> dict:
    got = {}
    for line in stderr.splitlines():
        if line.startswith("step "):
            parts = line.split()
            vals = dict(p.split("=", 1) for p in parts[2:])
            # a step of every partition: summed (peak: the largest)
            was = got.get(parts[1], {"wall": 0.0, "cpu": 0.0, "peak_rss_mib": 0.0, "n": 0})
            got[parts[1]] = {"wall": was["wall"] + float(vals["wall"]),
                             "cpu": was["cpu"] + float(vals["cpu"]),
                             "peak_rss_mib": max(was["peak_rss_mib"],
                                                 float(vals["peak_rss_mib"])),
                             "n": was["n"] + 1}
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extract", type=Path, help="the extract of the reference comparison")
    ap.add_argument("--accounts", help="cost per account: sizes to generate and simulate, "
                                       "e.g. 10000,100000,1000000,10000000")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()),
                    help="with --accounts: where the extracts are generated")
    ap.add_argument("--once-from", type=int, default=5_000_000,
                    help="with --accounts: one run from this many accounts")
    ap.add_argument("--keep", action="store_true", help="with --accounts: keep the extracts")
    ap.add_argument("--extract-csv", type=Path, help="the same extract as CSV, measured too")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--steps", action="store_true", help="print simulate's steps")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker_reference(args.worker)))
        return
    exe = Path(sys.executable).with_name("deprules")
    if args.accounts:
        results = cost_per_account(exe, [int(a) for a in args.accounts.split(",")], args)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
        return
    if args.extract is None:
        ap.error("--extract or --accounts is needed")
    results = {}
    for extract in [args.extract] + ([args.extract_csv] if args.extract_csv else []):
        ref_runs, sim_runs = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.repeat):
                r = run([sys.executable, str(Path(__file__).resolve()), "--extract",
                         str(extract), "--worker", str(extract)])
                r.update(json.loads(r.pop("stdout").strip().splitlines()[-1]))
                ref_runs.append(r)
                print(f"  reference {extract}: {r['wall']:.2f} s wall (load {r['load']:.2f} "
                      f"+ compute {r['compute']:.2f}), {r['cpu']:.2f} s CPU, "
                      f"{r['peak_mib']:.0f} MiB; load average {r['loadavg']:.2f}",
                      file=sys.stderr, flush=True)
                s = run([str(exe), "simulate", "--extract", str(extract), "--as-of", ON,
                         "--whatif", "examples/whatif", "--out", f"{tmp}/out", "--format",
                         "json"], env={"DEPRULES_SIMULATE_TIMINGS": "1"})
                s["steps"] = steps(s.pop("stderr"))
                s.pop("stdout")
                sim_runs.append(s)
                print(f"  simulate  {extract}: {s['wall']:.2f} s wall, {s['cpu']:.2f} s CPU, "
                      f"{s['peak_mib']:.0f} MiB; load average {s['loadavg']:.2f}",
                      file=sys.stderr, flush=True)
                if args.steps:
                    for name, v in s["steps"].items():
                        print(f"      {name:16} {v['wall']:7.2f} s wall {v['cpu']:7.2f} s CPU",
                              file=sys.stderr)
        med = {k: {f: statistics.median(r[f] for r in runs) for f in ("wall", "cpu",
                                                                      "peak_mib", "loadavg")}
               for k, runs in (("reference", ref_runs), ("simulate", sim_runs))}
        results[str(extract)] = {"reference": ref_runs, "simulate": sim_runs, "medians": med}
        ref, sim = med["reference"], med["simulate"]
        print(f"{extract}: medians of {args.repeat}")
        print(f"  reference (pandas, one configuration): {ref['wall']:.2f} s wall, "
              f"{ref['cpu']:.2f} s CPU, {ref['peak_mib']:.0f} MiB")
        print(f"  deprules simulate (two, every report):  {sim['wall']:.2f} s wall, "
              f"{sim['cpu']:.2f} s CPU, {sim['peak_mib']:.0f} MiB")
        print(f"  simulate / reference: {sim['wall'] / ref['wall']:.2f} (wall), "
              f"{sim['cpu'] / ref['cpu']:.2f} (CPU); load average {ref['loadavg']:.2f} to "
              f"{sim['loadavg']:.2f} (medians)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def _simulate(exe: Path, extract: Path, out: str) -> dict:
    s = run([str(exe), "simulate", "--extract", str(extract), "--as-of", ON, "--whatif",
             "examples/whatif", "--out", out, "--format", "json"],
            env={"DEPRULES_SIMULATE_TIMINGS": "1"})
    s["steps"] = steps(s.pop("stderr"))
    s.pop("stdout")
    return s


def cost_per_account(exe: Path, sizes: list[int], args) -> dict:
    """Generate each size, simulate it, print the figures; the extracts deleted after."""
    import shutil

    results = {}
    for n in sizes:
        folder = args.work / f"deprules-bench-{n}"
        shutil.rmtree(folder, ignore_errors=True)
        g = run([str(exe), "extract", "generate", "--accounts", str(n), "--seed", "7",
                 "--out", str(folder), "--file-format", "parquet"])
        print(f"{n:>10,} accounts: generate {g['wall']:.2f} s wall, {g['cpu']:.2f} s CPU, "
              f"{g['peak_mib']:.0f} MiB; load average {g['loadavg']:.2f}", file=sys.stderr,
              flush=True)
        g.pop("stdout"), g.pop("stderr")
        runs = []
        try:
            with tempfile.TemporaryDirectory(dir=args.work) as tmp:
                for _ in range(1 if n >= args.once_from else args.repeat):
                    s = _simulate(exe, folder, f"{tmp}/out")
                    runs.append(s)
                    print(f"{n:>10,} accounts: simulate {s['wall']:.2f} s wall, "
                          f"{s['cpu']:.2f} s CPU, {s['peak_mib']:.0f} MiB; load average "
                          f"{s['loadavg']:.2f}", file=sys.stderr, flush=True)
                    if args.steps:  # summed over the partitions
                        for name, v in s["steps"].items():
                            print(f"      {name:16} {v['wall']:7.2f} s wall {v['cpu']:7.2f} s "
                                  f"CPU  x{v['n']}", file=sys.stderr)
        finally:
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
        med = {f: statistics.median(r[f] for r in runs) for f in ("wall", "cpu", "peak_mib",
                                                                  "loadavg")}
        results[n] = {"generate": g, "simulate": runs, "medians": med}
    print(f"simulate --whatif examples/whatif --out DIR, Parquet, seed 7 (medians; "
          f"one run from {args.once_from:,})")
    print("  accounts      wall       CPU   CPU µs/account (beyond the first size's)   "
          "peak RSS   load | generate: wall, CPU, peak")
    n0, cpu0 = sizes[0], results[sizes[0]]["medians"]["cpu"]
    for n, r in results.items():
        m, g = r["medians"], r["generate"]
        beyond = f"{(m['cpu'] - cpu0) / (n - n0) * 1e6:8.1f}" if n > n0 else "       -"
        print(f"  {n:>10,} {m['wall']:7.2f} s {m['cpu']:7.2f} s {m['cpu'] / n * 1e6:10.1f} "
              f"({beyond}) {m['peak_mib']:8.0f} MiB {m['loadavg']:5.2f} | {g['wall']:.2f} s, "
              f"{g['cpu']:.2f} s, {g['peak_mib']:.0f} MiB")
    return results


if __name__ == "__main__":
    main()
