"""Results as frames: the same layout from the vector back end and from the per-account
runner, so that a what-if can compare them and the tests can hold them equal.

Frames (money int64 minor units, dates datetime64[ns] with NaT):

- ``sas``: one row per SA after the run: account_id, sa_id, sa_type, status, stop_date,
  payoff_balance, current_balance, last_interest_date, bill_status (none/frozen/complete),
  bill_amount, bill_due_date, refund_method_applied.
- ``adjustments`` created on the date, in creation order per account: account_id,
  adjustment_id, sa_id, adjustment_type, category, amount, twin_id, process, rule, seed_step.
- ``checks`` (A/P check requests): account_id, check_id, sa_id, adjustment_id, amount,
  request_type, process, rule.
- ``todos``: account_id, todo_id, sa_id, todo_type, role, message, process, rule, seed_step.
- ``trace``: one row per rule firing that changed something, in firing order per account:
  account_id, process, round, sa_id, rule, seed_step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..money import format_money
from ..rules.vocabulary import PROCESSES, STATUSES
from . import state as st

SA_COLUMNS = ["account_id", "sa_id", "sa_type", "status", "stop_date", "payoff_balance",
              "current_balance", "last_interest_date", "bill_status", "bill_amount",
              "bill_due_date", "refund_method_applied"]
ADJ_COLUMNS = ["account_id", "adjustment_seq", "sa_id", "adjustment_type", "category",
               "amount", "twin_seq", "process", "rule", "seed_step"]
CHECK_COLUMNS = ["account_id", "check_seq", "sa_id", "adjustment_seq", "amount",
                 "request_type", "process", "rule"]
TODO_COLUMNS = ["account_id", "todo_seq", "sa_id", "todo_type", "role", "message", "process",
                "rule", "seed_step"]
TRACE_COLUMNS = ["account_id", "process", "round", "sa_id", "rule", "seed_step"]
_INT = {"payoff_balance", "current_balance", "bill_amount", "amount", "round",
        "adjustment_seq", "twin_seq", "check_seq", "todo_seq"}
_DATES = {"stop_date", "last_interest_date", "bill_due_date"}
# entity kind of each *_seq column, for ids like A0000001-ADJ001
ID_KINDS = {"adjustment_seq": "ADJ", "twin_seq": "ADJ", "check_seq": "CHK", "todo_seq": "TD"}


@dataclass
class VectorResult:
    """One date's run over a whole extract.

    Entity ids are given as their per-account sequence number (``adjustment_seq`` n is
    the adjustment ``{account_id}-ADJ{n:03d}``, ``twin_seq`` 0 means none); ``with_ids``
    adds the id text. Text columns with a small vocabulary are categoricals.
    """

    on: date
    sas: pd.DataFrame
    adjustments: pd.DataFrame
    checks: pd.DataFrame
    todos: pd.DataFrame
    trace: pd.DataFrame
    fallback_accounts: tuple[str, ...] = ()
    why_not: pd.DataFrame | None = None  # with explain: first failing condition per rule/SA
    rounds: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    # per frame (adjustments, checks, todos, trace, why_not): each row's SA as a position
    # in the vector's SA order, (account_id, sa_id), which is the order of ``sas``; lets a
    # caller aggregate by SA or account with integer indexing instead of matching ids
    sa_rows: dict = field(default_factory=dict)

    def firing_counts(self) -> pd.DataFrame:
        """Rule firings per (account, rule)."""
        t = self.trace
        return (t.groupby(["account_id", "rule"], sort=True, observed=True).size()
                .rename("firings").reset_index())

    def frames(self) -> dict[str, pd.DataFrame]:
        return {"sas": self.sas, "adjustments": self.adjustments, "checks": self.checks,
                "todos": self.todos, "trace": self.trace}


def with_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with an id column next to each ``*_seq`` column (``adjustment_id``...)."""
    out = frame.copy()
    acc = out["account_id"].to_numpy(dtype=object)
    for col, kind in ID_KINDS.items():
        if col in out:
            n = out[col].to_numpy(dtype=np.int64)
            ids = np.full(len(n), "", object)
            k = n > 0
            ids[k] = format_ids(acc[k], kind, n[k])
            out.insert(out.columns.get_loc(col) + 1, col.replace("_seq", "_id"), ids)
    return out


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text column (categorical or string) as Python str objects, for
    comparisons and for code that expects the ledger tables' object columns."""
    out = {}
    for c in frame.columns:
        col = frame[c]
        if isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(col.dtype):
            out[c] = pd.Series(col.astype(object).to_numpy(), dtype=object, index=frame.index)
        else:
            out[c] = col
    return pd.DataFrame(out, index=frame.index)


_EMPTY: dict[tuple, pd.DataFrame] = {}


def empty(columns: list[str]) -> pd.DataFrame:
    key = tuple(columns)
    if key not in _EMPTY:
        _EMPTY[key] = _empty(columns)
    return _EMPTY[key].copy()


def _empty(columns: list[str]) -> pd.DataFrame:
    data = {}
    for c in columns:
        if c in _INT:
            data[c] = pd.Series([], dtype="int64")
        elif c in _DATES:
            data[c] = pd.Series([], dtype="datetime64[ns]")
        elif c == "refund_method_applied":
            data[c] = pd.Series([], dtype=bool)
        else:
            data[c] = pd.Series([], dtype=object)
    return pd.DataFrame(data)


def _frame(data: dict, columns: list[str]) -> pd.DataFrame:
    """The columns in order; a column given as None is left out (``ids=False``)."""
    columns = [c for c in columns if data.get(c, 0) is not None]
    first = next(v for v in data.values() if v is not None)
    if not len(first):
        return empty(columns)
    return pd.DataFrame({c: data[c] for c in columns})


def format_ids(account_ids, kind: str, numbers: np.ndarray) -> np.ndarray:
    """``{account}-{kind}{n:03d}`` for whole columns (the executor's entity ids)."""
    if len(numbers) == 0:
        return np.zeros(0, object)
    nums = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, np.int64)), pa.string()), 3, "0")
    acc = account_ids if isinstance(account_ids, pa.Array) else pa.array(
        np.asarray(account_ids, dtype=object), pa.string())
    out = pc.binary_join_element_wise(acc, nums, "-" + kind)
    return out.to_numpy(zero_copy_only=False).astype(object)


def _text(arr: pa.Array) -> pd.api.extensions.ExtensionArray:
    """An Arrow string array as a pandas string column, without copying."""
    return pd.array(arr, dtype="str")


_DTYPES: dict[tuple, pd.CategoricalDtype] = {}


def _cat(codes: np.ndarray, categories) -> pd.Categorical:
    key = tuple(categories)
    dtype = _DTYPES.get(key)
    if dtype is None:
        if len(_DTYPES) > 256:
            _DTYPES.clear()
        dtype = _DTYPES[key] = pd.CategoricalDtype(list(categories))
    return pd.Categorical.from_codes(np.asarray(codes, np.int32), dtype=dtype)


def _ordinals(acct: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """1-based numbers continuing each account's counter (rows sorted by account), and
    advance the counters."""
    n = len(acct)
    if n == 0:
        return np.zeros(0, np.int64)
    first = np.r_[True, acct[1:] != acct[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    out = counters[acct] + (np.arange(n) - start) + 1
    np.add.at(counters, acct, 1)
    return out


def _concat(chunks: list, name: str, dtype) -> np.ndarray:
    if not chunks:
        return np.zeros(0, dtype)
    return np.concatenate([np.asarray(c[name], dtype) for c in chunks])


def _creation_order(cols: dict, acct: np.ndarray) -> np.ndarray:
    """Sort rows by (account, process, round, SA rank, action, sub-step)."""
    return st.sort_order([acct, cols["pidx"], cols["rnd"], cols["rank"], cols["ai"],
                          cols["sub"]])


def sa_frame(static: st.Static, mut: st.Mutable) -> pd.DataFrame:
    has_bill = mut.bill_n > 0
    return pd.DataFrame({
        "account_id": _text(static.account_ids.take(pa.array(static.acct))),
        "sa_id": _text(static.sa_ids),
        "sa_type": _cat(static.sa_type, static.type_codes),
        "status": _cat(mut.status, STATUSES),
        "stop_date": st.datetimes_from_days(mut.stop),
        "payoff_balance": mut.payoff.copy(),
        "current_balance": mut.current.copy(),
        "last_interest_date": st.datetimes_from_days(mut.last_int),
        "bill_status": _cat(np.where(has_bill, mut.bill_status, 0), st.BILL_STATES),
        "bill_amount": np.where(has_bill, mut.bill_amount, 0),
        "bill_due_date": st.datetimes_from_days(np.where(has_bill, mut.bill_due, st.NONE)),
        "refund_method_applied": has_bill & mut.rma,
    })


def vector_frames(engine, log, exclude: np.ndarray, sa_rows: dict | None = None,
                  ids: bool = True) -> dict[str, pd.DataFrame]:
    """Adjustments, checks, To Dos and trace of the vector run (accounts in ``exclude``
    left out: they are run by the per-account runner). ``sa_rows``, when given, receives
    each frame's SA positions (see ``VectorResult.sa_rows``). ``ids=False`` leaves out the
    id text (``account_id``, ``sa_id`` and the To Do ``message`` made of them), for a
    caller that aggregates by ``sa_rows``: 7.9 million rows of text per cycle at
    1,000,000 accounts."""
    if sa_rows is None:
        sa_rows = {}
    s, m, config = engine.s, engine.m, engine.config
    rules = engine.variants_all
    rule_ids = list(dict.fromkeys(r.id for r in engine.book.rules))
    seeds = sorted({r.seed_step for r in engine.book.rules})
    v_rule = np.array([rule_ids.index(v.rule.id) for v in rules], np.int32)
    v_seed = np.array([seeds.index(v.rule.seed_step) for v in rules], np.int32)
    v_proc = np.array([PROCESSES.index(v.rule.process) for v in rules], np.int32)
    out = {}

    def take_ids(arr: pa.Array, idx: np.ndarray):
        return _text(arr.take(pa.array(idx))) if ids else None

    # adjustments (and the check requests their freezing made)
    any_excluded = bool(exclude.any())
    acct = _concat(log.adj, "acct", np.int64)
    names = (("sa", np.int64), ("type", np.int16), ("amount", np.int64), ("vi", np.int32),
             ("twin", np.int8), ("pidx", np.int8), ("rnd", np.int8), ("rank", np.int64),
             ("ai", np.int8), ("sub", np.int64))
    cols = {k: _concat(log.adj, k, dt) for k, dt in names}
    if any_excluded:
        keep = ~exclude[acct]
        cols = {k: v[keep] for k, v in cols.items()}
        acct = acct[keep]
    order = _creation_order(cols, acct)
    acct = acct[order]
    cols = {k: v[order] for k, v in cols.items()}
    seq = _ordinals(acct, m.n_adj)
    np.add.at(m.n_ft, acct, 1)
    adj_codes = engine.adj_codes
    cat_codes = sorted({config.adjustment_types[c].category for c in adj_codes})
    cat_of = np.array([cat_codes.index(config.adjustment_types[c].category) for c in adj_codes],
                      np.int32)
    twin = cols["twin"].astype(np.int64)
    vi = cols["vi"]
    out["adjustments"] = _frame({
        "account_id": take_ids(s.account_ids, acct), "adjustment_seq": seq,
        "sa_id": take_ids(s.sa_ids, cols["sa"]),
        "adjustment_type": _cat(cols["type"], adj_codes),
        "category": _cat(cat_of[cols["type"]], cat_codes), "amount": cols["amount"],
        "twin_seq": np.where(twin != 0, seq + twin, 0),
        "process": _cat(v_proc[vi], PROCESSES), "rule": _cat(v_rule[vi], rule_ids),
        "seed_step": _cat(v_seed[vi], seeds),
    }, ADJ_COLUMNS)

    req_codes = sorted({config.adjustment_types[c].ap_request_type for c in adj_codes
                        if config.adjustment_types[c].ap_request_type})
    req_of = np.array([req_codes.index(config.adjustment_types[c].ap_request_type)
                       if config.adjustment_types[c].ap_request_type else -1 for c in adj_codes],
                      np.int32)
    ap = req_of[cols["type"]] >= 0
    sa_rows["adjustments"] = cols["sa"]
    sa_rows["checks"] = cols["sa"][ap]
    c_acct = acct[ap]
    c_seq = _ordinals(c_acct, m.n_chk)
    out["checks"] = _frame({
        "account_id": take_ids(s.account_ids, c_acct), "check_seq": c_seq,
        "sa_id": take_ids(s.sa_ids, cols["sa"][ap]), "adjustment_seq": seq[ap],
        "amount": cols["amount"][ap], "request_type": _cat(req_of[cols["type"][ap]], req_codes),
        "process": _cat(v_proc[vi[ap]], PROCESSES), "rule": _cat(v_rule[vi[ap]], rule_ids),
    }, CHECK_COLUMNS)

    # To Dos
    acct = _concat(log.todo, "acct", np.int64)
    names = (("sa", np.int64), ("type", object), ("vi", np.int32), ("balance", np.int64),
             ("pidx", np.int8), ("rnd", np.int8), ("rank", np.int64), ("ai", np.int8),
             ("sub", np.int64))
    tcols = {k: _concat(log.todo, k, dt) for k, dt in names}
    if any_excluded:
        keep = ~exclude[acct]
        tcols = {k: v[keep] for k, v in tcols.items()}
        acct = acct[keep]
    order = _creation_order(tcols, acct)
    acct = acct[order]
    tcols = {k: v[order] for k, v in tcols.items()}
    t_seq = _ordinals(acct, m.n_todo)
    acc_ids = s.account_ids.take(pa.array(acct)).to_pylist() if ids else []
    sa_ids = s.sa_ids.take(pa.array(tcols["sa"])).to_pylist() if ids else []
    mu = config.installation.minor_units
    todo_codes = sorted(config.todo_types)
    role_codes = sorted({t.role for t in config.todo_types.values()})
    messages = []
    for tt_code, sa_id, acc_id, bal in zip(tcols["type"].tolist() if ids else [], sa_ids,
                                           acc_ids, tcols["balance"].tolist()):
        tt = config.todo_types[tt_code]
        try:
            messages.append(tt.message.format(sa_id=sa_id, account_id=acc_id,
                                              balance=format_money(bal, mu), adjustment_id="",
                                              amount=""))
        except (KeyError, IndexError, ValueError):
            messages.append(tt.message)
    types = tcols["type"]
    vi = tcols["vi"]
    sa_rows["todos"] = tcols["sa"]
    out["todos"] = _frame({
        "account_id": take_ids(s.account_ids, acct), "todo_seq": t_seq,
        "sa_id": take_ids(s.sa_ids, tcols["sa"]),
        "todo_type": _cat([todo_codes.index(t) for t in types], todo_codes),
        "role": _cat([role_codes.index(config.todo_types[t].role) for t in types], role_codes),
        "message": np.array(messages, object) if ids else None,
        "process": _cat(v_proc[vi], PROCESSES),
        "rule": _cat(v_rule[vi], rule_ids), "seed_step": _cat(v_seed[vi], seeds),
    }, TODO_COLUMNS)

    # trace: chunks come in (process, round) order, each in row order, so a stable sort by
    # account gives the per-account firing order
    if log.trace:
        rows = np.concatenate([c[0] for c in log.trace])
        tvi = np.concatenate([c[1] for c in log.trace])
        pidx = np.concatenate([c[2] for c in log.trace])
        rnd = np.concatenate([c[3] for c in log.trace])
    else:
        rows = tvi = np.zeros(0, np.int64)
        pidx = rnd = np.zeros(0, np.int8)
    acct = s.acct[rows]
    if any_excluded:
        keep = ~exclude[acct]
        rows, tvi, pidx, rnd, acct = rows[keep], tvi[keep], pidx[keep], rnd[keep], acct[keep]
    order = np.argsort(acct, kind="stable")
    rows, tvi, pidx, rnd, acct = rows[order], tvi[order], pidx[order], rnd[order], acct[order]
    sa_rows["trace"] = rows
    out["trace"] = _frame({
        "account_id": take_ids(s.account_ids, acct), "process": _cat(pidx, PROCESSES),
        "round": rnd, "sa_id": take_ids(s.sa_ids, rows), "rule": _cat(v_rule[tvi], rule_ids),
        "seed_step": _cat(v_seed[tvi], seeds),
    }, TRACE_COLUMNS)
    return out


# ---- the per-account runner's results in the same layout -------------------------------
def reference_frames(states: dict, runs: dict, before: dict, config) -> dict[str, pd.DataFrame]:
    """Frames of per-account runs. ``before[account_id]`` = (adjustments, checks, To Dos)
    the account had before the run: only what the run created is listed."""
    from .whynot import WHY_NOT_COLUMNS

    sas, adjs, chks, todos, trace, why = [], [], [], [], [], []
    for aid in sorted(states):
        state = states[aid]
        n_adj, n_chk, n_todo = before.get(aid, (0, 0, 0))
        for sa_id in sorted(state.sas):
            sa = state.sas[sa_id]
            bill = state.final_bill(sa_id)
            sas.append((aid, sa_id, sa.sa_type, sa.status, sa.stop_date, sa.payoff_balance,
                        sa.current_balance, sa.last_interest_date,
                        bill.status if bill else "none", bill.amount if bill else 0,
                        bill.due_date if bill else None,
                        bool(bill and bill.refund_method_applied)))
        for a in state.adjustments[n_adj:]:
            adjs.append((aid, _seq(a.adjustment_id), a.sa_id, a.adjustment_type, a.category,
                         a.amount, _seq(a.twin_id), a.cause.process, a.cause.rule,
                         a.cause.seed_step))
        adj_by_id = {a.adjustment_id: a for a in state.adjustments}
        for c in state.checks[n_chk:]:
            cause = adj_by_id[c.adjustment_id].cause
            chks.append((aid, _seq(c.check_id), c.sa_id, _seq(c.adjustment_id), c.amount,
                         c.request_type, cause.process, cause.rule))
        for t in state.todos[n_todo:]:
            todos.append((aid, _seq(t.todo_id), t.sa_id, t.todo_type, t.role, t.message,
                          t.cause.process, t.cause.rule, t.cause.seed_step))
        run = runs.get(aid)
        for e in (run.trace if run else []):
            trace.append((aid, e.process, e.round, e.sa_id, e.rule, e.seed_step))
        for w in (run.why_not if run else []):
            why.append((aid, w.sa_id, w.process, w.rule, w.seed_step, w.condition, w.detail))
    return {"sas": _rows(sas, SA_COLUMNS), "adjustments": _rows(adjs, ADJ_COLUMNS),
            "checks": _rows(chks, CHECK_COLUMNS), "todos": _rows(todos, TODO_COLUMNS),
            "trace": _rows(trace, TRACE_COLUMNS), "why_not": _rows(why, WHY_NOT_COLUMNS)}


def _seq(entity_id: str) -> int:
    """The number at the end of an executor id (``A1-ADJ007`` -> 7; "" -> 0)."""
    if not entity_id:
        return 0
    digits = len(entity_id) - len(entity_id.rstrip("0123456789"))
    return int(entity_id[len(entity_id) - digits:])


def _rows(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    if not rows:
        return empty(columns)
    data = {}
    for i, c in enumerate(columns):
        values = [r[i] for r in rows]
        if c in _INT:
            data[c] = np.array(values, np.int64)
        elif c in _DATES:
            data[c] = pd.to_datetime(pd.Series(values, dtype=object)).astype("datetime64[ns]")
        elif c == "refund_method_applied":
            data[c] = np.array(values, bool)
        else:
            data[c] = np.array(values, object)
    return pd.DataFrame(data)
