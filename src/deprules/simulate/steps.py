"""Wall and CPU seconds of each step of a ``simulate`` call, printed to standard error
with ``DEPRULES_SIMULATE_TIMINGS=1`` (benchmarks/simulate_steps.py reads them).

    with step("load"):
        extract = load_extract(...)

CPU is this process's (``time.process_time``; a forked child's own line says its CPU).
"""

from __future__ import annotations

import os
import resource
import sys
import time
from contextlib import contextmanager

ENV = "DEPRULES_SIMULATE_TIMINGS"


def enabled() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


@contextmanager
def step(name: str):
    if not enabled():
        yield
        return
    w, c = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"step {name} pid={os.getpid()} wall={time.perf_counter() - w:.3f} "
              f"cpu={time.process_time() - c:.3f} peak_rss_mib={rss:.0f}", file=sys.stderr,
              flush=True)
