"""The vector back end's columns read straight from a SQLite store.

A store holds more than an extract: the bills, To Dos and FTs earlier runs and CSR commands
made. :func:`store_state` reads the columns a cycle needs in one snapshot (a reader's or the
writer's connection) without building any account object:

- accounts, SAs (their current status, dates and balances), non-cash deposits and the
  extract's FT history, as the extract tables :func:`deprules.vector.state.build` takes;
- the FTs deprules posted (interest is computed over them as the executor does);
- each SA's last bill (status, amount, dates, refund method applied) and how many it has;
- the open To Do types of each SA (no second open To Do of a type);
- for result frames only (``for_frames``): per account, how many adjustments, FTs, checks,
  To Dos and bills exist, so new ids continue from them as the executor numbers them.

A batch reads only the accounts it can change (``scoped``: see
:func:`deprules.processes.scope_sql`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from ..config.model import Config
from . import state as st


def _columns(rows, width: int) -> list:
    """The columns of fetched rows: ``rows`` as ``sqlite3`` returns them, or already
    columns (Arrow arrays from :mod:`deprules.vector.storeread`). One ``itemgetter`` pass
    per column: ``zip(*rows)`` costs three times as much over millions of rows."""
    from operator import itemgetter

    if isinstance(rows, tuple):  # columns already
        return list(rows)
    return [list(map(itemgetter(i), rows)) for i in range(width)]


def _count(rows) -> int:
    """How many rows ``rows`` (rows, or columns) holds."""
    return len(rows[0]) if isinstance(rows, tuple) else len(rows)


def _ints(values) -> np.ndarray:
    """A column SQL made NULL-free (COALESCE) as int64."""
    if isinstance(values, pa.Array):
        return values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return np.fromiter(values, dtype=np.int64, count=len(values))


def _texts(values) -> pa.Array:
    if isinstance(values, pa.Array):
        return values if values.type == pa.string() else values.cast(pa.string())
    return pa.array(values, type=pa.string())


def _objects(values) -> np.ndarray:
    """A (short) text column as a numpy object array."""
    if isinstance(values, pa.Array):
        return values.to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=object)


def _frame(cols: dict) -> pd.DataFrame:
    """A DataFrame of Arrow text columns (Arrow-backed, so the vector engine encodes them
    without a Python string per value) and numpy columns."""
    return pd.DataFrame({k: pd.arrays.ArrowStringArray(v) if isinstance(v, pa.Array) else v
                         for k, v in cols.items()})


def _sorted(cols: dict, keys: list[str]) -> dict:
    """``cols`` ordered by its text columns ``keys`` in byte order (SQLite's and Arrow's)."""
    import pyarrow.compute as pc

    if len(cols[keys[0]]) < 2:
        return cols
    order = pc.sort_indices(pa.table({k: cols[k] for k in keys}),
                            sort_keys=[(k, "ascending") for k in keys]).to_numpy()
    if (order[1:] > order[:-1]).all():
        return cols
    return {k: v.take(order) if isinstance(v, pa.Array) else v[order] for k, v in cols.items()}


def _where(scope: str, *more: str) -> str:
    """`` WHERE`` with the scope clause and any others ('' when there are none)."""
    parts = [c for c in (scope, *more) if c]
    return " WHERE " + " AND ".join(parts) if parts else ""


SCOPE = "account_id IN (SELECT account_id FROM temp.batch_scope)"


def scope_accounts(conn, select_sql: str) -> int:
    """Fill ``temp.batch_scope`` with the account ids ``select_sql`` selects (the accounts a
    batch can change: ``processes.scope_sql``); returns how many."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS batch_scope (account_id TEXT PRIMARY KEY) "
                 "WITHOUT ROWID")
    conn.execute("DELETE FROM temp.batch_scope")
    conn.execute(f"INSERT OR IGNORE INTO temp.batch_scope SELECT account_id FROM "
                 f"({select_sql}) WHERE account_id IS NOT NULL")
    return conn.execute("SELECT COUNT(*) FROM temp.batch_scope").fetchone()[0]


def reading_beside(store, conn, scoped: bool):
    """A ``beside`` for :func:`store_state`: a read connection on ``store`` with the scope of
    ``conn``'s ``temp.batch_scope`` copied into its own. Valid while ``conn`` holds the
    write transaction and has written nothing to the store yet: a reader that starts then
    sees exactly what ``conn`` sees (nothing else can commit meanwhile)."""
    ids = [r[0] for r in conn.execute("SELECT account_id FROM temp.batch_scope")] \
        if scoped else None

    def beside(read):
        with store.reader() as r:
            if ids is not None:
                r.conn.execute("CREATE TEMP TABLE batch_scope (account_id TEXT PRIMARY KEY) "
                               "WITHOUT ROWID")
                r.conn.executemany("INSERT INTO temp.batch_scope VALUES (?)",
                                   [(a,) for a in ids])
            return read(r.conn)

    return beside


def _day(col: str) -> str:
    """SQL for a stored ISO date as its day number since 1970-01-01, NONE for no date:
    integers cost far less to fetch than date texts, and a column without NULLs becomes
    an int64 array directly."""
    return f"COALESCE(CAST(julianday({col}) - 2440587.5 AS INTEGER), {int(st.NONE)})"


def _int(col: str) -> str:
    """SQL for an integer column with NULL as 0 (as the extract loader reads blanks)."""
    return f"COALESCE({col}, 0)"


def _queries(scope: str, for_frames: bool) -> dict[str, str]:
    """The SELECTs :func:`store_state` reads, by name (dates as day numbers)."""
    q = {
        "accounts": f"SELECT account_id, customer_class, {_int('credit_rating')}, "
                    f"{_int('late_payments_12m')}, {_int('do_not_refund')}, "
                    f"{_day('cc_postpone_date')} FROM accounts{_where(scope)}",
        # read in table order (a scan; ORDER BY would sort through the index), sorted later
        "service_agreements": f"SELECT sa_id, account_id, sa_type, status, {_day('start_date')}, "
                              f"{_day('stop_date')}, {_int('current_balance')}, "
                              f"{_int('payoff_balance')}, {_day('last_interest_date')} "
                              f"FROM service_agreements{_where(scope)}",
        "non_cash_deposits": f"SELECT account_id, deposit_class, {_day('start_date')}, "
                             f"{_day('end_date')} FROM non_cash_deposits{_where(scope)} "
                             "ORDER BY rowid",
        # FTs in any order: the engine sums them per SA and day (no sort in SQL)
        "ft_history": f"SELECT sa_id, {_day('date')}, {_int('payoff_amount')} FROM ft_history"
                      f"{_where(scope)}",
        # the FTs deprules posted: the interest of an SA is computed over them (an SA's
        # status looked up through its id's index: cheaper than listing the open SAs)
        "fts": f"SELECT f.sa_id, {_day('f.date')}, {_int('f.payoff_amount')} FROM fts f"
               + _where(scope and "f." + scope, "" if for_frames else (
                   "EXISTS (SELECT 1 FROM service_agreements s WHERE s.sa_id = f.sa_id AND "
                   "s.status NOT IN ('closed', 'canceled'))")),
        "bills": f"SELECT sa_id, status, {_day('due_date')}, {_int('refund_method_applied')}"
                 + (f", {_int('amount')}, {_day('created_on')}, {_day('completed_on')}"
                    if for_frames else "") + f" FROM bills{_where(scope)} ORDER BY rowid",
        "todos": "SELECT sa_id, todo_type FROM todos"
                 + _where(scope, "status != " + repr("complete")),
    }
    if for_frames:  # ids continue from what each account already has
        for table in ("adjustments", "checks", "todos"):
            q[f"count:{table}"] = (f"SELECT account_id, COUNT(*) FROM {table}{_where(scope)} "
                                   "GROUP BY account_id")
    return q


# what a second connection reads while the first reads the rest (about half of the rows)
_BESIDE = ("fts", "ft_history", "non_cash_deposits", "todos")


def _fetch(conn, queries: dict[str, str], names) -> dict[str, list]:
    return {n: conn.execute(queries[n]).fetchall() for n in names}


class StoreExtract:
    """The store's current accounts, SAs, NCDs and FT history as typed extract tables (only
    the columns the vector engine reads), from the rows of :func:`_queries`: built column
    by column (text as Arrow, numbers and dates as numpy), no per-row pandas work."""

    def __init__(self, raw: dict[str, list]):
        aid, cls, credit, late, dnr, postpone = _columns(raw["accounts"], 6)
        self.accounts = _frame(_sorted({
            "account_id": _texts(aid), "customer_class": _texts(cls),
            "credit_rating": _ints(credit), "late_payments_12m": _ints(late),
            "do_not_refund": _ints(dnr).astype(bool),
            "cc_postpone_date": st.datetimes_from_days(_ints(postpone))}, ["account_id"]))
        sid, aid, typ, status, start, stop, cur, pay, lid = _columns(
            raw["service_agreements"], 9)
        self.service_agreements = _frame(_sorted({
            "sa_id": _texts(sid), "account_id": _texts(aid), "sa_type": _texts(typ),
            "status": _texts(status), "start_date": st.datetimes_from_days(_ints(start)),
            "stop_date": st.datetimes_from_days(_ints(stop)), "current_balance": _ints(cur),
            "payoff_balance": _ints(pay),
            "last_interest_date": st.datetimes_from_days(_ints(lid))},
            ["account_id", "sa_id"]))
        aid, dcls, start, end = _columns(raw["non_cash_deposits"], 4)
        self.non_cash_deposits = _frame({
            "account_id": _texts(aid), "deposit_class": _texts(dcls),
            "start_date": st.datetimes_from_days(_ints(start)),
            "end_date": st.datetimes_from_days(_ints(end))})
        sid, day, pay = _columns(raw["ft_history"], 3)
        self.financial_transactions = _frame({
            "sa_id": _texts(sid), "date": st.datetimes_from_days(_ints(day)),
            "payoff_amount": _ints(pay)})
        self.source = "store"


def store_state(conn, config: Config, for_frames: bool = False, scoped: bool = False,
                beside=None, raw: dict | None = None) -> tuple[st.Static, st.Mutable]:
    """Static and mutable columns of the whole store as of ``conn``'s snapshot: what the
    engine decides on. ``for_frames`` reads also what only the result frames use (each
    account's entity counts, which number new ids; last bills' amounts and dates), and the
    FTs of closed and canceled SAs (which earn no interest: nothing in a batch reopens
    them). ``scoped``: only the accounts of ``temp.batch_scope`` (:func:`scope_accounts`).

    ``beside(read)``, when given, calls ``read(connection)`` in the calling thread with
    another connection on the same snapshot (and the same ``temp.batch_scope``) and returns
    its result: about half of the rows are then read there, in a second thread, while this
    one reads the rest (SQLite does its part of a query without Python's lock).

    ``raw``, when given, holds what :func:`_queries` selects as columns already (read by
    :func:`deprules.vector.storeread.read`); ``conn`` is then not read for them."""
    scope = SCOPE if scoped else ""
    queries = _queries(scope, for_frames)
    if raw is not None:
        raw = {n: tuple(cols) for n, cols in raw.items()}  # columns, not rows
    elif beside is None:
        raw = _fetch(conn, queries, queries)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            side = pool.submit(beside, lambda c: _fetch(c, queries, _BESIDE))
            raw = _fetch(conn, queries, [n for n in queries if n not in _BESIDE])
            raw.update(side.result())
    ex = StoreExtract(raw)
    static, mut = st.build(ex, config)
    n_sa = static.n_sa

    def sa_rows(ids) -> np.ndarray:
        rows = st._index_in(_texts(ids), static.sa_ids, set_sorted=False)
        if (rows < 0).any():
            from ..errors import StoreError

            raise StoreError("the store is damaged: rows name SAs that are not in its "
                             "service_agreements table (run `deprules ledger check`)")
        return rows

    own = raw["fts"]
    if _count(own):
        ids, days, amounts = _columns(own, 3)
        rows = sa_rows(ids)
        mut.own_ft = [(rows, _ints(days), _ints(amounts))]
        mut.own_ft_n = np.bincount(rows, minlength=n_sa).astype(np.int32)
        if for_frames:
            mut.n_ft = np.bincount(static.acct[rows], minlength=static.n_acct).astype(np.int64)
    # each SA's last bill and how many it has
    if _count(raw["bills"]):
        bill = _columns(raw["bills"], 7 if for_frames else 4)
        rows = sa_rows(bill[0])
        mut.bill_n = np.bincount(rows, minlength=n_sa).astype(np.int32)
        if for_frames:
            mut.n_bill = np.bincount(static.acct[rows], minlength=static.n_acct).astype(
                np.int64)
        last = np.flatnonzero(~pd.Series(rows).duplicated(keep="last").to_numpy())
        r = rows[last]
        status = pd.Series(_objects(bill[1])[last])
        unknown = set(status) - set(st.BILL_CODE)
        if unknown:
            from ..errors import StoreError

            raise StoreError(f"the store holds bills of unknown status {sorted(unknown)}")
        mut.bill_status[r] = status.map(st.BILL_CODE).to_numpy(dtype=np.int8)
        mut.bill_due[r] = _ints(bill[2])[last]
        mut.rma[r] = _ints(bill[3])[last].astype(bool)
        if for_frames:
            mut.bill_amount[r] = _ints(bill[4])[last]
            mut.bill_created[r] = _ints(bill[5])[last]
            mut.bill_completed[r] = _ints(bill[6])[last]
    # open To Do types per SA
    todos = raw["todos"]
    if _count(todos):
        ids, types = _columns(todos, 2)
        rows = sa_rows(ids)
        types = _objects(types)
        for t in sorted(set(types.tolist())):
            mut.open_todo_of(t)[rows[types == t]] = True
    if not for_frames:
        return static, mut
    for table, name in (("adjustments", "n_adj"), ("checks", "n_chk"), ("todos", "n_todo")):
        counts = raw[f"count:{table}"]
        if _count(counts):
            ids, n = _columns(counts, 2)
            pos = st._index_in(_texts(ids), static.account_ids, set_sorted=True)
            arr = getattr(mut, name)
            ok = pos >= 0
            arr[pos[ok]] = np.asarray(n, np.int64)[ok]
    return static, mut


def batch_state(store, conn, config: Config, scope: str | None,
                accounts: int) -> tuple[st.Static, st.Mutable]:
    """:func:`store_state` for a store batch inside ``conn``'s write transaction, scoped by
    ``scope`` (``processes.scope_sql``; None: every account) on a store of ``accounts``
    accounts. While the transaction has written nothing, another reader sees what ``conn``
    sees: the columns are then read by the reading children (:mod:`deprules.storeread`), or
    here on two connections (:func:`reading_beside`); otherwise on ``conn`` alone."""
    from .. import storeread
    from ..storecheck import generation

    scoped = scope is not None
    untouched = conn.total_changes == 0
    raw = storeread.read(store.path, scope, _queries(SCOPE if scoped else "", False),
                         generation(conn), accounts) if untouched else None
    beside = None
    if raw is None:
        if scoped:
            scope_accounts(conn, scope)
        beside = reading_beside(store, conn, scoped) if untouched else None
    return store_state(conn, config, scoped=scoped, beside=beside, raw=raw)


__all__ = ["StoreExtract", "batch_state", "reading_beside", "scope_accounts", "store_state"]
