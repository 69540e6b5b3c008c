"""Rule coverage of a set of scenarios: rules, condition outcomes, threshold sides.

Measured with the runner's observer, which sees every round's facts:

- **rules**: a rule is covered when it fired in at least one scenario.
- **conditions**: each condition of each rule, evaluated (per rule variant, on the
  facts of every round, for the SAs of the variant's class) the way ``and`` reads
  them: a condition is looked at only when the ones before it hold. It is covered
  when it was seen both true and false.
- **thresholds**: every comparison of a fact with a numeric configuration parameter
  (hold months, credit rating threshold, minimum days held, late payments, write-down
  bounds, minimum refund, grace days), per deposit / customer class. It is covered
  when a scenario sat on each side of it (the comparison seen true and false). The
  *on point* (the value where it just becomes true: ``>= 12`` at 12) is reported too.

Everything is grouped by seed step as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..rules.book import RuleBook, Rule
from ..rules.conditions import Cmp, evaluate, key, referenced
from ..rules.vocabulary import FIELDS, PARAMS, PROCESSES

NUMERIC = ("int", "money")


@dataclass
class Threshold:
    rule: str
    index: int
    condition: str
    klass: str  # deposit / customer class of the variant ("" when none)
    field: str
    op: str
    params: tuple[str, ...]
    values: set = field(default_factory=set)  # the constants it had (per configuration)
    seen: set = field(default_factory=set)  # True / False outcomes
    on_point: bool = False

    @property
    def covered(self) -> int:
        return len(self.seen)


def _on_point(op: str, c: int) -> int:
    return {">=": c, ">": c + 1, "<=": c, "<": c - 1}[op]


class Coverage:
    """Collects what a run of scenarios exercised. Use :meth:`observe` as the runner's
    ``observe`` callback and :meth:`add_result` for every result."""

    def __init__(self, book: RuleBook, minor_units: int = 2):
        self.rules: list[Rule] = list(book.rules)
        # thresholds are counted for the classes of the baseline configuration (a class an
        # overlay adds for one scenario would otherwise ask for scenarios of its own)
        self.classes = set(book.config.deposit_classes) | set(book.config.write_off_controls)
        self.mu = minor_units
        self.fired: dict[str, list[str]] = {r.id: [] for r in self.rules}
        self.outcomes: dict[tuple[str, int], set] = {
            (r.id, i): set() for r in self.rules for i in range(len(r.when))}
        self.thresholds: dict[tuple[str, int, str], Threshold] = {}
        self.scenarios: list[str] = []
        self.candidate_scenarios: list[str] = []  # run with their own rules: not counted
        self.manual_steps: dict[str, list[str]] = {}
        self.declared: dict[str, list[str]] = {}
        self._books: dict[str, list] = {}

    # ---- collecting ----------------------------------------------------------------------------
    def observe(self, sc, setup):
        """The runner observer for one scenario (registers the book's thresholds first);
        None for a scenario run with its own rules folder (coverage is of --rules)."""
        if sc.given.rules is not None:
            return None
        base = setup.book
        if (base.hash, base.view) not in self._books:
            self._books[(base.hash, base.view)] = self._register(base)

        def observer(process, rnd, facts, matches, book):
            # the book of the run's date: effective-dated values are seen as they applied
            k = (book.hash, book.view)
            if k not in self._books:
                self._books[k] = self._register(book)
            plan = self._books[k]
            for v, checks in plan.get(process, ()):
                for f in facts:
                    if not all(evaluate(g, f) for g in v.guard):
                        continue
                    for i, folded, th in checks:
                        ok = evaluate(folded, f)
                        self.outcomes[(v.rule.id, i)].add(ok)
                        if th is not None:
                            th.seen.add(ok)
                            if f.get(key(th.field)) == _on_point(folded.op, folded.right.value):
                                th.on_point = True
                        if not ok:
                            break
        return observer

    def _register(self, book: RuleBook) -> dict:
        plan: dict[str, list] = {}
        known = {r.id for r in self.rules}
        for process in PROCESSES:
            for v in book.variants(process):
                if v.rule.id not in known:
                    continue
                checks = []
                klass = v.name.split("@", 1)[1] if "@" in v.name else ""
                # a variant that can never match (its configuration rules it out) has no
                # thresholds worth a scenario
                counted = v.possible and all(k in self.classes for k in klass.split("/") if k)
                for i, (cond, folded) in enumerate(zip(v.rule.when, v.folded)):
                    th = None
                    params = sorted(p for p in referenced(cond.expr)[1]
                                    if PARAMS[p][0] in NUMERIC)
                    if counted and params and isinstance(folded, Cmp) \
                            and folded.op in ("<", "<=", ">", ">=") \
                            and isinstance(folded.right.value, int) \
                            and not isinstance(folded.right.value, bool):
                        k = (v.rule.id, i, klass)
                        th = self.thresholds.get(k)
                        if th is None:
                            th = self.thresholds[k] = Threshold(
                                v.rule.id, i, cond.text, klass, folded.left.name, folded.op,
                                tuple(params))
                        th.values.add(folded.right.value)
                    checks.append((i, folded, th))
                plan.setdefault(process, []).append((v, checks))
        return plan

    def add_result(self, result) -> None:
        sc = result.scenario
        if sc.given.rules is not None:  # candidate rules: not coverage of --rules
            self.candidate_scenarios.append(sc.name)
            return
        self.scenarios.append(sc.name)
        for step in sc.seed_steps:
            self.declared.setdefault(step, []).append(sc.name)
        for _, t in result.trace:
            if t.process in PROCESSES and t.rule in self.fired:
                if sc.name not in self.fired[t.rule]:
                    self.fired[t.rule].append(sc.name)
            elif t.process not in PROCESSES and t.seed_step:
                names = self.manual_steps.setdefault(t.seed_step, [])
                if sc.name not in names:
                    names.append(sc.name)

    # ---- numbers -----------------------------------------------------------------------------
    def _show(self, th: Threshold, value: int) -> str:
        if FIELDS.get(th.field, ("",))[0] == "money":
            from ..money import format_money

            return format_money(value, self.mu)
        return str(value)

    def as_dict(self) -> dict:
        rules = [{"rule": r.id, "process": r.process, "seed_step": r.seed_step,
                  "fired": bool(self.fired[r.id]), "scenarios": self.fired[r.id]}
                 for r in self.rules]
        conditions = [{"rule": r.id, "seed_step": r.seed_step, "index": i,
                       "condition": c.text,
                       "seen_true": True in self.outcomes[(r.id, i)],
                       "seen_false": False in self.outcomes[(r.id, i)]}
                      for r in self.rules for i, c in enumerate(r.when)]
        order = {r.id: n for n, r in enumerate(self.rules)}
        seed = {r.id: r.seed_step for r in self.rules}
        thresholds = [{"rule": t.rule, "seed_step": seed[t.rule], "index": t.index,
                       "condition": t.condition, "class": t.klass, "field": t.field,
                       "op": t.op, "parameters": list(t.params),
                       "values": [self._show(t, v) for v in sorted(t.values)],
                       "seen_true": True in t.seen, "seen_false": False in t.seen,
                       "on_point": t.on_point}
                      for t in sorted(self.thresholds.values(),
                                      key=lambda t: (order[t.rule], t.index, t.klass))]
        parts = {
            "rules": _part(sum(x["fired"] for x in rules), len(rules), rules),
            "conditions": _part(sum(x["seen_true"] + x["seen_false"] for x in conditions),
                                2 * len(conditions), conditions),
            "thresholds": _part(sum(x["seen_true"] + x["seen_false"] for x in thresholds),
                                2 * len(thresholds), thresholds),
        }
        covered = sum(p["covered"] for p in parts.values())
        total = sum(p["total"] for p in parts.values())
        steps: dict[str, dict] = {}

        def at(step):
            return steps.setdefault(step, {"rules": [0, 0], "conditions": [0, 0],
                                           "thresholds": [0, 0], "scenarios": []})
        for x in rules:
            s = at(x["seed_step"])
            s["rules"][0] += x["fired"]
            s["rules"][1] += 1
        for x in conditions:
            s = at(x["seed_step"])
            s["conditions"][0] += x["seen_true"] + x["seen_false"]
            s["conditions"][1] += 2
        for x in thresholds:
            s = at(x["seed_step"])
            s["thresholds"][0] += x["seen_true"] + x["seen_false"]
            s["thresholds"][1] += 2
        fired_steps: dict[str, list[str]] = {}
        for r in self.rules:
            fired_steps.setdefault(r.seed_step, []).extend(self.fired[r.id])
        for step, names in (list(self.declared.items()) + list(self.manual_steps.items())
                            + list(fired_steps.items())):
            s = at(step)
            s["scenarios"] = sorted(set(s["scenarios"]) | set(names))
        return {"scenarios": len(self.scenarios), **parts,
                "total": {"covered": covered, "total": total, "percent": _pct(covered, total)},
                "seed_steps": {k: steps[k] for k in sorted(steps, key=_step_key)}}


def _pct(a: int, b: int) -> float:
    return round(100.0 * a / b, 1) if b else 100.0


def _part(covered: int, total: int, items: list) -> dict:
    return {"covered": covered, "total": total, "percent": _pct(covered, total), "items": items}


def _step_key(step: str):
    return tuple(int(p) if p.isdigit() else 0 for p in step.split("."))


def render_text(data: dict, show_all: bool = False) -> str:
    lines = [f"Coverage over {data['scenarios']} scenario(s)"]
    for name, label in (("rules", "rules fired"), ("conditions", "condition outcomes"),
                        ("thresholds", "threshold sides"), ("total", "total")):
        p = data[name]
        lines.append(f"  {label:<20} {p['covered']:>4}/{p['total']:<4} {p['percent']:6.1f}%")
    lines.append("")
    lines.append("By seed step:          rules   conditions  thresholds  scenarios")
    for step, s in data["seed_steps"].items():
        def frac(pair):
            return f"{pair[0]}/{pair[1]}" if pair[1] else "-"
        lines.append(f"  {step:<18} {frac(s['rules']):>8} {frac(s['conditions']):>12} "
                     f"{frac(s['thresholds']):>11} {len(s['scenarios']):>10}")
    missing = []
    for x in data["rules"]["items"]:
        if not x["fired"]:
            missing.append(f"  rule {x['rule']} [{x['seed_step']}] never fired")
    for x in data["conditions"]["items"]:
        if not (x["seen_true"] and x["seen_false"]):
            never = "true" if not x["seen_true"] else "false"
            if not x["seen_true"] and not x["seen_false"]:
                never = "evaluated (an earlier condition never held)"
            missing.append(f"  condition {x['rule']} #{x['index'] + 1} `{x['condition']}`: "
                           f"never {never}")
    for x in data["thresholds"]["items"]:
        klass = f" @{x['class']}" if x["class"] else ""
        values = ", ".join(x["values"])
        if not (x["seen_true"] and x["seen_false"]):
            never = [s for s, ok in (("true", x["seen_true"]), ("false", x["seen_false"]))
                     if not ok]
            missing.append(f"  threshold {x['rule']} `{x['condition']}`{klass} ({values}): "
                           f"never {' nor '.join(never)}")
        elif show_all:
            point = "on point seen" if x["on_point"] else "on point not seen"
            missing.append(f"  threshold {x['rule']} `{x['condition']}`{klass} ({values}): "
                           f"both sides, {point}")
    if missing:
        lines.append("")
        lines.append("Not covered:" if not show_all else "Details:")
        lines.extend(missing)
    return "\n".join(lines)
