"""Facts: one flat record per SA with its account's fields, for the engines.

A process runs in rounds and every round needs the facts again, of a state that only the
executor has changed since the last. :class:`FactBuilder` computes once, for one account
on one date, what the executor never changes (the account's fields, each SA's type, class,
start date and months held, which SAs share its deposit class, its active non-cash
deposits) as a template per SA, and each round fills in the fields that can move (status,
dates, balances, interest due, the final bill, the To Dos, the class's unfinished SAs).
:func:`build_facts` is the same thing for one round.
"""

from __future__ import annotations

from datetime import date

from ..config.model import Config
from ..dates import as_int, months_held
from ..interest import period_range
from ..ledger.model import FINISHED, AccountState

NO_DUE = -99999


class FactBuilder:
    """The facts of ``state`` on ``on``, built again each round by :meth:`build`.

    Between two calls only the executor may change the state: it never changes the
    account, the set of SAs, an SA's type or start date, or the non-cash deposits, which
    the templates hold (an SA whose type or start date differs from its template's gets a
    new one, so a caller that does change them still gets right facts).

    Incremental: an SA whose moving fields are made of the same values as when its fact
    was last built (its status, dates, balances, final bill, To Dos and the class's
    unfinished SAs) gets that same fact object again, in the next round or the next
    process. Facts are read, never changed, by their users (matchers, the trace, the
    observers)."""

    __slots__ = ("state", "config", "on", "_base", "_periodic", "_templates",
                 "_sa_count", "_last")

    def __init__(self, state: AccountState, config: Config, on: date):
        self.state, self.config, self.on = state, config, on
        acct = state.account
        self._base = {
            "account__account_id": acct.account_id,
            "account__customer_class": acct.customer_class,
            "account__credit_rating": int(acct.credit_rating),
            "account__late_payments_12m": int(acct.late_payments_12m or 0),
            "account__do_not_refund": int(bool(acct.do_not_refund)),
            "account__postponed": int(acct.cc_postpone_date is not None
                                      and on < acct.cc_postpone_date),
            "process_date": as_int(on),
        }
        # deposit class -> (months, min_days_held) when it has periodic interest
        self._periodic = {}
        for code, dc in config.deposit_classes.items():
            if dc.interest is not None and (dc.months_between_interest or 0) > 0:
                self._periodic[code] = (dc.months_between_interest, dc.interest.min_days_held)
        self._templates: dict[str, tuple] = {}
        self._sa_count = -1
        # sa_id -> (what its moving fields were made of, template, fact) of its last build
        self._last: dict[str, tuple] = {}

    def _template(self, sa, others: int) -> tuple:
        """(sa_type, start_date, is_cash_deposit, deposit_class, fact template)."""
        t = self.config.sa_types[sa.sa_type]
        on = self.on
        f = dict(self._base)
        # every key in the order facts have always had; the moving ones are overwritten
        f.update({
            "id": sa.sa_id,
            "sa__sa_id": sa.sa_id,
            "sa__sa_type": sa.sa_type,
            "sa__status": None,
            "sa__is_cash_deposit": int(t.is_cash_deposit),
            "sa__deposit_class": t.deposit_class,
            "sa__start_date": as_int(sa.start_date),
            "sa__stop_date": None,
            "sa__stop_date_reached": None,
            "sa__payoff_balance": None,
            "sa__current_balance": None,
            "sa__sync_difference": None,
            "sa__months_held": months_held(sa.start_date, on),
            "sa__days_held": None,
            "sa__interest_settled": None,
            "sa__interest_periods_due": None,
            "sa__final_bill": None,
            "sa__refund_method_applied": None,
            "sa__days_past_due": None,
            "sa__has_active_ncd": int(any(n.deposit_class == t.deposit_class and n.active_on(on)
                                          for n in self.state.ncds)),
            "sa__open_depref_todo": None,
            "sa__other_same_class_sas": others,
            "sa__other_same_class_unfinished": None,
        })
        return sa.sa_type, sa.start_date, bool(t.is_cash_deposit), t.deposit_class, f

    def _refresh(self) -> None:
        sas = self.state.sas
        types = self.config.sa_types
        members: dict = {}
        for sa in sas.values():
            dc = types[sa.sa_type].deposit_class
            members[dc] = members.get(dc, 0) + 1
        self._templates = {sa.sa_id: self._template(sa, members[types[sa.sa_type].deposit_class]
                                                    - 1)
                           for sa in sas.values()}
        self._sa_count = len(sas)

    def build(self, cash_deposit_only: bool = False) -> list[dict]:
        state, on = self.state, self.on
        sas = state.sas
        if len(sas) != self._sa_count:
            self._refresh()
        templates = self._templates
        # each deposit class's SAs not finished, the account's final bill of each SA (the
        # last one) and its open DEPREF To Dos: one pass each instead of one per SA
        unfinished: dict = {}
        for sa in sas.values():
            tp = templates.get(sa.sa_id)
            if tp is None or tp[0] != sa.sa_type or tp[1] != sa.start_date:
                self._refresh()  # then every SA has its template
                return self.build(cash_deposit_only)
            if sa.status not in FINISHED:
                unfinished[tp[3]] = unfinished.get(tp[3], 0) + 1
        bills = {}
        for b in state.bills:
            bills[b.sa_id] = b
        depref = {td.sa_id for td in state.todos
                  if td.todo_type == "DEPREF" and td.status != "complete"}
        periodic = self._periodic
        last_facts = self._last
        facts = []
        for sa in sas.values():
            sa_id = sa.sa_id
            _, _, cash, dc, template = templates[sa_id]
            if cash_deposit_only and not cash:
                continue
            stop = sa.stop_date
            start = sa.start_date
            status = sa.status
            bill = bills.get(sa_id)
            others = unfinished.get(dc, 0) - (status not in FINISHED)
            # everything the moving fields are made of: the same as in the last round that
            # built this SA's fact, the same fact
            moved = (status, stop, sa.payoff_balance, sa.current_balance, sa.last_interest_date,
                     None if bill is None else (bill.status, bill.refund_method_applied,
                                                bill.due_date),
                     sa_id in depref, others)
            last = last_facts.get(sa_id)
            if last is not None and last[0] == moved and last[1] is template:
                facts.append(last[2])
                continue
            due = 0
            if dc in periodic:
                first, last = period_range(start, sa.last_interest_date, on, *periodic[dc])
                due = max(0, last - first + 1)
            f = template.copy()
            f["sa__status"] = status
            f["sa__stop_date"] = as_int(stop)
            f["sa__stop_date_reached"] = int(stop is not None and stop <= on)
            f["sa__payoff_balance"] = sa.payoff_balance
            f["sa__current_balance"] = sa.current_balance
            f["sa__sync_difference"] = sa.payoff_balance - sa.current_balance
            f["sa__days_held"] = ((stop or on) - start).days
            f["sa__interest_settled"] = int(stop is not None and
                                            (sa.last_interest_date or start) >= stop)
            f["sa__interest_periods_due"] = due
            if bill is None:
                f["sa__final_bill"] = "none"
                f["sa__refund_method_applied"] = 0
                f["sa__days_past_due"] = NO_DUE
            else:
                f["sa__final_bill"] = bill.status
                f["sa__refund_method_applied"] = int(bool(bill.refund_method_applied))
                f["sa__days_past_due"] = (on - bill.due_date).days if bill.due_date else NO_DUE
            f["sa__open_depref_todo"] = int(sa_id in depref)
            f["sa__other_same_class_unfinished"] = others
            last_facts[sa_id] = (moved, template, f)
            facts.append(f)
        return facts


def build_facts(state: AccountState, config: Config, on: date,
                cash_deposit_only: bool = False) -> list[dict]:
    """The facts of one round (:class:`FactBuilder` keeps what does not change between
    rounds)."""
    return FactBuilder(state, config, on).build(cash_deposit_only)
