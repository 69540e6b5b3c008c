"""durable-rules (the reference) and the compiled Python matcher agree exactly on a
generated extract, including around every threshold (hold months, credit rating, bands)."""

from __future__ import annotations

import copy
from datetime import date

import pytest

from deprules.extract import generate_extract
from deprules.ledger.tables import states_from_extract
from deprules.runner import Runner
from deprules.workspace import load_setup


@pytest.mark.parametrize("sets", [
    [],
    ["deposit_classes.RES.refund_criteria.hold_months=18",
     "deposit_classes.RES.good_customer={algorithm: LATEPAYMENTS, max_late_payments: 1}",
     'write_off_controls.RES.criteria.1={algorithm: WO-WRITEDOWN, lower: "-5.00", '
     'upper: "25.00"}',
     'write_off_controls.RES.criteria.2={algorithm: WO-AP-ADJ, min_refund: "5.00"}',
     "deposit_classes.COM.refund_method.algorithm=DEPREF-TODO",
     "deposit_classes.COM.interest.min_days_held=180"],
])
def test_back_ends_agree_on_a_generated_extract(root, sets):
    setup = load_setup(root / "config", root / "rules", sets=sets)
    extract = generate_extract(400, seed=11, as_of=date(2026, 11, 21))
    states = states_from_extract(extract, setup.config)
    on = date(2026, 11, 21)
    runs = {}
    for backend in ("durable", "python"):
        runner = Runner(setup.book, backend=backend, run_id="diff")
        copies = copy.deepcopy(states)
        runs[backend] = {aid: runner.run_cycle(st, on, explain=True) for aid, st in
                         sorted(copies.items())}
    fired = 0
    for aid in sorted(states):
        a, b = runs["durable"][aid], runs["python"][aid]
        assert [t.as_dict() for t in a.trace] == [t.as_dict() for t in b.trace], aid
        assert [w.as_dict() for w in a.why_not] == [w.as_dict() for w in b.why_not], aid
        fired += len(a.trace)
    assert fired > 400  # the extract exercises the rules, not just empty runs


# Effective-dated values (docs/configuration.md): every value below changes on 2026-11-01
DATED_SETS = [
    "deposit_classes.RES.refund_criteria.hold_months=[{value: 12}, {effective: 2026-11-01, "
    "value: 18}]",
    "installation.credit_rating_threshold=[{value: 300}, {effective: 2026-11-01, value: 450}]",
    "deposit_classes.RES.good_customer={algorithm: LATEPAYMENTS, max_late_payments: "
    "[{value: 2}, {effective: 2026-11-01, value: 0}]}",
    'write_off_controls.RES.criteria.1={algorithm: WO-WRITEDOWN, lower: [{value: "-1.00"}, '
    '{effective: 2026-11-01, value: "-5.00"}], upper: [{value: "10.00"}, '
    '{effective: 2026-11-01, value: "25.00"}]}',
    'write_off_controls.RES.criteria.2={algorithm: WO-AP-ADJ, min_refund: [{value: "1.00"}, '
    '{effective: 2026-11-01, value: "5.00"}]}',
    "deposit_classes.COM.refund_method.algorithm=[{value: APPLYDEPOSIT}, "
    "{effective: 2026-11-01, value: DEPREF-TODO}]",
    "deposit_classes.COM.months_between_interest=[{value: 12}, {effective: 2026-11-01, "
    "value: 3}]",
]
# the same configuration with plain values: the first entries, and the entries from 2026-11-01
PLAIN_BEFORE = [
    "deposit_classes.RES.good_customer={algorithm: LATEPAYMENTS, max_late_payments: 2}",
]
PLAIN_AFTER = [
    "deposit_classes.RES.refund_criteria.hold_months=18",
    "installation.credit_rating_threshold=450",
    "deposit_classes.RES.good_customer={algorithm: LATEPAYMENTS, max_late_payments: 0}",
    'write_off_controls.RES.criteria.1={algorithm: WO-WRITEDOWN, lower: "-5.00", '
    'upper: "25.00"}',
    'write_off_controls.RES.criteria.2={algorithm: WO-AP-ADJ, min_refund: "5.00"}',
    "deposit_classes.COM.refund_method.algorithm=DEPREF-TODO",
    "deposit_classes.COM.months_between_interest=3",
]


def _traces(setup, states, dates, backend):
    runner = Runner(setup.book, backend=backend, run_id="diff")
    out = {}
    for aid, st in sorted(copy.deepcopy(states).items()):
        out[aid] = []
        for on in dates:
            run = runner.run_cycle(st, on, explain=True)
            out[aid].append(([t.as_dict() for t in run.trace],
                             [w.as_dict() for w in run.why_not]))
    return out


def test_effective_dated_values_are_chosen_by_the_process_date(root):
    """Both matchers give the same results over a run before and a run after the change
    date, and those are the results of plain configurations holding the values of each
    date: before 2026-11-01 the first entries, from then on the later ones."""
    dated = load_setup(root / "config", root / "rules", sets=DATED_SETS)
    before = load_setup(root / "config", root / "rules", sets=PLAIN_BEFORE)
    after = load_setup(root / "config", root / "rules", sets=PLAIN_AFTER)
    assert len({dated.hash, before.hash, after.hash}) == 3
    extract = generate_extract(300, seed=5, as_of=date(2026, 11, 21))
    states = states_from_extract(extract, dated.config)
    d1, d2 = date(2026, 10, 21), date(2026, 11, 21)
    runs = {b: _traces(dated, states, (d1, d2), b) for b in ("durable", "python")}
    assert runs["durable"] == runs["python"]
    # the plain configurations, each on its own date (state carried from the first run)
    plain: dict = {}
    for aid, st in sorted(copy.deepcopy(states).items()):
        r1 = Runner(before.book, backend="python").run_cycle(st, d1, explain=True)
        r2 = Runner(after.book, backend="python").run_cycle(st, d2, explain=True)
        plain[aid] = [([t.as_dict() for t in r.trace], [w.as_dict() for w in r.why_not])
                      for r in (r1, r2)]
    assert runs["python"] == plain
    changed = sum(1 for aid in plain if plain[aid][1][0])
    assert changed > 50  # the second date decides things, not only empty runs
