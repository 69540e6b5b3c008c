"""Soak: the whole refund cycle over a large generated extract, then every invariant.

    python benchmarks/soak.py --accounts 1000000 [--workers 2] [--engine python|durable]
    python benchmarks/soak.py --accounts 100000 --mode store

``--mode workers`` (default): generates the extract, writes it (Parquet by default) and
loads it back through the validating reader, then splits the accounts into contiguous
chunks that worker processes (forked, so the loaded tables are shared) turn into account
states, run the cycle on, check every ledger invariant of, and run the cycle a second time
on a sample of (which must change nothing). The parent adds up what happened.

``--mode store``: the path a user takes, with the real commands in child processes:
``deprules ledger init``, ``deprules run cycle``, ``deprules ledger check`` on a store.

Prints each phase's wall time and the peak resident memory of the parent and of the
largest child, the rules fired, money moved by category, and the invariant findings,
which must be 0 (the exit code is 1 otherwise). ``--json FILE`` also writes the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

ON = date(2026, 11, 21)
_SHARED: dict = {}  # set in the parent before the workers fork


def peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KB on Linux


def cpu_seconds() -> dict[str, float]:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"parent": me.ru_utime + me.ru_stime, "children": kids.ru_utime + kids.ru_stime}


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(line.split()[1]) // 1024 ** 2 for line in
                   Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem = 0
    return f"{os.cpu_count()} x {cpu}, {mem} GB RAM, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


class Phases:
    def __init__(self):
        self.times: dict[str, float] = {}
        self._t = time.monotonic()

    def done(self, name: str) -> None:
        now = time.monotonic()
        self.times[name] = round(now - self._t, 1)
        self._t = now
        print(f"  {name:<28} {self.times[name]:>8.1f} s   (parent peak RSS "
              f"{peak_rss_mb(resource.RUSAGE_SELF):,.0f} MB)", flush=True)


# --------------------------------------------------------------------------- workers mode


def _chunk(bounds: tuple[int, int]) -> dict:
    """Run the cycle and the checks for accounts [lo, hi) of the sorted extract."""
    from deprules.extract import Extract
    from deprules.ledger.check import EXTERNAL, check_account
    from deprules.ledger.tables import states_from_extract
    from deprules.runner import Runner

    lo, hi = bounds
    ex, cuts, setup, engine, sample = (_SHARED[k] for k in
                                       ("extract", "cuts", "setup", "engine", "sample"))
    part = Extract(
        accounts=ex.accounts.iloc[lo:hi],
        service_agreements=ex.service_agreements.iloc[cuts["sa"][lo]:cuts["sa"][hi]],
        non_cash_deposits=ex.non_cash_deposits.iloc[cuts["ncd"][lo]:cuts["ncd"][hi]],
        financial_transactions=ex.financial_transactions.iloc[cuts["ft"][lo]:cuts["ft"][hi]])
    started = time.monotonic()
    states = states_from_extract(part, setup.config)
    runner = Runner(setup.book, backend=engine, run_id="soak", user="batch")
    out = {"accounts": 0, "changed": 0, "rules": Counter(), "money": Counter(), "checks": 0,
           "todos": Counter(), "findings": 0, "examples": [], "rerun": 0, "rerun_changed": 0,
           "digest": []}
    for aid in sorted(states):
        st = states[aid]
        before_total = sum(s.payoff_balance for s in st.sas.values())
        run = runner.run_cycle(st, ON)
        out["accounts"] += 1
        out["changed"] += bool(run.trace)
        for t in run.trace:
            out["rules"][t.rule] += 1
        for a in st.adjustments:
            if a.category != "transfer" or a.amount > 0:
                out["money"][a.category] += a.amount
        out["checks"] += len(st.checks)
        for t in st.todos:
            out["todos"][t.todo_type] += 1
        problems = check_account(st, setup.config)
        # money conservation once more, independently of the checker
        categories = {a.adjustment_id: a.category for a in st.adjustments}
        moved = sum(s.payoff_balance for s in st.sas.values()) - before_total
        external = sum(f.payoff_amount for f in st.fts
                       if categories.get(f.source_id) in EXTERNAL)
        if moved != external:
            problems.append(f"{aid}: payoff moved {moved}, money in or out {external}")
        out["findings"] += len(problems)
        out["examples"].extend(problems[: max(0, 5 - len(out["examples"]))])
        if sample and zlib.crc32(aid.encode()) % sample == 0:  # idempotency on a sample: a second run is a no-op
            n = len(st.journal)
            again = runner.run_cycle(st, ON)
            out["rerun"] += 1
            if again.trace or len(st.journal) != n:
                out["rerun_changed"] += 1
        # what the account ended as, in 8 bytes; the parent hashes them in account order,
        # so the digest does not depend on how the accounts were split among workers
        h = hashlib.blake2b(digest_size=8)
        h.update(f"{aid}|{len(st.journal)}|{len(st.adjustments)}|{len(st.checks)}|".encode())
        h.update("|".join(f"{s.sa_id}:{s.status}:{s.payoff_balance}:{s.current_balance}"
                          for s in st.sas.values()).encode())
        out["digest"].append(h.digest())
    out["digest"] = b"".join(out["digest"])
    out["seconds"] = time.monotonic() - started
    return out


def run_workers(args, ph: Phases) -> dict:
    import multiprocessing as mp

    import numpy as np

    from deprules.extract import generate_extract, load_extract, write_extract
    from deprules.workspace import extract_context, load_setup

    setup = load_setup(ROOT / "config", ROOT / "rules")
    work = Path(args.work or tempfile.mkdtemp(prefix="deprules-soak-"))
    extract_dir = work / "extract"
    generated = generate_extract(args.accounts, args.seed, as_of=ON)
    sizes = {t: len(df) for t, df in generated.tables().items()}
    ph.done("generate")
    write_extract(generated, extract_dir, args.format)
    del generated
    disk = sum(p.stat().st_size for p in extract_dir.iterdir())
    ph.done(f"write ({args.format}, {disk / 1e6:,.0f} MB)")
    ex = load_extract(extract_dir, extract_context(setup.config))
    ph.done("load and validate")

    # sort every table by account so a chunk of accounts is a slice of each
    acc = ex.accounts.sort_values("account_id", kind="stable").reset_index(drop=True)
    sa = ex.service_agreements.sort_values(["account_id", "sa_id"], kind="stable")
    sa = sa.reset_index(drop=True)
    import pandas as pd

    owner = pd.Series(sa["account_id"].to_numpy(), index=sa["sa_id"].to_numpy())
    ft = ex.financial_transactions
    ft = ft.assign(_acct=ft["sa_id"].map(owner)).sort_values(["_acct", "ft_id"], kind="stable")
    ncd = ex.non_cash_deposits.sort_values(["account_id", "ncd_id"], kind="stable")
    ids = acc["account_id"].to_numpy(dtype=object)
    ids_str = ids.astype(str)

    def cuts_of(keys) -> np.ndarray:
        keys = np.asarray(keys, dtype=str)
        return np.searchsorted(keys, np.append(ids_str, "\U0010ffff"), side="left")

    cuts = {"sa": cuts_of(sa["account_id"]), "ncd": cuts_of(ncd["account_id"]),
            "ft": cuts_of(ft["_acct"])}
    ex.accounts, ex.service_agreements = acc, sa
    ex.non_cash_deposits = ncd.reset_index(drop=True)
    ex.financial_transactions = ft.drop(columns="_acct").reset_index(drop=True)
    _SHARED.update(extract=ex, cuts=cuts, setup=setup, engine=args.engine, sample=args.sample)
    n = len(acc)
    bounds = [(lo, min(lo + args.chunk, n)) for lo in range(0, n, args.chunk)]
    ph.done("partition")

    total = {"accounts": 0, "changed": 0, "rules": Counter(), "money": Counter(), "checks": 0,
             "todos": Counter(), "findings": 0, "examples": [], "rerun": 0, "rerun_changed": 0}
    digest = hashlib.sha256()
    done_accounts = 0
    started = time.monotonic()
    with mp.get_context("fork").Pool(args.workers) as pool:
        for r in pool.imap(_chunk, bounds):  # in order: the digest is deterministic
            for k in ("accounts", "changed", "checks", "findings", "rerun", "rerun_changed"):
                total[k] += r[k]
            for k in ("rules", "money", "todos"):
                total[k].update(r[k])
            total["examples"].extend(r["examples"][: max(0, 10 - len(total["examples"]))])
            digest.update(r["digest"])
            done_accounts += r["accounts"]
            if done_accounts % (args.chunk * 5) == 0 or done_accounts == n:
                rate = done_accounts / (time.monotonic() - started)
                print(f"    {done_accounts:>10,} accounts  {rate:,.0f}/s  eta "
                      f"{(n - done_accounts) / rate / 60:,.1f} min", flush=True)
    ph.done(f"cycle + ledger check ({args.workers} workers)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    total["digest"] = digest.hexdigest()
    total["table_rows"] = sizes
    return total


# --------------------------------------------------------------------------- store mode


def run_store(args, ph: Phases) -> dict:
    work = Path(args.work or tempfile.mkdtemp(prefix="deprules-soak-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cli = [sys.executable, str(ROOT / "cli.py")]
    peaks = {}

    def step(name, *argv):
        started = time.monotonic()
        proc = subprocess.run([*cli, *map(str, argv)], cwd=ROOT, env=env, capture_output=True,
                              text=True)
        peaks[name] = peak_rss_mb(resource.RUSAGE_CHILDREN)
        if proc.returncode not in (0, 1):
            print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n")
            raise SystemExit(f"{name} failed with exit {proc.returncode}")
        ph.done(name)
        return proc, time.monotonic() - started

    step("extract generate", "extract", "generate", "--accounts", args.accounts, "--seed",
         args.seed, "--out", work / "extract", "--file-format", args.format)
    step("ledger init", "ledger", "init", "--extract", work / "extract", "--store",
         work / "store")
    run, _ = step("run cycle", "run", "cycle", "--store", work / "store", "--date", ON,
                  "--engine", args.engine, "--format", "json")
    check, _ = step("ledger check", "ledger", "check", "--store", work / "store", "--format",
                    "json")
    again, _ = step("run cycle again", "run", "cycle", "--store", work / "store", "--date", ON,
                    "--engine", args.engine, "--format", "json")
    summary = json.loads(run.stdout)
    checked = json.loads(check.stdout)
    rerun = json.loads(again.stdout)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return {"accounts": summary["accounts"], "changed": summary["accounts_changed"],
            "rules": Counter(summary["rules_fired"]), "money": summary["money_by_category"],
            "checks": summary["checks_requested"], "todos": Counter(summary["todos_created"]),
            "findings": len(checked["problems"]), "examples": checked["problems"][:10],
            "rerun": rerun["accounts"], "rerun_changed": rerun["accounts_changed"],
            "child_peak_rss_mb": peaks}


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--mode", choices=["workers", "store"], default="workers")
    ap.add_argument("--engine", choices=["durable", "python"], default="python",
                    help="rule matching back end (python: the bulk matcher; durable: the "
                         "reference engine, about three times slower)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--chunk", type=int, default=10_000, help="accounts per worker task")
    ap.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    ap.add_argument("--sample", type=int, default=100,
                    help="run the cycle twice on 1 account in N (0: never)")
    ap.add_argument("--work", help="working folder (default: a new temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the working folder")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()

    how = f"{args.workers} worker(s)" if args.mode == "workers" else "one command at a time"
    print(f"soak: {args.accounts:,} accounts, mode {args.mode}, engine {args.engine}, {how}\n"
          f"  on {machine()}", flush=True)
    ph = Phases()
    wall = time.monotonic()
    total = run_workers(args, ph) if args.mode == "workers" else run_store(args, ph)
    wall = time.monotonic() - wall
    mu = 2

    def money(x) -> str:
        if isinstance(x, str):
            return x
        sign = "-" if x < 0 else ""
        return f"{sign}{abs(x) // 10 ** mu:,}.{abs(x) % 10 ** mu:0{mu}d}"

    print(f"\n{total['accounts']:,} accounts, {total['changed']:,} changed, "
          f"{wall / 60:.1f} min wall, {total['accounts'] / wall:,.0f} accounts/s overall")
    for rule, n in sorted(total["rules"].items()):
        print(f"  {n:>10,}  {rule}")
    for cat, amount in sorted(total["money"].items()):
        print(f"  {cat:<22} {money(amount):>20}")
    print(f"  {'check requests':<22} {total['checks']:>20,}")
    for t, n in sorted(total["todos"].items()):
        print(f"  {'To Do ' + t:<22} {n:>20,}")
    print(f"peak RSS: parent {peak_rss_mb(resource.RUSAGE_SELF):,.0f} MB, largest child "
          f"{peak_rss_mb(resource.RUSAGE_CHILDREN):,.0f} MB")
    cpu = cpu_seconds()
    print(f"CPU time: parent {cpu['parent']:,.0f} s, children {cpu['children']:,.0f} s "
          f"({1000 * cpu['children'] / max(total['accounts'], 1):.2f} ms per account)")
    print(f"second run on the same date: {total['rerun_changed']} of {total['rerun']:,} "
          "accounts changed (must be 0)")
    print(f"ledger invariant findings: {total['findings']} (must be 0)")
    for e in total["examples"]:
        print(f"  {e}")
    if "digest" in total:
        print(f"result digest {total['digest'][:16]} (equal across runs: deterministic)")
    if args.json:
        doc = {"accounts": args.accounts, "mode": args.mode, "engine": args.engine,
               "workers": args.workers, "format": args.format, "machine": machine(),
               "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "phases_s": ph.times, "wall_s": round(wall, 1),
               "peak_rss_parent_mb": round(peak_rss_mb(resource.RUSAGE_SELF)),
               "peak_rss_child_mb": round(peak_rss_mb(resource.RUSAGE_CHILDREN)),
               "cpu_s": {k: round(v, 1) for k, v in cpu_seconds().items()},
               "load_average_at_end": os.getloadavg(),
               **{k: (dict(v) if isinstance(v, Counter) else v) for k, v in total.items()}}
        Path(args.json).write_text(json.dumps(doc, indent=2, default=str))
    ok = total["findings"] == 0 and total["rerun_changed"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
