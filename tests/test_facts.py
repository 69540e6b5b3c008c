"""The runner's facts (rules/facts.py: FactBuilder, which keeps what the executor never
changes between rounds and processes) equal, in every round of every process, the facts
built from scratch from the state by the plain definition below (the build_facts deprules
had before the builder), key for key and in the same key order."""

from __future__ import annotations

import copy
from datetime import date, timedelta

import pytest

from deprules.dates import as_int, months_held
from deprules.extract import generate_extract
from deprules.interest import period_range
from deprules.ledger.model import FINISHED
from deprules.ledger.tables import states_from_extract
from deprules.rules.facts import NO_DUE, FactBuilder, build_facts
from deprules.runner import Runner
from deprules.workspace import load_setup


def facts_by_definition(state, config, on, cash_deposit_only=False):
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
    periodic = {code: (dc.months_between_interest, dc.interest.min_days_held)
                for code, dc in config.deposit_classes.items()
                if dc.interest is not None and (dc.months_between_interest or 0) > 0}
    facts = []
    for sa in sas:
        t = types[sa.sa_type]
        if cash_deposit_only and not t.is_cash_deposit:
            continue
        others = [o for o in sas if o.sa_id != sa.sa_id
                  and types[o.sa_type].deposit_class == t.deposit_class]
        bills = [b for b in state.bills if b.sa_id == sa.sa_id]
        bill = bills[-1] if bills else None
        open_types = {td.todo_type for td in state.todos
                      if td.sa_id == sa.sa_id and td.status != "complete"}
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
            "sa__other_same_class_unfinished": sum(1 for o in others
                                                   if o.status not in FINISHED),
        })
        facts.append(f)
    return facts


@pytest.mark.parametrize("sets", [[], ["deposit_classes.RES.months_between_interest=3",
                                       "deposit_classes.COM.interest.min_days_held=180"]])
def test_every_round_facts_equal_the_definition(root, sets):
    setup = load_setup(root / "config", root / "rules", sets=sets)
    extract = generate_extract(300, seed=5, as_of=date(2026, 11, 21))
    states = states_from_extract(extract, setup.config)
    rounds = {"n": 0, "later": 0}

    def observer(process, rnd, facts, matches, book):
        want = facts_by_definition(current["state"], book.config, current["on"],
                                   book.cash_deposit_only(process))
        assert [list(f.items()) for f in facts] == [list(f.items()) for f in want], \
            (current["state"].account_id, process, rnd)
        rounds["n"] += 1
        rounds["later"] += rnd > 1

    runner = Runner(setup.book, backend="python", observer=observer)
    current = {}
    # two dates in turn on the same states: the second cycle starts from what the first did
    for on in (date(2026, 11, 21), date(2027, 1, 21)):
        for aid, st in sorted(states.items()):
            current.update(state=st, on=on)
            runner.run_cycle(st, on)
    assert rounds["later"] > 100 and rounds["n"] > 3000  # rounds after firings are checked


def test_a_builder_follows_changes_it_does_not_expect(root):
    # the state changed between builds other than by the executor (an SA's type and start,
    # an SA added): the builder's templates are made again
    setup = load_setup(root / "config", root / "rules")
    extract = generate_extract(40, seed=3, as_of=date(2026, 11, 21))
    states = states_from_extract(extract, setup.config)
    on = date(2026, 11, 21)
    for st in states.values():
        fb = FactBuilder(st, setup.config, on)
        assert fb.build() == facts_by_definition(st, setup.config, on)
        sa = next(iter(st.sas.values()))
        sa.start_date -= timedelta(days=400)
        assert fb.build() == facts_by_definition(st, setup.config, on)
        extra = copy.copy(sa)
        extra.sa_id = sa.sa_id + "X"
        st.sas[extra.sa_id] = extra
        assert fb.build(True) == facts_by_definition(st, setup.config, on, True)
        assert build_facts(st, setup.config, on) == facts_by_definition(st, setup.config, on)
