"""A realistic synthetic extract, deterministic for a seed, for demos, tests and benchmarks.

Vocabulary of the shipped configuration: customer and deposit classes RES and COM, SA
types DEP-x (cash deposit), E-x (electric) and G-x (gas).  Everything is drawn with numpy
in whole arrays, so a million accounts take seconds.  The mix (statuses, good and bad
customers, debts, non-cash deposits, FT history) is chosen so every path of the refund
process is exercised: refunds after 12 and 24 months, seizures after stops, write-offs,
postponements, do-not-refund switches.

**In chunks of accounts, the same values** (``generate_chunks``: 10,000,000 accounts in
bounded memory). The extract of a seed is defined by one random stream drawn in whole
arrays, one array after another (each of every account, of every SA, ...). A chunk of
accounts needs a slice of each of those arrays, so each array (a *draw*) gets its own
generator, started at the state the one stream had when that array began: a first pass
(:func:`_starts`) walks the stream array by array without keeping the values (only the
few counts that size the later arrays: SAs per account, non-cash deposits, FTs), then
every chunk takes its next values from each draw's generator in turn. numpy's
distributions draw element by element (``random``, ``uniform`` and ``choice`` with ``p``
one double each; ``integers`` buffers 32-bit halves in the bit generator's state), so
values taken in slices are the values of the whole array: the extract is the same
whatever the chunk size (tests/test_generate.py holds it to the former whole-array
output).
"""

from __future__ import annotations

from datetime import date
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .context import TABLES, dtype_of
from .reader import Extract

_DAY = np.timedelta64(1, "D")
#: accounts per chunk of :func:`generate_chunks` when none is asked for
CHUNK_ACCOUNTS = 100_000

# shares that size later arrays (the first pass needs them too)
_DEPOSITS = ([0, 1, 2], [0.03, 0.95, 0.02])  # cash deposit SAs per account
_ELECTRIC, _GAS = 0.93, 0.52  # accounts with an electric, a gas SA
_NCD = 0.065  # accounts with a non-cash deposit (~5% active, ~1.5% expired)
_FT = 0.30  # deposit SAs with FT history
_SPLIT = 0.4  # of those, paid in two payments
#: what the first pass keeps of the arrays that size others (compact: a byte a value)
_KEEP: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "deposits": lambda v: v.astype(np.int8),
    "electric": lambda v: v < _ELECTRIC,
    "gas": lambda v: v < _GAS,
    "ncd": lambda v: v < _NCD,
    "ft": lambda v: v < _FT,
    "split": lambda v: v < _SPLIT,
}


def generate_extract(accounts: int, seed: int, as_of: date = date(2026, 11, 21)) -> Extract:
    """Generate ``accounts`` accounts with their SAs, non-cash deposits and FT history."""
    parts = list(generate_chunks(accounts, seed, as_of, chunk_accounts=max(1, accounts)))
    if len(parts) == 1:
        return parts[0]
    return Extract(**{t: pd.concat([getattr(p, t) for p in parts], ignore_index=True)
                      for t in TABLES}, source=f"generated:{seed}")  # pragma: no cover


def generate_chunks(accounts: int, seed: int, as_of: date = date(2026, 11, 21),
                    chunk_accounts: int = CHUNK_ACCOUNTS) -> Iterator[Extract]:
    """:func:`generate_extract`'s tables in chunks of ``chunk_accounts`` accounts, in
    account order: concatenated, they are its tables row for row (ids included)."""
    if accounts < 0:
        raise ValueError("accounts must be 0 or more")
    if chunk_accounts < 1:
        raise ValueError("chunk_accounts must be 1 or more")
    today = np.datetime64(as_of, "D")
    spec = _spec(today)
    starts, totals = _starts(spec, seed, accounts, chunk_accounts)
    widths = {k: max(7, len(str(v))) for k, v in totals.items()}
    offsets = {"accounts": 0, "sas": 0, "ncds": 0, "fts": 0}
    draws = _Draws(starts)
    for lo in range(0, accounts, chunk_accounts) if accounts else [0]:
        n = min(chunk_accounts, accounts - lo)
        draws.next_chunk()
        frames = _chunk(draws, n, today, offsets, widths)
        for table, key in (("accounts", "accounts"), ("service_agreements", "sas"),
                           ("non_cash_deposits", "ncds"), ("financial_transactions", "fts")):
            offsets[key] += len(frames[table][TABLES[table][0].name])
        yield Extract(**{t: _typed(t, f) for t, f in frames.items()},
                      source=f"generated:{seed}")
        if not accounts:
            return


# ---- the draws ----------------------------------------------------------------------------
class _Draws:
    """The random arrays of a chunk, each from its own generator (``starts``: the state of
    the seed's stream where that array began), in the order the chunk asks for them; each
    call says which rows it is of (``group``: accounts, sas, ncds, picks) and takes as many
    values as the chunk has of those (``size``)."""

    def __init__(self, starts: list[dict] | None):
        self.gens = None if starts is None else [_generator(s) for s in starts]
        self.k = 0
        self.sizes: dict[str, int] = {}
        self.calls: list[tuple[str, str, tuple, str | None]] = []  # recorded (for _spec)
        self._scratch = np.random.default_rng(0)

    def next_chunk(self) -> None:
        self.k = 0

    def size(self, group: str, n: int) -> None:
        self.sizes[group] = n

    def _draw(self, group: str, method: str, args: tuple, keep: str | None = None):
        n = self.sizes[group]
        if self.gens is None:  # recording the calls, with stand-in values
            self.calls.append((group, method, args, keep))
            return _call(self._scratch, method, args, n)
        gen = self.gens[self.k]
        self.k += 1
        return _call(gen, method, args, n)

    def random(self, group: str, keep: str | None = None) -> np.ndarray:
        return self._draw(group, "random", (), keep)

    def integers(self, group: str, low: int, high: int) -> np.ndarray:
        return self._draw(group, "integers", (low, high))

    def uniform(self, group: str, low: float, high: float) -> np.ndarray:
        return self._draw(group, "uniform", (low, high))

    def choice(self, group: str, values: list, p: list | None = None,
               keep: str | None = None) -> np.ndarray:
        return self._draw(group, "choice", (tuple(values), None if p is None else tuple(p)),
                          keep)


def _call(gen: np.random.Generator, method: str, args: tuple, n: int) -> np.ndarray:
    if method == "choice":
        values, p = args
        return gen.choice(list(values), size=n, p=None if p is None else list(p))
    return getattr(gen, method)(*args, size=n)


def _generator(state: dict) -> np.random.Generator:
    bits = np.random.PCG64()
    bits.state = state
    return np.random.Generator(bits)


def _spec(today: np.datetime64) -> list[tuple[str, str, tuple, str | None]]:
    """Every draw of a chunk, in order: (group, method, arguments, what the first pass
    keeps), recorded by generating a small chunk from stand-in values."""
    draws = _Draws(None)
    _chunk(draws, 50, today, {"accounts": 0, "sas": 0, "ncds": 0, "fts": 0},
           {"accounts": 7, "sas": 7, "ncds": 7, "fts": 7})
    return draws.calls


#: values drawn at a time by the first pass
_BLOCK = 1 << 20


def _starts(spec, seed: int, accounts: int, chunk: int) -> tuple[list[dict], dict[str, int]]:
    """The stream's state at the start of each draw of ``spec`` for ``accounts`` accounts,
    and the rows of each table: the whole stream walked once, array by array, in blocks;
    only what sizes later arrays is kept."""
    rng = np.random.default_rng(seed)
    kept: dict[str, np.ndarray] = {}
    sizes = {"accounts": accounts}

    def total(group: str) -> int:
        if group not in sizes:
            if group == "sas":
                sizes["sas"] = int(kept["deposits"].sum(dtype=np.int64)
                                   + kept["electric"].sum() + kept["gas"].sum())
            elif group == "ncds":
                sizes["ncds"] = int(kept["ncd"].sum())
            elif group == "picks":
                sizes["picks"] = int((kept["ft"] & _deposit_sas(kept)).sum())
        return sizes[group]

    starts = []
    for group, method, args, keep in spec:
        starts.append(rng.bit_generator.state)
        n = total(group)
        parts = []
        for lo in range(0, n, _BLOCK):
            values = _call(rng, method, args, min(_BLOCK, n - lo))
            if keep is not None:
                parts.append(_KEEP[keep](values))
        if keep is not None:
            kept[keep] = np.concatenate(parts) if parts else _KEEP[keep](np.zeros(0))
    picks = total("picks")
    totals = {"accounts": accounts, "sas": total("sas"), "ncds": total("ncds"),
              "fts": 2 * picks + int(kept["split"].sum())}
    return starts, totals


def _deposit_sas(kept: dict[str, np.ndarray]) -> np.ndarray:
    """Which SAs are cash deposits, in SA order (an account's deposits come first)."""
    dep = kept["deposits"].astype(np.int64)
    per = dep + kept["electric"] + kept["gas"]
    first = np.cumsum(per) - per
    out = np.zeros(int(per.sum()), bool)
    out[first[dep >= 1]] = True
    out[first[dep >= 2] + 1] = True
    return out


# ---- one chunk ----------------------------------------------------------------------------
def _chunk(d: _Draws, n: int, today: np.datetime64, offsets: dict[str, int],
           widths: dict[str, int]) -> dict[str, dict]:
    acc = _accounts(d, n, today, offsets["accounts"], widths["accounts"])
    sas = _service_agreements(d, acc, today, offsets["sas"], widths["sas"])
    ncds = _non_cash_deposits(d, acc, today, offsets["ncds"], widths["ncds"])
    fts = _financial_transactions(d, sas, today, offsets["fts"], widths["fts"])
    return {"accounts": acc["frame"], "service_agreements": sas, "non_cash_deposits": ncds,
            "financial_transactions": fts}


def _typed(table: str, data: dict) -> pd.DataFrame:
    return pd.DataFrame({c.name: pd.Series(data[c.name], dtype=dtype_of(c)) for c in TABLES[table]})


def _ids(prefix: str, n: int, offset: int = 0, width: int | None = None) -> np.ndarray:
    """Ids ``offset + 1`` to ``offset + n``, zero-padded to ``width`` (at least 7)."""
    width = max(7, len(str(n))) if width is None else width
    numbers = pc.utf8_lpad(pc.cast(pa.array(np.arange(offset + 1, offset + n + 1)),
                                   pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, numbers, "").to_numpy(zero_copy_only=False)


def _ns(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[ns]")


def _amounts(d: _Draws, group: str, whole: np.ndarray, cents_share: float) -> np.ndarray:
    """Whole currency amounts to minor units, some of them with cents."""
    cents = np.where(d.random(group) < cents_share, d.integers(group, 0, 100), 0)
    return (whole * 100 + cents).astype(np.int64)


def _accounts(d: _Draws, n: int, today: np.datetime64, offset: int, width: int) -> dict:
    d.size("accounts", n)
    is_res = d.random("accounts") < 0.8
    good = d.random("accounts") < 0.7
    rating = np.where(good, d.integers("accounts", 300, 1000), d.integers("accounts", 0, 300))
    late = d.choice("accounts", [0, 1, 2, 3, 5], p=[0.76, 0.12, 0.06, 0.04, 0.02])
    postpone = np.where(d.random("accounts") < 0.02,
                        today + d.integers("accounts", 1, 120) * _DAY, np.datetime64("NaT", "D"))
    # when the customer came: spread over ~6 years, so months held straddle 12 and 24
    since = today - d.integers("accounts", 20, 6 * 365) * _DAY
    moving_out = d.random("accounts") < 0.05  # every service stopped: the deposit gets seized
    frame = {
        "account_id": _ids("A", n, offset, width),
        "customer_class": np.where(is_res, "RES", "COM").astype(object),
        "credit_rating": rating.astype(np.int64),
        "late_payments_12m": late.astype(np.int64),
        "do_not_refund": d.random("accounts") < 0.03,
        "cc_postpone_date": _ns(postpone),
    }
    return {"frame": frame, "is_res": is_res, "since": since, "moving_out": moving_out}


def _service_agreements(d: _Draws, acc: dict, today: np.datetime64, offset: int,
                        width: int) -> dict:
    n = len(acc["is_res"])
    deposits = d.choice("accounts", _DEPOSITS[0], p=_DEPOSITS[1], keep="deposits")
    dep_acc = np.repeat(np.arange(n), deposits)
    elec_acc = np.flatnonzero(d.random("accounts", keep="electric") < _ELECTRIC)
    gas_acc = np.flatnonzero(d.random("accounts", keep="gas") < _GAS)
    owner = np.concatenate([dep_acc, elec_acc, gas_acc])
    kind = np.concatenate([np.zeros(len(dep_acc), np.int8), np.ones(len(elec_acc), np.int8),
                           np.full(len(gas_acc), 2, np.int8)])
    order = np.lexsort((kind, owner))  # an account's SAs together: deposits, electric, gas
    owner, kind = owner[order], kind[order]
    m = len(owner)
    d.size("sas", m)
    is_dep = kind == 0
    res = acc["is_res"][owner]
    prefix = np.array(["DEP-", "E-", "G-"], dtype=object)[kind]
    sa_type = prefix + np.where(res, "RES", "COM").astype(object)

    # a second deposit on the same account came later than the first
    second = is_dep & np.r_[False, (owner[1:] == owner[:-1]) & is_dep[:-1]]
    start = acc["since"][owner] + d.integers("sas", 0, 10) * _DAY
    start = np.where(second, start + d.integers("sas", 30, 400) * _DAY, start)
    start = np.minimum(start, today - _DAY)

    status, stop, start = _statuses(d, is_dep, acc["moving_out"][owner], start, today)

    # deposits: RES 100-400, COM 500-5000, in whole amounts or with cents
    dep_whole = np.where(res, d.choice("sas", [100, 150, 200, 250, 300, 400]),
                         d.integers("sas", 10, 101) * 50)
    amount = _amounts(d, "sas", dep_whole, 0.15)
    roll = d.random("sas")
    dep_current = np.where(roll < 0.90, 0, np.where(roll < 0.95, -amount,
                                                    _amounts(d, "sas", d.integers("sas", 5, 50),
                                                             0.5)))
    owed = _amounts(d, "sas", d.integers("sas", 5, 300), 0.7)
    credit = -_amounts(d, "sas", d.integers("sas", 5, 100), 0.7)
    roll = d.random("sas")
    other = np.where(roll < 0.30, owed, np.where(roll < 0.38, credit, 0))
    other = np.where(status == "closed", 0, other)
    payoff = np.where(is_dep, -amount, other).astype(np.int64)
    current = np.where(is_dep, dep_current, other).astype(np.int64)
    # a few deposits are not fully paid: the utility wants more than it holds
    total = np.where(is_dep & (d.random("sas") < 0.03),
                     amount + _amounts(d, "sas", d.integers("sas", 20, 200), 0),
                     np.where(is_dep, amount, 0)).astype(np.int64)
    span = np.maximum((np.minimum(np.where(np.isnat(stop), today, stop), today) - start) // _DAY, 1)
    interest_paid = is_dep & (d.random("sas") < 0.10)
    last_interest = np.where(interest_paid,
                             start + (d.random("sas") * span).astype(np.int64) * _DAY, start)
    return {
        "sa_id": _ids("S", m, offset, width),
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


def _statuses(d: _Draws, is_dep, moving_out, start, today):
    roll = d.random("sas")
    dep_status = np.select([roll < 0.86, roll < 0.93, roll < 0.99],
                           ["active", "pending_stop", "stopped"], "reactivated")
    svc_status = np.select([roll < 0.85, roll < 0.93, roll < 0.97, roll < 0.99],
                           ["active", "stopped", "pending_stop", "closed"], "pending_start")
    svc_status = np.where(moving_out & (svc_status == "active"),
                          np.where(d.random("sas") < 0.8, "stopped", "pending_stop"), svc_status)
    status = np.where(is_dep, dep_status, svc_status).astype(object)
    # pending_start services begin in the coming weeks
    future = status == "pending_start"
    start = np.where(future, today + d.integers("sas", 1, 30) * _DAY, start)
    held = np.maximum((today - start) // _DAY, 1)
    past_stop = start + np.minimum((d.random("sas") * held).astype(np.int64) + 1, held) * _DAY
    # deposits' pending stops may be a little ahead; services' are due by the process date
    pending = np.where(is_dep, today + d.integers("sas", -20, 30) * _DAY,
                       today - d.integers("sas", 0, 20) * _DAY)
    pending = np.maximum(pending, start)
    stop = np.where(np.isin(status, ["stopped", "closed"]), past_stop,
                    np.where(status == "pending_stop", pending, np.datetime64("NaT", "D")))
    return status, stop, start


def _non_cash_deposits(d: _Draws, acc: dict, today: np.datetime64, offset: int,
                       width: int) -> dict:
    roll = d.random("accounts", keep="ncd")
    owner = np.flatnonzero(roll < _NCD)
    expired = roll[owner] >= 0.05
    k = len(owner)
    d.size("ncds", k)
    res = acc["is_res"][owner]
    start = acc["since"][owner] + d.integers("ncds", 0, 30) * _DAY
    start = np.minimum(start, today - _DAY)
    open_ended = d.random("ncds") < 0.5
    end = np.where(open_ended, np.datetime64("NaT", "D"),
                   today + d.integers("ncds", 30, 720) * _DAY)
    end = np.where(expired, np.maximum(today - d.integers("ncds", 1, 365) * _DAY, start + _DAY),
                   end)
    whole = np.where(res, d.integers("ncds", 2, 11) * 100, d.integers("ncds", 2, 41) * 500)
    types = np.array(["letter_of_credit", "surety_bond", "third_party_guarantee"], dtype=object)
    return {
        "ncd_id": _ids("N", k, offset, width),
        "account_id": acc["frame"]["account_id"][owner],
        "deposit_class": np.where(res, "RES", "COM").astype(object),
        "ncd_type": types[d.integers("ncds", 0, 3)],
        "amount": (whole * 100).astype(np.int64),
        "start_date": _ns(start),
        "end_date": _ns(end),
    }


def _financial_transactions(d: _Draws, sas: dict, today: np.datetime64, offset: int,
                            width: int) -> dict:
    """Deposit charge and payments for ~30% of deposit SAs; payoffs sum to the SA's payoff."""
    pick = np.flatnonzero(sas["_is_dep"] & (d.random("sas", keep="ft") < _FT))
    k = len(pick)
    d.size("picks", k)
    start = sas["start_date"][pick].astype("datetime64[D]")
    paid = -sas["payoff_balance"][pick]
    current = sas["current_balance"][pick]
    split = d.random("picks", keep="split") < _SPLIT
    first = np.where(split, (paid * d.uniform("picks", 0.3, 0.7)).astype(np.int64), paid)
    room = np.maximum((today - start) // _DAY, 0)
    pay1 = start + np.minimum(d.integers("picks", 0, 15), room) * _DAY
    pay2 = start + np.minimum(d.integers("picks", 30, 90), room) * _DAY
    # rows per SA: charge, payment, and for split deposits a second payment
    rows_sa = np.concatenate([pick, pick, pick[split]])
    rows_when = np.concatenate([start, pay1, pay2[split]])
    rows_payoff = np.concatenate([np.zeros(k, np.int64), -first, -(paid - first)[split]])
    rows_current = np.concatenate([current + paid, -first, -(paid - first)[split]])
    seq = np.concatenate([np.zeros(k, np.int8), np.ones(k, np.int8), np.full(split.sum(), 2, np.int8)])
    order = np.lexsort((seq, rows_sa))
    return {
        "ft_id": _ids("F", len(order), offset, width),
        "sa_id": sas["sa_id"][rows_sa[order]],
        "date": _ns(rows_when[order]),
        "payoff_amount": rows_payoff[order].astype(np.int64),
        "current_amount": rows_current[order].astype(np.int64),
    }
