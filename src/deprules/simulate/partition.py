"""Accounts are independent: slice the extract into partitions by sorted account id, run
each partition (baseline and candidate, every process date) in a worker, merge in
partition order.

A partition travels as its own slice of the four extract tables (pickled once, to one
worker); the two configurations travel once per worker process (the pool's initializer,
or one broadcast ``scatter`` on Dask), so nothing large is pickled repeatedly.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from ..errors import DeprulesError, InputError
from ..extract import Extract
from ..workspace import Setup
from .explain import explain_difference
from .outcomes import CATEGORIES, AccountSimulator, Money, deposit_class_of

Progress = Callable[[int], None]  # called with a number of accounts just finished


class SimulationError(DeprulesError):
    """A worker process failed (killed, out of memory) or the cluster could not be used."""

    exit_code = 1


@dataclass(frozen=True)
class Job:
    """Everything a worker needs besides its slice of the extract."""

    baseline: Setup
    candidate: Setup | None
    dates: tuple[date, ...]
    backend: str  # rules engine: python | durable
    run_id: str


@dataclass(frozen=True)
class AccountRow:
    account_id: str
    customer_class: str
    outcome_baseline: str
    outcome_candidate: str | None
    money_baseline: Money
    money_candidate: Money | None
    rule_baseline: str
    rule_candidate: str | None
    changed: bool
    reason: str
    deposit_class: str = "none"  # outcomes.deposit_class_of its cash deposit SAs


@dataclass
class MonthTotals:
    """One process date, one configuration: outcomes at the end of it, money moved in it."""

    outcomes: dict[str, int] = field(default_factory=dict)
    money: list[int] = field(default_factory=lambda: [0] * len(CATEGORIES))

    def add(self, outcome: str, money: Money) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        for i, v in enumerate(money):
            self.money[i] += v

    def merge(self, other: "MonthTotals") -> None:
        for k, n in other.outcomes.items():
            self.outcomes[k] = self.outcomes.get(k, 0) + n
        for i, v in enumerate(other.money):
            self.money[i] += v


@dataclass
class PartitionResult:
    index: int
    rows: list[AccountRow]
    # per process date: {"baseline": MonthTotals, "candidate": MonthTotals}
    months: list[dict[str, MonthTotals]]


# ---- slicing ---------------------------------------------------------------------------
def partition_size(accounts: int, requested: int, workers: int) -> int:
    """At most ``requested`` accounts per partition, and at least four partitions per
    worker when there are several, so every worker has work and the progress bar moves."""
    if workers > 1 and accounts:
        return max(1, min(requested, math.ceil(accounts / (4 * workers))))
    return max(1, requested)


def _sorted(frame, keys: list[str]):
    """``frame`` sorted by ``keys`` (stable); as it is when already in that order, as
    extracts usually are (``extract generate`` and ``extract convert`` write them so):
    checking costs one comparison per row, sorting 2.4 million SAs by text seconds."""
    if len(frame) < 2 or _in_order([_arrow_col(frame[k]) for k in keys]):
        return frame
    return frame.sort_values(keys, kind="stable")


def _arrow_col(col):
    """A column as an Arrow array (Arrow-backed text without a copy)."""
    import pyarrow as pa

    if isinstance(col.dtype, pd.StringDtype) and col.dtype.storage == "pyarrow":
        arr = pa.array(col, type=pa.string(), from_pandas=True)
    elif col.dtype == object:
        arr = pa.array(col.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    else:
        arr = pa.array(col.to_numpy())
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _in_order(cols: list) -> bool:
    """Whether the rows are in (non-decreasing) order of ``cols`` (Arrow arrays; text in
    byte order, which is Python's code point order for UTF-8), the first most
    significant."""
    import pyarrow.compute as pc

    def np_(x):
        return x.to_numpy(zero_copy_only=False)

    n = len(cols[0])
    before = np.zeros(n - 1, bool)  # decided: an earlier column is smaller
    for col in cols:
        a, b = col.slice(0, n - 1), col.slice(1)
        if (~before & np_(pc.greater(a, b))).any():
            return False
        before |= np_(pc.less(a, b))
    return True


def _positions(values, keys) -> np.ndarray:
    """Position of each value in ``keys`` (Arrow arrays; -1 when absent)."""
    import pyarrow.compute as pc

    return pc.fill_null(pc.index_in(values, value_set=keys), -1).to_numpy(
        zero_copy_only=False).astype(np.int64)


def partitions(extract: Extract, size: int) -> Iterator[Extract]:
    """Slices of ``size`` accounts by sorted account id, each with its SAs, NCDs and FTs.

    Rows are matched to their account by position (Arrow's ``index_in`` once per table),
    not by Python strings: a million accounts cut without a Python object per row."""
    acc = _sorted(extract.accounts, ["account_id"]).reset_index(drop=True)
    acc_ids = _arrow_col(acc["account_id"])
    sas = _sorted(extract.service_agreements, ["account_id", "sa_id"]).reset_index(drop=True)
    ncd = _sorted(extract.non_cash_deposits, ["account_id", "ncd_id"]).reset_index(drop=True)
    sa_acct = _positions(_arrow_col(sas["account_id"]), acc_ids)
    ncd_acct = _positions(_arrow_col(ncd["account_id"]), acc_ids) if len(ncd) else \
        np.zeros(0, np.int64)
    ft = extract.financial_transactions
    if len(ft):
        row = _positions(_arrow_col(ft["sa_id"]), _arrow_col(sas["sa_id"]))
        owner = np.where(row >= 0, sa_acct[np.maximum(row, 0)], -1)
        ft = ft.assign(_account=owner)
        ft = _sorted(ft, ["_account", "ft_id"]).reset_index(drop=True)
        ft_acct = ft["_account"].to_numpy(np.int64)
    else:
        ft = ft.assign(_account=np.zeros(0, np.int64))
        ft_acct = np.zeros(0, np.int64)
    keys = {"sas": sa_acct, "ncd": ncd_acct, "ft": ft_acct}
    for lo in range(0, len(acc), size):
        hi = min(lo + size, len(acc))

        def cut(frame, k):
            a = np.searchsorted(keys[k], lo, side="left")
            b = np.searchsorted(keys[k], hi, side="left")
            return frame.iloc[a:b].reset_index(drop=True)

        yield replace(extract, accounts=acc.iloc[lo:hi].reset_index(drop=True),
                      service_agreements=cut(sas, "sas"), non_cash_deposits=cut(ncd, "ncd"),
                      financial_transactions=cut(ft, "ft").drop(columns=["_account"]))


# ---- the partition function (the same on every engine) ----------------------------------
def run_partition(job: Job, index: int, extract: Extract,
                  tick: Progress | None = None) -> PartitionResult:
    """Baseline and candidate cycles for every account of one slice, reduced to rows."""
    from ..ledger.tables import states_from_extract

    base_sim = AccountSimulator(job.baseline.book, job.backend, job.dates, job.run_id)
    cand_sim = (AccountSimulator(job.candidate.book, job.backend, job.dates, job.run_id)
                if job.candidate else None)
    states_b = states_from_extract(extract, job.baseline.config)
    states_c = states_from_extract(extract, job.candidate.config) if job.candidate else {}
    mu = job.baseline.config.installation.minor_units
    types = job.baseline.config.sa_types
    months = [{"baseline": MonthTotals(), "candidate": MonthTotals()} for _ in job.dates]
    rows: list[AccountRow] = []
    done = 0
    for aid in sorted(states_b):
        st = states_b.pop(aid)  # each state is dropped as soon as it is reduced
        cls = st.account.customer_class
        dc = deposit_class_of(types[s.sa_type].deposit_class for s in st.sas.values()
                              if types[s.sa_type].is_cash_deposit)
        ob, mb = base_sim.run(st)
        for k, m in enumerate(mb):
            months[k]["baseline"].add(m.outcome, m.money)
        if cand_sim is None:
            rows.append(AccountRow(aid, cls, ob.outcome, None, ob.money, None, ob.rule, None,
                                   False, "", dc))
        else:
            sc = states_c.pop(aid)
            classes = {sid: job.candidate.config.sa_types[s.sa_type].deposit_class
                       for sid, s in sc.sas.items()}
            oc, mc = cand_sim.run(sc)
            for k, m in enumerate(mc):
                months[k]["candidate"].add(m.outcome, m.money)
            changed = ob.outcome != oc.outcome or ob.money != oc.money
            reason = explain_difference(ob, oc, job.baseline.book, job.candidate.book, cls,
                                        classes, mu, job.dates) if changed else ""
            rows.append(AccountRow(aid, cls, ob.outcome, oc.outcome, ob.money, oc.money,
                                   ob.rule, oc.rule, changed, reason, dc))
        done += 1
        if tick is not None and done % 100 == 0:
            tick(100)
    if tick is not None and done % 100:
        tick(done % 100)
    return PartitionResult(index, rows, months)


# ---- engines -----------------------------------------------------------------------------
_WORKER_JOB: Job | None = None


def _init_worker(job: Job) -> None:
    global _WORKER_JOB
    _WORKER_JOB = job


def _run_in_worker(index: int, extract: Extract) -> PartitionResult:
    assert _WORKER_JOB is not None, "worker not initialised"
    return run_partition(_WORKER_JOB, index, extract)


def _mp_context():
    """forkserver where there is one (workers fork from a clean server that has imported
    deprules once), else spawn; never plain fork of a process that may hold threads."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        return ctx
    return multiprocessing.get_context("spawn")


def run_local(job: Job, parts: Iterator[Extract], workers: int,
              progress: Progress | None = None) -> list[PartitionResult]:
    """In this process for one worker; a pool of ``workers`` processes otherwise."""
    if workers <= 1:
        return [run_partition(job, i, p, progress) for i, p in enumerate(parts)]
    results: list[PartitionResult] = []
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context(),
                               initializer=_init_worker, initargs=(job,))
    try:
        sizes = {}
        for i, p in enumerate(parts):
            sizes[pool.submit(_run_in_worker, i, p)] = len(p.accounts)
        for f in as_completed(sizes):
            results.append(f.result())  # re-raises a worker's error (the rest is canceled)
            if progress is not None:
                progress(sizes[f])
    except BrokenProcessPool as exc:
        raise SimulationError(f"a worker process died ({exc}); try fewer --workers or a "
                              "smaller --partition-size") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return sorted(results, key=lambda r: r.index)


class dask_client:
    """A ``distributed.Client`` of the cluster at ``scheduler``, or of a new
    ``LocalCluster`` of ``workers`` single-threaded worker processes (closed on exit)."""

    def __init__(self, workers: int, scheduler: str | None):
        self.workers, self.scheduler = workers, scheduler
        self.cluster = self.client = None

    def __enter__(self):
        try:
            import distributed
        except ImportError:
            raise InputError("--engine dask needs dask[distributed]: pip install "
                             "'deprules[dask]' (or use --engine local)") from None
        try:
            if self.scheduler:
                self.client = distributed.Client(self.scheduler, timeout="10s")
            else:
                self.cluster = distributed.LocalCluster(
                    n_workers=max(1, self.workers), threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=logging.ERROR)
                self.client = distributed.Client(self.cluster)
        except (OSError, TimeoutError) as exc:
            if self.cluster is not None:
                self.cluster.close()
            raise InputError(f"cannot reach the Dask scheduler {self.scheduler or '(local)'}: "
                             f"{exc}") from None
        return self.client

    def __exit__(self, *exc) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def submit_partitions(client, fn, job: Job, parts: Iterator[Extract], progress, *args) -> list:
    """``fn(job, index, partition, *args)`` for every partition on the cluster: the job is
    scattered to every worker once, each partition to one worker with its task; the
    results in partition order (a task's error is raised)."""
    import distributed

    job_f = client.scatter(job, broadcast=True, hash=False)
    futures, sizes = [], {}
    for i, p in enumerate(parts):
        data = client.scatter(p, hash=False)
        f = client.submit(fn, job_f, i, data, *args, pure=False)
        futures.append(f)
        sizes[f.key] = len(p.accounts)
    for f in distributed.as_completed(futures):
        if f.status == "error":
            f.result()  # raise the worker's error
        if progress is not None:
            progress(sizes[f.key])
    return client.gather(futures)


def run_dask(job: Job, parts: Iterator[Extract], workers: int, scheduler: str | None,
             progress: Progress | None = None) -> list[PartitionResult]:
    """The same partition function on a Dask cluster: ``scheduler`` or a local cluster."""
    with dask_client(workers, scheduler) as client:
        results = submit_partitions(client, run_partition, job, parts, progress)
    return sorted(results, key=lambda r: r.index)
