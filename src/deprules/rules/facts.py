"""Facts: one flat record per SA with its account's fields, for the engines."""

from __future__ import annotations

from datetime import date

from ..config.model import Config
from ..dates import as_int, months_held
from ..interest import period_range
from ..ledger.model import FINISHED, AccountState

NO_DUE = -99999


def build_facts(state: AccountState, config: Config, on: date,
                cash_deposit_only: bool = False) -> list[dict]:
    acct = state.account
    types = config.sa_types
    base = {
        "account__account_id": acct.account_id,
        "account__customer_class": acct.customer_class,
        "account__credit_rating": int(acct.credit_rating),
        "account__late_payments_12m": int(acct.late_payments_12m or 0),
        "account__do_not_refund": int(bool(acct.do_not_refund)),
        "account__postponed": int(acct.cc_postpone_date is not None and on < acct.cc_postpone_date),
        "process_date": as_int(on),
    }
    sas = list(state.sas.values())
    facts = []
    periodic = {}  # deposit class -> (months, min_days_held) when it has periodic interest
    for code, dc in config.deposit_classes.items():
        if dc.interest is not None and (dc.months_between_interest or 0) > 0:
            periodic[code] = (dc.months_between_interest, dc.interest.min_days_held)
    for sa in sas:
        t = types[sa.sa_type]
        if cash_deposit_only and not t.is_cash_deposit:
            continue
        others = [o for o in sas if o.sa_id != sa.sa_id
                  and types[o.sa_type].deposit_class == t.deposit_class]
        bill = state.final_bill(sa.sa_id)
        open_types = {td.todo_type for td in state.open_todos(sa.sa_id)}
        end = sa.stop_date or on
        due = 0
        if t.deposit_class in periodic:
            first, last = period_range(sa.start_date, sa.last_interest_date, on,
                                       *periodic[t.deposit_class])
            due = max(0, last - first + 1)
        f = dict(base)
        f.update({
            "id": sa.sa_id,
            "sa__sa_id": sa.sa_id,
            "sa__sa_type": sa.sa_type,
            "sa__status": sa.status,
            "sa__is_cash_deposit": int(t.is_cash_deposit),
            "sa__deposit_class": t.deposit_class,
            "sa__start_date": as_int(sa.start_date),
            "sa__stop_date": as_int(sa.stop_date),
            "sa__stop_date_reached": int(sa.stop_date is not None and sa.stop_date <= on),
            "sa__payoff_balance": sa.payoff_balance,
            "sa__current_balance": sa.current_balance,
            "sa__sync_difference": sa.payoff_balance - sa.current_balance,
            "sa__months_held": months_held(sa.start_date, on),
            "sa__days_held": (end - sa.start_date).days,
            "sa__interest_settled": int(sa.stop_date is not None and
                                        (sa.last_interest_date or sa.start_date) >= sa.stop_date),
            "sa__interest_periods_due": due,
            "sa__final_bill": bill.status if bill else "none",
            "sa__refund_method_applied": int(bool(bill and bill.refund_method_applied)),
            "sa__days_past_due": (on - bill.due_date).days if bill and bill.due_date else NO_DUE,
            "sa__has_active_ncd": int(any(n.deposit_class == t.deposit_class and n.active_on(on)
                                          for n in state.ncds)),
            "sa__open_depref_todo": int("DEPREF" in open_types),
            "sa__other_same_class_sas": len(others),
            "sa__other_same_class_unfinished": sum(1 for o in others if o.status not in FINISHED),
        })
        facts.append(f)
    return facts
