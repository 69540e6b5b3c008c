"""A realistic synthetic extract, deterministic for a seed, for demos, tests and benchmarks.

Vocabulary of the shipped configuration: customer and deposit classes RES and COM, SA
types DEP-x (cash deposit), E-x (electric) and G-x (gas).  Everything is drawn with numpy
in whole arrays, so a million accounts take seconds.  The mix (statuses, good and bad
customers, debts, non-cash deposits, FT history) is chosen so every path of the refund
process is exercised: refunds after 12 and 24 months, seizures after stops, write-offs,
postponements, do-not-refund switches.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .context import TABLES, dtype_of
from .reader import Extract

_DAY = np.timedelta64(1, "D")


def generate_extract(accounts: int, seed: int, as_of: date = date(2026, 11, 21)) -> Extract:
    """Generate ``accounts`` accounts with their SAs, non-cash deposits and FT history."""
    if accounts < 0:
        raise ValueError("accounts must be 0 or more")
    rng = np.random.default_rng(seed)
    today = np.datetime64(as_of, "D")
    acc = _accounts(rng, accounts, today)
    sas = _service_agreements(rng, acc, today)
    ncds = _non_cash_deposits(rng, acc, today)
    fts = _financial_transactions(rng, sas, today)
    frames = {
        "accounts": acc["frame"],
        "service_agreements": sas,
        "non_cash_deposits": ncds,
        "financial_transactions": fts,
    }
    return Extract(**{t: _typed(t, f) for t, f in frames.items()}, source=f"generated:{seed}")


def _typed(table: str, data: dict) -> pd.DataFrame:
    return pd.DataFrame({c.name: pd.Series(data[c.name], dtype=dtype_of(c)) for c in TABLES[table]})


def _ids(prefix: str, n: int) -> np.ndarray:
    width = max(7, len(str(n)))
    numbers = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1)), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, numbers, "").to_numpy(zero_copy_only=False)


def _ns(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[ns]")


def _amounts(rng: np.random.Generator, whole: np.ndarray, cents_share: float) -> np.ndarray:
    """Whole currency amounts to minor units, some of them with cents."""
    cents = np.where(rng.random(len(whole)) < cents_share, rng.integers(0, 100, len(whole)), 0)
    return (whole * 100 + cents).astype(np.int64)


def _accounts(rng: np.random.Generator, n: int, today: np.datetime64) -> dict:
    is_res = rng.random(n) < 0.8
    good = rng.random(n) < 0.7
    rating = np.where(good, rng.integers(300, 1000, n), rng.integers(0, 300, n))
    late = rng.choice([0, 1, 2, 3, 5], size=n, p=[0.76, 0.12, 0.06, 0.04, 0.02])
    postpone = np.where(rng.random(n) < 0.02, today + rng.integers(1, 120, n) * _DAY,
                        np.datetime64("NaT", "D"))
    # when the customer came: spread over ~6 years, so months held straddle 12 and 24
    since = today - rng.integers(20, 6 * 365, n) * _DAY
    moving_out = rng.random(n) < 0.05  # every service stopped: the deposit gets seized
    frame = {
        "account_id": _ids("A", n),
        "customer_class": np.where(is_res, "RES", "COM").astype(object),
        "credit_rating": rating.astype(np.int64),
        "late_payments_12m": late.astype(np.int64),
        "do_not_refund": rng.random(n) < 0.03,
        "cc_postpone_date": _ns(postpone),
    }
    return {"frame": frame, "is_res": is_res, "since": since, "moving_out": moving_out}


def _service_agreements(rng: np.random.Generator, acc: dict, today: np.datetime64) -> dict:
    n = len(acc["is_res"])
    deposits = rng.choice([0, 1, 2], size=n, p=[0.03, 0.95, 0.02])
    dep_acc = np.repeat(np.arange(n), deposits)
    elec_acc = np.flatnonzero(rng.random(n) < 0.93)
    gas_acc = np.flatnonzero(rng.random(n) < 0.52)
    owner = np.concatenate([dep_acc, elec_acc, gas_acc])
    kind = np.concatenate([np.zeros(len(dep_acc), np.int8), np.ones(len(elec_acc), np.int8),
                           np.full(len(gas_acc), 2, np.int8)])
    order = np.lexsort((kind, owner))  # an account's SAs together: deposits, electric, gas
    owner, kind = owner[order], kind[order]
    m = len(owner)
    is_dep = kind == 0
    res = acc["is_res"][owner]
    prefix = np.array(["DEP-", "E-", "G-"], dtype=object)[kind]
    sa_type = prefix + np.where(res, "RES", "COM").astype(object)

    # a second deposit on the same account came later than the first
    second = is_dep & np.r_[False, (owner[1:] == owner[:-1]) & is_dep[:-1]]
    start = acc["since"][owner] + rng.integers(0, 10, m) * _DAY
    start = np.where(second, start + rng.integers(30, 400, m) * _DAY, start)
    start = np.minimum(start, today - _DAY)

    status, stop, start = _statuses(rng, is_dep, acc["moving_out"][owner], start, today)

    # deposits: RES 100-400, COM 500-5000, in whole amounts or with cents
    dep_whole = np.where(res, rng.choice([100, 150, 200, 250, 300, 400], m),
                         rng.integers(10, 101, m) * 50)
    amount = _amounts(rng, dep_whole, 0.15)
    roll = rng.random(m)
    dep_current = np.where(roll < 0.90, 0, np.where(roll < 0.95, -amount,
                                                    _amounts(rng, rng.integers(5, 50, m), 0.5)))
    owed = _amounts(rng, rng.integers(5, 300, m), 0.7)
    credit = -_amounts(rng, rng.integers(5, 100, m), 0.7)
    roll = rng.random(m)
    other = np.where(roll < 0.30, owed, np.where(roll < 0.38, credit, 0))
    other = np.where(status == "closed", 0, other)
    payoff = np.where(is_dep, -amount, other).astype(np.int64)
    current = np.where(is_dep, dep_current, other).astype(np.int64)
    # a few deposits are not fully paid: the utility wants more than it holds
    total = np.where(is_dep & (rng.random(m) < 0.03), amount + _amounts(rng, rng.integers(20, 200, m), 0),
                     np.where(is_dep, amount, 0)).astype(np.int64)
    span = np.maximum((np.minimum(np.where(np.isnat(stop), today, stop), today) - start) // _DAY, 1)
    interest_paid = is_dep & (rng.random(m) < 0.10)
    last_interest = np.where(interest_paid, start + (rng.random(m) * span).astype(np.int64) * _DAY,
                             start)
    return {
        "sa_id": _ids("S", m),
        "account_id": acc["frame"]["account_id"][owner],
        "sa_type": sa_type,
        "status": status,
        "start_date": _ns(start),
        "stop_date": _ns(stop),
        "current_balance": current,
        "payoff_balance": payoff,
        "total_deposit_amount": total,
        "last_interest_date": _ns(last_interest),
        "_owner": owner,
        "_is_dep": is_dep,
    }


def _statuses(rng, is_dep, moving_out, start, today):
    m = len(is_dep)
    roll = rng.random(m)
    dep_status = np.select([roll < 0.86, roll < 0.93, roll < 0.99],
                           ["active", "pending_stop", "stopped"], "reactivated")
    svc_status = np.select([roll < 0.85, roll < 0.93, roll < 0.97, roll < 0.99],
                           ["active", "stopped", "pending_stop", "closed"], "pending_start")
    svc_status = np.where(moving_out & (svc_status == "active"),
                          np.where(rng.random(m) < 0.8, "stopped", "pending_stop"), svc_status)
    status = np.where(is_dep, dep_status, svc_status).astype(object)
    # pending_start services begin in the coming weeks
    future = status == "pending_start"
    start = np.where(future, today + rng.integers(1, 30, m) * _DAY, start)
    held = np.maximum((today - start) // _DAY, 1)
    past_stop = start + np.minimum((rng.random(m) * held).astype(np.int64) + 1, held) * _DAY
    # deposits' pending stops may be a little ahead; services' are due by the process date
    pending = np.where(is_dep, today + rng.integers(-20, 30, m) * _DAY,
                       today - rng.integers(0, 20, m) * _DAY)
    pending = np.maximum(pending, start)
    stop = np.where(np.isin(status, ["stopped", "closed"]), past_stop,
                    np.where(status == "pending_stop", pending, np.datetime64("NaT", "D")))
    return status, stop, start


def _non_cash_deposits(rng: np.random.Generator, acc: dict, today: np.datetime64) -> dict:
    n = len(acc["is_res"])
    roll = rng.random(n)
    owner = np.flatnonzero(roll < 0.065)  # ~5% active, ~1.5% expired
    expired = roll[owner] >= 0.05
    k = len(owner)
    res = acc["is_res"][owner]
    start = acc["since"][owner] + rng.integers(0, 30, k) * _DAY
    start = np.minimum(start, today - _DAY)
    open_ended = rng.random(k) < 0.5
    end = np.where(open_ended, np.datetime64("NaT", "D"), today + rng.integers(30, 720, k) * _DAY)
    end = np.where(expired, np.maximum(today - rng.integers(1, 365, k) * _DAY, start + _DAY), end)
    whole = np.where(res, rng.integers(2, 11, k) * 100, rng.integers(2, 41, k) * 500)
    types = np.array(["letter_of_credit", "surety_bond", "third_party_guarantee"], dtype=object)
    return {
        "ncd_id": _ids("N", k),
        "account_id": acc["frame"]["account_id"][owner],
        "deposit_class": np.where(res, "RES", "COM").astype(object),
        "ncd_type": types[rng.integers(0, 3, k)],
        "amount": (whole * 100).astype(np.int64),
        "start_date": _ns(start),
        "end_date": _ns(end),
    }


def _financial_transactions(rng: np.random.Generator, sas: dict, today: np.datetime64) -> dict:
    """Deposit charge and payments for ~30% of deposit SAs; payoffs sum to the SA's payoff."""
    pick = np.flatnonzero(sas["_is_dep"] & (rng.random(len(sas["sa_id"])) < 0.30))
    k = len(pick)
    start = sas["start_date"][pick].astype("datetime64[D]")
    paid = -sas["payoff_balance"][pick]
    current = sas["current_balance"][pick]
    split = rng.random(k) < 0.4
    first = np.where(split, (paid * rng.uniform(0.3, 0.7, k)).astype(np.int64), paid)
    room = np.maximum((today - start) // _DAY, 0)
    pay1 = start + np.minimum(rng.integers(0, 15, k), room) * _DAY
    pay2 = start + np.minimum(rng.integers(30, 90, k), room) * _DAY
    # rows per SA: charge, payment, and for split deposits a second payment
    rows_sa = np.concatenate([pick, pick, pick[split]])
    rows_when = np.concatenate([start, pay1, pay2[split]])
    rows_payoff = np.concatenate([np.zeros(k, np.int64), -first, -(paid - first)[split]])
    rows_current = np.concatenate([current + paid, -first, -(paid - first)[split]])
    seq = np.concatenate([np.zeros(k, np.int8), np.ones(k, np.int8), np.full(split.sum(), 2, np.int8)])
    order = np.lexsort((seq, rows_sa))
    return {
        "ft_id": _ids("F", len(order)),
        "sa_id": sas["sa_id"][rows_sa[order]],
        "date": _ns(rows_when[order]),
        "payoff_amount": rows_payoff[order].astype(np.int64),
        "current_amount": rows_current[order].astype(np.int64),
    }
