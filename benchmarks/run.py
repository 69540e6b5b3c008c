"""Throughput of the automated cycle: the vector back end against the per-account runner
and against a bare vectorised pandas pass, from 10k to 1M accounts.

    .venv/bin/python benchmarks/run.py --accounts 10000,100000,1000000 --repeat 3

For each size it generates an extract (cached as Parquet under benchmarks/.cache/, which
is git-ignored), then measures in fresh subprocesses (so peak RSS is per measurement):

- ``flow``: the what-if path: load the extract (``load_extract``), prepare the columns
  once, run the baseline cycle and a candidate cycle (vector back end); peak RSS of all of
  it (``resource.getrusage``);
- ``bare``: a bare vectorised pandas pass over the same extract computing DEPRFND
  eligibility and REFUNDINT interest (the comparison baseline: what "just pandas" costs);
- ``runner``: the per-account runner (``Runner(backend="python")``) on a sample of
  accounts, extrapolated to the size;
- ``command``: the whole ``deprules simulate --extract ... --as-of ... --whatif
  examples/whatif --format json`` command as a user runs it (process start, imports,
  both configurations, load, both cycles, classification, impact), wall time and peak
  RSS of that process (``os.wait4``); the output is thrown away.

Medians of ``--repeat`` runs are printed as a table (and written as JSON with
``--json``). ``--profile`` prints a cProfile of one baseline cycle at the largest size.
Nothing here asserts a time: the figures are for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
ON = date(2026, 11, 21)
CANDIDATE = ["deposit_classes.RES.refund_criteria.hold_months=18"]


def _setup(sets=()):
    from deprules.workspace import load_setup

    return load_setup(ROOT / "config", ROOT / "rules", sets=list(sets))


class TreePeak:
    """The peak RSS (bytes) and CPU seconds of a process and its descendants (a command's
    worker processes), sampled every 0.2 s in a thread: ``ru_maxrss`` is one process's, and
    a child's CPU is lost once it exits. ``stop()`` when the process has ended."""

    def __init__(self, pid: int):
        import threading

        import psutil

        self.proc, self.rss, self.cpu = psutil.Process(pid), 0, 0.0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        import psutil

        while not self.done.wait(0.2):
            rss, cpu = 0, 0.0
            try:
                tree = [self.proc, *self.proc.children(recursive=True)]
            except psutil.Error:
                continue
            for p in tree:
                try:
                    rss += p.memory_info().rss
                    t = p.cpu_times()
                    cpu += t.user + t.system
                except psutil.Error:
                    pass
            self.rss, self.cpu = max(self.rss, rss), max(self.cpu, cpu)

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


def extract_dir(accounts: int, seed: int) -> Path:
    """The cached Parquet extract of this size (generated on first use)."""
    folder = CACHE / f"extract-{accounts}-{seed}"
    if not (folder / "service_agreements.parquet").exists():
        from deprules.extract import generate_extract, write_extract

        t = time.perf_counter()
        ex = generate_extract(accounts, seed=seed, as_of=ON)
        write_extract(ex, folder, fmt="parquet")
        print(f"  generated {accounts:,} accounts in {time.perf_counter() - t:.1f} s -> {folder}",
              file=sys.stderr)
    return folder


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _clock():
    return time.perf_counter(), time.process_time()


def _since(t) -> dict:
    return {"wall": time.perf_counter() - t[0], "cpu": time.process_time() - t[1]}


# ---- workers (each runs in its own process) --------------------------------------------
def worker_flow(folder: Path, candidate: list[str]) -> dict:
    from deprules.extract import load_extract
    from deprules.vector import VectorCycle, prepare
    from deprules.workspace import extract_context

    base, cand = _setup(), _setup(candidate)
    out = {}
    t = _clock()
    ex = load_extract(folder, extract_context(base.config))
    out["load"] = _since(t)
    out["rss_after_load_mib"] = _rss_mib()
    out["accounts"] = len(ex.accounts)
    out["sas"] = len(ex.service_agreements)
    t = _clock()
    prepared = prepare(ex, base.config)
    out["prepare"] = _since(t)
    out["rss_after_prepare_mib"] = _rss_mib()
    kept = []
    for name, setup in (("baseline", base), ("candidate", cand)):
        t = _clock()
        res = VectorCycle(ex, setup.book, prepared=prepared).run(ON)
        out[name] = _since(t)
        out[f"rss_after_{name}_mib"] = _rss_mib()
        kept.append(res)  # a what-if holds both results to compare them
        out[name + "_parts"] = res.timings
        out[name + "_counts"] = {k: len(v) for k, v in res.frames().items()}
        out[name + "_fallback"] = len(res.fallback_accounts)
    out["peak_rss_mib"] = _rss_mib()
    return out


def bare_join(ex, config):
    """The deposits with their account's fields, as one frame (what any pandas pass over an
    extract starts with)."""
    sas = ex.service_agreements
    cash = [c for c, t in config.sa_types.items() if t.is_cash_deposit]
    dep = sas.loc[sas["sa_type"].isin(cash), ["account_id", "sa_type", "status", "start_date",
                                              "payoff_balance", "last_interest_date"]]
    acc = ex.accounts[["account_id", "credit_rating", "do_not_refund"]]
    dep = dep.merge(acc, on="account_id", how="left")
    dep["deposit_class"] = dep["sa_type"].map(
        {c: t.deposit_class for c, t in config.sa_types.items()})
    return dep


def bare_compute(dep, config, on: date) -> dict:
    """DEPRFND eligibility (credit-rating customers held the class's months, calendar
    months without the month-end clamp) and REFUNDINT on a constant balance from the last
    interest date to the process date, split at the rate changes, rounded half-up. A
    yardstick, not a reference: no rules, no ledger, no fixed point."""
    import numpy as np

    start = dep["start_date"].to_numpy().astype("datetime64[D]")
    on_d = np.datetime64(on, "D")
    sm = start.astype("datetime64[M]")
    months = (np.datetime64(on, "M") - sm).astype(np.int64) - \
        ((start - sm.astype("datetime64[D]")).astype(np.int64) + 1 > on.day)
    hold = dep["deposit_class"].map(
        {c: d.hold_months or 10**6 for c, d in config.deposit_classes.items()}).to_numpy()
    eligible = ((dep["status"] == "active").to_numpy() & ~dep["do_not_refund"].to_numpy()
                & (months >= hold)
                & (dep["credit_rating"].to_numpy() >= config.installation.credit_rating_threshold))
    frm = dep["last_interest_date"].to_numpy().astype("datetime64[D]")
    balance = np.maximum(-dep["payoff_balance"].to_numpy(), 0)
    rates = config.deposit_classes["RES"].interest.rates
    edges = [np.datetime64(r.effective, "D") for r in rates] + [np.datetime64("2262-01-01")]
    num = np.zeros(len(dep), np.int64)
    for r, lo, hi in zip(rates, edges, edges[1:]):
        days = (np.minimum(on_d, hi) - np.maximum(frm, lo)).astype(np.int64)
        num += balance * np.maximum(days, 0) * int(r.annual_percent / 100 * 10**6)
    den = 365 * 10**6
    interest = np.where(eligible, (2 * num + den) // (2 * den), 0)
    return {"eligible": int(eligible.sum()), "interest": int(interest.sum())}


def worker_bare(folder: Path) -> dict:
    from deprules.extract import load_extract
    from deprules.workspace import extract_context

    base = _setup()
    ex = load_extract(folder, extract_context(base.config))
    t = _clock()
    dep = bare_join(ex, base.config)
    join = _since(t)
    t = _clock()
    got = bare_compute(dep, base.config, ON)
    compute = _since(t)
    return {"bare": {k: join[k] + compute[k] for k in join}, "bare_join": join,
            "bare_compute": compute, "bare_result": got, "peak_rss_mib": _rss_mib()}


def worker_runner(folder: Path, sample: int) -> dict:
    from deprules.extract import load_extract
    from deprules.ledger.tables import states_from_extract
    from deprules.runner import Runner
    from deprules.workspace import _subset, extract_context

    base = _setup()
    ex = load_extract(folder, extract_context(base.config))
    ids = sorted(ex.accounts["account_id"])[:sample]
    states = states_from_extract(_subset(ex, set(ids)), base.config)
    runner = Runner(base.book, backend="python")
    t = _clock()
    for aid in ids:
        runner.run_cycle(states[aid], ON)
    took = _since(t)
    return {"runner_sample": len(ids), "runner": took,
            "runner_per_account": {k: v / len(ids) for k, v in took.items()},
            "accounts": len(ex.accounts)}


def worker_profile(folder: Path, top: int) -> dict:
    import cProfile
    import io
    import pstats

    from deprules.extract import load_extract
    from deprules.vector import VectorCycle, prepare
    from deprules.workspace import extract_context

    base = _setup()
    ex = load_extract(folder, extract_context(base.config))
    prof = cProfile.Profile()
    prof.enable()
    prepared = prepare(ex, base.config)
    res = VectorCycle(ex, base.book, prepared=prepared).run(ON)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    return {"profile": buf.getvalue(), "timings": res.timings, "rounds": res.rounds}


def run_command(folder: Path, whatif: str) -> dict:
    """``deprules simulate`` over ``folder`` in a fresh process: wall seconds, peak RSS."""
    exe = Path(sys.executable).with_name("deprules")
    cmd = [str(exe) if exe.exists() else "deprules", "simulate", "--extract", str(folder),
           "--as-of", ON.isoformat(), "--whatif", whatif, "--format", "json"]
    t = time.perf_counter()
    with subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE) as proc:
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode:
        raise SystemExit(f"deprules simulate failed ({proc.returncode}):\n{err}")
    return {"command": {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime},
            "peak_rss_mib": usage.ru_maxrss / 1024}


def _spawn(kind: str, folder: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--folder",
           str(folder), "--sample", str(args.sample), "--candidate-set", *args.candidate]
    env = dict(os.environ, PYTHONHASHSEED="0")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"worker {kind} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- driver ---------------------------------------------------------------------------------
def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy
    import pandas
    import pyarrow

    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "pandas": pandas.__version__, "numpy": numpy.__version__,
            "pyarrow": pyarrow.__version__, "platform": platform.platform(),
            "loadavg_start": os.getloadavg()}


def median(runs: list[dict], *path) -> float:
    vals = []
    for r in runs:
        v = r
        for p in path:
            v = v[p]
        vals.append(v)
    return statistics.median(vals)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", default="10000,100000,1000000",
                    help="comma-separated extract sizes (accounts)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sample", type=int, default=5000,
                    help="accounts the per-account runner runs (extrapolated)")
    ap.add_argument("--candidate-set", dest="candidate", nargs="*", default=CANDIDATE,
                    help="--set overrides of the candidate configuration")
    ap.add_argument("--json", help="write all measurements to this file")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="print the N most expensive functions of one baseline cycle")
    ap.add_argument("--skip-runner", action="store_true")
    ap.add_argument("--skip-command", action="store_true",
                    help="do not time the whole deprules simulate command")
    ap.add_argument("--whatif", default="examples/whatif",
                    help="the candidate of the timed deprules simulate command")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        folder = Path(args.folder)
        out = {"flow": lambda: worker_flow(folder, args.candidate),
               "bare": lambda: worker_bare(folder),
               "runner": lambda: worker_runner(folder, args.sample),
               "profile": lambda: worker_profile(folder, args.profile or 30)}[args.worker]()
        print(json.dumps(out))
        return 0

    sizes = [int(x) for x in args.accounts.split(",") if x]
    info = machine()
    print(f"machine: {info['nproc']} CPUs, {info['cpu']}; Python {info['python']}, pandas "
          f"{info['pandas']}, numpy {info['numpy']}, pyarrow {info['pyarrow']}; "
          f"load average at start {info['loadavg_start'][0]:.2f}")
    print(f"candidate: {' '.join(args.candidate)}; medians of {args.repeat} runs; "
          f"wall seconds (cpu seconds)")
    results = {"machine": info, "sizes": {}}
    for n in sizes:
        folder = extract_dir(n, args.seed)
        flows = [_spawn("flow", folder, args) for _ in range(args.repeat)]
        bares = [_spawn("bare", folder, args) for _ in range(args.repeat)]
        runners = [] if args.skip_runner else [_spawn("runner", folder, args)
                                               for _ in range(args.repeat)]
        commands = [] if args.skip_command else [run_command(folder, args.whatif)
                                                 for _ in range(args.repeat)]
        results["sizes"][n] = {"flow": flows, "bare": bares, "runner": runners,
                               "command": commands}
        _report(n, flows, bares, runners, commands)
    if not args.skip_command:
        # the fixed cost of the command (start-up, imports, both configurations, writing
        # the impact) measured on a tiny extract; the rest is what the accounts cost
        tiny = [run_command(extract_dir(100, args.seed), args.whatif)
                for _ in range(args.repeat)]
        fixed = median(tiny, "command", "wall")
        results["command_fixed"] = tiny
        print(f"\ndeprules simulate --whatif {args.whatif} (whole command, median of "
              f"{args.repeat}; fixed cost {fixed:.2f} s, measured on 100 accounts):")
        print(f"  {'accounts':>10} {'wall s':>8} {'us/account':>11} {'beyond fixed':>13} "
              f"{'peak MiB':>9}")
        for n, r in results["sizes"].items():
            wall = median(r["command"], "command", "wall")
            print(f"  {n:>10,} {wall:8.2f} {wall / n * 1e6:11.1f} "
                  f"{(wall - fixed) / n * 1e6:10.1f} us {median(r['command'], 'peak_rss_mib'):9.0f}")
    results["machine"]["loadavg_end"] = os.getloadavg()
    if args.profile:
        prof = _spawn("profile", extract_dir(sizes[-1], args.seed), args)
        print(f"\nprofile of prepare + one baseline cycle at {sizes[-1]:,} accounts "
              f"(timings {prof['timings']}, rounds {prof['rounds']}):")
        print(prof["profile"])
        results["profile"] = prof
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


def _fmt(runs, key) -> str:
    return f"{median(runs, key, 'wall'):8.2f} ({median(runs, key, 'cpu'):6.2f})"


def _report(n: int, flows, bares, runners, commands=()) -> None:
    sas = flows[0]["sas"]
    base = median(flows, "baseline", "wall")
    bare = median(bares, "bare", "wall")
    print(f"\n{n:,} accounts ({sas:,} SAs)")
    print(f"  load_extract        {_fmt(flows, 'load')}")
    print(f"  prepare (once)      {_fmt(flows, 'prepare')}")
    print(f"  baseline cycle      {_fmt(flows, 'baseline')}   "
          f"{n / base:,.0f} accounts/s, {base / n * 1e6:.1f} us/account")
    print(f"  candidate cycle     {_fmt(flows, 'candidate')}")
    total = sum(median(flows, k, "wall") for k in ("load", "prepare", "baseline", "candidate"))
    print(f"  what-if total       {total:8.2f}   (load + prepare + baseline + candidate)")
    comp = median(bares, "bare_compute", "wall")
    print(f"  bare pandas pass    {_fmt(bares, 'bare')}   = join {_fmt(bares, 'bare_join')} + "
          f"compute {_fmt(bares, 'bare_compute')}")
    print(f"  baseline / bare     {base / bare:8.1f} x the whole bare pass, {base / comp:.1f} x "
          f"its compute part")
    if runners:
        per = median(runners, "runner_per_account", "wall")
        print(f"  per-account runner  {per * n:8.2f}   extrapolated from "
              f"{runners[0]['runner_sample']:,} accounts: {1 / per:,.0f} accounts/s; vector is "
              f"{per * n / base:,.0f} x faster")
    print(f"  peak RSS            {median(flows, 'peak_rss_mib'):8.0f} MiB (what-if flow: "
          f"{median(flows, 'rss_after_load_mib'):.0f} after load, "
          f"{median(flows, 'rss_after_prepare_mib'):.0f} after prepare, "
          f"{median(flows, 'rss_after_baseline_mib'):.0f} after baseline), "
          f"{median(bares, 'peak_rss_mib'):.0f} MiB (bare pass)")
    if commands:
        wall = median(commands, "command", "wall")
        print(f"  deprules simulate   {_fmt(commands, 'command')}   whole command: "
              f"{wall / n * 1e6:.1f} us/account, peak {median(commands, 'peak_rss_mib'):.0f} "
              f"MiB")
    parts = flows[0]["baseline_parts"]
    print(f"  baseline split      rules {parts['rules']:.2f} s, frames {parts['frames']:.2f} s, "
          f"fallback {parts['fallback']:.2f} s ({flows[0]['baseline_fallback']} accounts)")


if __name__ == "__main__":
    sys.exit(main())
