"""``simulate(..., rules_engine="vector")``: the whole extract set-at-a-time.

The extract is turned into columns once (``vector.prepare``), shared by the baseline and
the candidate; each configuration runs ``VectorCycle`` over the process dates with the
DEPRFND why-not, and every account is reduced to the same outcome, money and rule as
``outcomes.AccountSimulator`` gives it (the same precedence, per deposit SA in sa_id
order; ``AccountSimulator._why_not_reason`` itself picks the not-eligible reason).

The ``reason`` of a changed account needs the per-account paths and why-nots
(``explain.explain_difference``): the changed accounts (all of them, or only the examples
impact.json shows, see ``reasons``) are run again by the per-account runner
(``partition.run_partition`` on their slice of the extract), whose rows must agree with
the vector rows exactly (a disagreement raises SimulationError).
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..runner import WhyNot
from .impact import EXAMPLES_PER_TRANSITION
from .outcomes import CATEGORIES, AccountSimulator, outcome_rank
from .partition import AccountRow, Job, MonthTotals, SimulationError, run_partition

Progress = Callable[[int], None]
REASONS = ("all", "examples")
_NCAT = len(CATEGORIES)


class _Side:
    """One configuration's run: per account (sorted ids) outcome, rule and money, and per
    process date the outcome counts and money totals."""

    def __init__(self, outcomes: np.ndarray, rules: np.ndarray, money: np.ndarray,
                 months: list[MonthTotals]):
        self.outcomes, self.rules, self.money, self.months = outcomes, rules, money, months


def run_vector(job: Job, extract, progress: Progress | None = None,
               reasons: str = "all") -> tuple[list[AccountRow], list[dict[str, MonthTotals]]]:
    """Rows (sorted by account id) and per-date totals, as the partitions would give."""
    from ..vector import prepare

    if reasons not in REASONS:
        raise ValueError(f"reasons must be one of {REASONS}")
    accounts = extract.accounts.sort_values("account_id", kind="stable")
    ids = accounts["account_id"].astype(object).to_numpy()
    classes = accounts["customer_class"].astype(object).to_numpy()
    n = len(ids)
    prepared = prepare(extract, job.baseline.config)
    base = _run_side(extract, job.baseline.book, job, ids, prepared)
    if progress is not None and job.candidate is not None:
        progress(n // 2)
    cand = None
    if job.candidate is not None:
        cand = _run_side(extract, job.candidate.book, job, ids, prepared)
    months = [{"baseline": base.months[k],
               "candidate": cand.months[k] if cand is not None else MonthTotals()}
              for k in range(len(job.dates))]
    mb = base.money.tolist()
    if cand is None:
        rows = [AccountRow(a, c, o, None, tuple(m), None, r, None, False, "")
                for a, c, o, m, r in zip(ids.tolist(), classes.tolist(),
                                         base.outcomes.tolist(), mb, base.rules.tolist())]
        if progress is not None:
            progress(n)
        return rows, months
    mc = cand.money.tolist()
    changed = (base.outcomes != cand.outcomes) | (base.money != cand.money).any(axis=1)
    explain_ids = _to_explain(ids, base.outcomes, cand.outcomes, changed, reasons)
    reason_of = _reasons(job, extract, explain_ids, ids, base, cand)
    rows = []
    for i, (a, c, ob, oc, rb, rc, ch) in enumerate(zip(
            ids.tolist(), classes.tolist(), base.outcomes.tolist(), cand.outcomes.tolist(),
            base.rules.tolist(), cand.rules.tolist(), changed.tolist())):
        rows.append(AccountRow(a, c, ob, oc, tuple(mb[i]), tuple(mc[i]), rb, rc, ch,
                               reason_of.get(a, "") if ch else ""))
    if progress is not None:
        progress(n - n // 2)
    return rows, months


def _to_explain(ids, ob, oc, changed, reasons) -> list[str]:
    if reasons == "all":
        return ids[changed].tolist()
    out, seen = [], {}
    for a, b, c in zip(ids[changed].tolist(), ob[changed].tolist(), oc[changed].tolist()):
        k = seen.get((b, c), 0)
        if k < EXAMPLES_PER_TRANSITION:  # the first few of each transition: impact.json's
            seen[(b, c)] = k + 1
            out.append(a)
    return out


def _reasons(job: Job, extract, wanted: list[str], ids, base: _Side, cand: _Side
             ) -> dict[str, str]:
    """The per-account runner's reasons for ``wanted`` accounts, its rows checked against
    the vector rows."""
    from ..workspace import _subset

    if not wanted:
        return {}
    sub = _subset(extract, set(wanted))
    result = run_partition(replace(job, backend="python"), 0, sub)
    pos = pd.Index(ids).get_indexer([r.account_id for r in result.rows])
    for p, r in zip(pos.tolist(), result.rows):
        vec = (base.outcomes[p], cand.outcomes[p], tuple(base.money[p].tolist()),
               tuple(cand.money[p].tolist()), base.rules[p], cand.rules[p])
        ref = (r.outcome_baseline, r.outcome_candidate, r.money_baseline, r.money_candidate,
               r.rule_baseline, r.rule_candidate)
        if vec != ref:
            raise SimulationError(f"vector and per-account runs disagree on account "
                                  f"{r.account_id}: {vec} != {ref}; use --rules-engine python")
    return {r.account_id: r.reason for r in result.rows}


# ---- one configuration -----------------------------------------------------------------
def _objects(col) -> np.ndarray:
    """A text column (categorical or string) as an object array of str."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = np.asarray(col.cat.categories.astype(object), dtype=object)
        return cats[col.cat.codes.to_numpy()]
    return col.astype(object).to_numpy()


class _Positions:
    """Positions of ids (account or SA ids, unique) in a reference list, by Arrow hashing."""

    def __init__(self, ids):
        self.ref = pa.array(np.asarray(ids, dtype=object), pa.string())

    def get_indexer(self, col) -> np.ndarray:
        arr = pa.array(col) if not isinstance(col, pa.Array) else col
        if pa.types.is_dictionary(arr.type) or not pa.types.is_string(arr.type):
            arr = pc.cast(arr, pa.string())
        return pc.index_in(arr, value_set=self.ref).fill_null(-1).to_numpy().astype(np.int64)


class _Ledger:
    """What the classification reads, per SA (in the vector's (account, sa_id) order),
    kept up to date from each date's frames: the rule of the first refund-by-check
    adjustment, of the first write-down, of the first positive transfer and of the last
    adjustment; the type and rule of the first To Do."""

    def __init__(self, m: int):
        self.ap_rule = np.full(m, None, object)
        self.wd_rule = np.full(m, None, object)
        self.xfer_rule = np.full(m, None, object)
        self.last_rule = np.full(m, None, object)
        self.todo_type = np.full(m, None, object)
        self.todo_rule = np.full(m, None, object)

    @staticmethod
    def _first(target: np.ndarray, pos: np.ndarray, values: np.ndarray, mask=None) -> None:
        if mask is not None:
            pos, values = pos[mask], values[mask]
        if not len(pos):
            return
        p, idx = np.unique(pos, return_index=True)  # first occurrence per SA
        unset = np.array([x is None for x in target[p].tolist()], bool)
        target[p[unset]] = values[idx[unset]]

    def update(self, sa_index: "_Positions", adjs: pd.DataFrame, todos: pd.DataFrame) -> None:
        if len(adjs):
            pos = sa_index.get_indexer(adjs["sa_id"])
            cat = _objects(adjs["category"])
            rule = _objects(adjs["rule"])
            amount = adjs["amount"].to_numpy(np.int64)
            self._first(self.ap_rule, pos, rule, cat == "ap_refund")
            self._first(self.wd_rule, pos, rule, cat == "write_down")
            self._first(self.xfer_rule, pos, rule, (cat == "transfer") & (amount > 0))
            p, idx = np.unique(pos[::-1], return_index=True)  # last occurrence per SA
            self.last_rule[p] = rule[::-1][idx]
        if len(todos):
            pos = sa_index.get_indexer(todos["sa_id"])
            fresh = self.todo_rule.copy()
            self._first(self.todo_rule, pos, _objects(todos["rule"]))
            newly = np.array([a is None and b is not None for a, b in
                              zip(fresh.tolist(), self.todo_rule.tolist())], bool)
            tmp = np.full(len(self.todo_type), None, object)
            self._first(tmp, pos, _objects(todos["todo_type"]))
            self.todo_type[newly] = tmp[newly]


def _run_side(extract, book, job: Job, ids: np.ndarray, prepared) -> _Side:
    from ..vector import VectorCycle

    config = book.config
    cyc = VectorCycle(extract, book, run_id=job.run_id, prepared=prepared)
    sa0 = cyc.sa_frame()
    sa_ids = sa0["sa_id"].astype(object).to_numpy()
    sa_index = _Positions(sa_ids)
    acct_index = _Positions(ids)
    sa_acct = acct_index.get_indexer(sa0["account_id"])
    first_status = _objects(sa0["status"])
    types = _objects(sa0["sa_type"])
    is_dep = {t: bool(c.is_cash_deposit) for t, c in config.sa_types.items()}
    dep = np.array([is_dep.get(t, False) for t in types.tolist()], bool)
    sim = AccountSimulator.__new__(AccountSimulator)  # only its _why_not_reason is used
    sim.config = config
    sim._deprfnd = {(v.rule.id, v.deposit_class): v for v in book.variants("DEPRFND")}
    n = len(ids)
    total = np.zeros((n, _NCAT), np.int64)
    ledger = _Ledger(len(sa_ids))
    months: list[MonthTotals] = []
    outcomes = rules = None
    for on in job.dates:
        res = cyc.run(on, explain=("DEPRFND",))
        money = _money(res.adjustments, res.checks, acct_index, n)
        total += money
        ledger.update(sa_index, res.adjustments, res.todos)
        outcomes, rules = _classify(_objects(res.sas["status"]), first_status, types, dep,
                                    sa_ids, sa_index, sa_acct, ledger, res.why_not, sim, n)
        m = MonthTotals()
        u, c = np.unique(outcomes.astype(str), return_counts=True)
        m.outcomes = dict(zip(u.tolist(), c.tolist()))
        m.money = money.sum(axis=0).tolist()
        months.append(m)
    assert outcomes is not None and rules is not None
    return _Side(outcomes, rules, total, months)


def _money(adjs: pd.DataFrame, chks: pd.DataFrame, acct_index: _Positions, n: int
           ) -> np.ndarray:
    """``outcomes.money_of`` for every account: refund checks, applied to debt, interest,
    write-downs moved by the adjustments and checks of one date."""
    out = np.zeros((n, _NCAT), np.int64)
    if len(chks):
        np.add.at(out[:, 0], acct_index.get_indexer(chks["account_id"]),
                  chks["amount"].to_numpy(np.int64))
    if len(adjs):
        pos = acct_index.get_indexer(adjs["account_id"])
        cat = _objects(adjs["category"])
        amt = adjs["amount"].to_numpy(np.int64)
        k = (cat == "transfer") & (amt > 0)
        np.add.at(out[:, 1], pos[k], amt[k])
        k = cat == "deposit_interest"
        np.add.at(out[:, 2], pos[k], -amt[k])
        k = cat == "write_down"
        np.add.at(out[:, 3], pos[k], np.abs(amt[k]))
    return out


def _classify(status, first_status, types, dep, sa_ids, sa_index, sa_acct, ledger: _Ledger,
              why: pd.DataFrame | None, sim: AccountSimulator, n: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """``AccountSimulator._classify`` for every account: outcome and rule per account."""
    m = len(sa_ids)
    outcome = np.full(m, None, object)
    rule = np.full(m, "", object)
    done = ~dep  # only cash deposits take an outcome

    def fill(mask, out_value, rule_values) -> None:
        mask = mask & ~done
        outcome[mask] = out_value if isinstance(out_value, str) else out_value[mask]
        if isinstance(rule_values, str):
            rule[mask] = rule_values
        else:
            r = rule_values[mask]
            rule[mask] = np.where(r == None, "", r)  # noqa: E711 (object array)
        done[mask] = True

    def has(arr: np.ndarray) -> np.ndarray:
        return arr != None  # noqa: E711 (object array)

    fill(has(ledger.ap_rule), "refunded_by_check", ledger.ap_rule)
    fill(has(ledger.wd_rule), "written_down", ledger.wd_rule)
    t = has(ledger.todo_rule)
    if t.any():
        todo_out = np.full(m, None, object)
        todo_out[t] = np.array(["todo_" + x for x in ledger.todo_type[t].tolist()], object)
        fill(t, todo_out, ledger.todo_rule)
    closed = (status == "closed") & (first_status != "closed")
    fill(closed & has(ledger.xfer_rule), "applied_to_debt", ledger.xfer_rule)
    fill(closed, "closed_at_zero", "")
    fill((status == "pending_stop") | (status == "stopped"), "pending", ledger.last_rule)
    active = (status == "active") & ~done
    if active.any() and why is not None and len(why):
        _not_eligible(active, why, types, sa_ids, sa_index, sim, outcome, rule, done)
    fill(np.ones(m, bool), "untouched", "")

    # the account: the most significant outcome of its deposits, the first in sa_id order
    # (SAs are in (account, sa_id) order and lexsort is stable)
    d = np.flatnonzero(dep)
    acc_out = np.full(n, "no_deposit", object)
    acc_rule = np.full(n, "", object)
    if len(d):
        ranks = {o: outcome_rank(o)[0] for o in set(outcome[d].tolist())}
        rank = np.array([ranks[o] for o in outcome[d].tolist()], np.int64)
        pos = sa_acct[d]
        order = np.lexsort((rank, pos))
        lead = np.r_[True, pos[order][1:] != pos[order][:-1]]
        best = d[order[lead]]
        acc_out[sa_acct[best]] = outcome[best]
        acc_rule[sa_acct[best]] = rule[best]
    return acc_out, acc_rule


def _not_eligible(active, why, types, sa_ids, sa_index, sim, outcome, rule, done) -> None:
    """``_why_not_reason`` over each active deposit's DEPRFND why-nots (cached per SA type
    and list of (rule, condition))."""
    w = why[(why["process"] == "DEPRFND").to_numpy()]
    if not len(w):
        return
    pos = sa_index.get_indexer(w["sa_id"])
    keep = active[pos]
    pos = pos[keep]
    rules = _objects(w["rule"])[keep]
    conds = _objects(w["condition"])[keep]
    entries: dict[int, list[tuple[str, str]]] = {}
    for p, r, c in zip(pos.tolist(), rules.tolist(), conds.tolist()):
        entries.setdefault(p, []).append((r, c))
    cache: dict[tuple, tuple[str, str] | None] = {}
    for p, e in entries.items():
        key = (types[p], tuple(e))
        if key not in cache:
            ws = [WhyNot("DEPRFND", r, "", sa_ids[p], c, "") for r, c in e]
            chosen = sim._why_not_reason(SimpleNamespace(sa_type=types[p]), ws)
            cache[key] = None if chosen is None else (chosen[0], chosen[1].rule)
        got = cache[key]
        if got is not None:
            outcome[p] = f"not_eligible_{got[0]}"
            rule[p] = got[1]
            done[p] = True
