"""`deprules evaluate` of one account, cold, on a large extract: CSV (streamed and by its
index), converted Parquet, sample.

    nice .venv/bin/python benchmarks/evaluate.py --accounts 1000000 --repeat 5

Generates (once, cached under benchmarks/.cache/, git-ignored) a CSV extract with
``deprules extract generate --file-format csv`` (which writes its index, deprules.index;
``deprules extract index`` writes it again when it is missing or out of date, timed) and
converts it with ``deprules extract convert`` (timed once, when it is made), then runs ``deprules evaluate ACCOUNT --extract
DIR --as-of 2026-11-21 --format json`` in fresh processes (``store.cold``: wall time, CPU,
peak RSS from ``os.wait4``) for a few accounts spread over the extract (first, middle,
last), ``--repeat`` times each, on:

- the CSV extract streamed (``--no-index``: the time grows with the extract);
- the CSV extract read by its index (a few lines per table);
- the converted Parquet extract (row groups: only those that may hold the account);
- the 202-account sample ``examples/extract`` (CSV).

Every run's JSON is compared with the CSV run's for the same account (they must be equal).
Medians are printed as a Markdown table (and written as JSON with ``--json``). Nothing here
asserts a time: the figures are for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
sys.path.insert(0, str(HERE))

from store import cold  # noqa: E402

ON = "2026-11-21"


def _deprules(*args) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    t = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "cli.py"), *map(str, args)], check=True, env=env,
                   stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - t


def _index_fresh(csv: Path) -> bool:
    sys.path.insert(0, str(ROOT / "src"))
    from deprules.extract.cells import max_rows
    from deprules.extract.csvindex import CsvIndex, IndexUnusable, usable_entry
    from deprules.extract.files import TableFile, max_bytes

    try:
        index = CsvIndex(csv / "deprules.index")
    except IndexUnusable:
        return False
    try:
        return all(usable_entry(index, TableFile(f.stem, f, "csv"), (max_rows(), max_bytes()))[0]
                   for f in csv.glob("*.csv"))
    finally:
        index.close()


def extracts(accounts: int, seed: int) -> tuple[Path, Path, dict]:
    """The cached CSV extract (with an up-to-date index) and its Parquet conversion (made
    on first use, timed)."""
    csv = CACHE / f"evaluate-{accounts}-{seed}-csv"
    parquet = CACHE / f"evaluate-{accounts}-{seed}-parquet"
    made = {}
    if not (csv / "service_agreements.csv").exists():
        made["generate_csv_s"] = _deprules("extract", "generate", "--accounts", accounts,
                                           "--seed", seed, "--out", csv, "--file-format", "csv")
    if not (csv / "deprules.index").exists() or not _index_fresh(csv):
        made["index_s"] = _deprules("extract", "index", csv)
    if not (parquet / "service_agreements.parquet").exists():
        made["convert_s"] = _deprules("extract", "convert", "--extract", csv, "--out", parquet)
    return csv, parquet, made


def _evaluate(account: str, folder: Path, out: Path, *extra) -> dict:
    return cold(["evaluate", account, "--extract", folder, "--as-of", ON, "--format", "json",
                 *extra], stdout=out)


def measure(accounts: int, seed: int, repeat: int) -> dict:
    csv, parquet, made = extracts(accounts, seed)
    ids = [f"A{i:0{max(7, len(str(accounts)))}d}" for i in (1, accounts // 2, accounts)]
    sample = ROOT / "examples" / "extract"
    cases = {"csv, streamed (--no-index)": (csv, ids, ["--no-index"]),
             "csv, by its index (deprules.index)": (csv, ids, []),
             "parquet (converted)": (parquet, ids, []),
             "sample (examples/extract, CSV)": (sample, ["A0000004", "A0000100", "A0000200"], [])}
    work = CACHE / "evaluate-out"
    work.mkdir(parents=True, exist_ok=True)
    result = {}
    reference: dict[str, str] = {}
    for name, (folder, accs, extra) in cases.items():
        runs = []
        for _ in range(repeat):
            for acc in accs:
                out = work / f"{acc}.json"
                runs.append(_evaluate(acc, folder, out, *extra))
                text = out.read_text()
                if folder != sample:  # the same document streamed, by index, from Parquet
                    assert reference.setdefault(acc, text) == text, (name, acc)
        result[name] = {"folder": str(folder), "accounts": accs,
                        "runs": len(runs),
                        **{k: statistics.median(r[k] for r in runs) for k in ("wall", "cpu",
                                                                             "rss_mib")},
                        "wall_max": max(r["wall"] for r in runs)}
    sizes = {f.name: f.stat().st_size for f in sorted(parquet.iterdir())}
    return {"accounts": accounts, "seed": seed, "made": made, "cases": result,
            "parquet_bytes": sizes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3, help="runs per account (3 accounts)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    data = measure(args.accounts, args.seed, args.repeat)
    data["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    data["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                       "platform": platform.platform()}
    print(f"deprules evaluate, cold, {args.accounts:,} accounts (seed {args.seed}); load "
          f"average {data['load_average'][0]} before, {data['load_average'][1]} after")
    if data["made"]:
        print("made: " + ", ".join(f"{k} {v:.1f} s" for k, v in data["made"].items()))
    print("\n| extract | runs | wall (median) | wall (max) | CPU | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in data["cases"].items():
        print(f"| {name} | {r['runs']} | {r['wall']:.2f} s | {r['wall_max']:.2f} s | "
              f"{r['cpu']:.2f} s | {r['rss_mib']:.0f} MiB |")
    if args.json:
        args.json.write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
