"""The vector back end's columns read straight from a SQLite store.

A store holds more than an extract: the bills, To Dos and FTs earlier runs and CSR commands
made. :func:`store_state` reads the columns a cycle needs in one snapshot (a reader's or the
writer's connection) without building any account object:

- accounts, SAs (their current status, dates and balances), non-cash deposits and the
  extract's FT history, as the extract tables :func:`deprules.vector.state.build` takes;
- the FTs deprules posted (interest is computed over them as the executor does);
- each SA's last bill (status, amount, dates, refund method applied) and how many it has;
- the open To Do types of each SA (no second open To Do of a type);
- per account, how many adjustments, FTs, checks, To Dos and bills exist, so new ids
  continue from them exactly as the executor numbers them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config.model import Config
from . import state as st


def _frame(conn, sql: str, columns: list[str]) -> pd.DataFrame:
    rows = conn.execute(sql).fetchall()
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    return pd.DataFrame.from_records(rows, columns=columns, coerce_float=False)


def _dates(col: pd.Series) -> pd.Series:
    return pd.to_datetime(col, format="%Y-%m-%d").astype("datetime64[ns]")


def _days(values) -> np.ndarray:
    return st.days_from_datetimes(_dates(pd.Series(values, dtype=object)).to_numpy())


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


class StoreExtract:
    """The store's current accounts, SAs, NCDs and FT history as typed extract tables."""

    def __init__(self, conn):
        acc = _frame(conn, "SELECT account_id, customer_class, credit_rating, late_payments_12m, "
                     "do_not_refund, cc_postpone_date FROM accounts",
                     ["account_id", "customer_class", "credit_rating", "late_payments_12m",
                      "do_not_refund", "cc_postpone_date"])
        # read in table order (a scan; ORDER BY would sort through the index), sorted here
        acc = _sorted(acc, ["account_id"])
        acc["credit_rating"] = _ints(acc["credit_rating"])
        acc["late_payments_12m"] = _ints(acc["late_payments_12m"])
        acc["do_not_refund"] = acc["do_not_refund"].fillna(0).astype(np.int64).astype(bool)
        acc["cc_postpone_date"] = _dates(acc["cc_postpone_date"])
        self.accounts = acc
        sas = _frame(conn, "SELECT sa_id, account_id, sa_type, status, start_date, stop_date, "
                     "current_balance, payoff_balance, total_deposit_amount, last_interest_date, "
                     "opening_payoff, opening_current FROM service_agreements",
                     ["sa_id", "account_id", "sa_type", "status", "start_date", "stop_date",
                      "current_balance", "payoff_balance", "total_deposit_amount",
                      "last_interest_date", "opening_payoff", "opening_current"])
        sas = _sorted(sas, ["account_id", "sa_id"])
        for c in ("current_balance", "payoff_balance", "total_deposit_amount"):
            sas[c] = _ints(sas[c])
        for c in ("start_date", "stop_date", "last_interest_date"):
            sas[c] = _dates(sas[c])
        self.service_agreements = sas
        ncd = _frame(conn, "SELECT ncd_id, account_id, deposit_class, ncd_type, amount, "
                     "start_date, end_date FROM non_cash_deposits ORDER BY rowid",
                     ["ncd_id", "account_id", "deposit_class", "ncd_type", "amount",
                      "start_date", "end_date"])
        ncd["amount"] = _ints(ncd["amount"])
        ncd["start_date"], ncd["end_date"] = _dates(ncd["start_date"]), _dates(ncd["end_date"])
        self.non_cash_deposits = ncd
        fts = _frame(conn, "SELECT ft_id, sa_id, date, payoff_amount, current_amount "
                     "FROM ft_history ORDER BY rowid",
                     ["ft_id", "sa_id", "date", "payoff_amount", "current_amount"])
        fts["date"] = _dates(fts["date"])
        fts["payoff_amount"], fts["current_amount"] = (_ints(fts["payoff_amount"]),
                                                       _ints(fts["current_amount"]))
        self.financial_transactions = fts
        self.source = "store"


def store_state(conn, config: Config) -> tuple[st.Static, st.Mutable]:
    """Static and mutable columns of the whole store as of ``conn``'s snapshot."""
    ex = StoreExtract(conn)
    static, mut = st.build(ex, config)
    sas = ex.service_agreements
    # sorted by (account_id, sa_id) already, so build() kept this order; opening balances
    # are the store's
    op = sas["opening_payoff"].to_numpy(dtype=object)
    oc = sas["opening_current"].to_numpy(dtype=object)
    static.opening_payoff = np.where(pd.isna(op), mut.payoff, op).astype(np.int64)
    static.opening_current = np.where(pd.isna(oc), mut.current, oc).astype(np.int64)
    n_sa = static.n_sa

    def sa_rows(ids) -> np.ndarray:
        rows = st._index_in(st._arrow_str(ids), static.sa_ids, set_sorted=False)
        if (rows < 0).any():
            from ..errors import StoreError

            raise StoreError("the store is damaged: rows name SAs that are not in its "
                             "service_agreements table (run `deprules ledger check`)")
        return rows

    # the FTs deprules posted: the interest of an SA is computed over them
    own = conn.execute("SELECT sa_id, date, payoff_amount FROM fts ORDER BY rowid").fetchall()
    if own:
        ids, days, amounts = zip(*own)
        rows = sa_rows(list(ids))
        mut.own_ft = [(rows, _days(days), np.asarray(amounts, np.int64))]
        mut.own_ft_n = np.bincount(rows, minlength=n_sa).astype(np.int32)
    # each SA's last bill and how many it has
    bills = _frame(conn, "SELECT sa_id, status, amount, created_on, completed_on, due_date, "
                   "refund_method_applied FROM bills ORDER BY rowid",
                   ["sa_id", "status", "amount", "created_on", "completed_on", "due_date",
                    "rma"])
    if len(bills):
        rows = sa_rows(bills["sa_id"].tolist())
        mut.bill_n = np.bincount(rows, minlength=n_sa).astype(np.int32)
        last = ~pd.Series(rows).duplicated(keep="last").to_numpy()
        r, b = rows[last], bills[last]
        unknown = set(b["status"]) - set(st.BILL_CODE)
        if unknown:
            from ..errors import StoreError

            raise StoreError(f"the store holds bills of unknown status {sorted(unknown)}")
        mut.bill_status[r] = b["status"].map(st.BILL_CODE).to_numpy(dtype=np.int8)
        mut.bill_amount[r] = _ints(b["amount"])
        mut.bill_created[r] = _days(b["created_on"])
        mut.bill_completed[r] = _days(b["completed_on"])
        mut.bill_due[r] = _days(b["due_date"])
        mut.rma[r] = b["rma"].fillna(0).to_numpy(dtype=np.int64).astype(bool)
    # open To Do types per SA
    todos = conn.execute("SELECT sa_id, todo_type FROM todos WHERE status != 'complete'"
                         ).fetchall()
    if todos:
        ids, types = zip(*todos)
        rows = sa_rows(list(ids))
        types = np.asarray(types, dtype=object)
        for t in sorted(set(types.tolist())):
            mut.open_todo_of(t)[rows[types == t]] = True
    # ids continue from what each account already has
    for table, name in (("adjustments", "n_adj"), ("fts", "n_ft"), ("checks", "n_chk"),
                        ("todos", "n_todo"), ("bills", "n_bill")):
        counts = conn.execute(f"SELECT account_id, COUNT(*) FROM {table} GROUP BY account_id"
                              ).fetchall()
        if counts:
            ids, n = zip(*counts)
            pos = st._index_in(st._arrow_str(list(ids)), static.account_ids, set_sorted=True)
            arr = getattr(mut, name)
            ok = pos >= 0
            arr[pos[ok]] = np.asarray(n, np.int64)[ok]
    return static, mut


__all__ = ["StoreExtract", "store_state"]
