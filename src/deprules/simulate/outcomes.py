"""One account under one configuration: run the cycle over the process dates, then reduce
what happened to an outcome, four money figures and the rules that decided it.

Outcome vocabulary (docs/simulate.md), per cash deposit SA, most significant first:
``refunded_by_check``, ``written_down``, ``todo_<TYPE>``, ``applied_to_debt``,
``closed_at_zero``, ``pending``, ``not_eligible_<reason>``, ``untouched``; an account takes
the most significant outcome of its deposits, ``no_deposit`` when it has none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from ..ledger.model import AccountState
from ..rules.book import RuleBook, Variant
from ..rules.conditions import Const, referenced
from ..rules.vocabulary import PROCESSES
from ..runner import AccountRun, Runner, WhyNot

# money categories, in display order; every figure is positive minor units
CATEGORIES = ("refund_checks", "applied_to_debt", "interest", "write_downs")
CATEGORY_LABELS = {"refund_checks": "refund checks", "applied_to_debt": "applied to debt",
                   "interest": "interest", "write_downs": "write-downs"}

_RANK = {"refunded_by_check": 0, "written_down": 1, "todo_": 2, "applied_to_debt": 3,
         "closed_at_zero": 4, "pending": 5, "not_eligible_": 6, "untouched": 7, "no_deposit": 8}


NO_DEPOSIT_CLASS = "none"  # an account without a cash deposit SA (class codes are upper case)


def deposit_class_of(classes) -> str:
    """An account's deposit class: the classes of its cash deposit SAs (any status), sorted
    and joined with ``+`` (``COM+RES``), or ``none`` without a cash deposit SA."""
    return "+".join(sorted(set(classes))) or NO_DEPOSIT_CLASS


def outcome_rank(outcome: str) -> tuple[int, str]:
    """Sort key: most significant outcome first, then by name."""
    for prefix, rank in _RANK.items():
        if outcome == prefix or (prefix.endswith("_") and outcome.startswith(prefix)):
            return rank, outcome
    return len(_RANK), outcome


Money = tuple[int, int, int, int]  # in CATEGORIES order


@dataclass
class Outcome:
    """What one configuration did to one account over the whole horizon."""

    outcome: str
    sa_id: str  # the deposit SA that gave the outcome ('' for no_deposit)
    rule: str  # the rule that decided it (the why-not's rule for not_eligible)
    money: Money
    # per deposit SA, the rules that fired for it in order, as (month index, rule id, inputs)
    paths: dict[str, list[tuple[int, str, dict]]] = field(default_factory=dict)
    # DEPRFND why-nots of the last process date, per SA
    why_not: dict[str, list[WhyNot]] = field(default_factory=dict)
    detail: str = ""  # the why-not, readable (not_eligible only)


@dataclass
class MonthFigures:
    """One process date of one account: money moved that month, outcome at its end."""

    outcome: str
    money: Money


class AccountSimulator:
    """Runs one configuration's cycle for accounts over a series of process dates."""

    def __init__(self, book: RuleBook, backend: str, dates: tuple[date, ...], run_id: str):
        self.book = book
        self.config = book.config
        self.runner = Runner(book, backend=backend, run_id=run_id)
        self.dates = dates
        self._deprfnd = {(v.rule.id, v.deposit_class): v for v in book.variants("DEPRFND")}

    def run(self, state: AccountState) -> tuple[Outcome, list[MonthFigures]]:
        start = (len(state.adjustments), len(state.checks), len(state.todos))
        first_status = {s.sa_id: s.status for s in state.sas.values()}
        deposits = sorted(sid for sid, s in state.sas.items()
                          if self.config.sa_types[s.sa_type].is_cash_deposit)
        paths: dict[str, list[tuple[int, str, dict]]] = {sid: [] for sid in deposits}
        months: list[MonthFigures] = []
        outcome = None
        for k, on in enumerate(self.dates):
            before = (len(state.adjustments), len(state.checks))
            # run_cycle, with the why-not only where the outcome needs it (DEPRFND): the
            # why-nots of the other processes cost time and are never read here
            run = AccountRun(state)
            for process in PROCESSES:
                self.runner.run_process(run, process, on, explain=process == "DEPRFND")
            for t in run.trace:
                if t.sa_id in paths:
                    paths[t.sa_id].append((k, t.rule, t.inputs))
            why: dict[str, list[WhyNot]] = {}
            for w in run.why_not:
                why.setdefault(w.sa_id, []).append(w)
            outcome = self._classify(state, start, first_status, deposits, why)
            months.append(MonthFigures(outcome.outcome, money_of(state, *before)))
        assert outcome is not None
        outcome.paths = paths
        outcome.money = money_of(state, start[0], start[1])
        return outcome, months

    # ---- classification ----------------------------------------------------------------
    def _classify(self, state: AccountState, start: tuple[int, int, int],
                  first_status: dict[str, str], deposits: list[str],
                  why: dict[str, list[WhyNot]]) -> Outcome:
        if not deposits:
            return Outcome("no_deposit", "", "", (0, 0, 0, 0))
        adjs = state.adjustments[start[0]:]
        todos = state.todos[start[2]:]
        best: Outcome | None = None
        for sid in deposits:
            o = self._sa_outcome(state.sas[sid], adjs, todos, first_status.get(sid), why)
            o.why_not = why
            if best is None or outcome_rank(o.outcome)[0] < outcome_rank(best.outcome)[0]:
                best = o
        assert best is not None
        return best

    def _sa_outcome(self, sa, adjs, todos, first_status, why) -> Outcome:
        sid = sa.sa_id
        mine = [a for a in adjs if a.sa_id == sid]
        for category, name in (("ap_refund", "refunded_by_check"), ("write_down", "written_down")):
            hit = next((a for a in mine if a.category == category), None)
            if hit is not None:
                return Outcome(name, sid, hit.cause.rule, (0, 0, 0, 0))
        todo = next((t for t in todos if t.sa_id == sid), None)
        if todo is not None:
            return Outcome(f"todo_{todo.todo_type}", sid, todo.cause.rule, (0, 0, 0, 0))
        if sa.status == "closed" and first_status != "closed":
            xfer = next((a for a in mine if a.category == "transfer" and a.amount > 0), None)
            if xfer is not None:
                return Outcome("applied_to_debt", sid, xfer.cause.rule, (0, 0, 0, 0))
            return Outcome("closed_at_zero", sid, "", (0, 0, 0, 0))
        if sa.status in ("pending_stop", "stopped"):
            rule = mine[-1].cause.rule if mine else ""
            return Outcome("pending", sid, rule, (0, 0, 0, 0))
        if sa.status == "active":
            chosen = self._why_not_reason(sa, why.get(sid, []))
            if chosen is not None:
                reason, w = chosen
                return Outcome(f"not_eligible_{reason}", sid, w.rule, (0, 0, 0, 0),
                               detail=readable(w.detail))
        return Outcome("untouched", sid, "", (0, 0, 0, 0))

    def _why_not_reason(self, sa, entries: list[WhyNot]) -> tuple[str, WhyNot] | None:
        """The first failing condition of the DEPRFND rule that applies to this deposit.

        A condition decided by configuration alone (``good_customer.algorithm ==
        "LATEPAYMENTS"`` for a CREDITRATING class) says the rule is for another set-up, so a
        rule failing on the account's data wins; only when every rule fails on configuration
        is the configuration the reason (DEPREFUND-NO, BADCUST). Among equals, the first
        entry wins.
        """
        best = None
        for w in entries:
            c = self.why_not_candidate(sa.sa_type, w)
            if c is not None and (best is None or c[0] < best[0]):
                best = (c[0], c[1], w)
        if best is None:
            return None
        return best[1], best[2]

    def why_not_candidate(self, sa_type: str, w: WhyNot
                          ) -> tuple[tuple[bool, int], str] | None:
        """One why-not entry of a deposit of ``sa_type`` as a candidate reason: its
        precedence (lower wins: failing on data before failing on configuration, then rule
        order) and the reason's name; None when the entry does not count (another process,
        another deposit class's rule, a condition the rule does not have)."""
        if w.process != "DEPRFND":
            return None
        dc = self.config.sa_types[sa_type].deposit_class
        v: Variant | None = self._deprfnd.get((w.rule, dc)) or self._deprfnd.get((w.rule, None))
        if v is None:
            return None
        texts = [c.text for c in v.rule.when]
        if w.condition not in texts:
            return None
        i = texts.index(w.condition)
        config_only = isinstance(v.folded[i], Const)
        fields, params = referenced(v.rule.when[i].expr)
        if fields and not config_only:
            reason = sorted(fields)[0].split(".")[-1]
        elif params:
            p = sorted(params)[0].split(".")
            reason = p[1] if p[0] in ("deposit_class", "write_off") and len(p) > 2 else p[-1]
        else:
            reason = "criteria"
        return (config_only, v.rule.order), reason


def money_of(state: AccountState, adj_from: int, check_from: int) -> Money:
    """Money moved by the adjustments and checks created since the given positions."""
    refund = sum(c.amount for c in state.checks[check_from:])
    applied = interest = written = 0
    for a in state.adjustments[adj_from:]:
        if a.category == "transfer" and a.amount > 0:
            applied += a.amount  # the deposit's side of each transfer pair
        elif a.category == "deposit_interest":
            interest -= a.amount  # interest is a credit (negative) to the customer
        elif a.category == "write_down":
            written += abs(a.amount)  # credits kept and debts forgiven alike
    return refund, applied, interest, written


_DETAIL = re.compile(r"^(?P<name>\S+) is (?P<actual>.+), needs (?P<op>[<>=!]=?) (?P<wanted>.+)$")
_NEGATED = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!=", "!=": "=="}


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"" else text


def readable(detail: str) -> str:
    """``sa.months_held is 14, needs >= 18`` -> ``months_held 14 < 18``."""
    m = _DETAIL.match(detail)
    if not m:
        return detail
    name = m["name"].split(".")[-1]
    actual, wanted = _unquote(m["actual"]), _unquote(m["wanted"])
    if wanted in ("True", "False"):
        return f"{name} is {actual.lower()}"
    return f"{name} {actual} {_NEGATED[m['op']]} {wanted}"
