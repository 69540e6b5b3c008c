"""The per-account result of a simulation as columns: one row per account, sorted by
account id, in the layout of ``accounts.csv`` with money as integer minor units.

Both rules-engine paths end here: the vector path builds the columns directly, the
per-account engines' rows are turned into them (``from_rows``). The impact, accounts.csv
and accounts.parquet are computed from the columns, so a million accounts never become a
million Python objects unless a caller asks for ``rows``.

Money columns are ``int64`` when every figure fits, else Python integers (``object``);
the candidate's money columns hold None when there is no candidate.
"""

from __future__ import annotations

from itertools import repeat
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .outcomes import CATEGORIES, NO_DEPOSIT_CLASS
from .partition import AccountRow

MONEY_BASELINE = [f"{c}_baseline" for c in CATEGORIES]
MONEY_CANDIDATE = [f"{c}_candidate" for c in CATEGORIES]
COLUMNS = (["account_id", "customer_class", "outcome_baseline", "outcome_candidate"]
           + MONEY_BASELINE + MONEY_CANDIDATE
           + ["changed", "rule_baseline", "rule_candidate", "reason", "deposit_class"])
# deposit_class is last so that the columns before it keep their places (readers by position)
_INT64 = (-(2**63), 2**63 - 1)


def money_column(values: Sequence[int] | np.ndarray) -> np.ndarray:
    """Exact minor units as int64 when they all fit, else as Python integers."""
    if isinstance(values, np.ndarray) and values.dtype == np.int64:
        return values
    values = list(values)
    if all(_INT64[0] <= v <= _INT64[1] for v in values):
        return np.array(values, np.int64)
    out = np.empty(len(values), object)
    out[:] = values
    return out


def build(ids, classes, outcome_b, money_b, rule_b, outcome_c=None, money_c=None,
          rule_c=None, changed=None, reason=None, deposit_class=None) -> pd.DataFrame:
    """The table from per-account columns (``money_*``: (n, 4) arrays or 4 columns)."""
    n = len(ids)
    has_c = outcome_c is not None
    nothing = np.full(n, None, object)
    data = {"account_id": _objects(ids), "customer_class": _objects(classes),
            "outcome_baseline": _objects(outcome_b),
            "outcome_candidate": _objects(outcome_c) if has_c else nothing}
    for i, name in enumerate(MONEY_BASELINE):
        data[name] = money_column(money_b[:, i] if isinstance(money_b, np.ndarray)
                                  else money_b[i])
    for i, name in enumerate(MONEY_CANDIDATE):
        data[name] = (money_column(money_c[:, i] if isinstance(money_c, np.ndarray)
                                   else money_c[i]) if has_c else nothing)
    data["changed"] = np.zeros(n, bool) if changed is None else np.asarray(changed, bool)
    data["rule_baseline"] = _objects(rule_b)
    data["rule_candidate"] = _objects(rule_c) if has_c else nothing
    data["reason"] = np.full(n, "", object) if reason is None else _objects(reason)
    data["deposit_class"] = (np.full(n, NO_DEPOSIT_CLASS, object) if deposit_class is None
                             else _objects(deposit_class))
    # object columns stay object (pandas would convert text to its Arrow-backed str dtype,
    # a copy of every string there and another on the way back out)
    return pd.DataFrame({k: pd.Series(v, dtype=v.dtype, copy=False) for k, v in data.items()},
                        columns=COLUMNS)


def from_rows(rows: list[AccountRow], has_candidate: bool) -> pd.DataFrame:
    """The table of per-account rows (the python and durable engines' results)."""
    def col(name):
        return [getattr(r, name) for r in rows]

    def money(name):
        values = col(name)
        return [[m[i] for m in values] for i in range(len(CATEGORIES))]

    return build(col("account_id"), col("customer_class"), col("outcome_baseline"),
                 money("money_baseline"), col("rule_baseline"),
                 col("outcome_candidate") if has_candidate else None,
                 money("money_candidate") if has_candidate else None,
                 col("rule_candidate") if has_candidate else None,
                 col("changed"), col("reason"), col("deposit_class"))


def to_rows(table: pd.DataFrame) -> list[AccountRow]:
    """The table as AccountRow objects (Python ints and str), in table order."""
    has_c = table["outcome_candidate"].notna().any() if len(table) else False
    mb = zip(*(table[c].tolist() for c in MONEY_BASELINE))
    mc: Iterable = (zip(*(table[c].tolist() for c in MONEY_CANDIDATE)) if has_c
                    else repeat(None))
    return [AccountRow(a, cls, ob, oc, tuple(b), tuple(c) if c is not None else None, rb, rc,
                       bool(ch), reason, dc)
            for a, cls, ob, oc, b, c, rb, rc, ch, reason, dc in zip(
                table["account_id"].tolist(), table["customer_class"].tolist(),
                table["outcome_baseline"].tolist(), table["outcome_candidate"].tolist(), mb,
                mc, table["rule_baseline"].tolist(), table["rule_candidate"].tolist(),
                table["changed"].tolist(), table["reason"].tolist(),
                table["deposit_class"].tolist())]


def money_matrix(table: pd.DataFrame, side: str) -> np.ndarray:
    """(n, 4) money of one side: int64 when every column is, else Python integers."""
    names = MONEY_BASELINE if side == "baseline" else MONEY_CANDIDATE
    cols = [table[c].to_numpy() for c in names]
    if all(c.dtype == np.int64 for c in cols):
        return np.column_stack(cols) if cols[0].size else np.zeros((0, len(names)), np.int64)
    out = np.empty((len(table), len(names)), object)
    for i, c in enumerate(cols):
        out[:, i] = c
    return out


def account_deposit_classes(extract, config, ids) -> np.ndarray:
    """``outcomes.deposit_class_of`` for each account of ``ids``, from the extract's SAs and
    the configuration's SA types: each account's classes as bits of one integer (a class per
    bit, in sorted order), then one name per distinct set of bits."""
    sas = extract.service_agreements
    types = {code: t.deposit_class for code, t in config.sa_types.items()
             if t.is_cash_deposit}
    out = np.full(len(ids), NO_DEPOSIT_CLASS, object)
    if not len(sas) or not types or not len(ids):
        return out
    names = sorted(set(types.values()))
    bit = {c: k for k, c in enumerate(names)}
    codes, uniq = pd.factorize(sas["sa_type"].to_numpy(dtype=object))
    lut = np.array([1 << bit[types[u]] if u in types else 0 for u in uniq.tolist()] + [0],
                   dtype=object if len(names) > 62 else np.int64)
    bits = lut[codes]
    where = pd.Index(np.asarray(ids, object)).get_indexer(
        sas["account_id"].to_numpy(dtype=object))
    keep = (where >= 0) & (bits != 0)
    mask = np.zeros(len(ids), lut.dtype)
    np.bitwise_or.at(mask, where[keep], bits[keep])
    m_codes, m_uniq = pd.factorize(mask)
    label = np.array(["+".join(c for c in names if (int(m) >> bit[c]) & 1) or NO_DEPOSIT_CLASS
                      for m in m_uniq.tolist()], dtype=object)
    return label[m_codes]


def static_deposit_classes(static, config) -> np.ndarray:
    """:func:`account_deposit_classes` of every account of a vector ``Static`` (its
    account order), from its SA columns: no text matching."""
    types = {code: t.deposit_class for code, t in config.sa_types.items()
             if t.is_cash_deposit}
    names = sorted(set(types.values()))
    out = np.full(static.n_acct, NO_DEPOSIT_CLASS, object)
    if not static.n_sa or not types or not static.n_acct:
        return out
    if len(names) > 62:  # pragma: no cover - beyond int64 bits
        return account_deposit_classes_slow(static, config)
    bit = {c: k for k, c in enumerate(names)}
    lut = np.array([1 << bit[c] if c in bit else 0 for c in static.class_codes] + [0],
                   np.int64)
    bits = np.where(static.is_cash, lut[static.dclass], 0)
    keep = bits != 0
    mask = np.zeros(static.n_acct, np.int64)
    np.bitwise_or.at(mask, static.acct[keep], bits[keep])
    m_codes, m_uniq = pd.factorize(mask)
    label = np.array(["+".join(c for c in names if (int(m) >> bit[c]) & 1) or NO_DEPOSIT_CLASS
                      for m in m_uniq.tolist()], dtype=object)
    return label[m_codes]


def account_deposit_classes_slow(static, config) -> np.ndarray:  # pragma: no cover
    from types import SimpleNamespace

    sas = SimpleNamespace(service_agreements=pd.DataFrame({
        "sa_type": np.array(static.type_codes, object)[static.sa_type],
        "account_id": static.account_id[static.acct]}))
    return account_deposit_classes(sas, config, static.account_id)


def _objects(values) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype == object:
        return values
    out = np.empty(len(values), object)
    out[:] = list(values) if not isinstance(values, np.ndarray) else values.tolist()
    return out
