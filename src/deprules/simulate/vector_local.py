"""``simulate(..., rules_engine="vector", engine="local")`` on a large extract: partitions
of accounts, so that memory is bounded by a partition (one per process) and not by the
extract.

A Parquet extract is not loaded whole. As for Dask workers that read their own rows, the
id columns are read and checked over the whole extract (``vector_dask.plan_rows``: ids
present and unique, every SA's and non-cash deposit's account and every FT's SA known),
then each partition's rows are read from the row groups that hold them
(``extract.load_rows``, the reader's parsing and checks), sorted as
``partition.partitions`` sorts a slice and run by ``vector_path.run_vector``. Where a
second process may run (``forked.can_fork``), a forked child runs every second partition
and this process the others, each both configurations (both cores busy throughout, each
partition read once); otherwise all run in this process. The
per-account tables are concatenated in account order and the per-date totals summed
(``vector_dask.merge``). Accounts are independent and everything the vector back end
numbers is numbered per account, so the table and every file are byte-identical to the
whole-extract run. Any problem the ids or a partition's rows show makes ``simulate``
load the extract whole, which reports every problem exactly as before.

Any other extract (CSV) is loaded whole and then cut (``partition.partitions``): the
cycles' working memory is bounded by a partition, the loaded extract's is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .partition import Job, partitions
from .steps import step

Progress = Callable[[int], None]

#: from this many accounts the local vector path runs partitions of
#: :data:`PARTITION_ACCOUNTS` (below, the whole extract at once)
AUTO_MIN_ACCOUNTS = 400_000
#: accounts per partition when none is asked for (``--partition-size``)
PARTITION_ACCOUNTS = 250_000


def partition_accounts(accounts: int, partition_size: int | None) -> int | None:
    """The partition size for ``accounts`` accounts: ``partition_size`` when given,
    :data:`PARTITION_ACCOUNTS` from :data:`AUTO_MIN_ACCOUNTS` accounts; None for one
    partition (the whole extract at once)."""
    size = partition_size
    if size is None and accounts >= AUTO_MIN_ACCOUNTS:
        size = PARTITION_ACCOUNTS
    return size if size is not None and size < accounts else None


def parquet_accounts(extract_dir) -> int | None:
    """The accounts of an extract whose tables are all Parquet, from the footer of
    accounts.parquet (None: not all Parquet, or no readable footer)."""
    import pyarrow.parquet as pq

    from .vector_dask import parquet_files

    files = parquet_files(Path(extract_dir).resolve())
    if files is None:
        return None
    try:
        return pq.ParquetFile(files["accounts"].path).metadata.num_rows
    except Exception:  # noqa: BLE001 - the whole load says what is wrong with the file
        return None


def run_from_rows(job: Job, extract_dir, partition_size: int | None,
                  progress: Progress | None, on_start: Callable[[int], None] | None,
                  reasons: str):
    """``run_vector``'s table and per-date totals, partition by partition from the rows
    of a Parquet extract; None when the extract is to be loaded whole (not all Parquet,
    small enough for one partition, or a problem: the whole load reports it)."""
    from ..workspace import extract_context
    from .vector_dask import FullLoad, merge, plan_rows, run_rows

    n = parquet_accounts(extract_dir)
    size = None if n is None else partition_accounts(n, partition_size)
    if size is None:
        return None
    folder = Path(extract_dir).resolve()
    try:
        with step("plan_rows"):
            plan = plan_rows(folder, extract_context(job.baseline.config), 1, size)
    except FullLoad:
        return None
    if plan is None:
        return None
    if on_start is not None:
        on_start(plan.accounts)
    from .forked import Forked, can_fork

    def run(ks: list[int], fork: bool | None, report: bool) -> list | None:
        out = []
        for k in ks:
            rows, plan.parts[k] = plan.parts[k], {}  # its row positions are not needed again
            try:
                done = run_rows(job, folder, rows, reasons, fork=fork)
            except OSError:
                done = None
            if done is None:
                return None
            out.append(done)
            if report and progress is not None:
                progress(plan.sizes[k])
        return out

    ks = list(range(len(plan.parts)))
    if len(ks) >= 2 and can_fork():
        # a forked child runs every second partition, both configurations one after the
        # other, while this process runs the others (1,000,000 accounts: 19.5 s against
        # 23.3 s with the candidate forked beside each partition's baseline)
        child = Forked(lambda: run(ks[1::2], False, False),
                       what="the process running every second partition")
        try:
            mine = run(ks[0::2], False, True)
        except BaseException:
            child.cancel()
            raise
        if mine is None:  # the whole load reports the problem; the child's work is moot
            child.cancel()
            return None
        theirs = child.result()
        if theirs is None:
            return None
        if progress is not None:
            progress(sum(plan.sizes[k] for k in ks[1::2]))
        done = [None] * len(ks)
        done[0::2], done[1::2] = mine, theirs
    else:
        done = run(ks, None, True)
        if done is None:
            return None
    with step("merge"):
        return merge(job, [d[0] for d in done], [d[1] for d in done], reasons)


def run_slices(job: Job, extract, size: int, progress: Progress | None, reasons: str):
    """``run_vector``'s table and per-date totals for a loaded extract, cut into
    partitions of ``size`` accounts run one after the other."""
    from .vector_dask import merge
    from .vector_path import run_vector

    tables, months = [], []
    for part in partitions(extract, size):
        table, m = run_vector(job, part, progress, reasons=reasons)
        tables.append(table)
        months.append(m)
    with step("merge"):
        return merge(job, tables, months, reasons)
