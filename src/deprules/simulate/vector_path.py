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
from typing import Callable

import numpy as np
import pandas as pd

from ..rules.vocabulary import STATUSES
from ..runner import WhyNot
from . import table as tbl
from .impact import column_sums, example_positions
from .outcomes import CATEGORIES, AccountSimulator, outcome_rank
from .partition import Job, MonthTotals, SimulationError, run_partition
from .steps import step

Progress = Callable[[int], None]
REASONS = ("all", "examples")
_NCAT = len(CATEGORIES)
_STATUS = {s: i for i, s in enumerate(STATUSES)}


class _Vocab:
    """Names as small integer codes, shared by both configurations so their per-account
    codes compare directly. ``first`` is code 0."""

    def __init__(self, first: str):
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.code(first)

    def code(self, name: str) -> int:
        k = self.index.get(name)
        if k is None:
            k = self.index[name] = len(self.names)
            self.names.append(name)
        return k

    def codes_of(self, col) -> np.ndarray:
        """Codes of a text column (categorical, string or object), without a per-row
        Python loop when it is categorical."""
        if isinstance(col.dtype, pd.CategoricalDtype):
            cats = col.cat.categories.astype(object).tolist()
            lut = np.array([self.code(c) for c in cats] + [-1], np.int64)
            return lut[col.cat.codes.to_numpy()]
        codes, uniq = pd.factorize(col.to_numpy(dtype=object))
        lut = np.array([self.code(u) for u in uniq.tolist()] + [-1], np.int64)
        return lut[codes]

    def array(self) -> np.ndarray:
        return np.array(self.names, dtype=object)


class _Side:
    """One configuration's run, per account (the vector's sorted account order): outcome
    and rule codes, money (n, 4); and per process date the outcome counts and money."""

    def __init__(self, outcomes: np.ndarray, rules: np.ndarray, money: np.ndarray,
                 months: list[MonthTotals]):
        self.outcomes, self.rules, self.money, self.months = outcomes, rules, money, months


#: the candidate runs in a second process (``forked``) from this many accounts: below,
#: a fork costs more than it saves
FORK_MIN_ACCOUNTS = 50_000


def run_vector(job: Job, extract, progress: Progress | None = None,
               reasons: str = "all", fork: bool | None = None
               ) -> tuple[pd.DataFrame, list[dict[str, MonthTotals]]]:
    """The per-account table (``simulate.table``, sorted by account id) and per-date
    totals, as the partitions would give.

    ``fork``: run the candidate in a forked child while this process runs the baseline
    (``forked.Forked``; the same results). None: when there are two cores and at least
    :data:`FORK_MIN_ACCOUNTS` accounts."""
    from ..vector import prepare
    from .forked import Forked, can_fork

    if reasons not in REASONS:
        raise ValueError(f"reasons must be one of {REASONS}")
    with step("prepare"):
        prepared = prepare(extract, job.baseline.config)
    s = prepared.static
    with step("account_columns"):
        ids = s.account_id  # sorted (the vector's account order)
        classes = np.array(s.cust_codes, dtype=object)[s.cust] if len(s.cust_codes) else \
            np.full(len(ids), "", object)
        deposit_classes = tbl.static_deposit_classes(s, job.baseline.config)
    n = len(ids)
    outcome_names, rule_names = _Vocab("no_deposit"), _Vocab("")
    child = None
    if job.candidate is not None:
        if fork is None:
            fork = n >= FORK_MIN_ACCOUNTS and can_fork()

        def candidate():
            with step("candidate"):
                side = _run_side(extract, job.candidate.book, job, prepared,
                                 outcome_names, rule_names)
            return side, list(outcome_names.names), list(rule_names.names)

        child = Forked(candidate, fork=fork)
    try:
        with step("baseline"):
            base = _run_side(extract, job.baseline.book, job, prepared, outcome_names,
                             rule_names)
        if progress is not None and child is not None:
            progress(n // 2)
        cand = None
        if child is not None:
            # codes as if the candidate ran after the baseline in this process
            with step("candidate_wait"):
                cand = _adopt(*child.result(), outcome_names, rule_names)
    except BaseException:
        if child is not None:
            child.cancel()
        raise
    months = [{"baseline": base.months[k],
               "candidate": cand.months[k] if cand is not None else MonthTotals()}
              for k in range(len(job.dates))]
    o_names, r_names = outcome_names.array(), rule_names.array()
    if cand is None:
        if progress is not None:
            progress(n)
        return tbl.build(ids, classes, o_names[base.outcomes], base.money,
                         r_names[base.rules], deposit_class=deposit_classes), months
    changed = (base.outcomes != cand.outcomes) | (base.money != cand.money).any(axis=1)
    explain = _to_explain(base.outcomes, cand.outcomes, classes, deposit_classes, changed,
                          reasons)
    reason = np.full(n, "", object)
    with step("reasons"):
        reason[explain] = _reasons(job, extract, explain, ids, base, cand, o_names, r_names)
    if progress is not None:
        progress(n - n // 2)
    with step("table"):
            return tbl.build(ids, classes, o_names[base.outcomes], base.money,
                         r_names[base.rules], o_names[cand.outcomes], cand.money,
                         r_names[cand.rules], changed, reason, deposit_classes), months


def _adopt(side: "_Side", o_list: list[str], r_list: list[str], outcomes: _Vocab,
           rules: _Vocab) -> "_Side":
    """A side run with copies of the vocabularies (in another process), in the codes of
    ``outcomes`` and ``rules``: names it met first are added in the order it met them,
    and its per-date outcome counts listed in code order, as a run here would."""
    lut_o = np.array([outcomes.code(x) for x in o_list], np.int64)
    lut_r = np.array([rules.code(x) for x in r_list], np.int64)
    side.outcomes, side.rules = lut_o[side.outcomes], lut_r[side.rules]
    for m in side.months:
        m.outcomes = {k: m.outcomes[k] for k in sorted(m.outcomes, key=outcomes.index.get)}
    return side


def _to_explain(ob: np.ndarray, oc: np.ndarray, classes: np.ndarray,
                deposit_classes: np.ndarray, changed: np.ndarray, reasons: str) -> np.ndarray:
    """Positions of the changed accounts whose reason is worked out: all of them, or the
    examples impact.json shows (``impact.example_positions``)."""
    if reasons == "all":
        return np.flatnonzero(changed)
    return example_positions(ob, oc, classes, deposit_classes, changed)


def _reasons(job: Job, extract, wanted: np.ndarray, ids: np.ndarray, base: _Side,
             cand: _Side, o_names: np.ndarray, r_names: np.ndarray) -> list[str]:
    """The per-account runner's reasons for the accounts at ``wanted``, its results checked
    against the vector's."""
    from ..workspace import _subset

    if not len(wanted):
        return []
    wanted_ids = ids[wanted].tolist()
    sub = _subset(extract, set(wanted_ids))
    result = run_partition(replace(job, backend="python"), 0, sub)
    by_id = {r.account_id: r for r in result.rows}
    out = []
    for p, aid in zip(wanted.tolist(), wanted_ids):
        r = by_id[aid]
        vec = (o_names[base.outcomes[p]], o_names[cand.outcomes[p]],
               tuple(base.money[p].tolist()), tuple(cand.money[p].tolist()),
               r_names[base.rules[p]], r_names[cand.rules[p]])
        ref = (r.outcome_baseline, r.outcome_candidate, r.money_baseline, r.money_candidate,
               r.rule_baseline, r.rule_candidate)
        if vec != ref:
            raise SimulationError(f"vector and per-account runs disagree on account "
                                  f"{aid}: {vec} != {ref}; use --rules-engine python")
        out.append(r.reason)
    return out


# ---- one configuration -----------------------------------------------------------------
class _Ledger:
    """What the classification reads, per SA (in the vector's SA order), kept up to date
    from each date's frames, as rule codes (-1: none yet): the rule of the first
    refund-by-check adjustment, of the first write-down, of the first positive transfer
    and of the last adjustment; the outcome code (``todo_<type>``) and rule of the first
    To Do."""

    def __init__(self, m: int):
        self.ap_rule, self.wd_rule, self.xfer_rule, self.last_rule, self.todo_out, \
            self.todo_rule = (np.full(m, -1, np.int64) for _ in range(6))

    @staticmethod
    def _first(targets, pos: np.ndarray, values, mask=None) -> None:
        """Set each SA's targets (still -1) from its first row in ``pos``."""
        if mask is not None:
            pos, values = pos[mask], [v[mask] for v in values]
        if not len(pos):
            return
        p, idx = np.unique(pos, return_index=True)
        unset = targets[0][p] < 0
        for t, v in zip(targets, values):
            t[p[unset]] = v[idx[unset]]

    def update(self, res, rules: _Vocab, outcomes: _Vocab) -> None:
        adjs, todos = res.adjustments, res.todos
        if len(adjs):
            pos = np.asarray(res.sa_rows["adjustments"], np.int64)
            cat = _CodedColumn(adjs["category"])
            rule = rules.codes_of(adjs["rule"])
            amount = adjs["amount"].to_numpy(np.int64)
            self._first([self.ap_rule], pos, [rule], cat.is_("ap_refund"))
            self._first([self.wd_rule], pos, [rule], cat.is_("write_down"))
            self._first([self.xfer_rule], pos, [rule], cat.is_("transfer") & (amount > 0))
            p, idx = np.unique(pos[::-1], return_index=True)  # last occurrence per SA
            self.last_rule[p] = rule[::-1][idx]
        if len(todos):
            pos = np.asarray(res.sa_rows["todos"], np.int64)
            kinds = _Vocab("")
            kind = kinds.codes_of(todos["todo_type"])
            lut = np.array([outcomes.code(f"todo_{k}") for k in kinds.names], np.int64)
            self._first([self.todo_rule, self.todo_out], pos,
                        [rules.codes_of(todos["rule"]), lut[kind]])


def _run_side(extract, book, job: Job, prepared, outcomes: _Vocab, rules: _Vocab) -> _Side:
    from ..vector import VectorCycle

    cyc = VectorCycle(extract, book, run_id=job.run_id, prepared=prepared)
    s = cyc.static
    first_status = cyc.state.status.copy()
    dep = s.is_cash
    reasons = _WhyNotReasons(book, s)
    n = s.n_acct
    total = np.zeros((n, _NCAT), np.int64)
    ledger = _Ledger(s.n_sa)
    months: list[MonthTotals] = []
    acc_out = acc_rule = None
    for on in job.dates:
        res = cyc.run(on, explain=("DEPRFND",), with_sas=False, ids=False)
        money = _money(res, s.acct, n)
        total += money
        ledger.update(res, rules, outcomes)
        acc_out, acc_rule = _classify(cyc.state.status, first_status, dep, s.acct, n, ledger,
                                      res, reasons, outcomes, rules)
        m = MonthTotals()
        counts = np.bincount(acc_out, minlength=len(outcomes.names))
        m.outcomes = {outcomes.names[k]: int(c) for k, c in enumerate(counts.tolist()) if c}
        m.money = column_sums(money)
        months.append(m)
    assert acc_out is not None and acc_rule is not None
    return _Side(acc_out, acc_rule, total, months)


def _money(res, acct: np.ndarray, n: int) -> np.ndarray:
    """``outcomes.money_of`` for every account: refund checks, applied to debt, interest,
    write-downs moved by the adjustments and checks of one date."""
    out = np.zeros((n, _NCAT), np.int64)
    chks, adjs = res.checks, res.adjustments
    if len(chks):
        np.add.at(out[:, 0], acct[res.sa_rows["checks"]], chks["amount"].to_numpy(np.int64))
    if len(adjs):
        pos = acct[res.sa_rows["adjustments"]]
        cat = _CodedColumn(adjs["category"])
        amt = adjs["amount"].to_numpy(np.int64)
        k = cat.is_("transfer") & (amt > 0)
        np.add.at(out[:, 1], pos[k], amt[k])
        k = cat.is_("deposit_interest")
        np.add.at(out[:, 2], pos[k], -amt[k])
        k = cat.is_("write_down")
        np.add.at(out[:, 3], pos[k], np.abs(amt[k]))
    return out


class _CodedColumn:
    """A text column as codes, to test ``is_(name)`` per row by comparing integers (an
    object array of a million names costs more than the comparison)."""

    def __init__(self, col):
        self.names = _Vocab("")
        self.codes = self.names.codes_of(col)

    def is_(self, name: str) -> np.ndarray:
        return self.codes == self.names.index.get(name, -2)  # -2: no row has it


def _classify(status, first_status, dep, acct, n, ledger: _Ledger, res,
              reasons: "_WhyNotReasons", outcomes: _Vocab, rules: _Vocab
              ) -> tuple[np.ndarray, np.ndarray]:
    """``AccountSimulator._classify`` for every account: outcome and rule codes."""
    m = len(status)
    outcome = np.full(m, -1, np.int64)
    rule = np.zeros(m, np.int64)  # code 0: ""
    done = ~dep  # only cash deposits take an outcome

    def fill(mask, out_value, rule_values) -> None:
        mask = mask & ~done
        outcome[mask] = out_value if np.isscalar(out_value) else out_value[mask]
        if np.isscalar(rule_values):
            rule[mask] = rule_values
        else:
            rule[mask] = np.maximum(rule_values[mask], 0)  # -1 (none) reads ""
        done[mask] = True

    fill(ledger.ap_rule >= 0, outcomes.code("refunded_by_check"), ledger.ap_rule)
    fill(ledger.wd_rule >= 0, outcomes.code("written_down"), ledger.wd_rule)
    fill(ledger.todo_rule >= 0, ledger.todo_out, ledger.todo_rule)
    closed = (status == _STATUS["closed"]) & (first_status != _STATUS["closed"])
    fill(closed & (ledger.xfer_rule >= 0), outcomes.code("applied_to_debt"), ledger.xfer_rule)
    fill(closed, outcomes.code("closed_at_zero"), 0)
    fill((status == _STATUS["pending_stop"]) | (status == _STATUS["stopped"]),
         outcomes.code("pending"), ledger.last_rule)
    active = (status == _STATUS["active"]) & ~done
    if active.any() and res.why_not is not None and len(res.why_not):
        reasons.apply(active, res, outcome, rule, done, outcomes, rules)
    fill(np.ones(m, bool), outcomes.code("untouched"), 0)

    # the account: the most significant outcome of its deposits, the first in sa_id order
    # (SAs are in (account, sa_id) order and lexsort is stable)
    d = np.flatnonzero(dep)
    acc_out = np.zeros(n, np.int64)  # code 0: no_deposit
    acc_rule = np.zeros(n, np.int64)
    if len(d):
        rank_of = np.array([outcome_rank(o)[0] for o in outcomes.names], np.int64)
        pos = acct[d]
        order = np.lexsort((rank_of[outcome[d]], pos))
        lead = np.r_[True, pos[order][1:] != pos[order][:-1]]
        best = d[order[lead]]
        acc_out[acct[best]] = outcome[best]
        acc_rule[acct[best]] = rule[best]
    return acc_out, acc_rule


class _WhyNotReasons:
    """``AccountSimulator._why_not_reason`` over every active deposit's DEPRFND why-nots:
    each (SA type, rule, condition) is judged once (``why_not_candidate``), then each SA
    takes its best entry, the first among equals."""

    def __init__(self, book, static):
        sim = AccountSimulator.__new__(AccountSimulator)  # only its why-not judging is used
        sim.config = book.config
        sim._deprfnd = {(v.rule.id, v.deposit_class): v for v in book.variants("DEPRFND")}
        self.sim, self.s = sim, static
        self.cache: dict[tuple[int, str, str], tuple[int, str, str] | None] = {}

    def apply(self, active, res, outcome, rule, done, outcomes: _Vocab, rules: _Vocab
              ) -> None:
        why = res.why_not
        w = (why["process"] == "DEPRFND").to_numpy()
        pos = np.asarray(res.sa_rows["why_not"], np.int64)[w]
        keep = active[pos]
        if not keep.any():
            return
        pos = pos[keep]
        r_vocab, c_vocab = _Vocab(""), _Vocab("")
        r_code = r_vocab.codes_of(why["rule"])[w][keep]
        c_code = c_vocab.codes_of(why["condition"])[w][keep]
        t_code = self.s.sa_type[pos].astype(np.int64)
        nr, nc = len(r_vocab.names), len(c_vocab.names)
        key = (t_code * nr + r_code) * nc + c_code
        uniq, inv = np.unique(key, return_inverse=True)
        score = np.empty(len(uniq), np.int64)
        o_code = np.empty(len(uniq), np.int64)
        rl_code = np.empty(len(uniq), np.int64)
        for k, u in enumerate(uniq.tolist()):
            t, rest = divmod(u, nr * nc)
            r, c = divmod(rest, nc)
            got = self._judge(self.s.type_codes[t], r_vocab.names[r], c_vocab.names[c])
            if got is None:
                score[k] = -1
                continue
            score[k] = got[0]
            o_code[k] = outcomes.code(f"not_eligible_{got[1]}")
            rl_code[k] = rules.code(r_vocab.names[r])
        sc = score[inv.reshape(-1)]
        ok = sc >= 0
        pos, sc, inv = pos[ok], sc[ok], inv.reshape(-1)[ok]
        if not len(pos):
            return
        order = np.lexsort((sc, pos))  # per SA, best score first; stable: first among equals
        lead = np.r_[True, pos[order][1:] != pos[order][:-1]]
        chosen = order[lead]
        p = pos[chosen]
        outcome[p] = o_code[inv[chosen]]
        rule[p] = rl_code[inv[chosen]]
        done[p] = True

    def _judge(self, sa_type: str, rule_id: str, condition: str):
        key = (sa_type, rule_id, condition)
        if key not in self.cache:
            got = self.sim.why_not_candidate(sa_type, WhyNot("DEPRFND", rule_id, "", "",
                                                             condition, ""))
            self.cache[key] = None if got is None else (
                int(got[0][0]) * 2**32 + got[0][1], got[1])
        return self.cache[key]
