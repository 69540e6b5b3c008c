"""``simulate(..., engine="dask")`` with the vector rules engine: account partitions on a
Dask cluster, each run set-at-a-time by ``vector_path.run_vector``.

Accounts are independent, and everything the vector back end numbers (adjustments, checks,
To Dos) is numbered per account, so an account gives the same row whichever accounts it
runs with. The extract is loaded and validated once (by ``simulate``), cut into slices of
accounts by sorted account id, each with every SA, non-cash deposit and FT of its
accounts (``partition.partitions``); every slice runs baseline and candidate over the
process dates on a worker, and the per-account tables are concatenated in partition order
(= account-id order, the order of one process) and the per-date totals summed.

One difference needs undoing: with ``reasons="examples"`` a partition works out the
reasons of *its* first examples of each transition; the merged table keeps only those of
the first examples over the whole extract, as one process would (the others are blanked),
so ``impact.json``, ``accounts.csv`` and ``accounts.parquet`` are byte-identical to a run
in one process (``tests/test_simulate_vector.py``).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd

from .impact import EXAMPLES_PER_TRANSITION, first_of_each
from .partition import Job, MonthTotals, dask_client, partitions, submit_partitions

Progress = Callable[[int], None]

#: a partition has at least this many accounts (a vector cycle has fixed costs: a few
#: hundred numpy calls per round), unless --partition-size says otherwise
MIN_PARTITION = 20_000


def vector_partition_size(accounts: int, threads: int) -> int:
    """Two partitions per worker thread (one running while the next one travels), of at
    least :data:`MIN_PARTITION` accounts."""
    return max(1, min(accounts, max(MIN_PARTITION, math.ceil(accounts / (2 * max(1, threads))))))


def arrow_strings(extract):
    """The extract with its text columns as Arrow-backed strings: a partition is pickled
    to its worker, and pickling Arrow buffers is about 10 times cheaper than a column of
    Python strings (both ways); the vector back end turns text into Arrow anyway."""
    from dataclasses import replace

    return replace(extract, **{
        name: frame.assign(**{c: frame[c].astype("string[pyarrow]") for c in frame.columns
                              if frame[c].dtype == object})
        for name, frame in extract.tables().items()})


def _run(job: Job, index: int, extract, reasons: str):
    from .vector_path import run_vector

    table, months = run_vector(job, extract, None, reasons=reasons, fork=False)
    return index, table, months


def run_vector_dask(job: Job, extract, workers: int, scheduler: str | None,
                    partition_size: int | None, progress: Progress | None = None,
                    reasons: str = "examples"):
    """``run_vector``'s table and per-date totals, computed on a Dask cluster."""
    n = len(extract.accounts)
    with dask_client(workers, scheduler) as client:
        threads = sum(client.nthreads().values())
        size = partition_size or vector_partition_size(n, threads)
        parts = (arrow_strings(p) for p in partitions(extract, size))
        results = submit_partitions(client, _run, job, parts, progress, reasons)
    results = sorted(results, key=lambda r: r[0])
    return merge(job, [r[1] for r in results], [r[2] for r in results], reasons)


def merge(job: Job, tables: list[pd.DataFrame], months: list[list[dict]], reasons: str):
    """The tables of partitions in account order, their per-date totals summed."""
    table = pd.concat(tables, ignore_index=True) if len(tables) != 1 else tables[0]
    total = [{"baseline": MonthTotals(), "candidate": MonthTotals()} for _ in job.dates]
    for part in months:
        for k, m in enumerate(part):
            for side in ("baseline", "candidate"):
                total[k][side].merge(m[side])
    if job.candidate is not None and reasons == "examples" and len(tables) > 1:
        table = _example_reasons_only(table)
    return table, total


def _example_reasons_only(table: pd.DataFrame) -> pd.DataFrame:
    """Blank the reason of every changed account but the first ``EXAMPLES_PER_TRANSITION``
    of each transition (``vector_path._to_explain`` over the whole table)."""
    idx = np.flatnonzero(table["changed"].to_numpy(bool))
    if not len(idx):
        return table
    ob = table["outcome_baseline"].to_numpy(object)[idx]
    oc = table["outcome_candidate"].to_numpy(object)[idx]
    codes, _ = pd.factorize(pd.Series(ob).astype(str) + "\x00" + pd.Series(oc).astype(str))
    keep = np.zeros(len(table), bool)
    keep[idx[first_of_each(np.asarray(codes, np.int64), EXAMPLES_PER_TRANSITION)]] = True
    reason = table["reason"].to_numpy(object).copy()
    reason[~keep] = ""
    table = table.copy()
    table["reason"] = pd.Series(reason, index=table.index, dtype=object)  # as tbl.build
    return table
