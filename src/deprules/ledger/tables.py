"""Account states <-> pandas tables, built column-wise in one go.

The ledger's tables (one row per entity, money as int64 minor units, dates as
datetime64) are what is stored, exported and analysed; account states are what
the executor works on. Conversions collect rows into lists first and build each
DataFrame once.
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import date
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .fields import BOOL_FIELDS, CAUSE_COLUMNS, DATE_FIELDS, ENTITIES, INT_FIELDS  # noqa: F401
from .model import Account, AccountState, Cause


def _columns(cls: type) -> list[str]:
    out = []
    for f in fields(cls):
        if f.name == "cause":
            out.extend(CAUSE_COLUMNS)
        else:
            out.append(f.name)
    return out


def _row(obj: Any) -> list:
    row = []
    for f in fields(obj):
        v = getattr(obj, f.name)
        if f.name == "cause":
            row.extend(getattr(v, c) for c in CAUSE_COLUMNS)
        elif isinstance(v, dict):
            row.append(json.dumps(v, sort_keys=True, ensure_ascii=False, separators=(",", ":")))
        else:
            row.append(v)
    return row


def _frame(cls: type, rows: list[list]) -> pd.DataFrame:
    cols = _columns(cls)
    if rows:
        data = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
    else:
        data = {c: [] for c in cols}
    out = {}
    for c, values in data.items():
        if c in DATE_FIELDS:
            out[c] = pd.to_datetime(pd.Series(values, dtype=object), errors="raise")
            if out[c].dtype != "datetime64[ns]":
                out[c] = out[c].astype("datetime64[ns]")
        elif c in INT_FIELDS:
            out[c] = pd.Series(np.asarray(values, dtype=np.int64), dtype="int64")
        elif c in BOOL_FIELDS:
            out[c] = pd.Series(values, dtype=bool)
        else:
            out[c] = pd.Series(["" if v is None else str(v) for v in values], dtype=object)
    return pd.DataFrame(out, columns=cols)


def tables_from_states(states: Iterable[AccountState]) -> dict[str, pd.DataFrame]:
    rows: dict[str, list] = {name: [] for name in ENTITIES}
    for st in states:
        rows["accounts"].append(_row(st.account))
        for name, (_, attr) in ENTITIES.items():
            if name == "accounts":
                continue
            items = getattr(st, attr)
            items = items.values() if isinstance(items, dict) else items
            rows[name].extend(_row(x) for x in items)
    return {name: _frame(cls, rows[name]) for name, (cls, _) in ENTITIES.items()}


def _py(value: Any, name: str) -> Any:
    if name in DATE_FIELDS:
        if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
            return None
        if isinstance(value, pd.Timestamp):
            return None if pd.isna(value) else value.date()
        if isinstance(value, np.datetime64):
            return None if np.isnat(value) else pd.Timestamp(value).date()
        return value
    if name in INT_FIELDS:
        return int(value)
    if name in BOOL_FIELDS:
        return bool(value)
    return value


def _records(df: pd.DataFrame):
    if df.empty:
        return iter(())
    out = {}
    for c in df.columns:
        s = df[c]
        if str(s.dtype).startswith("datetime64"):
            arr = s.dt.date.astype(object).where(s.notna(), None).tolist()
        elif str(s.dtype) in ("Int64",):
            arr = [None if pd.isna(x) else int(x) for x in s]
        else:
            arr = s.tolist()
        out[c] = arr
    cols = list(out)
    # one row dict at a time: a list of them all would double the peak memory
    return (dict(zip(cols, row)) for row in zip(*(out[c] for c in cols)))


def _build(cls: type, rec: dict) -> Any:
    kwargs = {}
    cause = None
    for f in fields(cls):
        if f.name == "cause":
            cause = Cause(**{c: (rec.get(c) or "") for c in CAUSE_COLUMNS})
            kwargs["cause"] = cause
        elif f.name in rec:
            v = rec[f.name]
            if isinstance(v, float) and np.isnan(v):
                v = None
            if f.name in INT_FIELDS and v is not None:
                v = int(v)
            elif f.name in BOOL_FIELDS:
                v = bool(v)
            elif f.name in DATE_FIELDS and isinstance(v, pd.Timestamp):
                v = v.date()
            kwargs[f.name] = v
    return cls(**kwargs)


def states_from_tables(tables: dict[str, pd.DataFrame]) -> dict[str, AccountState]:
    states: dict[str, AccountState] = {}
    for rec in _records(tables["accounts"]):
        acct = _build(Account, rec)
        if acct.cc_postpone_date is not None and not isinstance(acct.cc_postpone_date, date):
            acct.cc_postpone_date = None
        states[acct.account_id] = AccountState(acct)
    for name, (cls, attr) in ENTITIES.items():
        if name == "accounts" or name not in tables:
            continue
        for rec in _records(tables[name]):
            obj = _build(cls, rec)
            st = states[rec["account_id"]]
            if attr == "sas":
                st.sas[obj.sa_id] = obj
            else:
                getattr(st, attr).append(obj)
    return states


def states_from_extract(extract, config) -> dict[str, AccountState]:
    """The ledger's starting point: the extract's accounts, SAs, NCDs and FT history."""
    sa = extract.service_agreements
    sas = sa.assign(opening_payoff=sa["payoff_balance"], opening_current=sa["current_balance"])
    tables = {
        "accounts": extract.accounts.assign(name=""),
        "service_agreements": sas,
        "non_cash_deposits": extract.non_cash_deposits,
    }
    ft = extract.financial_transactions
    if len(ft):
        owner = dict(zip(sa["sa_id"], sa["account_id"]))
        ft = ft.assign(account_id=ft["sa_id"].map(owner))
    else:
        ft = ft.assign(account_id=pd.Series([], dtype=object))
    tables["ft_history"] = ft
    return states_from_tables(tables)


def extract_tables(states: Iterable[AccountState]) -> dict[str, pd.DataFrame]:
    """The ledger's current state in the extract format (for `ledger export`)."""
    t = tables_from_states(states)
    accounts = t["accounts"].drop(columns=["name"])
    sas = t["service_agreements"]
    ncd = t["non_cash_deposits"]
    cols = ["ft_id", "sa_id", "date", "payoff_amount", "current_amount"]
    hist = t["ft_history"][cols]
    # posted FTs extend the history only where there is one: without history an SA's
    # extract payoff is held constant, and a partial history would change its interest
    posted = t["fts"][cols]
    posted = posted[posted["sa_id"].isin(set(hist["sa_id"]))]
    return {"accounts": accounts, "service_agreements": sas, "non_cash_deposits": ncd,
            "financial_transactions": pd.concat([hist, posted], ignore_index=True)}


def rows_from_extract(extract) -> dict[str, list[tuple]] | None:
    """The rows ``ledger init`` stores for ``extract``, column by column: exactly the rows
    of ``state_rows`` over ``states_from_extract`` (accounts by id, each account's rows in
    extract order), without building an object per entity. None when the extract is one
    the object path must handle (an id twice in an account, rows of an unknown account, a
    column of an unexpected type): the caller then takes that path."""
    from dataclasses import MISSING

    from .sqlrows import LAYOUTS

    sa = extract.service_agreements
    accounts = extract.accounts.assign(name="")
    sas = sa.assign(opening_payoff=sa["payoff_balance"], opening_current=sa["current_balance"])
    ft = extract.financial_transactions
    owner = pd.Series(sa["account_id"].to_numpy(), index=sa["sa_id"].to_numpy())
    if not owner.index.is_unique:
        return None
    ft = ft.assign(account_id=ft["sa_id"].map(owner) if len(ft) else
                   pd.Series([], dtype=object))
    frames = {"accounts": accounts, "service_agreements": sas,
              "non_cash_deposits": extract.non_cash_deposits, "ft_history": ft}
    known = accounts["account_id"]
    if not known.is_unique or (len(known) and
                               pd.api.types.infer_dtype(known, skipna=False) != "string"):
        return None
    if sas.duplicated(["account_id", "sa_id"]).any():
        return None
    out: dict[str, list[tuple]] = {}
    for name, df in frames.items():
        lay = LAYOUTS[name]
        if name != "accounts" and not _all_in(df["account_id"], known):
            return None
        # accounts by id; each account's rows in extract order (a stable sort)
        df = df.sort_values("account_id", kind="stable") if len(df) else df
        cols = []
        for f in fields(lay.cls):
            if f.name in df.columns:
                col = _column(df[f.name], f.name)
                if col is None:
                    return None
            elif f.default is not MISSING:
                v = f.default
                v = v.isoformat() if isinstance(v, date) else int(v) if isinstance(v, bool) \
                    else v
                col = [v] * len(df)
            else:
                return None
            cols.append(col)
        out[name] = list(zip(*cols)) if len(df) else []
    return out


def _all_in(values: pd.Series, known: pd.Series) -> bool:
    """Whether every one of ``values`` (text, None never) is one of ``known``: Arrow's
    hash lookup (pandas' ``isin`` on Arrow text makes a Python list of both first: 10 s at
    1,000,000 accounts)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def arrow(col: pd.Series):
        try:
            return pa.array(col, type=pa.string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None

    got, ref = arrow(values), arrow(known)
    if got is None or ref is None:
        return bool(values.isin(known).all())
    if got.null_count:
        return False
    return len(got) == 0 or bool(pc.all(pc.is_in(got, value_set=ref)).as_py())


def _column(s: pd.Series, name: str) -> list | None:
    """One extract column as the SQLite values :meth:`Layout.row` gives its objects' field."""
    dtype = str(s.dtype)
    if name in DATE_FIELDS:
        if not dtype.startswith("datetime64"):
            return None if s.notna().any() else [None] * len(s)
        days = s.to_numpy().astype("datetime64[D]")
        if len(days) and not ((days >= np.datetime64("1000-01-01")) |
                              np.isnat(days)).all():
            return None  # date.isoformat's four-digit years only
        text = np.datetime_as_string(days, unit="D").astype(object)
        text[np.isnat(days)] = None
        return text.tolist()
    if name in INT_FIELDS:
        return s.tolist() if dtype in ("int64", "int32") else None
    if name in BOOL_FIELDS:
        return s.astype("int64").tolist() if dtype == "bool" else None
    if dtype not in ("object", "str", "string"):
        return None
    if len(s) and pd.api.types.infer_dtype(s, skipna=False) != "string":
        return None  # a missing or non-text value: the object path's None or conversion
    return s.tolist()
