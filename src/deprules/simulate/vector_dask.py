"""``simulate(..., engine="dask")`` with the vector rules engine: account partitions on a
Dask cluster, each run set-at-a-time by ``vector_path.run_vector``.

Accounts are independent, and everything the vector back end numbers (adjustments, checks,
To Dos) is numbered per account, so an account gives the same row whichever accounts it
runs with. The extract is loaded and validated once (by ``simulate``), cut into slices of
accounts by sorted account id, each with every SA, non-cash deposit and FT of its
accounts (``partition.partitions``); every slice runs baseline and candidate over the
process dates on a worker, and the per-account tables are concatenated in partition order
(= account-id order, the order of one process) and the per-date totals summed.

**Workers read their own rows** (:func:`plan_rows`, :func:`run_vector_dask_rows`; a
Parquet extract, the default): the command does not load the extract. It reads only the
id columns (``account_id``, ``sa_id``, ``ncd_id``, ``ft_id``: a fraction of the bytes),
checks that every row belongs to exactly one account (ids present, unique, every SA's and
non-cash deposit's account and every FT's SA known) and gives each partition of accounts
its row positions in each file. A worker reads the row groups holding them
(``extract.load_rows``: the reader's own parsing and checks), sorts them as
``partition.partitions`` sorts a slice, and runs it. Any problem a worker or the plan
meets sends the command back to the whole load (``FullLoad``), which reports the
extract's problems as one process does; a clean extract gives the same partitions, so the
same bytes. The workers must see the extract at the same path (a shared filesystem);
``--ship-partitions`` loads it in the command and ships each partition instead.

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

from .impact import example_positions
from .partition import Job, MonthTotals, dask_client, partitions, submit_partitions

Progress = Callable[[int], None]

#: a partition has at least this many accounts (a vector cycle has fixed costs: a few
#: hundred numpy calls per round), unless --partition-size says otherwise
MIN_PARTITION = 20_000


def vector_partition_size(accounts: int, threads: int, per_thread: int = 2) -> int:
    """Two partitions per worker thread (one running while the next one travels), of at
    least :data:`MIN_PARTITION` accounts; ``per_thread`` 1 for workers that read their own
    rows (nothing travels, and a partition has fixed costs)."""
    return max(1, min(accounts, max(MIN_PARTITION,
                                    math.ceil(accounts / (per_thread * max(1, threads))))))


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
    from ..mallocopt import keep_freed_memory
    from .vector_path import run_vector

    keep_freed_memory()  # on the worker (docs/performance.md, "Freed memory kept")
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
    """The tables of partitions in account order, their per-date totals summed (the
    partitions' tables are emptied on the way: each column is freed once merged)."""
    table = _concat(tables) if len(tables) != 1 else tables[0]
    total = [{"baseline": MonthTotals(), "candidate": MonthTotals()} for _ in job.dates]
    for part in months:
        for k, m in enumerate(part):
            for side in ("baseline", "candidate"):
                total[k][side].merge(m[side])
    if job.candidate is not None and reasons == "examples" and len(tables) > 1:
        table = _example_reasons_only(table)
    return table, total


def _concat(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """``pd.concat(tables, ignore_index=True)`` a column at a time, each partition's column
    dropped once it is merged: at 10,000,000 accounts the merge then holds one table and
    one column, not two tables."""
    columns = list(tables[0].columns) if tables else []
    merged = {}
    for name in columns:
        merged[name] = np.concatenate([t[name].to_numpy() for t in tables])
        for t in tables:
            del t[name]
    # object columns stay object (as ``table.build`` makes them)
    return pd.DataFrame({k: pd.Series(v, dtype=v.dtype, copy=False) for k, v in merged.items()},
                        columns=columns)


def _example_reasons_only(table: pd.DataFrame) -> pd.DataFrame:
    """Blank the reason of every changed account but the examples impact.json shows over
    the whole table (``impact.example_positions``: the first ``EXAMPLES_PER_TRANSITION``
    of each transition, customer class and deposit class; ``vector_path._to_explain``)."""
    changed = table["changed"].to_numpy(bool)
    if not changed.any():
        return table
    keep = np.zeros(len(table), bool)
    keep[example_positions(table["outcome_baseline"].to_numpy(object),
                           table["outcome_candidate"].to_numpy(object),
                           table["customer_class"].to_numpy(object),
                           table["deposit_class"].to_numpy(object), changed)] = True
    reason = table["reason"].to_numpy(object).copy()
    reason[~keep] = ""
    # a new column on a shallow copy: the other columns are not copied
    return table.assign(reason=pd.Series(reason, index=table.index, dtype=object))


# ---- workers that read their own rows ------------------------------------------------------
class FullLoad(Exception):
    """The extract must be loaded whole by the command (a problem, or a layout the workers
    cannot read by rows): its problems are then reported as one process reports them."""


class RowsPlan:
    """Partitions of accounts as row positions of each table file (0-based, ascending)."""

    def __init__(self, folder, accounts: int, parts: list[dict[str, np.ndarray]],
                 sizes: list[int]):
        self.folder, self.accounts, self.parts, self.sizes = folder, accounts, parts, sizes


def _id_text(path, column: str, kind: str, mu: int):
    """A column of a Parquet file as the reader's trimmed text (None: it cannot be)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from ..extract.parquet_text import parquet_text

    schema = pq.read_schema(path)
    if schema.names.count(column) != 1:
        return None
    col = pq.read_table(path, columns=[column], use_threads=False).column(0)
    text, problem = parquet_text(col, kind, mu)
    if problem is not None:
        return None
    text = pc.utf8_trim_whitespace(pc.fill_null(text, ""))
    return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text


class _Keys:
    """A table's key column as the reader trims it, for look-ups: fixed-width ids (as ids
    usually are) as sortable numpy keys (``reader._fixed_bytes``), else Arrow hashing."""

    def __init__(self, text):
        from ..extract.reader import _fixed_bytes

        self.text = text
        fixed = _fixed_bytes(text) if len(text) else None
        self.keys, self.width = fixed if fixed is not None else (None, 0)
        self._order = self._sorted = None

    def _sort(self):
        if self._sorted is None:
            k = self.keys
            if len(k) < 2 or bool((k[1:] > k[:-1]).all()):
                self._order, self._sorted = None, k  # in order already, as usually written
            else:
                self._order = np.argsort(k, kind="stable")
                self._sorted = k[self._order]
        return self._sorted

    def unique(self) -> bool:
        """Every id present (not blank) and none twice."""
        import pyarrow.compute as pc

        if self.keys is not None:
            k = self._sort()
            return len(k) < 2 or not bool((k[1:] == k[:-1]).any())
        return len(self.text) == 0 or (not pc.any(pc.equal(self.text, "")).as_py()
                                       and pc.count_distinct(self.text).as_py() == len(self.text))

    def rank(self) -> np.ndarray:
        """Each row's place in id order (ids unique)."""
        import pyarrow.compute as pc

        n = len(self.text)
        if self.keys is not None:
            self._sort()
            if self._order is None:
                return np.arange(n)
            order = self._order
        else:
            order = pc.sort_indices(self.text).to_numpy()
        rank = np.empty(n, np.int64)
        rank[order] = np.arange(n)
        return rank

    def positions(self, values) -> np.ndarray | None:
        """The row of each of ``values`` in this column (ids unique); None when one is
        not there."""
        import pyarrow.compute as pc

        from ..extract.reader import _fixed_bytes

        if not len(values):
            return np.zeros(0, np.int64)
        fixed = _fixed_bytes(values) if self.keys is not None else None
        if fixed is not None:
            if fixed[1] != self.width:
                return None
            k, v = self._sort(), fixed[0]
            at = np.minimum(np.searchsorted(k, v), len(k) - 1)
            if not bool((k[at] == v).all()):
                return None
            return at if self._order is None else self._order[at]
        pos = pc.index_in(values, value_set=self.text)
        return None if pos.null_count else pos.to_numpy().astype(np.int64)


def parquet_files(folder) -> dict | None:
    """The table files of an extract whose tables are all Parquet (None: another one)."""
    from ..extract.cells import Report
    from ..extract.context import REQUIRED_TABLES
    from ..extract.files import locate_tables, present_tables

    if not folder.is_dir():
        return None
    report = Report()
    files = locate_tables(folder, report)
    if report.problems() or any(t not in files for t in REQUIRED_TABLES) or \
            set(files) != present_tables(folder) or \
            any(tf.fmt != "parquet" for tf in files.values()):
        return None  # the whole load reads (or refuses) it
    return files


def plan_rows(folder, ctx, threads: int, partition_size: int | None,
              per_thread: int = 2) -> RowsPlan | None:
    """The rows of each partition, from the id columns only; None when the extract is not
    all Parquet; :class:`FullLoad` when the ids say the extract has a problem."""
    from pathlib import Path

    import pyarrow.compute as pc

    from ..extract.context import TABLES

    folder = Path(folder).resolve()
    files = parquet_files(folder)
    if files is None:
        return None
    mu = ctx.minor_units
    kinds = {t: {c.name: c.kind for c in TABLES[t]} for t in TABLES}

    def ids(table, column):
        if table not in files:
            return None
        got = _id_text(files[table].path, column, kinds[table][column], mu)
        if got is None:
            raise FullLoad(f"{files[table].name}: column {column}")
        return got

    try:
        acc = _Keys(ids("accounts", "account_id"))
        if not acc.unique():
            raise FullLoad("accounts: account_id")
        n = len(acc.text)
        if n == 0:
            return None
        rank = acc.rank()  # each account's place in id order
        size = partition_size or vector_partition_size(n, threads, per_thread)
        owner: dict[str, np.ndarray] = {"accounts": rank}

        def of_accounts(table, column):
            pos = acc.positions(ids(table, column))
            if pos is None:
                raise FullLoad(f"{table}: {column}")  # an unknown account
            return rank[pos]

        sa_ids = _Keys(ids("service_agreements", "sa_id"))
        if not sa_ids.unique():
            raise FullLoad("service_agreements: sa_id")
        owner["service_agreements"] = of_accounts("service_agreements", "account_id")
        if "non_cash_deposits" in files:
            if not _Keys(ids("non_cash_deposits", "ncd_id")).unique():
                raise FullLoad("non_cash_deposits: ncd_id")
            owner["non_cash_deposits"] = of_accounts("non_cash_deposits", "account_id")
        if "financial_transactions" in files:
            if not _Keys(ids("financial_transactions", "ft_id")).unique():
                raise FullLoad("financial_transactions: ft_id")
            pos = sa_ids.positions(ids("financial_transactions", "sa_id"))
            if pos is None:
                raise FullLoad("financial_transactions: sa_id")  # an unknown SA
            owner["financial_transactions"] = owner["service_agreements"][pos]
    except (OSError, ValueError) as exc:  # unreadable: the whole load says what it is
        raise FullLoad(str(exc)) from None
    count = -(-n // size)
    parts: list[dict[str, np.ndarray]] = [{} for _ in range(count)]
    for table, places in owner.items():
        part = places // size
        order = np.argsort(part, kind="stable")  # rows of each partition, in file order
        cuts = np.searchsorted(part[order], np.arange(count + 1))
        for k in range(count):
            parts[k][table] = order[cuts[k]:cuts[k + 1]]
    sizes = [min(size, n - k * size) for k in range(count)]
    return RowsPlan(folder, n, parts, sizes)


def run_rows(job: Job, folder, rows: dict, reasons: str, fork: bool | None = False):
    """One partition from its rows (``RowsPlan.parts``): read and checked
    (``extract.load_rows``), sorted as ``partitions`` sorts a slice, run by
    ``run_vector`` (``fork``: its candidate in a second process). ``(table, months)``, or
    None when the rows have a problem (the whole load then reports it); OSError when the
    files cannot be read."""
    from ..extract.reader import load_rows
    from ..workspace import extract_context
    from .steps import step
    from .vector_path import run_vector

    with step("load_rows"):
        problems, extract = load_rows(folder, extract_context(job.baseline.config), rows,
                                      text="arrow")
    if problems:
        return None
    part = next(partitions(extract, max(1, len(extract.accounts))))
    return run_vector(job, part, None, reasons=reasons, fork=fork)


def _run_rows(job: Job, index: int, folder, rows: dict, reasons: str):
    """:func:`run_rows` on a Dask worker: ``(index, table, months)``; ``(index, None,
    message)`` when the files cannot be read, ``(index, None, None)`` on a problem."""
    from ..mallocopt import keep_freed_memory

    keep_freed_memory()  # on the worker (docs/performance.md, "Freed memory kept")
    try:
        done = run_rows(job, folder, rows, reasons)
    except OSError as exc:
        return index, None, f"cannot read the extract {folder}: {exc.strerror or exc}"
    if done is None:
        return index, None, None
    return index, *done


def run_vector_dask_rows(job: Job, plan: RowsPlan, client, progress: Progress | None = None,
                         reasons: str = "examples"):
    """``run_vector``'s table and per-date totals, each worker reading its own rows;
    :class:`FullLoad` when a worker found a problem."""
    import distributed

    from .partition import SimulationError

    job_f = client.scatter(job, broadcast=True, hash=False)
    futures = [client.submit(_run_rows, job_f, k, str(plan.folder), rows, reasons, pure=False)
               for k, rows in enumerate(plan.parts)]
    sizes = {f.key: n for f, n in zip(futures, plan.sizes)}
    results = []
    for f in distributed.as_completed(futures):
        index, table, months = f.result()  # raises a worker's error
        if table is None:
            for other in futures:
                other.cancel()
            if months is not None:
                raise SimulationError(f"a Dask worker {months}; the workers read the Parquet "
                                      "files themselves, at the same path: put the extract "
                                      "where every worker sees it, or use --ship-partitions")
            raise FullLoad(f"partition {index}")
        results.append((index, table, months))
        if progress is not None:
            progress(sizes[f.key])
    results.sort(key=lambda r: r[0])
    return merge(job, [r[1] for r in results], [r[2] for r in results], reasons)
