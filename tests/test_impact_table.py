"""The impact and the accounts files are computed from columns (simulate.table); they must
say exactly what a plain row-by-row reading of the accounts says, for any accounts,
including money beyond 64-bit integers and accounts without a candidate."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from deprules.money import format_money
from deprules.simulate import SimulationResult
from deprules.simulate.files import accounts_csv, accounts_table
from deprules.simulate.impact import EXAMPLES_PER_TRANSITION, build_impact
from deprules.simulate.outcomes import CATEGORIES, outcome_rank
from deprules.simulate.partition import AccountRow
from deprules.simulate.table import from_rows, to_rows

OUTCOMES = ["refunded_by_check", "written_down", "todo_TD-DEPREF", "applied_to_debt",
            "closed_at_zero", "pending", "not_eligible_credit_rating", "untouched",
            "no_deposit"]
BIG = 2**70  # beyond int64: the table keeps Python integers

NEAR = 2**63 - 1  # each figure fits int64, their sum may not
money = st.tuples(*[st.one_of(st.integers(-10**6, 10**6), st.integers(-BIG, BIG))] * 4)
near_money = st.tuples(*[st.one_of(st.integers(-10**6, 10**6),
                                   st.integers(NEAR - 10**6, NEAR),
                                   st.integers(-NEAR, -NEAR + 10**6))] * 4)
small_money = st.tuples(*[st.integers(-10**6, 10**6)] * 4)


deposit_classes = st.sampled_from(["RES", "COM", "COM+RES", "none"])


@st.composite
def accounts(draw):
    n = draw(st.integers(0, 60))
    with_candidate = draw(st.booleans())
    m = draw(st.sampled_from([money, near_money, small_money]))
    # few outcomes make long transitions (more accounts than examples shown)
    outcomes = draw(st.sampled_from([OUTCOMES, OUTCOMES[:2], OUTCOMES[4:7]]))
    rows = []
    for i in range(n):
        ob = draw(st.sampled_from(outcomes))
        mb = draw(m)
        if with_candidate:
            oc = draw(st.sampled_from([ob] * 3 + outcomes))
            mc = draw(st.one_of(st.just(mb), m))
            changed = oc != ob or mc != mb
            rows.append(AccountRow(f"A{i:04d}", draw(st.sampled_from(["RES", "COM", "IND"])),
                                   ob, oc, mb, mc, draw(st.sampled_from(["", "r/one"])),
                                   draw(st.sampled_from(["", "r/two"])), changed,
                                   "why" if changed else "", draw(deposit_classes)))
        else:
            rows.append(AccountRow(f"A{i:04d}", draw(st.sampled_from(["RES", "COM"])), ob,
                                   None, mb, None, "r/one", None, False, "",
                                   draw(deposit_classes)))
    return rows, with_candidate


def reference(rows, has_c, mu=2) -> dict:
    """The impact's counts, money, classes, transitions and examples, row by row."""
    def side(counts_b, counts_c):
        names = sorted(set(counts_b) | set(counts_c or ()), key=outcome_rank)
        out = {}
        for o in names:
            e = {"baseline": counts_b.get(o, 0)}
            if has_c:
                e["candidate"] = counts_c.get(o, 0)
                e["delta"] = e["candidate"] - e["baseline"]
            out[o] = e
        return out

    def moneys(rs):
        out = {}
        for i, c in enumerate(CATEGORIES):
            b = sum(r.money_baseline[i] for r in rs)
            e = {"baseline": format_money(b, mu)}
            if has_c:
                cc = sum(r.money_candidate[i] for r in rs)
                e.update(candidate=format_money(cc, mu), delta=format_money(cc - b, mu))
            out[c] = e
        return out

    def summary(rs):
        return {"outcomes": side(Counter(r.outcome_baseline for r in rs),
                                 Counter(r.outcome_candidate for r in rs) if has_c else None),
                "money": moneys(rs)}

    def by(attr):
        return {c: {"accounts": len(rs), "changed_accounts": sum(r.changed for r in rs),
                    **summary(rs)}
                for c in sorted({getattr(r, attr) for r in rows})
                for rs in [[r for r in rows if getattr(r, attr) == c]]}

    out = {"accounts": len(rows), "changed_accounts": sum(r.changed for r in rows),
           **summary(rows), "by_customer_class": by("customer_class"),
           "by_deposit_class": by("deposit_class")}
    if has_c:
        pairs = Counter((r.outcome_baseline, r.outcome_candidate) for r in rows)
        matrix: dict = {}
        for (a, b), n in sorted(pairs.items(), key=lambda x: (outcome_rank(x[0][0]),
                                                              outcome_rank(x[0][1]))):
            matrix.setdefault(a, {})[b] = n
        out["transitions"] = matrix
        changed = [r for r in rows if r.changed]
        moved = [r for r in changed if r.money_baseline != r.money_candidate]
        out["changed_money_accounts"] = len(moved)
        out["changed_label_only_accounts"] = len(changed) - len(moved)
        counts = Counter((r.outcome_baseline, r.outcome_candidate) for r in changed)
        money_counts = Counter((r.outcome_baseline, r.outcome_candidate) for r in moved)
        def shown(a, b):
            """The first few of each class and deposit class, in account id order."""
            seen: Counter = Counter()
            out = []
            for r in changed:
                key = (r.customer_class, r.deposit_class)
                if (r.outcome_baseline, r.outcome_candidate) == (a, b) and \
                        seen[key] < EXAMPLES_PER_TRANSITION:
                    seen[key] += 1
                    out.append(r)
            return out

        def per(a, b, attr, customer_class=None):
            n = Counter(getattr(r, attr) for r in changed
                        if (r.outcome_baseline, r.outcome_candidate) == (a, b)
                        and customer_class in (None, r.customer_class))
            return dict(sorted(n.items()))

        out["examples"] = [
            {"from": a, "to": b, "accounts": counts[(a, b)],
             "money_changed_accounts": money_counts[(a, b)],
             "label_only_accounts": counts[(a, b)] - money_counts[(a, b)],
             "by_customer_class": per(a, b, "customer_class"),
             "by_deposit_class": per(a, b, "deposit_class"),
             "by_class": {c: {d: n for d, n in per(a, b, "deposit_class", c).items()}
                          for c in per(a, b, "customer_class")}, "examples": [
                {"account_id": r.account_id, "customer_class": r.customer_class,
                 "deposit_class": r.deposit_class,
                 "rule_baseline": r.rule_baseline, "rule_candidate": r.rule_candidate,
                 "money_delta": {c: format_money(y - x, mu) for c, x, y in
                                 zip(CATEGORIES, r.money_baseline, r.money_candidate)
                                 if x != y},
                 "money_baseline": {c: format_money(v, mu)
                                    for c, v in zip(CATEGORIES, r.money_baseline)},
                 "money_candidate": {c: format_money(v, mu)
                                     for c, v in zip(CATEGORIES, r.money_candidate)},
                 "reason": r.reason}
                for r in shown(a, b)]}
            for a, b in sorted(counts, key=lambda k: (-counts[k], outcome_rank(k[0]),
                                                      outcome_rank(k[1])))]
    return out


@settings(max_examples=150, deadline=None)
@given(accounts())
def test_impact_from_columns_matches_a_row_by_row_reading(data):
    rows, has_c = data
    table = from_rows(rows, has_c)
    assert to_rows(table) == rows
    impact = build_impact(table, [], as_of=date(2026, 11, 21), dates=(date(2026, 11, 21),),
                          horizon=None, currency="USD", minor_units=2, baseline={},
                          candidate={} if has_c else None)
    want = reference(rows, has_c)
    assert {k: impact[k] for k in want} == want
    assert has_c == ("transitions" in impact)
    dist = impact["distributions"]
    assert sum(b["baseline"] for b in dist["refund_amounts"]) == sum(
        r.money_baseline[0] > 0 for r in rows)
    if has_c:
        changed = [r for r in rows if r.changed]
        assert sum(b["candidate"] for b in dist["refund_amounts"]) == sum(
            r.money_candidate[0] > 0 for r in rows)
        assert sum(b["accounts"] for b in dist["refund_changes"]) == len(changed)
        zero = next(b for b in dist["refund_changes"] if b["lower"] == "0.00")
        assert zero["upper"] == "0.01" and zero["accounts"] == sum(
            r.money_candidate[0] == r.money_baseline[0] for r in changed)


@settings(max_examples=60, deadline=None)
@given(accounts())
def test_accounts_files_hold_every_account_exactly(data):
    rows, has_c = data
    result = SimulationResult({"candidate": {} if has_c else None}, from_rows(rows, has_c), 2)
    lines = list(csv.reader(io.StringIO(accounts_csv(result).decode())))
    assert len(lines) == len(rows) + 1
    for r, line in zip(rows, lines[1:]):
        assert line[:4] == [r.account_id, r.customer_class, r.outcome_baseline,
                            r.outcome_candidate or ""]
        assert line[4:8] == [format_money(v, 2) for v in r.money_baseline]
        assert line[8:12] == ([format_money(v, 2) for v in r.money_candidate] if has_c
                              else [""] * 4)
        assert line[12:] == ["true" if r.changed else "false", r.rule_baseline,
                             r.rule_candidate or "", r.reason, r.deposit_class]
    if all(-2**63 <= v < 2**63 for r in rows for v in r.money_baseline + (r.money_candidate
                                                                          or ())):
        table = accounts_table(result)
        assert table.column("refund_checks_baseline").to_pylist() == [
            r.money_baseline[0] for r in rows]
        assert table.column("write_downs_candidate").to_pylist() == [
            r.money_candidate[3] if has_c else None for r in rows]
        assert table.column("deposit_class").to_pylist() == [r.deposit_class for r in rows]
