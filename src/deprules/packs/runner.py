"""Run scenarios: setup -> account states -> when (runs, manual steps) -> compare.

Scenarios run on the durable-rules engine (the reference back end). A scenario
ends as ``passed``, ``failed`` (mismatches: expected vs actual per field) or
``error`` (its given cannot be built: located problems). Ledger invariants are
checked after every scenario.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import Callable, Iterable

from ..errors import DeprulesError, Problem, ProblemsError
from ..ledger.check import check_account
from ..rules.vocabulary import PROCESSES
from ..runner import Runner, TraceEntry
from ..workspace import Setup
from .expect import Mismatch, compare, snapshot
from .given import build_states
from .model import Pack, Scenario, Step
from .operations import apply_operation
from .select import compile_keyword, haystack
from .setup import SetupCache

BACKEND = "durable"


@dataclass
class ScenarioResult:
    scenario: Scenario
    status: str  # passed | failed | error
    mismatches: list[Mismatch] = field(default_factory=list)
    trace: list[tuple[str, TraceEntry]] = field(default_factory=list)  # (account, entry)
    actual: dict | None = None
    problems: list[Problem] = field(default_factory=list)
    duration: float = 0.0
    config_hash: str = ""
    minor_units: int = 2

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def as_dict(self, with_actual: bool = False) -> dict:
        sc = self.scenario
        out = {"name": sc.name, "file": sc.file, "line": sc.line, "id": sc.id,
               "seed_steps": list(sc.seed_steps), "status": self.status,
               "duration_s": round(self.duration, 4), "config_hash": self.config_hash,
               "mismatches": [m.as_dict() for m in self.mismatches],
               "problems": [p.as_dict() for p in self.problems],
               "trace": [dict(account_id=a, **t.as_dict()) for a, t in self.trace]}
        if with_actual:
            out["actual"] = self.actual
        return out


def select(packs: Iterable[Pack], keyword: str | None = None) -> list[Scenario]:
    """Every scenario of the packs, or those ``-k keyword`` selects."""
    pred = compile_keyword(keyword) if keyword else None
    return [sc for pack in packs for sc in pack.scenarios
            if pred is None or pred(haystack(sc))]


Observe = Callable[[Scenario, Setup], Callable | None]


def run_scenario(sc: Scenario, cache: SetupCache, observe: Observe | None = None
                 ) -> ScenarioResult:
    """Run one scenario; never raises for what the scenario or the system does.

    ``observe(scenario, setup)`` may return a Runner observer (coverage uses it).
    """
    start = time.perf_counter()
    try:
        setup = cache.for_scenario(sc)
        states = build_states(sc, setup)
    except ProblemsError as exc:
        return ScenarioResult(sc, "error", problems=list(exc.problems),
                              duration=time.perf_counter() - start)
    except DeprulesError as exc:
        return ScenarioResult(sc, "error", problems=[sc.problem(sc.base + ("given",), str(exc),
                                                                "bad-given")],
                              duration=time.perf_counter() - start)
    result = ScenarioResult(sc, "passed", config_hash=setup.hash,
                            minor_units=setup.config.installation.minor_units)
    runner = Runner(setup.book, backend=BACKEND, run_id=f"pack:{sc.name}", user="batch",
                    observer=observe(sc, setup) if observe else None)
    # when the scenario names rules that must fire, remember why each rule did not, to say
    # so if one of them does not fire
    explain = bool((sc.expect or {}).get("rules_fired"))
    why_not = []
    for j, step in enumerate(sc.steps):
        on = date.fromisoformat(step.date or sc.date)
        where = _step_label(sc, j, step)
        try:
            if step.op == "run":
                processes = _processes(step.args)
                for aid in sorted(states):
                    run = runner.run_cycle(states[aid], on, processes, explain=explain)
                    result.trace.extend((aid, t) for t in run.trace)
                    why_not.extend(run.why_not)
            else:
                result.trace.extend(apply_operation(step, states, setup, on,
                                                    f"pack:{sc.name}:step{j + 1}"))
        except DeprulesError as exc:
            if step.expect_error and step.expect_error.lower() in str(exc).lower():
                continue
            want = (f"an error containing {step.expect_error!r}" if step.expect_error
                    else "the step succeeds")
            result.mismatches.append(Mismatch(where, want, f"{type(exc).__name__}: {exc}"))
            break
        else:
            if step.expect_error:
                result.mismatches.append(Mismatch(
                    where, f"an error containing {step.expect_error!r}", "the step succeeded"))
    fired = [t.rule for _, t in result.trace if t.process in PROCESSES]
    result.actual = snapshot(states, fired, setup.config)
    if not result.mismatches:
        result.mismatches = compare(sc.expect, result.actual,
                                    setup.config.installation.minor_units)
        _say_why_not(result.mismatches, why_not)
    for aid in sorted(states):
        for finding in check_account(states[aid], setup.config):
            result.mismatches.append(Mismatch("invariants", "a sound ledger (docs/invariants.md)",
                                              finding))
    result.status = "failed" if result.mismatches else "passed"
    result.duration = time.perf_counter() - start
    return result


def _processes(args) -> tuple[str, ...]:
    items = [args] if isinstance(args, str) else list(args)
    out: list[str] = []
    for p in items:
        out.extend(PROCESSES if p == "cycle" else (p,))
    return tuple(out)


def _step_label(sc: Scenario, j: int, step: Step) -> str:
    if len(sc.steps) == 1 and step.op == "run" and step.path[-1] != j:
        return f"when.run ({step.args})"
    return f"when.steps[{j}] ({step.op})"


def run_scenarios(scenarios: Iterable[Scenario], cache: SetupCache,
                  observe: Observe | None = None,
                  on_result: Callable[[ScenarioResult], None] | None = None
                  ) -> list[ScenarioResult]:
    results = []
    for sc in scenarios:
        r = run_scenario(sc, cache, observe)
        results.append(r)
        if on_result is not None:
            on_result(r)
    return results


def _say_why_not(mismatches, why_not) -> None:
    """A rule expected to fire that did not: add the first condition that held it back, on
    each SA it was judged for (``evaluate --explain``'s why-not)."""
    for m in mismatches:
        if m.field != "rules_fired" or not str(m.expected).endswith(" fires"):
            continue
        rule = str(m.expected)[:-len(" fires")]
        seen = [w for w in why_not if w.rule == rule]
        m.detail = ([f"why not, {w.process} on {w.sa_id}: {w.condition} ({w.detail})"
                     for w in seen] or
                    ["it matched no SA at all: its first condition (the stage it is for) "
                     "was false for every SA"])
