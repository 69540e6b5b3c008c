"""``run_cycle_frames`` over partitions of accounts on a Dask cluster, merged into the
result of one process.

Every frame of a :class:`VectorResult` is in account order first (``sas`` by (account,
sa_id); adjustments, checks, To Dos by (account, process, round, SA, action); the trace
and why-not by account, then as run), and every number in it (``adjustment_seq``,
``check_seq``, ``todo_seq``) is per account. So the frames of partitions cut by sorted
account id, concatenated in partition order, are the frames of one run: only the
categories of some categoricals (each partition lists those it saw, sorted) are put back
to their sorted union, and ``sa_rows`` positions are offset by the SAs of the partitions before.
``tests/test_simulate_vector.py`` checks exact frame equality with one process.

    from deprules.simulate.partition import dask_client
    with dask_client(workers=2, scheduler=None) as client:
        res = run_cycle_frames_dask(client, extract, book, date(2026, 11, 21))
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from .frames import VectorResult

FRAMES = ("sas", "adjustments", "checks", "todos", "trace", "why_not")


def _run(book, index: int, extract, on: date, explain):
    from .cycle import run_cycle_frames

    return index, run_cycle_frames(extract, book, on, explain=explain)


def run_cycle_frames_dask(client, extract, book, on: date, partition_size: int | None = None,
                          explain=()) -> VectorResult:
    """The cycle on ``on`` for every account of ``extract``, partitions on ``client``'s
    cluster (default: two per worker thread, of at least 20,000 accounts)."""
    from ..simulate.partition import partitions, submit_partitions
    from ..simulate.vector_dask import arrow_strings, vector_partition_size

    size = partition_size or vector_partition_size(len(extract.accounts),
                                                   sum(client.nthreads().values()))
    parts = (arrow_strings(p) for p in partitions(extract, size))
    results = submit_partitions(client, _run, book, parts, None, on, explain)
    return merge_results([r for _, r in sorted(results, key=lambda r: r[0])])


def merge_results(parts: list[VectorResult]) -> VectorResult:
    """One result from the results of partitions in account order."""
    if len(parts) == 1:
        return parts[0]
    frames = {}
    for name in FRAMES:
        got = [getattr(p, name) for p in parts]
        frames[name] = None if any(g is None for g in got) else _concat(got)
    offsets = np.cumsum([0] + [len(p.sas) for p in parts[:-1]])
    sa_rows = {}
    for key in parts[0].sa_rows:
        sa_rows[key] = np.concatenate([np.asarray(p.sa_rows[key], np.int64) + off
                                       for p, off in zip(parts, offsets)])
    rounds: dict = {}
    for p in parts:
        for k, v in p.rounds.items():
            rounds[k] = max(rounds.get(k, v), v) if isinstance(v, (int, np.integer)) else v
    return VectorResult(parts[0].on, frames["sas"], frames["adjustments"], frames["checks"],
                        frames["todos"], frames["trace"],
                        tuple(a for p in parts for a in p.fallback_accounts),
                        frames["why_not"], rounds, {}, sa_rows)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Row-wise, the empty frames left out (their columns are plain objects); a
    categorical column whose categories (those seen, sorted) differ between partitions
    takes their sorted union; fixed vocabularies (statuses) are the same everywhere."""
    full = [f for f in frames if len(f)] or frames[:1]
    if len(full) == 1:
        return full[0].reset_index(drop=True)
    out = {}
    for c in full[0].columns:
        cols = [f[c] for f in full]
        if isinstance(cols[0].dtype, pd.CategoricalDtype):
            lists = [col.cat.categories.tolist() for col in cols]
            if any(x != lists[0] for x in lists):  # categories seen (sorted) differ
                cats = sorted(set().union(*lists))
                cols = [col.cat.set_categories(cats) for col in cols]
        out[c] = pd.concat(cols, ignore_index=True)
    return pd.DataFrame(out)
