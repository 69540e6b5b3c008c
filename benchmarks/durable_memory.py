"""Memory of the durable-rules back end over many accounts: it must stay flat.

Runs the automated cycle account by account on the reference engine (one session per
account and round, deleted afterwards) and prints the resident set size every N accounts.
The account states are generated one chunk at a time and dropped, so what is measured is
the engine and the runner, not the data.

    python benchmarks/durable_memory.py --accounts 100000 --every 10000
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    from deprules.extract import generate_extract
    from deprules.ledger.check import check_account
    from deprules.ledger.tables import states_from_extract
    from deprules.runner import Runner
    from deprules.workspace import load_setup

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--every", type=int, default=10_000)
    ap.add_argument("--backend", default="durable", choices=["durable", "python"])
    args = ap.parse_args()
    setup = load_setup(ROOT / "config", ROOT / "rules")
    runner = Runner(setup.book, backend=args.backend, run_id="bench")
    on = date(2026, 11, 21)
    done, problems, t0 = 0, 0, time.perf_counter()
    print(f"{'accounts':>9} {'seconds':>8} {'acc/s':>7} {'RSS MB':>7}")
    chunk = 0
    while done < args.accounts:
        n = min(args.every, args.accounts - done)
        states = states_from_extract(generate_extract(n, seed=1000 + chunk, as_of=on),
                                     setup.config)
        for st in states.values():
            runner.run_cycle(st, on)
            problems += len(check_account(st, setup.config))
        done += n
        chunk += 1
        del states
        el = time.perf_counter() - t0
        print(f"{done:>9} {el:>8.1f} {done / el:>7.0f} {rss_mb():>7.1f}", flush=True)
    print(f"invariant findings: {problems}")


if __name__ == "__main__":
    main()
