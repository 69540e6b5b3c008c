"""Fact columns over a set of SA rows, and folded rule conditions as boolean masks.

:class:`Facts` computes each fact field of ``rules/facts.py`` for many SAs at once, on
demand and once per round. :meth:`Facts.mask` evaluates a folded expression (what
``conditions.compile_python`` turns into a lambda) as a numpy mask, sharing the masks of
sub-expressions that several rule variants have in common (``sa.status == "stopped"``...).
Text fields are compared through small integer codes; a constant outside the vocabulary
simply never equals anything.
"""

from __future__ import annotations

import calendar
import operator
from datetime import date

import numpy as np

from ..rules.conditions import And, Cmp, Const, Expr, In, Or
from ..rules.facts import NO_DUE
from ..rules.vocabulary import FIELDS, STATUSES
from . import periods
from .state import BILL_STATES, FINISHED, NONE, Mutable, Static, ymd_parts, yyyymmdd

_OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
        ">": operator.gt, ">=": operator.ge}


class Facts:
    def __init__(self, static: Static, mut: Mutable, rows: np.ndarray, on: date, on_day: int,
                 ncd_grp: np.ndarray, periodic: tuple[np.ndarray, np.ndarray] | None = None):
        self.s, self.m = static, mut
        # per deposit class code: (months_between_interest, min_days_held); 0 months = none
        self.periodic = periodic
        self.rows = rows
        self.n = len(rows)
        self.on, self.on_day = on, on_day
        self.ncd_grp = ncd_grp
        self._cols: dict[str, np.ndarray] = {}
        self._masks: dict[Expr, np.ndarray] = {}
        self._acct = None
        self._vocab = {
            "sa.status": STATUSES,
            "sa.sa_type": static.type_codes,
            "sa.deposit_class": static.class_codes,
            "sa.final_bill": BILL_STATES,
            "account.customer_class": static.cust_codes,
        }

    @property
    def acct(self) -> np.ndarray:
        if self._acct is None:
            self._acct = self.s.acct[self.rows]
        return self._acct

    # ---- columns --------------------------------------------------------------------
    def col(self, name: str) -> np.ndarray:
        c = self._cols.get(name)
        if c is None:
            if name not in FIELDS:
                raise KeyError(f"unknown fact field {name!r}")
            c = self._cols[name] = self._compute(name)
        return c

    def _compute(self, name: str) -> np.ndarray:
        s, m, r, on = self.s, self.m, self.rows, self.on_day
        if name == "sa.sa_id":
            return s.sa_id[r]
        if name == "sa.sa_type":
            return s.sa_type[r]
        if name == "sa.status":
            return m.status[r]
        if name == "sa.is_cash_deposit":
            return s.is_cash[r]
        if name == "sa.deposit_class":
            return s.dclass[r]
        if name == "sa.start_date":
            return s.start_ymd[r]
        if name == "sa.stop_date":
            return yyyymmdd(m.stop[r])
        if name == "sa.stop_date_reached":
            stop = m.stop[r]
            return (stop != NONE) & (stop <= on)
        if name == "sa.payoff_balance":
            return m.payoff[r]
        if name == "sa.current_balance":
            return m.current[r]
        if name == "sa.sync_difference":
            return m.payoff[r] - m.current[r]
        if name == "sa.months_held":
            return self._months_held()
        if name == "sa.days_held":
            stop = m.stop[r]
            return np.where(stop != NONE, stop, on) - s.start[r]
        if name == "sa.interest_settled":
            stop, li = m.stop[r], m.last_int[r]
            return (stop != NONE) & (np.where(li != NONE, li, s.start[r]) >= stop)
        if name == "sa.interest_periods_due":
            if self.periodic is None:
                return np.zeros(self.n, np.int64)
            months, min_days = self.periodic
            cls = s.dclass[r]
            first, last = periods.period_range(s.start[r], m.last_int[r], on, months[cls],
                                               min_days[cls])
            return np.maximum(last - first + 1, 0)
        if name == "sa.final_bill":
            return np.where(m.bill_n[r] > 0, m.bill_status[r], 0).astype(np.int8)
        if name == "sa.refund_method_applied":
            return (m.bill_n[r] > 0) & m.rma[r]
        if name == "sa.days_past_due":
            due = m.bill_due[r]
            return np.where((m.bill_n[r] > 0) & (due != NONE), on - due, NO_DUE)
        if name == "sa.has_active_ncd":
            return self.ncd_grp[s.grp[r]]
        if name == "sa.open_depref_todo":
            arr = m.open_todo.get("DEPREF")
            return arr[r] if arr is not None else np.zeros(self.n, bool)
        if name == "sa.other_same_class_sas":
            return s.grp_size[s.grp[r]] - 1
        if name == "sa.other_same_class_unfinished":
            unfinished = ~FINISHED[m.status]
            per_grp = np.bincount(s.grp[unfinished], minlength=s.n_grp)
            return per_grp[s.grp[r]] - unfinished[r]
        a = self.acct
        if name == "account.account_id":
            return s.account_id[a]
        if name == "account.customer_class":
            return s.cust[a]
        if name == "account.credit_rating":
            return s.credit[a]
        if name == "account.late_payments_12m":
            return s.late[a]
        if name == "account.do_not_refund":
            return s.dnr[a]
        if name == "account.postponed":
            pp = s.postpone[a]
            return (pp != NONE) & (on < pp)
        if name == "process_date":
            return np.full(self.n, yyyymmdd(np.array([on]))[0], np.int64)
        raise KeyError(f"no vector form for fact field {name!r}")  # pragma: no cover

    def _months_held(self) -> np.ndarray:
        """dates.months_held: whole months m with add_months(start, m) <= on (month-end clamped)."""
        s, r, on = self.s, self.rows, self.on
        y, mo, d = ymd_parts(s.start[r])
        m = (on.year - y) * 12 + (on.month - mo)
        dim = calendar.monthrange(on.year, on.month)[1]
        # add_months(start, m) falls in on's month on day min(start day, days in that month)
        m = np.where(m > 0, m - (np.minimum(d, dim) > on.day), m)
        m = np.where(s.start[r] > self.on_day, 0, m)
        return np.maximum(m, 0)

    # ---- masks ----------------------------------------------------------------------
    def encode(self, name: str, value):
        if isinstance(value, bool):
            return int(value)
        vocab = self._vocab.get(name)
        if vocab is not None:
            return vocab.index(value) if value in vocab else -1
        return value

    def mask(self, e: Expr) -> np.ndarray:
        got = self._masks.get(e)
        if got is not None:
            return got
        if isinstance(e, Const):
            out = np.full(self.n, bool(e.value))
        elif isinstance(e, Cmp):
            out = np.asarray(_OPS[e.op](self.col(e.left.name),
                                        self.encode(e.left.name, e.right.value)), bool)
        elif isinstance(e, In):
            arr = self.col(e.left.name)
            vals = [self.encode(e.left.name, o.value) for o in e.options]
            out = np.zeros(self.n, bool)
            for v in vals:
                out |= np.asarray(arr == v, bool)
            if e.negate:
                out = ~out
        elif isinstance(e, And):
            out = self.mask(e.items[0])
            for item in e.items[1:]:
                if not out.any():
                    break
                out = out & self.mask(item)
        elif isinstance(e, Or):
            out = self.mask(e.items[0])
            for item in e.items[1:]:
                out = out | self.mask(item)
        else:
            raise TypeError(f"cannot evaluate {e!r} as a mask")
        if out.shape != (self.n,):
            out = np.broadcast_to(out, (self.n,)).copy()
        self._masks[e] = out
        return out
