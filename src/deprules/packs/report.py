"""Scenario results as text (one line per scenario; failures in full) and as JSON."""

from __future__ import annotations

from ..results import describe_change

def describe(c: dict) -> str:
    try:
        return describe_change(c)
    except KeyError:  # an entry missing a detail: say what it is, never fail the report
        return f"{c.get('kind')} {c.get('entity_id')}"
from .runner import ScenarioResult

LABEL = {"passed": "PASS", "failed": "FAIL", "error": "ERROR"}


def summary(results: list[ScenarioResult]) -> dict:
    counts = {s: sum(1 for r in results if r.status == s) for s in ("passed", "failed", "error")}
    return {"scenarios": len(results), **counts,
            "duration_s": round(sum(r.duration for r in results), 3),
            "ok": counts["failed"] == 0 and counts["error"] == 0}


def summary_line(results: list[ScenarioResult]) -> str:
    s = summary(results)
    return (f"{s['scenarios']} scenario(s): {s['passed']} passed, {s['failed']} failed, "
            f"{s['error']} error(s) in {s['duration_s']:.2f}s")


def trace_lines(r: ScenarioResult, indent: str = "    ") -> list[str]:
    """The trace of each account of the scenario (rules fired and manual steps, in order)."""
    out: list[str] = []
    accounts = list(dict.fromkeys(a for a, _ in r.trace))
    if not r.trace:
        return [f"{indent}trace: no rule fired, no manual step changed anything"]
    for aid in accounts:
        out.append(f"{indent}trace of account {aid}:")
        n = 0
        for a, t in r.trace:
            if a != aid:
                continue
            n += 1
            out.append(f"{indent}  {n:>2}. [{t.process} {t.seed_step or '-'}] {t.sa_id}: "
                       f"{t.outcome}  ({t.rule})")
            if t.inputs:
                out.append(f"{indent}      saw: " +
                           ", ".join(f"{k}={v}" for k, v in t.inputs.items()))
            for c in t.changes:
                text = describe(c)
                if text:
                    out.append(f"{indent}      -> {text.strip()}")
    return out


def failure_text(r: ScenarioResult, indent: str = "    ", with_trace: bool = True) -> str:
    """Expected vs actual per field, then the trace; or the located problems of an error."""
    lines: list[str] = []
    if r.status == "error":
        lines.append(f"{indent}the scenario cannot run:")
        lines.extend(f"{indent}  {p.render()}" for p in r.problems)
        return "\n".join(lines)
    for m in r.mismatches:
        lines.extend(m.render(indent))
    if with_trace:
        lines.extend(trace_lines(r, indent))
    return "\n".join(lines)


def render_text(results: list[ScenarioResult], verbose: bool = False) -> str:
    lines: list[str] = []
    current = None
    width = max((len(r.name) for r in results), default=10)
    for r in results:
        if r.scenario.file != current:
            current = r.scenario.file
            if lines:
                lines.append("")
            lines.append(current)
        lines.append(f"  {LABEL[r.status]:<5}  {r.name:<{width}}  {r.duration:5.2f}s")
        if r.status != "passed":
            lines.append(f"    at {r.scenario.file}:{r.scenario.line}")
            lines.append(failure_text(r))
        elif verbose:
            lines.extend(trace_lines(r))
    lines.append("")
    lines.append(summary_line(results))
    return "\n".join(lines)


def render_json(results: list[ScenarioResult], with_actual: bool = False) -> dict:
    return {"ok": summary(results)["ok"], "summary": summary(results),
            "scenarios": [r.as_dict(with_actual) for r in results]}
