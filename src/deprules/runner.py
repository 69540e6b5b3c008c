"""Forward chaining to a fixed point: facts -> decisions -> executor -> new facts.

Each process runs in rounds. A round builds the facts of one account, asks the
matcher which rule variants match which SA, resolves exclusive groups, fires at
most one rule per SA (the first in rule-file order) through the executor, and
records what changed. A round that changes nothing ends the process; a process
still changing after ``MAX_ROUNDS`` rounds is a rule loop, reported with the
rules involved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from collections import Counter
from typing import Any, Callable

from .errors import EngineError, LedgerError
from .ledger.executor import Executor
from .ledger.model import AccountState, Cause
from .money import format_money
from .rules.book import RuleBook, Variant
from .rules.conditions import Cmp, Const, In, evaluate, key, render
from .rules.engine import Matcher, make_matcher
from .rules.facts import FactBuilder
from .rules.vocabulary import FIELDS, PARAMS, PROCESSES

MAX_ROUNDS = 25

# an optional callback (process, round, facts, matches, book) called once per round, for
# coverage; book: the rule book of the process date (its effective-dated values folded in)
Observer = Callable[[str, int, list, list, RuleBook], None]


@dataclass
class TraceEntry:
    process: str
    rule: str
    seed_step: str
    sa_id: str
    outcome: str
    inputs: dict
    round: int
    changes: list[dict] = field(default_factory=list)  # journal entries the firing wrote

    def as_dict(self) -> dict:
        return {"process": self.process, "rule": self.rule, "seed_step": self.seed_step,
                "sa_id": self.sa_id, "outcome": self.outcome, "inputs": self.inputs,
                "changes": self.changes}


@dataclass
class WhyNot:
    process: str
    rule: str
    seed_step: str
    sa_id: str
    condition: str
    detail: str

    def as_dict(self) -> dict:
        return {"process": self.process, "rule": self.rule, "seed_step": self.seed_step,
                "sa_id": self.sa_id, "condition": self.condition, "detail": self.detail}

    def render(self) -> str:
        return f"{self.rule} not met for {self.sa_id}: {self.detail}"


@dataclass
class AccountRun:
    state: AccountState
    trace: list[TraceEntry] = field(default_factory=list)
    why_not: list[WhyNot] = field(default_factory=list)
    # the facts of the run's processes: what the executor never changes is computed once
    # for every round of every process run on this date with this configuration
    facts: FactBuilder | None = field(default=None, repr=False, compare=False)

    def fact_builder(self, config, on: date) -> FactBuilder:
        fb = self.facts
        if fb is None or fb.config is not config or fb.on != on or fb.state is not self.state:
            fb = self.facts = FactBuilder(self.state, config, on)
        return fb


class Runner:
    """Runs processes of a rule book over account states on a process date."""

    def __init__(self, book: RuleBook, backend: str = "durable", run_id: str = "run",
                 matcher: Matcher | None = None, user: str = "batch",
                 observer: Observer | None = None, reason: str = "",
                 matcher_factory: Callable[[RuleBook], Matcher] | None = None):
        self.book = book
        # sees (process, round, facts, matches) of every round; never changes what happens
        self.observer = observer
        self.config = book.config
        # a process date picks the book of the configuration as it applies on that date
        # (effective-dated parameters); each such book gets its own matcher
        self._factory = matcher_factory or (
            (lambda b: make_matcher(b, backend)) if matcher is None else None)
        self.matcher = matcher or self._factory(book)
        self._matchers: dict[str, Matcher] = {book.view: self.matcher}
        self.run_id = run_id
        self.user = user
        self.reason = reason
        self.minor_units = self.config.installation.minor_units
        # id(variant) -> (variant, how its trace inputs are read): the same for every firing
        self._plans: dict[int, tuple[Variant, list]] = {}
        # (process, rule id) -> (the Cause's other fields, Cause) of the last firing
        self._causes: dict[tuple[str, str], tuple[tuple, Cause]] = {}

    # ---- public ------------------------------------------------------------------------
    def run_cycle(self, state: AccountState, on: date, processes=PROCESSES,
                  explain: bool = False) -> AccountRun:
        run = AccountRun(state)
        for process in processes:
            self.run_process(run, process, on, explain)
        return run

    def on(self, on: date) -> tuple[RuleBook, Matcher]:
        """The rule book and matcher for process date ``on``."""
        book = self.book.on(on)
        matcher = self._matchers.get(book.view)
        if matcher is None:
            if self._factory is None:
                raise EngineError("the configuration has effective-dated values: a Runner given "
                                  "a matcher also needs matcher_factory")
            matcher = self._matchers[book.view] = self._factory(book)
        return book, matcher

    def run_process(self, run: AccountRun, process: str, on: date, explain: bool = False) -> bool:
        state = run.state
        book, matcher = self.on(on)
        config = book.config
        executor = Executor(state, config, on)
        changed_any = False
        fired_last: list[str] = []
        fired: set[tuple[str, str]] = set()  # (rule, SA) that fired in any round
        why_not_from = len(run.why_not)
        cash_only = book.cash_deposit_only(process)
        facts_of = run.fact_builder(config, on)

        def done() -> bool:
            # a rule that did not match in round 1 but fired in a later one is not a "why not"
            if explain and fired:
                run.why_not[why_not_from:] = [w for w in run.why_not[why_not_from:]
                                              if (w.rule, w.sa_id) not in fired]
            return changed_any

        for rnd in range(1, MAX_ROUNDS + 1):
            facts = facts_of.build(cash_only)
            if not facts:
                return done()
            matches = matcher.match(process, facts, state.account_id)
            if self.observer is not None:
                self.observer(process, rnd, facts, list(matches), book)
            if explain and rnd == 1:
                run.why_not.extend(self._why_not(book, process, facts, matches))
            decisions = self._resolve(matches)
            by_id = {f["id"]: f for f in facts}
            changed_round = False
            fired_last = []
            for variant, sa_id in decisions:
                if self._fire(executor, run, variant, sa_id, by_id[sa_id], process, on, rnd):
                    changed_round = True
                    fired_last.append(f"{variant.rule.id} ({sa_id})")
                    fired.add((variant.rule.id, sa_id))
            if not changed_round:
                return done()
            changed_any = True
        raise EngineError(
            f"account {state.account_id}: {process} did not settle after {MAX_ROUNDS} rounds; "
            f"rules still firing: {', '.join(sorted(set(fired_last)))} (a rule loop: check "
            "that each rule's actions make its own conditions false)",
            rule=fired_last[0] if fired_last else None, account_id=state.account_id)

    def replay(self, state: AccountState, on: date, firings) -> AccountRun:
        """Apply firings another matcher decided, ``(process, round, variant, sa_id)`` in the
        order this runner would fire them (process, round, sa_id), through the executor: the
        rows are the ones :meth:`run_cycle` writes for the same decisions. The vector back end
        decides for a whole store at once and replays here only the accounts that change.

        A firing that changes nothing means the two disagree: that is an error, never
        silently skipped. The run's trace names the firings, not the entries they wrote
        (a batch only counts them)."""
        run = AccountRun(state)
        executor, current = None, None
        for process, rnd, variant, sa_id in firings:
            if process != current:
                executor, current = Executor(state, self.book.on(on).config, on), process
            if sa_id not in state.sas:
                raise EngineError(f"account {state.account_id}: no SA {sa_id} to replay "
                                  f"{variant.rule.id} on", account_id=state.account_id)
            if not self._fire(executor, run, variant, sa_id, None, process, on, rnd,
                              changes=False):
                raise EngineError(
                    f"account {state.account_id}: rule {variant.rule.id} on SA {sa_id} "
                    f"({process} round {rnd}) changed nothing when replayed; the vector back "
                    "end and the per-account runner disagree (run with --engine python and "
                    "report this)", rule=variant.rule.id, account_id=state.account_id)
        return run

    def cause(self, process: str, rule) -> Cause:
        """The cause of what ``rule`` does in ``process`` in this run (one frozen object per
        rule, made again when the runner's run id, user or reason change)."""
        k = (process, rule.id)
        rest = (rule.seed_step, self.run_id, self.book.hash, self.user, self.reason)
        hit = self._causes.get(k)
        if hit is not None and hit[0] == rest:
            return hit[1]
        cause = Cause(process=process, rule=rule.id, seed_step=rule.seed_step,
                      run_id=self.run_id, config_hash=self.book.hash, user=self.user,
                      reason=self.reason)
        self._causes[k] = (rest, cause)
        return cause

    # ---- internals ------------------------------------------------------------------------
    def _resolve(self, matches: list[tuple[Variant, str]]) -> list[tuple[Variant, str]]:
        # exclusive groups: lowest rank per (SA, group)
        best: dict[tuple[str, str], tuple[Variant, str]] = {}
        plain = []
        for v, sa_id in matches:
            if v.rule.group:
                k = (sa_id, v.rule.group)
                if k not in best or (v.rank, v.rule.order) < (best[k][0].rank, best[k][0].rule.order):
                    best[k] = (v, sa_id)
            else:
                plain.append((v, sa_id))
        chosen = sorted(plain + list(best.values()), key=lambda m: (m[0].rule.order, m[1]))
        # one firing per SA per round: later rules see the facts this one produces
        out, seen = [], set()
        for v, sa_id in chosen:
            if sa_id in seen:
                continue
            seen.add(sa_id)
            out.append((v, sa_id))
        return sorted(out, key=lambda m: m[1])

    def _inputs(self, variant: Variant, fact: dict) -> dict:
        """The values the rule saw, keyed by short names (the full name where ambiguous)."""
        out: dict[str, Any] = {}
        show = self._show
        for k, kind, fact_key, value in self._input_plan(variant):
            out[k] = value if kind is None else show(kind, fact.get(fact_key))
        return out

    def _input_plan(self, variant: Variant) -> list[tuple[str, str | None, str | None, Any]]:
        """``(key, field kind, fact key, None)`` per field the rule reads, then ``(key, None,
        None, shown value)`` per parameter it has a value of: which names a trace entry
        shows, and each parameter's value, depend on the variant alone."""
        hit = self._plans.get(id(variant))
        if hit is not None and hit[0] is variant:
            return hit[1]
        values: list[tuple[str, str | None, str | None, Any]] = []
        for name in sorted(variant.rule.fields):
            values.append((name, FIELDS[name][0], key(name), None))
        for name in sorted(variant.rule.params):
            value = variant.params.get(name)
            if value is not None:
                values.append((name, None, None, self._show(PARAMS[name][0], value)))
        short = Counter(n.split(".")[-1] for n, *_ in values)
        plan = []
        for name, kind, fact_key, value in values:
            leaf = name.split(".")[-1]
            k = leaf if short[leaf] == 1 else ".".join(name.split(".")[-2:])
            plan.append((k, kind, fact_key, value))
        self._plans[id(variant)] = (variant, plan)
        return plan

    def _show(self, kind: str, value: Any) -> Any:
        if kind == "money" and isinstance(value, int):
            return format_money(value, self.minor_units)
        if kind == "bool" and isinstance(value, int):
            return bool(value)
        if kind == "date" and isinstance(value, int):
            return f"{value // 10000:04d}-{value // 100 % 100:02d}-{value % 100:02d}" if value else None
        return value

    def _fire(self, ex: Executor, run: AccountRun, variant: Variant, sa_id: str, fact: dict,
              process: str, on: date, rnd: int, changes: bool = True) -> bool:
        """Fire ``variant`` on ``sa_id``; True when it changed something. Its trace entry
        lists the journal entries it wrote unless ``changes`` is False (a replay, which is
        only counted)."""
        rule = variant.rule
        cause = self.cause(process, rule)
        state = run.state
        sa = state.sas[sa_id]
        before = len(state.journal)
        try:
            for action in rule.then:
                self._apply(ex, variant, action.verb, action.args, sa, cause, on)
        except LedgerError as exc:
            raise EngineError(f"rule {rule.id} on account {state.account_id}, SA {sa_id}: {exc}",
                              rule=rule.id, account_id=state.account_id) from None
        except Exception as exc:  # a bug or a broken configuration: still name the culprits
            raise EngineError(f"rule {rule.id} failed on account {state.account_id}, SA "
                              f"{sa_id}: {type(exc).__name__}: {exc}", rule=rule.id,
                              account_id=state.account_id) from exc
        if len(state.journal) == before:
            return False
        wrote = [dict(kind=e.kind, entity_id=e.entity_id, **e.details())
                 for e in state.journal[before:]] if changes else []
        run.trace.append(TraceEntry(process, rule.id, rule.seed_step, sa_id,
                                    rule.outcome or rule.description,
                                    self._inputs(variant, fact) if fact is not None else {},
                                    rnd, wrote))
        return True

    def _apply(self, ex: Executor, variant: Variant, verb: str, args: dict, sa, cause: Cause,
               on: date) -> None:
        state = ex.state
        if verb == "set_status":
            ex.set_status(sa, args["to"], cause,
                          stop_date=on if args.get("stop_date") == "process_date" else None)
        elif verb == "post_interest":
            ex.post_interest(sa, cause)
        elif verb == "post_periodic_interest":
            ex.post_periodic_interest(sa, cause)
        elif verb == "create_adjustment":
            expr = args["amount"]
            sign = -1 if expr.startswith("-") else 1
            field_name = expr.lstrip("-")
            value = {"sa.payoff_balance": sa.payoff_balance,
                     "sa.current_balance": sa.current_balance,
                     "sa.sync_difference": sa.payoff_balance - sa.current_balance}[field_name]
            ex.create_adjustment(sa, self.config.batch_types[args["category"]], sign * value,
                                 cause)
        elif verb == "create_todo":
            todo_type = variant.resolve(args["type"])
            if todo_type is None:
                raise LedgerError(f"no To Do type configured for {args['type']}")
            ex.create_todo(todo_type, sa, cause)
        elif verb == "create_final_bill":
            ex.create_final_bill(sa, cause)
        elif verb == "apply_deposit_to_debt":
            ex.apply_deposit(sa, cause)
        elif verb == "mark_refund_method_applied":
            bill = state.final_bill(sa.sa_id)
            if bill is not None and not bill.refund_method_applied:
                bill.refund_method_applied = True
                ex._journal(cause, "refund_method", sa.sa_id, bill.bill_id,
                            method=variant.params.get("deposit_class.refund_method.algorithm"))
        elif verb == "complete_bill":
            bill = state.final_bill(sa.sa_id)
            if bill is not None:
                ex.complete_bill(bill, cause)
        elif verb == "close_sa":
            ex.close(sa, cause)
        else:  # the schema prevents this
            raise LedgerError(f"unknown action {verb!r}")

    def _why_not(self, book: RuleBook, process: str, facts: list[dict], matches
                 ) -> list[WhyNot]:
        fired = {(v.rule.id, sa) for v, sa in matches}
        out = []
        for v in book.variants(process):
            for f in facts:
                if (v.rule.id, f["id"]) in fired:
                    continue
                if not all(evaluate(g, f) for g in v.guard):
                    continue  # not this SA's class or kind
                for i, (cond, folded) in enumerate(zip(v.rule.when, v.folded)):
                    if evaluate(folded, f):
                        continue
                    if i == 0:
                        break  # the rule's first condition places it at another stage: noise
                    out.append(WhyNot(process, v.rule.id, v.rule.seed_step, f["id"], cond.text,
                                      self._explain(cond.text, folded, f, v)))
                    break
        return out

    def _explain(self, text: str, folded, fact: dict, v: Variant) -> str:
        if isinstance(folded, Const):
            # decided by configuration alone
            vals = [f"{p} is {v.params.get(p)!r}" for p in sorted(v.rule.params) if p in text]
            return f"{text} is false for this configuration ({'; '.join(vals) or 'parameter not set'})"
        if isinstance(folded, Cmp):
            name = folded.left.name
            kind = FIELDS[name][0]
            actual = self._show(kind, fact.get(key(name)))
            wanted = self._show(kind, folded.right.value) if not isinstance(
                folded.right.value, bool) else folded.right.value
            return f"{name} is {actual!r}, needs {folded.op} {wanted!r}"
        if isinstance(folded, In):
            name = folded.left.name
            return (f"{name} is {fact.get(key(name))!r}, needs "
                    f"{'not ' if folded.negate else ''}one of "
                    f"{[o.value for o in folded.options]}")
        return f"{render(folded)} is false"
