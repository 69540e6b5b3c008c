"""What-if simulation: the automated cycle for every account of an extract, under the
baseline configuration and a candidate (baseline + overlays / --set), in memory, with the
impact compared account by account.

    result = simulate("examples/extract", date(2026, 11, 21),
                      overlays=["examples/whatif"])
    print(result.text())
    result.write("out/demo")   # accounts.csv/.parquet, impact.json, report.html

The extract is never modified. The default rules engine, ``vector``, runs the whole
extract set-at-a-time in this process (``vector_path``), a large one in partitions of
accounts (``vector_local``: bounded memory; a Parquet extract's partitions shared with a
forked second process), or partitions of accounts
set-at-a-time on a Dask cluster (``engine="dask"``, ``vector_dask``). The per-account
engines (``python``, ``durable``) run accounts in partitions on worker processes
(``workers``) or on a Dask cluster. The impact is byte-identical whatever the rules engine,
workers, engine or partition size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from ..dates import add_months
from ..errors import InputError
from ..workspace import Setup, extract_context, load_setup
from .impact import build_impact, config_changes, rule_changes, impact_json, render_text
from .steps import step
from .outcomes import CATEGORIES, CATEGORY_LABELS, outcome_rank
from .partition import (
    AccountRow,
    Job,
    SimulationError,
    partition_size as _effective_size,
    partitions,
    run_dask,
    run_local,
)

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_PARTITION_SIZE = 5000
ENGINES = ("local", "dask")
RULES_ENGINES = ("vector", "python", "durable")
DEFAULT_RULES_ENGINE = "vector"


@dataclass
class SimulationResult:
    impact: dict  # what impact.json holds
    table: "pd.DataFrame"  # one row per account, sorted by account id (simulate.table)
    minor_units: int
    source: str = ""

    @cached_property
    def rows(self) -> list[AccountRow]:
        """The table as AccountRow objects (built on first use)."""
        from .table import to_rows

        return to_rows(self.table)

    def text(self) -> str:
        return render_text(self.impact, self.source)

    def json(self) -> str:
        return impact_json(self.impact)

    def write(self, out_dir: Path | str) -> list[Path]:
        """accounts.csv, accounts.parquet, impact.json and report.html under ``out_dir``."""
        from .files import write_outputs

        with step("write"):
            return write_outputs(self, Path(out_dir))


def process_dates(as_of: date, horizon: int | None) -> tuple[date, ...]:
    """``as_of`` and then monthly, each counted from ``as_of`` (month-end clamped)."""
    return tuple(add_months(as_of, k) for k in range(horizon or 1))


def simulate(extract_dir: Path | str, as_of: date, *,
             config_dir: Path | str = "config", rules_dir: Path | str = "rules",
             overlays: Iterable[Path | str] = (), sets: Iterable[str] = (),
             candidate_rules: Path | str | None = None,
             horizon: int | None = None, workers: int = 1, engine: str = "local",
             scheduler: str | None = None, partition_size: int | None = None,
             rules_engine: str | None = None,
             progress: Callable[[int], None] | None = None,
             on_start: Callable[[int], None] | None = None,
             reasons: str = "examples", ship_partitions: bool = False) -> SimulationResult:
    """Run baseline (and candidate, when overlays, sets or candidate rules are given) over
    an extract. ``candidate_rules``: a rules folder the candidate uses instead of
    ``rules_dir`` (a rule author's edited rules, with or without configuration changes).

    ``progress`` is called with the number of accounts just finished; ``on_start`` once
    with the number of accounts, before the runs begin. Raises ConfigError (a candidate
    problem points at the overlay file), ExtractError, InputError or SimulationError.

    ``rules_engine``: ``vector`` (the default; with ``engine="local"`` in this process,
    ``workers`` not used: the whole extract at once, or from
    ``vector_local.AUTO_MIN_ACCOUNTS`` accounts, or when ``partition_size`` is given,
    partitions of accounts, each read from the row groups of a Parquet extract and
    shared between this process and a forked one; with ``engine="dask"``
    partitions of accounts on the cluster, two per worker thread of at least 20,000
    accounts unless ``partition_size`` is given), ``python`` or ``durable`` (per account, in
    partitions of ``partition_size``, default 5,000). ``reasons`` (vector only):
    ``examples`` works out the ``reason`` of the accounts impact.json shows (the first
    ``EXAMPLES_PER_TRANSITION`` of each transition and class), ``all`` of every changed account; the
    impact is the same either way, only accounts.csv/.parquet's reason column differs.

    ``vector`` on ``dask`` with a Parquet extract: the workers read their partitions' rows
    themselves (the extract at the same path on every worker), unless ``ship_partitions``:
    then this process loads the extract and sends each partition (``vector_dask``).
    """
    from ..extract import load_extract

    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if reasons not in ("examples", "all"):
        raise InputError(f"unknown reasons {reasons!r}; expected examples or all")
    if rules_engine is None:
        rules_engine = DEFAULT_RULES_ENGINE
    if rules_engine not in RULES_ENGINES:
        raise InputError(f"unknown rules engine {rules_engine!r}; expected one of "
                         f"{', '.join(RULES_ENGINES)}")
    if horizon is not None and horizon < 1:
        raise InputError("--horizon is a number of months, 1 or more")
    if workers < 1 or (partition_size is not None and partition_size < 1):
        raise InputError("--workers and --partition-size must be 1 or more")
    overlays, sets = list(overlays), list(sets)
    baseline = load_setup(config_dir, rules_dir)
    candidate: Setup | None = None
    if overlays or sets or candidate_rules is not None:
        candidate = load_setup(config_dir, candidate_rules if candidate_rules is not None
                               else rules_dir, overlays, sets)
    dates = process_dates(as_of, horizon)
    job = Job(baseline, candidate, dates, rules_engine, f"simulate-{as_of.isoformat()}")
    same_context = candidate is None or extract_context(candidate.config) == extract_context(
        baseline.config)
    by_rows = rules_engine == "vector" and same_context and (
        engine == "local" or not ship_partitions)
    if by_rows:
        started: list[int] = []  # on_start is called once, whichever way runs
        first_start = on_start

        def on_start(n, first=first_start):
            if not started and first is not None:
                first(n)
            started.append(n)

        if engine == "dask":
            done = _dask_reading_rows(job, extract_dir, workers, scheduler, partition_size,
                                      progress, on_start, reasons)
        else:
            from .vector_local import run_from_rows

            done = run_from_rows(job, extract_dir, partition_size, progress, on_start,
                                 reasons)
        if done is not None:
            table, months = done
            with step("impact"):
                impact = _impact(table, months, as_of, dates, horizon, baseline, candidate,
                                 candidate_rules)
            return SimulationResult(impact, table, baseline.config.installation.minor_units,
                                    str(extract_dir))
    with step("load_extract"):
        # the vector engine reads text columns as Arrow arrays: no Python strings
        text = "arrow" if rules_engine == "vector" else "object"
        extract = load_extract(extract_dir, extract_context(baseline.config), text=text)
        if candidate is not None and extract_context(candidate.config) != extract_context(
                baseline.config):
            load_extract(extract_dir, extract_context(candidate.config))  # valid for both
    n = len(extract.accounts)
    if on_start is not None:
        on_start(n)
    if rules_engine == "vector" and engine == "dask":
        from .vector_dask import run_vector_dask

        table, months = run_vector_dask(job, extract, workers, scheduler, partition_size,
                                        progress, reasons=reasons)
    elif rules_engine == "vector":
        from .vector_local import partition_accounts, run_slices
        from .vector_path import run_vector

        size = partition_accounts(n, partition_size)
        if size is None:
            table, months = run_vector(job, extract, progress, reasons=reasons)
        else:  # the cycles' memory bounded by a partition
            table, months = run_slices(job, extract, size, progress, reasons)
    else:
        size = _effective_size(n, partition_size or DEFAULT_PARTITION_SIZE, workers)
        parts = partitions(extract, size)
        if engine == "dask":
            results = run_dask(job, parts, workers, scheduler, progress)
        else:
            results = run_local(job, parts, workers, progress)
        from .table import from_rows

        table = from_rows([row for r in results for row in r.rows], candidate is not None)
        months = [{"baseline": _empty(), "candidate": _empty()} for _ in dates]
        for r in results:
            for k, m in enumerate(r.months):
                for side in ("baseline", "candidate"):
                    months[k][side].merge(m[side])
    cfg = baseline.config
    with step("impact"):
        impact = _impact(table, months, as_of, dates, horizon, baseline, candidate,
                         candidate_rules)
    return SimulationResult(impact, table, cfg.installation.minor_units, str(extract_dir))


def _dask_reading_rows(job, extract_dir, workers, scheduler, partition_size, progress,
                       on_start, reasons):
    """``(table, months)`` with Dask workers that read their own rows of a Parquet
    extract; None when the command must load it whole (not all Parquet, or a problem:
    the whole load then reports it as one process does)."""
    from concurrent.futures import ThreadPoolExecutor

    from .partition import dask_client
    from .vector_dask import FullLoad, parquet_files, plan_rows, run_vector_dask_rows

    if parquet_files(Path(extract_dir).resolve()) is None:
        return None
    ctx = extract_context(job.baseline.config)
    cluster = dask_client(workers, scheduler)
    client = None
    with ThreadPoolExecutor(1) as starter:
        # a local cluster's processes start (seconds) while the id columns are read
        pending = starter.submit(cluster.__enter__) if scheduler is None else None
        try:
            if pending is None:
                client = cluster.__enter__()
                threads = sum(client.nthreads().values())
            else:
                threads = max(1, workers)  # single-threaded worker processes
            try:
                with step("plan_rows"):
                    plan = plan_rows(extract_dir, ctx, threads, partition_size, per_thread=1)
            finally:
                if pending is not None:
                    client = pending.result()  # raises when the cluster cannot start
            if plan is None:
                return None
            if on_start is not None:
                on_start(plan.accounts)
            return run_vector_dask_rows(job, plan, client, progress, reasons=reasons)
        except FullLoad:
            return None
        finally:
            if client is not None:
                cluster.__exit__(None, None, None)


def _impact(table, months, as_of, dates, horizon, baseline, candidate, candidate_rules):
    cfg = baseline.config
    return build_impact(
        table, months, as_of=as_of, dates=dates, horizon=horizon,
        currency=cfg.installation.currency, minor_units=cfg.installation.minor_units,
        # the hash `validate` and `evaluate` show: configuration + rules
        baseline={"config_hash": baseline.hash},
        candidate=None if candidate is None else {
            "config_hash": candidate.hash,
            "changes": config_changes(cfg.raw, candidate.config.raw),
            **({"rules": str(candidate_rules),
                "rule_changes": rule_changes(baseline.book, candidate.book)}
               if candidate_rules is not None else {})})


def _empty():
    from .partition import MonthTotals

    return MonthTotals()


__all__ = ["simulate", "SimulationResult", "SimulationError", "AccountRow", "CATEGORIES",
           "CATEGORY_LABELS", "outcome_rank", "process_dates", "DEFAULT_PARTITION_SIZE",
           "DEFAULT_RULES_ENGINE", "RULES_ENGINES"]
