"""The ledger of a whole extract as numpy columns: one row per SA, one per account.

Rows are ordered by (account_id, sa_id), so an account's SAs are contiguous and the
row order inside an account is the order the per-account runner fires SAs in.
Dates are day numbers (days since 1970-01-01, ``int64``) with :data:`NONE` for "no
date"; money is ``int64`` minor units; statuses and other vocabularies are small
integer codes into the tuples below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..config.model import Config
from ..rules.vocabulary import STATUSES

NONE = np.int64(-(2**40))  # "no date" in day numbers; far below any real date
EPOCH = date(1970, 1, 1)
STATUS_CODE = {s: i for i, s in enumerate(STATUSES)}


def status_lut(*names: str) -> np.ndarray:
    """A lookup table: lut[status code] is True for the named statuses."""
    lut = np.zeros(len(STATUSES), bool)
    for n in names:
        lut[STATUS_CODE[n]] = True
    return lut


FINISHED = status_lut("stopped", "closed", "canceled")
BILL_STATES = ("none", "pending", "frozen", "complete")
BILL_CODE = {s: i for i, s in enumerate(BILL_STATES)}


def day_of(d: date) -> int:
    return (d - EPOCH).days


def days_from_datetimes(values) -> np.ndarray:
    """datetime64 values (NaT allowed) as day numbers with NONE for NaT."""
    arr = np.asarray(values)
    if arr.dtype.kind != "M":
        arr = pd.to_datetime(pd.Series(values)).to_numpy()
    days = arr.astype("datetime64[D]")
    out = days.view("int64").copy()
    out[np.isnat(days)] = NONE
    return out


def datetimes_from_days(days: np.ndarray) -> np.ndarray:
    """Day numbers (NONE allowed) as datetime64[ns] with NaT."""
    days = np.asarray(days, dtype=np.int64)
    none = days == NONE
    # NONE is far outside datetime64[ns]: numpy 2.5 refuses to convert it, so it is masked first
    out = np.where(none, 0, days).astype("datetime64[D]").astype("datetime64[ns]")
    out[none] = np.datetime64("NaT", "ns")
    return out


def ymd_parts(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of day numbers, by integer arithmetic (proleptic Gregorian)."""
    z = np.asarray(days, dtype=np.int64) + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = yoe + era * 400 + (m <= 2)
    return y, m, d


def yyyymmdd(days: np.ndarray) -> np.ndarray:
    """Day numbers as yyyymmdd integers (0 for NONE), like dates.as_int."""
    days = np.asarray(days, dtype=np.int64)
    none = days == NONE
    y, m, d = ymd_parts(np.where(none, 0, days))
    return np.where(none, 0, y * 10000 + m * 100 + d)


def _arrow_str(values) -> pa.Array:
    """A string column (pandas Series of object or str dtype, or numpy) as an Arrow array."""
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    if isinstance(values, pd.Series):
        out = pa.array(values, type=pa.string(), from_pandas=True)
    else:
        out = pa.array(np.asarray(values, dtype=object), type=pa.string())
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _codes(values, vocabulary, what: str) -> np.ndarray:
    """Indices of ``values`` in ``vocabulary`` (an extract is validated, so all are known)."""
    arrow = _arrow_of(values)
    if arrow is not None:  # Arrow-backed text: encoded by Arrow, no Python strings
        enc = pc.dictionary_encode(arrow)
        if enc.null_count:
            raise ValueError(f"{what} missing")
        codes = enc.indices.to_numpy(zero_copy_only=False)
        uniques = enc.dictionary.to_pylist()
    else:
        codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    lut = np.empty(len(uniques) + 1, np.int16)
    for i, u in enumerate(uniques):
        if u not in vocabulary:
            raise ValueError(f"{what} {u!r} is not configured")
        lut[i] = vocabulary.index(u)
    if (codes < 0).any():
        raise ValueError(f"{what} missing")
    return lut[codes]


def _arrow_of(values) -> pa.Array | None:
    """The Arrow array behind an Arrow-backed pandas text column, else None."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.StringDtype) and \
            values.dtype.storage == "pyarrow":
        return _arrow_str(values)
    return None


def _fixed_width(arr: pa.Array) -> np.ndarray | None:
    """Sort keys of a string array whose values all have the same byte length w <= 8 (ids
    usually do): each value's bytes as a big-endian uint64, so integer order is byte order
    (which is code point order for UTF-8). None when the values do not qualify."""
    if len(arr) == 0 or arr.null_count or arr.type not in (pa.string(), pa.large_string()):
        return None
    bufs = arr.buffers()
    off_t = np.int32 if arr.type == pa.string() else np.int64
    offsets = np.frombuffer(bufs[1], dtype=off_t)[arr.offset:arr.offset + len(arr) + 1]
    w = int(offsets[1] - offsets[0])
    if w <= 0 or int(offsets[-1] - offsets[0]) != w * len(arr) or \
            not (np.diff(offsets) == w).all():
        return None
    if w > 8:
        return None
    data = np.frombuffer(bufs[2], dtype=np.uint8)[int(offsets[0]):int(offsets[-1])]
    padded = np.zeros((len(arr), 8), np.uint8)
    padded[:, :w] = data.reshape(-1, w)
    return padded.view(">u8").ravel().astype(np.uint64)


def _index_in(values: pa.Array, value_set: pa.Array, set_sorted: bool = False) -> np.ndarray:
    """Position of each value in ``value_set`` (-1 when absent), int64."""
    if set_sorted:
        a, b = _fixed_width(values), _fixed_width(value_set)
        if a is not None and b is not None and a.dtype == b.dtype:
            pos = np.minimum(np.searchsorted(b, a), len(b) - 1)
            return np.where(b[pos] == a, pos, -1).astype(np.int64)
    idx = pc.fill_null(pc.index_in(values, value_set=value_set), -1)
    return idx.to_numpy(zero_copy_only=False).astype(np.int64)


def sort_order(parts: list) -> np.ndarray:
    """The stable order that sorts rows by ``parts`` (non-negative integer columns of equal
    length, the first most significant): one sort of a combined int64 key when the key fits
    in 62 bits, else ``np.lexsort``."""
    sizes = [int(p.max()) + 1 if len(p) else 1 for p in parts]
    total = 1
    for z in sizes:
        total *= z
    if total >= 2**62:
        return np.lexsort(tuple(reversed(parts)))
    key = np.zeros(len(parts[0]), np.int64)
    for p, z in zip(parts, sizes):
        key = key * z + p.astype(np.int64)
    return np.argsort(key, kind="stable")


def _groups(key: np.ndarray):
    """(sorted distinct keys, group of each row, group sizes): np.unique by a stable sort
    (the keys come nearly sorted, and numpy's hash-based unique is slow on millions)."""
    order = np.argsort(key, kind="stable")
    ks = key[order]
    first = np.r_[True, ks[1:] != ks[:-1]] if len(ks) else np.zeros(0, bool)
    gid_sorted = np.cumsum(first) - 1
    grp = np.empty(len(key), np.int64)
    grp[order] = gid_sorted
    uniq = ks[first]
    sizes = np.diff(np.r_[np.flatnonzero(first), len(ks)]).astype(np.int64)
    return uniq, grp, sizes


def _is_strictly_sorted(arr: pa.Array) -> bool:
    n = len(arr)
    if n < 2:
        return True
    return bool(pc.all(pc.less(arr.slice(0, n - 1), arr.slice(1))).as_py())


def _is_sorted(arr: pa.Array) -> bool:
    n = len(arr)
    if n < 2:
        return True
    return bool(pc.all(pc.less_equal(arr.slice(0, n - 1), arr.slice(1))).as_py())


@dataclass
class Static:
    """What a cycle never changes: the extract's accounts, SA types, groups, NCDs, history."""

    config: Config
    n_sa: int
    n_acct: int
    # accounts (sorted by account_id)
    account_ids: pa.Array  # string
    cust: np.ndarray  # int16 into cust_codes
    cust_codes: tuple[str, ...]
    credit: np.ndarray
    late: np.ndarray
    dnr: np.ndarray  # bool
    postpone: np.ndarray  # day or NONE
    acct_first: np.ndarray  # n_acct + 1 offsets into the SA rows
    # SAs (sorted by account_id, sa_id)
    sa_ids: pa.Array  # string
    acct: np.ndarray  # int64 account row of each SA
    rank: np.ndarray  # position of the SA inside its account (sa_id order)
    sa_type: np.ndarray  # int16 into type_codes
    type_codes: tuple[str, ...]
    is_cash: np.ndarray  # bool
    dclass: np.ndarray  # int16 into class_codes
    class_codes: tuple[str, ...]
    prio: np.ndarray  # distribution priority
    start: np.ndarray  # day
    total_deposit: np.ndarray
    opening_payoff: np.ndarray
    opening_current: np.ndarray
    # (account, deposit class) groups
    grp: np.ndarray
    n_grp: int
    grp_size: np.ndarray
    grp_key: np.ndarray  # acct * n_classes + dclass, sorted
    grp_ptr: np.ndarray  # offsets of each group in debt_perm
    # non-cash deposits
    ncd_acct: np.ndarray
    ncd_class: np.ndarray
    ncd_start: np.ndarray
    ncd_end: np.ndarray
    # FT history, sorted by (SA row, day)
    hist_sa: np.ndarray
    hist_day: np.ndarray
    hist_payoff: np.ndarray
    has_hist: np.ndarray  # bool per SA
    cash_rows: np.ndarray = field(default=None)  # rows of cash deposit SAs

    def __post_init__(self):
        self.cash_rows = np.flatnonzero(self.is_cash)

    @cached_property
    def start_ymd(self) -> np.ndarray:
        return yyyymmdd(self.start)

    @cached_property
    def debt_perm(self) -> np.ndarray:
        """SA rows by (group, distribution priority, start date, sa_id): APPLYDEPOSIT's order."""
        return sort_order([self.grp, np.unique(self.prio, return_inverse=True)[1].reshape(-1),
                           self.start - (self.start.min() if self.n_sa else 0), self.rank])

    @cached_property
    def account_id(self) -> np.ndarray:
        """Account ids as an object array (built on first use)."""
        return self.account_ids.to_numpy(zero_copy_only=False).astype(object)

    @cached_property
    def sa_id(self) -> np.ndarray:
        """SA ids as an object array (built on first use)."""
        return self.sa_ids.to_numpy(zero_copy_only=False).astype(object)

    def account_rows(self, acct_mask: np.ndarray) -> np.ndarray:
        """SA rows of the accounts where ``acct_mask`` is true."""
        return np.flatnonzero(acct_mask[self.acct])


@dataclass
class Mutable:
    """What a cycle changes, per SA (and the id counters per account)."""

    status: np.ndarray  # int8 into STATUSES
    stop: np.ndarray  # day or NONE
    last_int: np.ndarray  # day or NONE
    payoff: np.ndarray
    current: np.ndarray
    bill_n: np.ndarray  # bills of the SA (0 or 1 in the automated cycle)
    bill_status: np.ndarray  # int8 into BILL_STATES (of the last bill)
    bill_amount: np.ndarray
    bill_created: np.ndarray
    bill_completed: np.ndarray
    bill_due: np.ndarray
    rma: np.ndarray  # refund method applied (of the last bill)
    open_todo: dict  # To Do type -> bool per SA (an open To Do of that type exists)
    own_ft_n: np.ndarray  # FTs posted by deprules per SA
    own_ft: list  # chunks (sa rows, day, payoff amount)
    # per account: entities so far (ids continue from these)
    n_adj: np.ndarray
    n_ft: np.ndarray
    n_chk: np.ndarray
    n_todo: np.ndarray
    n_bill: np.ndarray

    def open_todo_of(self, todo_type: str) -> np.ndarray:
        arr = self.open_todo.get(todo_type)
        if arr is None:
            arr = self.open_todo[todo_type] = np.zeros(len(self.status), bool)
        return arr


def signature(config: Config) -> tuple:
    """What the static columns depend on: two configurations with the same signature can
    share one :class:`Static` (a what-if usually changes rules and thresholds only)."""
    return (tuple((c, t.is_cash_deposit, t.deposit_class, t.distribution_priority)
                  for c, t in sorted(config.sa_types.items())),
            tuple(sorted(config.deposit_classes)),
            tuple(sorted(config.installation.customer_classes)))


def copy_mutable(m: Mutable) -> Mutable:
    """An independent copy (arrays copied, To Do flags and posted FTs too)."""
    out = {}
    for f in m.__dataclass_fields__:
        v = getattr(m, f)
        if isinstance(v, np.ndarray):
            out[f] = v.copy()
        elif isinstance(v, dict):
            out[f] = {k: a.copy() for k, a in v.items()}
        elif isinstance(v, list):
            out[f] = [tuple(x.copy() for x in chunk) for chunk in v]
        else:
            out[f] = v
    return Mutable(**out)


class Prepared:
    """An extract turned into columns once, for several configurations (baseline and
    candidate of a what-if): ``VectorCycle(extract, book, prepared=p)`` reuses it."""

    def __init__(self, extract, config: Config):
        self.extract = extract
        self.static, self._mutable = build(extract, config)
        self.static.debt_perm  # APPLYDEPOSIT's order: part of preparing, not of a cycle
        self.signature = signature(config)

    def compatible(self, config: Config) -> bool:
        return signature(config) == self.signature

    def mutable(self) -> Mutable:
        return copy_mutable(self._mutable)


def build(extract, config: Config) -> tuple[Static, Mutable]:
    """Static and mutable columns from a loaded (typed, validated) extract."""
    accounts = extract.accounts
    sas = extract.service_agreements

    acc_ids = _arrow_str(accounts["account_id"])
    if not _is_strictly_sorted(acc_ids):
        order = pc.sort_indices(acc_ids).to_numpy()
        accounts = accounts.iloc[order]
        acc_ids = acc_ids.take(pa.array(order))
    sa_acc = _arrow_str(sas["account_id"])
    sa_ids = _arrow_str(sas["sa_id"])
    if not (_is_sorted(sa_acc) and _is_strictly_sorted(sa_ids)):
        tbl = pa.table({"a": sa_acc, "s": sa_ids})
        order = pc.sort_indices(tbl, sort_keys=[("a", "ascending"), ("s", "ascending")]).to_numpy()
        sas = sas.iloc[order]
        sa_acc = sa_acc.take(pa.array(order))
        sa_ids = sa_ids.take(pa.array(order))

    n_acct, n_sa = len(accounts), len(sas)
    acct = _index_in(sa_acc, acc_ids, set_sorted=True)
    acct_first = np.searchsorted(acct, np.arange(n_acct + 1)).astype(np.int64)
    rank = np.arange(n_sa, dtype=np.int64) - acct_first[acct]

    type_codes = tuple(sorted(config.sa_types))
    class_codes = tuple(sorted(config.deposit_classes))
    cust_codes = tuple(sorted(config.installation.customer_classes))
    types = [config.sa_types[c] for c in type_codes]
    t_cash = np.array([t.is_cash_deposit for t in types], bool)
    t_class = np.array([class_codes.index(t.deposit_class) for t in types], np.int16)
    t_prio = np.array([t.distribution_priority for t in types], np.int64)
    sa_type = _codes(sas["sa_type"], type_codes, "SA type")

    dclass = t_class[sa_type]
    n_cls = max(len(class_codes), 1)
    key = acct * n_cls + dclass
    grp_key, grp, grp_size = _groups(key)
    start = days_from_datetimes(sas["start_date"].to_numpy())
    prio = t_prio[sa_type]
    grp_ptr = np.concatenate([[0], np.cumsum(grp_size)]).astype(np.int64)

    ncds = extract.non_cash_deposits
    if len(ncds):
        ncd_acct = _index_in(_arrow_str(ncds["account_id"]), acc_ids, set_sorted=True)
        ncd_class = _codes(ncds["deposit_class"], class_codes,
                           "deposit class")
        ncd_start = days_from_datetimes(ncds["start_date"].to_numpy())
        ncd_end = days_from_datetimes(ncds["end_date"].to_numpy())
    else:
        ncd_acct = ncd_start = ncd_end = np.zeros(0, np.int64)
        ncd_class = np.zeros(0, np.int16)

    fts = extract.financial_transactions
    has_hist = np.zeros(n_sa, bool)
    if len(fts):
        ft_sa = _index_in(_arrow_str(fts["sa_id"]), sa_ids, set_sorted=True)
        keep = ft_sa >= 0
        fts, ft_sa = fts[keep], ft_sa[keep]
        ft_day = days_from_datetimes(fts["date"].to_numpy())
        ft_pay = fts["payoff_amount"].to_numpy(dtype=np.int64)
        order = np.lexsort((ft_day, ft_sa))
        hist_sa, hist_day, hist_payoff = ft_sa[order], ft_day[order], ft_pay[order]
        has_hist[hist_sa] = True
    else:
        hist_sa = hist_day = hist_payoff = np.zeros(0, np.int64)

    postpone = days_from_datetimes(accounts["cc_postpone_date"].to_numpy()) \
        if "cc_postpone_date" in accounts else np.full(n_acct, NONE, np.int64)
    late = accounts["late_payments_12m"].fillna(0).to_numpy(dtype=np.int64) \
        if "late_payments_12m" in accounts else np.zeros(n_acct, np.int64)
    dnr = accounts["do_not_refund"].fillna(False).to_numpy(dtype=bool) \
        if "do_not_refund" in accounts else np.zeros(n_acct, bool)

    payoff = sas["payoff_balance"].to_numpy(dtype=np.int64).copy()
    current = sas["current_balance"].to_numpy(dtype=np.int64).copy()
    static = Static(
        config=config, n_sa=n_sa, n_acct=n_acct,
        account_ids=acc_ids,
        cust=_codes(accounts["customer_class"], cust_codes,
                    "customer class"),
        cust_codes=cust_codes,
        credit=accounts["credit_rating"].to_numpy(dtype=np.int64),
        late=late, dnr=dnr, postpone=postpone, acct_first=acct_first,
        sa_ids=sa_ids, acct=acct, rank=rank,
        sa_type=sa_type, type_codes=type_codes, is_cash=t_cash[sa_type], dclass=dclass,
        class_codes=class_codes, prio=prio, start=start,
        total_deposit=sas["total_deposit_amount"].to_numpy(dtype=np.int64)
        if "total_deposit_amount" in sas else np.zeros(n_sa, np.int64),
        opening_payoff=payoff.copy(), opening_current=current.copy(),
        grp=grp, n_grp=len(grp_key), grp_size=grp_size.astype(np.int64), grp_key=grp_key,
        grp_ptr=grp_ptr,
        ncd_acct=ncd_acct, ncd_class=ncd_class, ncd_start=ncd_start, ncd_end=ncd_end,
        hist_sa=hist_sa, hist_day=hist_day, hist_payoff=hist_payoff, has_hist=has_hist,
    )
    status = _codes(sas["status"], STATUSES, "SA status").astype(np.int8)
    stop = days_from_datetimes(sas["stop_date"].to_numpy())
    last_int = days_from_datetimes(sas["last_interest_date"].to_numpy()) \
        if "last_interest_date" in sas else np.full(n_sa, NONE, np.int64)
    zeros_i = lambda n: np.zeros(n, np.int64)  # noqa: E731
    mutable = Mutable(
        status=status, stop=stop, last_int=last_int, payoff=payoff, current=current,
        bill_n=np.zeros(n_sa, np.int32), bill_status=np.zeros(n_sa, np.int8),
        bill_amount=zeros_i(n_sa), bill_created=np.full(n_sa, NONE, np.int64),
        bill_completed=np.full(n_sa, NONE, np.int64), bill_due=np.full(n_sa, NONE, np.int64),
        rma=np.zeros(n_sa, bool), open_todo={}, own_ft_n=np.zeros(n_sa, np.int32), own_ft=[],
        n_adj=zeros_i(n_acct), n_ft=zeros_i(n_acct), n_chk=zeros_i(n_acct),
        n_todo=zeros_i(n_acct), n_bill=zeros_i(n_acct),
    )
    return static, mutable
