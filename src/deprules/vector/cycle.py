"""The vector back end's entry points: one cycle, or a cycle per date carrying state."""

from __future__ import annotations

import time
from datetime import date

import numpy as np
import pandas as pd

from ..rules.book import RuleBook
from ..rules.vocabulary import PROCESSES
from . import state as st
from .engine import Engine
from .frames import VectorResult, reference_frames, sa_frame, vector_frames


class VectorCycle:
    """The automated cycle over a whole extract, set-at-a-time.

    ``run(on)`` runs the processes on one process date and returns a
    :class:`VectorResult`; calling it again with a later date continues from the state the
    previous run left (a multi-month horizon). Accounts the vector engine cannot order
    exactly are run by the per-account runner from the extract (replaying earlier dates)
    and stay with it; they are listed in ``fallback_accounts``.
    """

    def __init__(self, extract, book: RuleBook, run_id: str = "run", user: str = "batch",
                 prepared: st.Prepared | None = None):
        t0 = time.perf_counter()
        self.extract = extract
        self.book = book
        self.run_id = run_id
        self.user = user
        if prepared is not None and prepared.extract is extract and \
                prepared.compatible(book.config):
            static, mut = prepared.static, prepared.mutable()
        else:
            static, mut = st.build(extract, book.config)
        self.engine = Engine(book, static, mut)
        self.dates: list[tuple[date, tuple[str, ...]]] = []
        self._fb_states: dict = {}
        self._runner = None
        self.build_seconds = time.perf_counter() - t0

    @property
    def static(self) -> st.Static:
        return self.engine.s

    @property
    def state(self) -> st.Mutable:
        return self.engine.m

    def sa_frame(self) -> pd.DataFrame:
        return sa_frame(self.engine.s, self.engine.m)

    def run(self, on: date, processes=PROCESSES, explain=(), with_sas: bool = True,
            ids: bool = True) -> VectorResult:
        """The cycle on ``on``. ``explain``: True or the processes whose first round also
        lists why-not rows (as ``Runner.run_cycle(explain=True)`` does). ``ids=False``:
        frames without id text (``vector_frames``), unless accounts fall back to the
        per-account runner (their rows are merged by account id)."""
        processes = tuple(processes)
        eng = self.engine
        t0 = time.perf_counter()
        log = eng.run(on, processes, explain)
        explained = set(processes if explain is True else (explain or ()))
        t1 = time.perf_counter()
        newly = eng.flagged & ~eng.fb
        exclude = eng.fb | eng.flagged
        sa_rows: dict[str, np.ndarray] = {}
        ids = ids or bool(exclude.any())
        frames = vector_frames(eng, log, exclude, sa_rows, ids=ids)
        if explained:
            from .whynot import frame as why_frame

            frames["why_not"] = _not_fired_later(
                why_frame(eng, log.why_not, exclude, sa_rows, ids=ids), frames["trace"],
                sa_rows)
        t2 = time.perf_counter()
        fallback = ()
        if exclude.any():
            fallback = self._fallback(on, processes, np.flatnonzero(newly), frames, explained,
                                      sa_rows)
            eng.fb |= eng.flagged
        t3 = time.perf_counter()
        sas = self.sa_frame() if with_sas else None
        self.dates.append((on, processes))
        timings = {"rules": t1 - t0, "frames": t2 - t1 + (time.perf_counter() - t3),
                   "fallback": t3 - t2}
        return VectorResult(on, sas, frames["adjustments"], frames["checks"], frames["todos"],
                            frames["trace"], fallback, frames.get("why_not"), dict(log.rounds),
                            timings, sa_rows)

    # ---- per-account fallback ----------------------------------------------------------
    def _fallback(self, on, processes, new_accts: np.ndarray, frames: dict,
                  explained: set = frozenset(), sa_rows: dict | None = None
                  ) -> tuple[str, ...]:
        from ..ledger.tables import states_from_extract
        from ..runner import Runner
        from ..workspace import _subset

        s = self.engine.s
        if self._runner is None:
            self._runner = Runner(self.book, backend="python", run_id=self.run_id,
                                  user=self.user)
        runner = self._runner
        if len(new_accts):
            ids = set(s.account_id[new_accts].tolist())
            states = states_from_extract(_subset(self.extract, ids), self.book.config)
            for past, procs in self.dates:  # replay: earlier dates were exact in the vector run
                for stt in states.values():
                    runner.run_cycle(stt, past, procs)
            self._fb_states.update(states)
        from ..runner import AccountRun

        before, runs = {}, {}
        for aid, stt in self._fb_states.items():
            before[aid] = (len(stt.adjustments), len(stt.checks), len(stt.todos))
            run = runs[aid] = AccountRun(stt)
            for p in processes:
                runner.run_process(run, p, on, explain=p in explained)
        ref = reference_frames(self._fb_states, runs, before, self.book.config)
        self._write_back()
        order_of = {a: i for i, a in enumerate(s.account_id.tolist())} if len(
            self._fb_states) else {}
        sa_pos = {}  # the fallback accounts' SAs, by id
        for aid in self._fb_states:
            a = order_of[aid]
            for r in range(int(s.acct_first[a]), int(s.acct_first[a + 1])):
                sa_pos[s.sa_id[r]] = r
        for name in ("adjustments", "checks", "todos", "trace", "why_not"):
            if name not in frames:
                continue
            both = pd.concat([frames[name], ref[name]], ignore_index=True)
            rows = None
            if sa_rows is not None and name in sa_rows:
                ref_rows = np.array([sa_pos[x] for x in ref[name]["sa_id"].tolist()], np.int64)
                rows = np.concatenate([np.asarray(sa_rows[name], np.int64), ref_rows])
            if len(ref[name]):
                pos = both["account_id"].map(order_of).to_numpy()
                order = np.argsort(pos, kind="stable")
                both = both.iloc[order].reset_index(drop=True)
                if rows is not None:
                    rows = rows[order]
            frames[name] = both
            if rows is not None:
                sa_rows[name] = rows
        return tuple(sorted(self._fb_states))

    def _write_back(self) -> None:
        """Copy the per-account runner's SA state into the columns (for the SA frame)."""
        s, m = self.engine.s, self.engine.m
        pos = {a: i for i, a in enumerate(s.account_id.tolist())}
        for aid, state in self._fb_states.items():
            a = pos[aid]
            for r in range(int(s.acct_first[a]), int(s.acct_first[a + 1])):
                sa = state.sas[s.sa_id[r]]
                m.status[r] = st.STATUS_CODE[sa.status]
                m.stop[r] = st.day_of(sa.stop_date) if sa.stop_date else st.NONE
                m.last_int[r] = st.day_of(sa.last_interest_date) if sa.last_interest_date \
                    else st.NONE
                m.payoff[r], m.current[r] = sa.payoff_balance, sa.current_balance
                bills = [b for b in state.bills if b.sa_id == sa.sa_id]
                m.bill_n[r] = len(bills)
                if bills:
                    b = bills[-1]
                    m.bill_status[r] = st.BILL_CODE[b.status]
                    m.bill_amount[r] = b.amount
                    m.bill_due[r] = st.day_of(b.due_date) if b.due_date else st.NONE
                    m.rma[r] = b.refund_method_applied


def prepare(extract, config) -> st.Prepared:
    """Columns of an extract, built once and shared by the cycles of several configurations."""
    return st.Prepared(extract, config)


def run_cycle_frames(extract, book: RuleBook, on: date, processes=PROCESSES,
                     run_id: str = "run", prepared: st.Prepared | None = None,
                     explain=()) -> VectorResult:
    """The cycle on one process date over a whole extract (see :class:`VectorCycle`)."""
    return VectorCycle(extract, book, run_id=run_id, prepared=prepared).run(on, processes,
                                                                          explain)


def run_horizon(extract, book: RuleBook, dates, processes=PROCESSES,
                run_id: str = "run") -> list[VectorResult]:
    """The cycle on each date in turn, each starting from the state the previous left."""
    cyc = VectorCycle(extract, book, run_id=run_id)
    return [cyc.run(d, processes) for d in dates]


def _not_fired_later(why: pd.DataFrame, trace: pd.DataFrame, sa_rows: dict) -> pd.DataFrame:
    """Drop the why-not rows of a rule that fired on that SA in a later round of the same
    process (why-not is judged on each process's first round), as the per-account runner
    does.

    Rows are matched on (SA position, rule, process) as integers: text keys and
    ``Series.isin`` of a set cost seconds per 100,000 accounts (a Python loop over Arrow
    strings)."""
    if not len(why) or not len(trace):
        return why
    if "why_not" not in sa_rows or "trace" not in sa_rows:  # pragma: no cover - always set
        def text(df):
            return (df["process"].astype(str) + "\0" + df["rule"].astype(str) + "\0"
                    + df["sa_id"].astype(str))
        keep = ~text(why).isin(set(text(trace))).to_numpy()
    else:
        vocab: dict[str, int] = {}

        def codes(col: pd.Series) -> np.ndarray:
            cat = col if isinstance(col.dtype, pd.CategoricalDtype) else col.astype("category")
            lut = np.array([vocab.setdefault(c, len(vocab)) for c in
                            cat.cat.categories.astype(object).tolist()] + [-1], np.int64)
            return lut[cat.cat.codes.to_numpy()]

        parts = [(np.asarray(sa_rows[name], np.int64), codes(df["rule"]), codes(df["process"]))
                 for name, df in (("why_not", why), ("trace", trace))]
        k = len(vocab) + 1
        keys = [(pos * k + rule + 1) * k + proc + 1 for pos, rule, proc in parts]
        keep = ~_member(keys[0], keys[1])
    if keep.all():
        return why
    if "why_not" in sa_rows:
        sa_rows["why_not"] = sa_rows["why_not"][keep]
    return why[keep].reset_index(drop=True)


def _member(values: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """``np.isin(values, pool)`` by one sort of ``pool`` and a binary search: numpy's
    hash-based ``isin`` took 7 s for 5 million trace keys (1,000,000 accounts)."""
    if not len(pool):
        return np.zeros(len(values), bool)
    pool = np.sort(pool)
    at = np.minimum(np.searchsorted(pool, values), len(pool) - 1)
    return pool[at] == values
