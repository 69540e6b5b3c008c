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

from ..config.model import Config
from . import state as st


def _daynums(col: pd.Series) -> np.ndarray:
    """Day numbers with None as the vector engine's NONE."""
    v = col.to_numpy(dtype=object)
    none = pd.isna(v)
    out = np.where(none, 0, v).astype(np.int64)
    out[none] = st.NONE
    return out


def _ints(col: pd.Series, default: int = 0) -> np.ndarray:
    return col.fillna(default).to_numpy(dtype=np.int64)


def _sorted(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``df`` ordered by the text columns ``keys`` in byte order (SQLite's and Arrow's)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(df) < 2:
        return df
    tbl = pa.table({k: st._arrow_str(df[k]) for k in keys})
    order = pc.sort_indices(tbl, sort_keys=[(k, "ascending") for k in keys]).to_numpy()
    if (order[1:] > order[:-1]).all():
        return df
    return df.iloc[order].reset_index(drop=True)


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
    """SQL for a stored ISO date as its day number since 1970-01-01 (NULL stays NULL):
    integers cost far less to fetch than date texts."""
    return f"CAST(julianday({col}) - 2440587.5 AS INTEGER)"


def _datetimes(col: pd.Series) -> np.ndarray:
    """Day numbers (None: no date) as datetime64[ns] with NaT, the extract's date dtype."""
    return st.datetimes_from_days(_daynums(col))


def _queries(scope: str, for_frames: bool) -> dict[str, str]:
    """The SELECTs :func:`store_state` reads, by name (dates as day numbers)."""
    q = {
        "accounts": "SELECT account_id, customer_class, credit_rating, late_payments_12m, "
                    f"do_not_refund, {_day('cc_postpone_date')} FROM accounts{_where(scope)}",
        # read in table order (a scan; ORDER BY would sort through the index), sorted later
        "service_agreements": f"SELECT sa_id, account_id, sa_type, status, {_day('start_date')}, "
                              f"{_day('stop_date')}, current_balance, payoff_balance, "
                              f"{_day('last_interest_date')} FROM service_agreements"
                              f"{_where(scope)}",
        "non_cash_deposits": f"SELECT account_id, deposit_class, {_day('start_date')}, "
                             f"{_day('end_date')} FROM non_cash_deposits{_where(scope)} "
                             "ORDER BY rowid",
        "ft_history": f"SELECT sa_id, {_day('date')}, payoff_amount FROM ft_history"
                      f"{_where(scope)} ORDER BY rowid",
        # the FTs deprules posted: the interest of an SA is computed over them
        "fts": f"SELECT sa_id, {_day('date')}, payoff_amount FROM fts"
               + _where(scope, "" if for_frames else (
                   "sa_id IN (SELECT sa_id FROM service_agreements WHERE status NOT IN "
                   "('closed', 'canceled'))")) + " ORDER BY rowid",
        "bills": f"SELECT sa_id, status, {_day('due_date')}, refund_method_applied"
                 + (f", amount, {_day('created_on')}, {_day('completed_on')}"
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


def _frame_of(rows: list, columns: list[str]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    return pd.DataFrame.from_records(rows, columns=columns, coerce_float=False)


class StoreExtract:
    """The store's current accounts, SAs, NCDs and FT history as typed extract tables (only
    the columns the vector engine reads), from the rows of :func:`_queries`."""

    def __init__(self, raw: dict[str, list]):
        acc = _frame_of(raw["accounts"], ["account_id", "customer_class", "credit_rating",
                                          "late_payments_12m", "do_not_refund",
                                          "cc_postpone_date"])
        acc = _sorted(acc, ["account_id"])
        acc["credit_rating"] = _ints(acc["credit_rating"])
        acc["late_payments_12m"] = _ints(acc["late_payments_12m"])
        acc["do_not_refund"] = acc["do_not_refund"].fillna(0).astype(np.int64).astype(bool)
        acc["cc_postpone_date"] = _datetimes(acc["cc_postpone_date"])
        self.accounts = acc
        sas = _frame_of(raw["service_agreements"],
                        ["sa_id", "account_id", "sa_type", "status", "start_date", "stop_date",
                         "current_balance", "payoff_balance", "last_interest_date"])
        sas = _sorted(sas, ["account_id", "sa_id"])
        for c in ("current_balance", "payoff_balance"):
            sas[c] = _ints(sas[c])
        for c in ("start_date", "stop_date", "last_interest_date"):
            sas[c] = _datetimes(sas[c])
        self.service_agreements = sas
        ncd = _frame_of(raw["non_cash_deposits"],
                        ["account_id", "deposit_class", "start_date", "end_date"])
        ncd["start_date"], ncd["end_date"] = (_datetimes(ncd["start_date"]),
                                              _datetimes(ncd["end_date"]))
        self.non_cash_deposits = ncd
        fts = _frame_of(raw["ft_history"], ["sa_id", "date", "payoff_amount"])
        fts["date"] = _datetimes(fts["date"])
        fts["payoff_amount"] = _ints(fts["payoff_amount"])
        self.financial_transactions = fts
        self.source = "store"


def store_state(conn, config: Config, for_frames: bool = False, scoped: bool = False,
                beside=None) -> tuple[st.Static, st.Mutable]:
    """Static and mutable columns of the whole store as of ``conn``'s snapshot: what the
    engine decides on. ``for_frames`` reads also what only the result frames use (each
    account's entity counts, which number new ids; last bills' amounts and dates), and the
    FTs of closed and canceled SAs (which earn no interest: nothing in a batch reopens
    them). ``scoped``: only the accounts of ``temp.batch_scope`` (:func:`scope_accounts`).

    ``beside(read)``, when given, calls ``read(connection)`` in the calling thread with
    another connection on the same snapshot (and the same ``temp.batch_scope``) and returns
    its result: about half of the rows are then read there, in a second thread, while this
    one reads the rest (SQLite does its part of a query without Python's lock)."""
    scope = SCOPE if scoped else ""
    queries = _queries(scope, for_frames)
    if beside is None:
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
        rows = st._index_in(st._arrow_str(ids), static.sa_ids, set_sorted=False)
        if (rows < 0).any():
            from ..errors import StoreError

            raise StoreError("the store is damaged: rows name SAs that are not in its "
                             "service_agreements table (run `deprules ledger check`)")
        return rows

    own = raw["fts"]
    if own:
        ids, days, amounts = zip(*own)
        rows = sa_rows(ids)
        mut.own_ft = [(rows, np.asarray(days, np.int64), np.asarray(amounts, np.int64))]
        mut.own_ft_n = np.bincount(rows, minlength=n_sa).astype(np.int32)
        if for_frames:
            mut.n_ft = np.bincount(static.acct[rows], minlength=static.n_acct).astype(np.int64)
    # each SA's last bill and how many it has
    bills = _frame_of(raw["bills"], ["sa_id", "status", "due_date", "rma"] +
                      (["amount", "created_on", "completed_on"] if for_frames else []))
    if len(bills):
        rows = sa_rows(bills["sa_id"])
        mut.bill_n = np.bincount(rows, minlength=n_sa).astype(np.int32)
        if for_frames:
            mut.n_bill = np.bincount(static.acct[rows], minlength=static.n_acct).astype(
                np.int64)
        last = ~pd.Series(rows).duplicated(keep="last").to_numpy()
        r, b = rows[last], bills[last]
        unknown = set(b["status"]) - set(st.BILL_CODE)
        if unknown:
            from ..errors import StoreError

            raise StoreError(f"the store holds bills of unknown status {sorted(unknown)}")
        mut.bill_status[r] = b["status"].map(st.BILL_CODE).to_numpy(dtype=np.int8)
        mut.bill_due[r] = _daynums(b["due_date"])
        if for_frames:
            mut.bill_amount[r] = _ints(b["amount"])
            mut.bill_created[r] = _daynums(b["created_on"])
            mut.bill_completed[r] = _daynums(b["completed_on"])
        mut.rma[r] = b["rma"].fillna(0).to_numpy(dtype=np.int64).astype(bool)
    # open To Do types per SA
    todos = raw["todos"]
    if todos:
        ids, types = zip(*todos)
        rows = sa_rows(ids)
        types = np.asarray(types, dtype=object)
        for t in sorted(set(types.tolist())):
            mut.open_todo_of(t)[rows[types == t]] = True
    if not for_frames:
        return static, mut
    for table, name in (("adjustments", "n_adj"), ("checks", "n_chk"), ("todos", "n_todo")):
        counts = raw[f"count:{table}"]
        if counts:
            ids, n = zip(*counts)
            pos = st._index_in(st._arrow_str(list(ids)), static.account_ids, set_sorted=True)
            arr = getattr(mut, name)
            ok = pos >= 0
            arr[pos[ok]] = np.asarray(n, np.int64)[ok]
    return static, mut


__all__ = ["StoreExtract", "reading_beside", "scope_accounts", "store_state"]
