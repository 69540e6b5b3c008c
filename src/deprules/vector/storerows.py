"""The rows a store batch writes, built as columns from the vector engine's log.

A store batch (:func:`deprules.processes.run_store_batch`) decides for every account at once
on the vector back end. For an account whose run only adds rows and moves its SAs (every
account but those whose run changes a bill that existed before) the rows the executor
would write follow from the engine's log (``Engine.record``) and the account's counts of
rows (:func:`account_counts`) alone:

- each adjustment the engine made is one ``adjustments`` row, frozen, with its FT (the FT
  algorithm of its type), the FT's two GL lines (unless the algorithm posts none) and, for
  an A/P type, its check request;
- each To Do, final bill, status move, refund method, bill completion and interest
  settlement is its row and/or journal entry;
- ids number an account's new entities after the ones it has, in the order the executor
  creates them (per account and kind: process, round, SA, action, then the step inside the
  action), and the journal's ``seq`` numbers its new entries in the same order;
- the SAs whose status, dates or balances moved are updated in place.

Nothing is replayed through the executor and no account object is built. The rows are the
executor's, value for value (``tests/test_store_columns.py`` holds them equal to the replay
on generated stores); every other account (one whose run changes an existing bill's row,
:func:`touches_old_bills`, or one the engine hands to the per-account runner) is still
replayed. The invariants of the accounts written are
checked on these columns before anything is written (:meth:`StoreRows.problems`).
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..ledger.check import EXTERNAL
from ..ledger.executor import FT_ALGORITHMS
from ..ledger.model import LEGAL_MOVES
from ..ledger.sqlrows import LAYOUTS
from ..money import format_money_array
from ..rules.vocabulary import STATUSES
from . import state as st
from .engine import (EV_BILL, EV_BILL_COMPLETE, EV_REFUND_METHOD, EV_SETTLED, EV_STATUS, Engine,
                     Log)
from .frames import _concat

# accounts written per chunk (their rows are built, inserted and let go together)
CHUNK_ACCOUNTS = 20_000
_ORDER = ("pidx", "rnd", "rank", "ai", "sub")
_ADJ_COLS = (("sa", np.int64), ("acct", np.int64), ("type", np.int16), ("amount", np.int64),
             ("vi", np.int32), ("twin", np.int8), ("pidx", np.int8), ("rnd", np.int8),
             ("rank", np.int64), ("ai", np.int8), ("sub", np.int64))
_EV_COLS = (("kind", np.int8), ("sa", np.int64), ("acct", np.int64), ("pidx", np.int8),
            ("rnd", np.int8), ("rank", np.int64), ("ai", np.int8), ("sub", np.int64),
            ("micro", np.int64), ("vi", np.int32), ("a", np.int64), ("b", np.int64),
            ("c", np.int64), ("d", np.int64))
_TODO_COLS = (("sa", np.int64), ("acct", np.int64), ("vi", np.int32), ("balance", np.int64),
              ("type", object),
              ("pidx", np.int8), ("rnd", np.int8), ("rank", np.int64), ("ai", np.int8),
              ("sub", np.int64))
_BALANCES = ("status", "stop", "last_int", "payoff", "current")
_BEFORE = _BALANCES + ("bill_n",)


# the entity tables whose rows an account already has: new ids and journal entries continue
# from their counts (per account and kind, as the executor numbers them)
COUNTED = {"adj": "adjustments", "ft": "fts", "chk": "checks", "todo": "todos",
           "bill": "bills", "journal": "account_journal"}
_BY_TABLE = {lay.table: lay for lay in LAYOUTS.values()}


def account_counts(conn, static: st.Static, accounts: np.ndarray) -> dict[str, np.ndarray]:
    """How many rows each of ``accounts`` (positions) has in each table of :data:`COUNTED`
    in ``conn``'s snapshot, as arrays over every account position (0 elsewhere)."""
    out = {k: np.zeros(static.n_acct, np.int64) for k in COUNTED}
    busy = [k for k, t in COUNTED.items()
            if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {t})").fetchone()[0]]
    if not busy or len(accounts) == 0:
        return out
    ids = static.account_ids.take(pa.array(accounts)).to_pylist()
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS batch_columns (account_id TEXT PRIMARY KEY) "
                 "WITHOUT ROWID")
    conn.execute("DELETE FROM temp.batch_columns")
    conn.executemany("INSERT OR IGNORE INTO temp.batch_columns VALUES (?)", [(a,) for a in ids])
    at = {a: p for a, p in zip(ids, accounts.tolist())}
    for k in busy:
        count = _BY_TABLE[COUNTED[k]].count_sql  # a packed row holds n entries
        for aid, n in conn.execute(
                f"SELECT b.account_id, {count} FROM temp.batch_columns b JOIN {COUNTED[k]} x "
                "ON x.account_id = b.account_id GROUP BY b.account_id"):
            out[k][at[aid]] = n
    conn.execute("DELETE FROM temp.batch_columns")
    return out


def touches_old_bills(log: Log, static: st.Static, before: dict) -> np.ndarray:
    """The accounts (a boolean per position) where a refund method or a completion lands on
    a bill that existed before the run: that bill's row changes in place, which only the
    replay writes."""
    out = np.zeros(static.n_acct, bool)
    for c in log.events:
        k = ((c["kind"] == EV_REFUND_METHOD) | (c["kind"] == EV_BILL_COMPLETE)) & \
            (before["bill_n"][c["sa"]] > 0)
        out[c["acct"][k]] = True
    return out


def balances_before(mut: st.Mutable) -> dict[str, np.ndarray]:
    """The SA columns a batch may change (and each SA's bill count), copied before the
    engine runs."""
    return {k: getattr(mut, k).copy() for k in _BEFORE}


def _sorted_cols(chunks: list, names, keep: np.ndarray, micro: bool = False) -> dict:
    """The log's chunks as columns of the accounts in ``keep``, in creation order."""
    cols = {k: _concat(chunks, k, dt) for k, dt in names}
    at = keep[cols["acct"]]
    cols = {k: v[at] for k, v in cols.items()}
    order = st.sort_order([cols["acct"], *(cols[k] for k in _ORDER),
                           *([cols["micro"]] if micro else [])])
    return {k: v[order] for k, v in cols.items()}


JOURNAL_KINDS = ("adjustment", "freeze", "check", "todo", "status", "bill", "refund_method",
                 "bill_complete", "interest_settled")


def _ordinal(acct: np.ndarray) -> np.ndarray:
    """1, 2, ... within each run of equal (sorted) accounts."""
    n = len(acct)
    if n == 0:
        return np.zeros(0, np.int64)
    first = np.r_[True, acct[1:] != acct[:-1]]
    return np.arange(n) - np.maximum.accumulate(np.where(first, np.arange(n), 0)) + 1


def _needs_escape(arr: pa.Array) -> bool:
    """Whether a text of ``arr`` may hold a quote, a backslash or a control character (its
    data buffer scanned as bytes: a fifth of the time of a regular expression per text)."""
    if not len(arr):
        return False
    if not isinstance(arr, pa.Array) or arr.offset or arr.type != pa.string():
        return bool(pc.any(pc.match_substring_regex(arr, '["\\\\\\x00-\\x1f]')).as_py())
    data = arr.buffers()[2]
    if data is None:
        return False
    b = np.frombuffer(data, np.uint8)
    return bool(((b < 0x20) | (b == 0x22) | (b == 0x5C)).any())


def _quoted(arr: pa.Array) -> pa.Array:
    """Each text as a JSON string (``json.dumps(..., ensure_ascii=False)``); null stays null."""
    if _needs_escape(arr):
        return pa.array([None if v is None else json.dumps(v, ensure_ascii=False)
                         for v in arr.to_pylist()], pa.string())
    return pc.binary_join_element_wise('"', arr, '"', "")


def _join(*parts) -> pa.Array:
    """Concatenate Arrow string arrays and literal texts element-wise (null: the whole
    element null)."""
    return pc.binary_join_element_wise(*parts, "")


def _iso(days: np.ndarray) -> pa.Array:
    """Day numbers as ISO dates, NONE as null."""
    days = np.asarray(days, np.int64)
    none = days == st.NONE
    arr = pa.array(np.where(none, 0, days).astype("datetime64[D]"), mask=none)
    return pc.cast(arr, pa.string())


def _json_or_null(arr: pa.Array) -> pa.Array:
    """A JSON string per value, ``null`` where the value is null."""
    return pc.fill_null(_quoted(arr), "null")


def _lut(values: list) -> pa.Array:
    return pa.array(values, pa.string())


def _num(v: np.ndarray) -> pa.Array:
    """Integers as their decimal texts."""
    return pc.cast(pa.array(np.asarray(v, np.int64)), pa.string())


def _packs(account_id: np.ndarray, acct: np.ndarray, columns: list) -> list:
    """The packed rows (``Layout.pack_columns``: account id, count, then each column as a
    JSON array) of rows whose accounts ``acct`` are sorted; ``columns``: each value's JSON
    text, per column."""
    if not len(acct):
        return [[], []] + [[] for _ in columns]
    first = np.flatnonzero(np.r_[True, acct[1:] != acct[:-1]])
    offsets = pa.array(np.r_[first, len(acct)].astype(np.int32))
    return [account_id[acct[first]].tolist(), np.diff(offsets.to_numpy()).tolist()] + [
        _join("[", pc.binary_join(pa.ListArray.from_arrays(offsets, col), ","), "]").to_pylist()
        for col in columns]


class _Same:
    """A column whose every value is ``value``: written as a literal of the INSERT, not
    bound row by row (binding is most of what an insert costs from Python)."""

    def __init__(self, value):
        self.value = value

    def sql(self) -> str:
        v = self.value
        if v is None:
            return "NULL"
        if isinstance(v, int):
            return str(int(v))
        return "'" + str(v).replace("'", "''") + "'"


# rows per INSERT statement: a fifth less CPU than one row per statement (measured over a
# million journal rows: 2.55 s against 3.10 s), rows and their order unchanged
ROWS_PER_INSERT = 20


def _insert_sql(layout, cols: list, rows: int = 1) -> str:
    """``layout``'s INSERT of ``rows`` rows with ``cols``' constant columns as literals."""
    names = ", ".join(f'"{c}"' for c in layout.stored_columns)
    marks = "(" + ", ".join(c.sql() if isinstance(c, _Same) else "?" for c in cols) + ")"
    return f"INSERT INTO {layout.table} ({names}) VALUES {', '.join([marks] * rows)}"


def _insert(conn, layout, cols: list, bound: list) -> int:
    """Insert the rows of the ``bound`` columns (``cols`` with the constant ones), in order,
    ``ROWS_PER_INSERT`` rows a statement; returns how many."""
    n, k = len(bound[0]), ROWS_PER_INSERT
    whole = n // k * k
    if whole:
        # statement j binds rows jk .. jk + k - 1, each row's values in column order
        conn.executemany(_insert_sql(layout, cols, k),
                         zip(*[c[i:whole:k] for i in range(k) for c in bound]))
    if whole < n:
        conn.executemany(_insert_sql(layout, cols), zip(*[c[whole:] for c in bound]))
    return n


class StoreRows:
    """The rows of the accounts ``keep`` (bool per account position) after ``engine`` ran
    ``log`` (with ``record``) on ``on``; ``before``: the SA columns before the run
    (:func:`balances_before`); ``cause_ids``: the causes' ids by variant number."""

    def __init__(self, engine: Engine, log: Log, keep: np.ndarray, before: dict, on: date,
                 cause_ids: np.ndarray, counts: dict | None = None):
        self.e, self.s, self.m = engine, engine.s, engine.m
        self.config = engine.config
        self.keep, self.before, self.on = keep, before, on
        self.on_text = on.isoformat()
        self.cause_ids = cause_ids
        self.mu = self.config.installation.minor_units
        zero = np.zeros(engine.s.n_acct, np.int64)
        self.counts = counts = {k: (counts or {}).get(k, zero) for k in COUNTED}
        adj = _sorted_cols(log.adj, _ADJ_COLS, keep)
        k_adj = _ordinal(adj["acct"])
        # each new adjustment posts one FT, in the same order: both continue their counts
        adj["n"] = k_adj + counts["adj"][adj["acct"]]
        adj["ftn"] = k_adj + counts["ft"][adj["acct"]]
        self.adj = adj
        types = [self.config.adjustment_types[c] for c in engine.adj_codes]
        algs = [FT_ALGORITHMS[t.ft_algorithm] for t in types]
        self.t_fp = np.array([a[0] for a in algs], np.int64)
        self.t_fc = np.array([a[1] for a in algs], np.int64)
        self.t_gl = np.array([a[2] or t.ft_algorithm == "ADJT-GL" for a, t in zip(algs, types)])
        self.t_ap = np.array([bool(t.ap_request_type) for t in types])
        self.t_ext = np.array([t.category in EXTERNAL for t in types])
        # per adjustment type (the engine's type numbers): texts of its rows
        self.o_code, self.o_category, self.o_dist, self.o_request = (
            np.array(x, object) for x in ([t.code for t in types],
                                          [t.category for t in types],
                                          [t.distribution_code for t in types],
                                          [t.ap_request_type or "" for t in types]))
        self.o_sa_dist = np.array([self.config.sa_types[c].distribution_code
                                   for c in self.s.type_codes], object)
        # and the JSON pieces of its journal details
        self.t_code_json = _quoted(_lut(self.o_code.tolist()))
        self.t_category_json = _quoted(_lut(self.o_category.tolist()))
        self.kind_json = _quoted(_lut(list(JOURNAL_KINDS)))
        adj["fp"], adj["fc"] = self.t_fp[adj["type"]] * adj["amount"], \
            self.t_fc[adj["type"]] * adj["amount"]
        ap = self.t_ap[adj["type"]]
        adj["chk"] = np.zeros(len(ap), np.int64)
        if ap.any():  # check numbers: the A/P adjustments' order within each account
            k = np.flatnonzero(ap)
            adj["chk"][k] = _ordinal(adj["acct"][k]) + counts["chk"][adj["acct"][k]]
        ev = _sorted_cols(log.events, _EV_COLS, keep, micro=True)
        self.ev = ev
        todo = _sorted_cols(log.todo, _TODO_COLS, keep)
        todo["n"] = _ordinal(todo["acct"]) + counts["todo"][todo["acct"]]
        self.todo = todo
        bills = ev["kind"] == EV_BILL
        self.bill_sa = ev["sa"][bills]
        self.bill_acct = ev["acct"][bills]
        self.bill_n = _ordinal(self.bill_acct) + counts["bill"][self.bill_acct]
        self.bill_amount = ev["a"][bills]
        self.bill_vi = ev["vi"][bills]
        # each SA's new bill's number (a final bill is made only for an SA without one)
        self.sa_bill = np.zeros(self.s.n_sa, np.int64)
        self.sa_bill[self.bill_sa] = self.bill_n
        # the SAs that moved
        rows = self.s.account_rows(keep)
        moved = np.zeros(len(rows), bool)
        for k in _BALANCES:
            moved |= getattr(self.m, k)[rows] != before[k][rows]
        self.sa_rows = rows[moved]

    # ---- the invariants (DOMAIN.md section 6) of the accounts written ------------------
    def problems(self) -> list[str]:
        """What :func:`deprules.ledger.check.check_account` would find in these accounts'
        rows, checked on the columns: balances against their FTs, closed deposits at zero,
        GL lines and transfer pairs that sum to zero, money moved only by interest,
        write-downs, refunds and charges, legal status moves, one open To Do per type."""
        from ..money import format_money

        s, m, b, adj = self.s, self.m, self.before, self.adj
        out: list[str] = []
        aid = lambda a: s.account_id[a]  # noqa: E731
        sid = lambda r: s.sa_id[r]  # noqa: E731
        mon = lambda x: format_money(int(x), self.mu)  # noqa: E731
        n_sa = s.n_sa
        fp = np.zeros(n_sa, np.int64)
        fc = np.zeros(n_sa, np.int64)
        np.add.at(fp, adj["sa"], adj["fp"])
        np.add.at(fc, adj["sa"], adj["fc"])
        r = self.s.account_rows(self.keep)
        for label, col, got in (("payoff", "payoff", fp), ("current", "current", fc)):
            bad = r[getattr(m, col)[r] != b[col][r] + got[r]]
            for x in bad[:20].tolist():
                out.append(f"{aid(s.acct[x])}: SA {sid(x)} {label} "
                           f"{mon(getattr(m, col)[x])} but opening balance plus FTs give "
                           f"{mon(b[col][x] + got[x])}")
        closed = r[(m.status[r] == st.STATUS_CODE["closed"]) & s.is_cash[r]
                   & ((m.payoff[r] != 0) | (m.current[r] != 0))]
        for x in closed[:20].tolist():
            out.append(f"{aid(s.acct[x])}: cash deposit SA {sid(x)} is closed with payoff "
                       f"{mon(m.payoff[x])}, current {mon(m.current[x])}")
        zero = np.flatnonzero(adj["amount"] == 0)
        for i in zero[:20].tolist():
            a = aid(adj["acct"][i])
            out.append(f"{a}: adjustment {a}-ADJ{adj['n'][i]:03d} has amount 0.00")
        twin = np.flatnonzero(adj["twin"] == 1)
        if len(twin):
            pair = twin + 1
            bad = (pair >= len(adj["acct"]))
            pair = np.minimum(pair, len(adj["acct"]) - 1)
            bad |= (adj["twin"][pair] != -1) | (adj["acct"][pair] != adj["acct"][twin])
            bad |= adj["amount"][pair] + adj["amount"][twin] != 0
            for i in twin[bad][:20].tolist():
                a = aid(adj["acct"][i])
                out.append(f"{a}: transfer {a}-ADJ{adj['n'][i]:03d} has no matching twin "
                           f"summing to 0.00")
        # money conservation per account
        moved = np.zeros(s.n_acct, np.int64)
        np.add.at(moved, s.acct[r], m.payoff[r] - b["payoff"][r])
        external = np.zeros(s.n_acct, np.int64)
        ext = self.t_ext[adj["type"]]
        np.add.at(external, adj["acct"][ext], adj["fp"][ext])
        for a in np.flatnonzero(self.keep & (moved != external))[:20].tolist():
            out.append(f"{aid(a)}: total payoff moved {mon(moved[a])} but interest, "
                       f"write-downs, refunds and charges account for {mon(external[a])}")
        ev = self.ev
        k = np.flatnonzero(ev["kind"] == EV_STATUS)
        legal = np.zeros((len(STATUSES), len(STATUSES)), bool)
        for a_, b_ in LEGAL_MOVES:
            legal[st.STATUS_CODE[a_], st.STATUS_CODE[b_]] = True
        for i in k[~legal[ev["a"][k], ev["b"][k]]][:20].tolist():
            out.append(f"{aid(ev['acct'][i])}: SA {sid(ev['sa'][i])} moved "
                       f"{STATUSES[ev['a'][i]]} -> {STATUSES[ev['b'][i]]}")
        t = self.todo
        if len(t["sa"]):
            key = [(int(x), y) for x, y in zip(t["sa"].tolist(), t["type"].tolist())]
            if len(set(key)) != len(key):
                seen: set = set()
                for x, y in key:
                    if (x, y) in seen:
                        out.append(f"{aid(s.acct[x])}: 2 open {y} To Dos for SA {sid(x)}")
                    seen.add((x, y))
        return out

    # ---- counting -----------------------------------------------------------------------
    def count(self, summary, trace_rules: dict) -> None:
        """Add these accounts to ``summary`` (``trace_rules``: firings per rule id)."""
        summary.accounts_changed += int(self.keep.sum())
        summary.rules.update(trace_rules)
        adj = self.adj
        for t, code in enumerate(self.o_category.tolist()):
            at = adj["type"] == t
            if not at.any():
                continue
            amounts = adj["amount"][at]
            if code == "transfer":
                amounts = amounts[amounts > 0]  # each pair once: the leg on the deposit SA
            summary.money[code] += int(amounts.sum())
        summary.checks += int(np.count_nonzero(adj["chk"]))
        types, n = np.unique(self.todo["type"].astype(str), return_counts=True) \
            if len(self.todo["type"]) else ([], [])
        for ty, c in zip(types, n):
            summary.todos[str(ty)] += int(c)

    # ---- the rows ---------------------------------------------------------------------
    def write(self, conn, progress=None) -> int:
        """Update the moved SAs and insert every new row, ``CHUNK_ACCOUNTS`` accounts at a
        time; returns the rows written."""
        written = 0
        rows = self.sa_rows
        if len(rows):
            m = self.m
            status = np.asarray(STATUSES, object)[m.status[rows]].tolist()
            for start in range(0, len(rows), 200_000):
                r = rows[start:start + 200_000]
                sl = slice(start, start + len(r))
                conn.executemany(
                    "UPDATE service_agreements SET status = ?, stop_date = ?, "
                    "current_balance = ?, payoff_balance = ?, last_interest_date = ? "
                    "WHERE sa_id = ? AND account_id = ?",
                    zip(status[sl], _iso(m.stop[r]).to_pylist(), m.current[r].tolist(),
                        m.payoff[r].tolist(), _iso(m.last_int[r]).to_pylist(),
                        self.s.sa_id[r].tolist(), self.s.account_id[self.s.acct[r]].tolist()))
            written += len(rows)
        accts = np.flatnonzero(self.keep)
        for start in range(0, len(accts), CHUNK_ACCOUNTS):
            lo, hi = accts[start], accts[min(start + CHUNK_ACCOUNTS, len(accts)) - 1] + 1
            for name, cols in self._chunk(lo, hi).items():
                if LAYOUTS[name].packed:  # account id, count, entries: one row per account
                    conn.executemany(LAYOUTS[name].insert_sql(), zip(*cols))
                    written += sum(cols[1])
                    continue
                bound = [c for c in cols if not isinstance(c, _Same)]
                if bound and len(bound[0]):
                    written += _insert(conn, LAYOUTS[name], cols, bound)
            if progress is not None:
                progress(min(start + CHUNK_ACCOUNTS, len(accts)), len(accts))
        return written

    def _chunk(self, lo: int, hi: int) -> dict[str, list]:
        """The stored columns (``Layout.stored_columns`` order) of accounts ``lo``..``hi``."""
        s = self.s
        on = self.on_text
        money = lambda v: format_money_array(v, self.mu)  # noqa: E731

        def part(acct: np.ndarray) -> slice:
            return slice(int(np.searchsorted(acct, lo)), int(np.searchsorted(acct, hi)))

        def ids(acct_rows: np.ndarray, kind: str, n: np.ndarray) -> pa.Array:
            nums = pc.utf8_lpad(pc.cast(pa.array(np.asarray(n, np.int64)), pa.string()), 3, "0")
            return pc.binary_join_element_wise(s.account_ids.take(pa.array(acct_rows)), nums,
                                               "-" + kind)

        def rep(v, n: int) -> _Same:
            return _Same(v)

        out: dict[str, list] = {}
        a = {k: v[part(self.adj["acct"])] for k, v in self.adj.items()}
        na = len(a["acct"])
        adj_id = ids(a["acct"], "ADJ", a["n"])
        ft_id = ids(a["acct"], "FT", a["ftn"])
        twin = a["twin"].astype(np.int64)
        twin_id = pc.if_else(pa.array(twin != 0), ids(a["acct"], "ADJ", a["n"] + twin),
                             pa.scalar("", pa.string()))
        cause = self.cause_ids[a["vi"]].tolist()
        # ids of accounts and SAs: the Python strings made once per store (Static's
        # object arrays), not one per row
        acct_o, sa_o = s.account_id[a["acct"]], s.sa_id[a["sa"]]
        acct_l, sa_l = acct_o.tolist(), sa_o.tolist()
        adj_l, ft_l = adj_id.to_pylist(), ft_id.to_pylist()
        amount_l = a["amount"].tolist()
        out["adjustments"] = [adj_l, acct_l, sa_l, self.o_code[a["type"]].tolist(),
                              self.o_category[a["type"]].tolist(), amount_l,
                              rep("frozen", na), rep("batch", na), rep(on, na), cause,
                              twin_id.to_pylist(), ft_l, rep("", na), rep("", na),
                              rep("", na), rep("", na)]
        out["fts"] = [ft_l, acct_l, sa_l, rep(on, na), a["fp"].tolist(), a["fc"].tolist(),
                      rep("adjustment", na), adj_l, cause, rep("", na)]
        # GL lines, packed column by column: ft_id, seq, distribution code, amount
        gl = np.flatnonzero(self.t_gl[a["type"]])
        g2 = np.repeat(gl, 2)
        seq = np.tile(np.array([1, 2], np.int64), len(gl))
        codes = np.empty(2 * len(gl), object)
        codes[0::2] = self.o_sa_dist[s.sa_type[a["sa"][gl]]]
        codes[1::2] = self.o_dist[a["type"][gl]]
        gl_amount = np.where(seq == 1, a["amount"][g2], -a["amount"][g2])
        out["gl_lines"] = _packs(s.account_id, a["acct"][g2], [
            _json_or_null(ft_id.take(pa.array(g2))), _num(seq),
            _json_or_null(pa.array(codes, pa.string())), _num(gl_amount)])
        ck = np.flatnonzero(a["chk"])
        nck = len(ck)
        ckp = pa.array(ck)
        chk_id = ids(a["acct"][ck], "CHK", a["chk"][ck])
        out["checks"] = [chk_id.to_pylist(), acct_o[ck].tolist(),
                         sa_o[ck].tolist(), adj_id.take(ckp).to_pylist(),
                         acct_o[ck].tolist(), a["amount"][ck].tolist(),
                         rep("not_selected", nck),
                         self.o_request[a["type"][ck]].tolist(),
                         rep(on, nck), [cause[i] for i in ck.tolist()]]
        # bills
        bp = part(self.bill_acct)
        b_sa, b_acct, b_n = self.bill_sa[bp], self.bill_acct[bp], self.bill_n[bp]
        nb = len(b_sa)
        m = self.m
        bill_id = ids(b_acct, "BILL", b_n)
        out["bills"] = [bill_id.to_pylist(), s.account_id[b_acct].tolist(),
                        s.sa_id[b_sa].tolist(), self.bill_amount[bp].tolist(),
                        np.asarray(st.BILL_STATES, object)[m.bill_status[b_sa]].tolist(),
                        rep(on, nb), self.cause_ids[self.bill_vi[bp]].tolist(),
                        _iso(m.bill_completed[b_sa]).to_pylist(),
                        _iso(m.bill_due[b_sa]).to_pylist(),
                        m.rma[b_sa].astype(np.int64).tolist()]
        # To Dos
        t = {k: v[part(self.todo["acct"])] for k, v in self.todo.items()}
        nt = len(t["acct"])
        td_id = ids(t["acct"], "TD", t["n"])
        t_acct = s.account_id[t["acct"]].tolist()
        t_sa = s.sa_id[t["sa"]].tolist()
        types = t["type"].tolist()
        tts = self.config.todo_types
        balance = money(t["balance"]).to_pylist()
        messages = [tts[ty].message.format(sa_id=x, account_id=y, balance=bal,
                                           adjustment_id="", amount="")
                    for ty, x, y, bal in zip(types, t_sa, t_acct, balance)]
        out["todos"] = [td_id.to_pylist(), t_acct, t_sa, types, [tts[ty].role for ty in types],
                        messages, rep("open", nt), rep(on, nt),
                        self.cause_ids[t["vi"]].tolist(), rep("", nt), rep("", nt),
                        rep(None, nt), rep("", nt)]
        out["journal"] = self._journal(lo, hi, a, adj_id, ft_id, t, td_id)
        return {k: out[k] for k in ("adjustments", "fts", "gl_lines", "bills", "todos",
                                    "checks", "journal")}

    def _journal(self, lo, hi, a, adj_id, ft_id, t, td_id) -> list:
        """The journal rows of accounts ``lo``..``hi``: every entry of the adjustments
        (``a``, with their ids), To Dos (``t``) and other events, in the executor's order."""
        s, mu = self.s, self.mu
        money = lambda v: format_money_array(v, mu)  # noqa: E731
        keys, sa_rows, kinds, entity, detail, vi = [], [], [], [], [], []

        def add(cols: dict, at: np.ndarray, sub, micro, kind: str, ent: pa.Array,
                det: pa.Array) -> None:
            keys.append([cols["acct"][at], cols["pidx"][at], cols["rnd"][at], cols["rank"][at],
                         cols["ai"][at], np.broadcast_to(np.asarray(sub, np.int64), (len(at),)),
                         np.broadcast_to(np.asarray(micro, np.int64), (len(at),))])
            sa_rows.append(cols["sa"][at])
            kinds.append(np.full(len(at), JOURNAL_KINDS.index(kind), np.int8))
            entity.append(ent)
            detail.append(det)
            vi.append(cols["vi"][at])

        na = len(a["acct"])
        allp = np.arange(na)
        typ = pa.array(a["type"].astype(np.int32))
        amount = money(a["amount"])
        add(a, allp, a["sub"], 0, "adjustment", adj_id,
            _join('{"amount":"', amount, '","category":', self.t_category_json.take(typ),
                  ',"type":', self.t_code_json.take(typ), "}"))
        twin = a["twin"].astype(np.int64)
        f_sub = np.where(twin == 1, a["sub"] + 1, a["sub"])
        f_micro = np.where(twin == 1, 1, np.where(twin == -1, 3, 1))
        add(a, allp, f_sub, f_micro, "freeze", adj_id,
            _join('{"current":"', money(a["fc"]), '","ft_id":', _quoted(ft_id),
                  ',"payoff":"', money(a["fp"]), '"}'))
        ck = np.flatnonzero(a["chk"])
        if len(ck):
            ckp = pa.array(ck)
            nums = pc.utf8_lpad(pc.cast(pa.array(a["chk"][ck]), pa.string()), 3, "0")
            chk_id = pc.binary_join_element_wise(s.account_ids.take(pa.array(a["acct"][ck])),
                                                 nums, "-CHK")
            add(a, ck, f_sub[ck], f_micro[ck] + 1, "check", chk_id,
                _join('{"adjustment_id":', _quoted(adj_id.take(ckp)), ',"amount":"',
                      amount.take(ckp), '"}'))
        nt = len(t["acct"])
        if nt:
            types = pa.array(t["type"].tolist(), pa.string())
            add(t, np.arange(nt), t["sub"], 0, "todo", td_id,
                _join('{"todo_type":', _quoted(types), "}"))
        ev = {k: v[slice(int(np.searchsorted(self.ev["acct"], lo)),
                         int(np.searchsorted(self.ev["acct"], hi)))]
              for k, v in self.ev.items()}
        kind = ev["kind"]
        ev_sa = s.sa_ids.take(pa.array(ev["sa"]))

        def bill_ids(at):
            nums = pc.utf8_lpad(pc.cast(pa.array(self.sa_bill[ev["sa"][at]]), pa.string()),
                                3, "0")
            return pc.binary_join_element_wise(s.account_ids.take(pa.array(ev["acct"][at])),
                                               nums, "-BILL")

        status_json = _quoted(_lut(list(STATUSES)))
        for k, name in ((EV_STATUS, "status"), (EV_BILL, "bill"),
                        (EV_REFUND_METHOD, "refund_method"),
                        (EV_BILL_COMPLETE, "bill_complete"), (EV_SETTLED, "interest_settled")):
            at = np.flatnonzero(kind == k)
            if not len(at):
                continue
            atp = pa.array(at)
            if k == EV_STATUS:
                det = _join('{"from_status":', status_json.take(pa.array(ev["a"][at])),
                            ',"stop_date":', _json_or_null(_iso(ev["c"][at])),
                            ',"to_status":', status_json.take(pa.array(ev["b"][at])), "}")
                ent = ev_sa.take(atp)
            elif k == EV_BILL:
                det = _join('{"amount":"', money(ev["a"][at]), '","status":"frozen"}')
                ent = bill_ids(at)
            elif k == EV_REFUND_METHOD:
                methods = _lut([json.dumps(v.params.get(
                    "deposit_class.refund_method.algorithm"), ensure_ascii=False)
                    for v in self.e.variants_all])
                det = _join('{"method":', methods.take(pa.array(ev["vi"][at])), "}")
                ent = bill_ids(at)
            elif k == EV_BILL_COMPLETE:
                det = _join('{"due_date":"', _iso(ev["a"][at]), '"}')
                ent = bill_ids(at)
            else:
                flags = ev["d"][at]
                below = pa.array(np.where(flags & 1, "true", "false").astype(object), pa.string())
                periodic = pa.array(np.where(flags & 2, ',"periodic":true', "").astype(object),
                                    pa.string())
                det = _join('{"amount":"', money(ev["c"][at]), '","below_minimum":', below,
                            ',"from_date":', _json_or_null(_iso(ev["a"][at])), periodic,
                            ',"to_date":"', _iso(ev["b"][at]), '"}')
                ent = ev_sa.take(atp)
            add(ev, at, ev["sub"][at], ev["micro"][at], name, ent, det)
        order = st.sort_order([np.concatenate([k[i] for k in keys]) for i in range(7)])
        acct = np.concatenate([k[0] for k in keys])[order]
        seq = _ordinal(acct) + self.counts["journal"][acct]
        sa = np.concatenate(sa_rows)[order]
        op = pa.array(order)
        # packed, column by column: seq, sa_id, on, kind, entity_id, detail, cause_id
        return _packs(s.account_id, acct, [
            _num(seq), _json_or_null(s.sa_ids.take(pa.array(sa))),
            pa.array([f'"{self.on_text}"'], pa.string()).take(np.zeros(len(acct), np.int32)),
            self.kind_json.take(pa.array(np.concatenate(kinds)[order])),
            _json_or_null(pa.concat_arrays(entity).take(op)),
            pc.fill_null(pa.concat_arrays(detail).take(op), "null"),
            _num(self.cause_ids[np.concatenate(vi)[order]])])


def trace_rules(log: Log, static: st.Static, keep: np.ndarray, variants: list) -> dict:
    """Firings per rule id of the accounts in ``keep``."""
    out: dict[str, int] = {}
    for rows, vi, _, _ in log.trace:
        at = keep[static.acct[rows]]
        if at.any():
            for v, n in zip(*np.unique(vi[at], return_counts=True)):
                rid = variants[int(v)].rule.id
                out[rid] = out.get(rid, 0) + int(n)
    return out


__all__ = ["CHUNK_ACCOUNTS", "StoreRows", "account_counts", "balances_before",
           "touches_old_bills", "trace_rules"]
