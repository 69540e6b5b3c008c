"""CPU per evaluation of the decision service's fast path, in process (docs/performance.md,
"Decision service").

    nice .venv/bin/python benchmarks/serve_cpu.py                      # 5 runs of 2,000
    nice .venv/bin/python benchmarks/serve_cpu.py --runs 7 --iterations 3000 --engine durable

What ``POST /v1/evaluate`` does with a body once uvicorn has read it, without HTTP: the
body parsed (``service.parse_body``), ``Decider.evaluate`` (request checks, the rows read in
memory, the cycle, the document) and the answer encoded (``service.answer_bytes``, or
json.dumps where that does not exist: an older deprules run with PYTHONPATH), for the 202
accounts of examples/extract in turn. Each run prints the process CPU time (user + system)
per evaluation in microseconds; the last line the median and the fastest run, with the
load average. On a shared machine the CPU time per evaluation moves much less with the
load than wall time, but it still moves (caches, frequency): compare medians taken in turn.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve import bodies  # noqa: E402  (the benchmark's own request bodies)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--engine", default="python", choices=["python", "durable"])
    ap.add_argument("--as-of", default="2026-11-21")
    args = ap.parse_args()

    from deprules.api import Decider
    from deprules.service import parse_body

    try:
        from deprules.service import answer_bytes
    except ImportError:  # a deprules before it
        def answer_bytes(doc):
            return json.dumps(doc, separators=(",", ":"), default=str).encode()

    decider = Decider(ROOT / "config", ROOT / "rules", engine=args.engine)
    requests, _ = bodies(args.as_of)

    def call(raw: bytes) -> bytes:
        return answer_bytes(decider.evaluate(parse_body(raw)))

    for raw in requests:  # warm: compiled rules, caches
        call(raw)
    runs = []
    for k in range(args.runs):
        t0 = time.process_time()
        for i in range(args.iterations):
            call(requests[i % len(requests)])
        us = (time.process_time() - t0) / args.iterations * 1e6
        runs.append(us)
        print(json.dumps({"run": k + 1, "iterations": args.iterations, "engine": args.engine,
                          "cpu_us_per_evaluation": round(us, 1),
                          "load_average": [round(x, 2) for x in os.getloadavg()]}), flush=True)
    print(json.dumps({"median_us": round(statistics.median(runs), 1),
                      "fastest_us": round(min(runs), 1), "runs": args.runs,
                      "engine": args.engine,
                      "load_average": [round(x, 2) for x in os.getloadavg()]}))
    decider.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
