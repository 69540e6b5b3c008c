"""`deprules simulate` with the vector back end: one process against Dask LocalClusters.

    nice .venv/bin/python benchmarks/dask_scaling.py --accounts 1000000 --workers 1,2,4 --repeat 3

On the cached generated Parquet extract of ``run.extract_dir`` (seed 7, under
benchmarks/.cache/), runs the whole command as a user does, in a fresh process each time:

    deprules simulate --extract DIR --as-of 2026-11-21 --whatif examples/whatif --format json
        [--engine dask --workers N]

(``--ship N``: also ``--engine dask --workers N --ship-partitions``, the command loading
the extract and sending each partition, as before the workers read their own rows)
and measures its wall time, the CPU time of the whole process tree, and peak memory: the
command's own peak RSS (``os.wait4``) and the peak of the sum of the RSS of the command and
every process it started (the LocalCluster's nanny and worker processes), sampled every
0.2 s with psutil. Every run's JSON must equal the one-process run's (byte for byte).
Medians of ``--repeat`` runs are printed as a Markdown table (and written as JSON with
``--json``). Nothing here asserts a time: the figures are for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

from run import TreePeak, extract_dir  # noqa: E402

ON = "2026-11-21"


def command(extract: Path, extra: list[str]) -> dict:
    args = [sys.executable, str(ROOT / "cli.py"), "simulate", "--extract", str(extract),
            "--as-of", ON, "--whatif", str(ROOT / "examples" / "whatif"), "--format", "json",
            *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    t = time.perf_counter()
    child = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=ROOT)
    peak = TreePeak(child.pid)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t
    peak.stop()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        err.seek(0)
        raise SystemExit(f"{' '.join(args)} failed ({child.returncode}):\n{err.read().decode()}")
    out.seek(0)
    # CPU: the command's own and its waited-for children's, or the sampled tree's if larger
    cpu = max(usage.ru_utime + usage.ru_stime, peak.cpu)
    return {"wall": wall, "cpu": cpu, "rss_mib": usage.ru_maxrss / 1024,
            "tree_rss_mib": peak.rss / 2**20, "stdout": out.read()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--workers", default="1,2,4", help="comma-separated LocalCluster sizes")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--ship", default="",
                    help="comma-separated LocalCluster sizes also run with --ship-partitions "
                         "(the command loads the extract and sends each partition)")
    ap.add_argument("--extract", type=Path,
                    help="an extract folder to use instead of the cached generated one")
    args = ap.parse_args()
    extract = args.extract or extract_dir(args.accounts, seed=7)
    configs = [("local (one process)", [])] + [
        (f"dask LocalCluster, {w} worker{'s' if w > 1 else ''}",
         ["--engine", "dask", "--workers", str(w)]) for w in map(int, args.workers.split(","))]
    configs += [(f"dask LocalCluster, {w} worker{'s' if w > 1 else ''}, --ship-partitions",
                 ["--engine", "dask", "--workers", str(w), "--ship-partitions"])
                for w in map(int, filter(None, args.ship.split(",")))]
    load = [os.getloadavg()[0]]
    if args.extract:
        import pyarrow.parquet as pq

        args.accounts = pq.ParquetFile(extract / "accounts.parquet").metadata.num_rows \
            if (extract / "accounts.parquet").exists() else args.accounts
    figures, reference = {}, None
    for _ in range(args.repeat):  # interleaved, so a change of load hits every configuration
        for name, extra in configs:
            r = command(extract, extra)
            if reference is None:
                reference = r["stdout"]
            assert r.pop("stdout") == reference, f"{name}: a different impact"
            figures.setdefault(name, []).append(r)
            print(f"  {name}: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU, "
                  f"{r['tree_rss_mib']:,.0f} MiB (load {os.getloadavg()[0]:.1f})",
                  file=sys.stderr, flush=True)
            if args.json:  # so far, in case the run is stopped
                args.json.write_text(json.dumps({"runs": figures}, indent=2))
    load.append(os.getloadavg()[0])
    data = {"accounts": args.accounts, "load_average": [round(x, 2) for x in load],
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                        "platform": platform.platform()},
            "runs": figures,
            "medians": {name: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                        for name, runs in figures.items()}}
    local = data["medians"]["local (one process)"]["wall"]
    print(f"deprules simulate --whatif examples/whatif, {args.accounts:,} accounts (Parquet); "
          f"load average {data['load_average'][0]} before, {data['load_average'][1]} after; "
          f"medians of {args.repeat}")
    print("\n| run | wall | vs one process | CPU (tree) | peak RSS, command | peak RSS, all processes |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, m in data["medians"].items():
        print(f"| {name} | {m['wall']:.1f} s | {local / m['wall']:.2f}× | {m['cpu']:.1f} s | "
              f"{m['rss_mib']:,.0f} MiB | {m['tree_rss_mib']:,.0f} MiB |")
    if args.json:
        args.json.write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
