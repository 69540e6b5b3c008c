"""Rule files -> a validated rule book -> per-class variants with folded conditions."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

from ..config.model import Config
from ..config.schema import jsonable, schema_problems
from ..errors import ConfigError, InputError, Problem
from ..yamlload import LoadedYaml, YamlLimits, load_yaml_file
from .conditions import (
    And,
    Cmp,
    ConditionSyntaxError,
    Const,
    Expr,
    Field,
    fold,
    parse_condition,
    referenced,
)
from .vocabulary import CRITERIA_ALIASES, PARAMS, PROCESSES


@dataclass(frozen=True)
class Condition:
    text: str
    expr: Expr
    line: int
    column: int


@dataclass(frozen=True)
class Action:
    verb: str
    args: dict


@dataclass(frozen=True)
class Rule:
    id: str
    process: str
    seed_step: str
    description: str
    applies_to: str
    when: tuple[Condition, ...]
    then: tuple[Action, ...]
    outcome: str
    group: str | None
    rank: Any
    order: int
    file: str
    line: int

    @cached_property
    def params(self) -> set[str]:
        out: set[str] = set()
        for c in self.when:
            out |= referenced(c.expr)[1]
        if isinstance(self.rank, str):
            out.add(self.rank)
        for a in self.then:
            t = a.args.get("type")
            if isinstance(t, str) and t in PARAMS:
                out.add(t)
        return out

    @cached_property
    def fields(self) -> set[str]:
        out: set[str] = set()
        for c in self.when:
            out |= referenced(c.expr)[0]
        return out


@dataclass(frozen=True)
class Variant:
    """A rule specialised for one deposit class and/or customer class."""

    rule: Rule
    name: str  # unique in its process, e.g. deprfnd/refund-credit-rating@RES
    deposit_class: str | None
    customer_class: str | None
    params: dict
    folded: tuple[Expr, ...]  # one per `when` condition
    guard: tuple[Expr, ...]  # applies_to and class guards
    rank: int

    @cached_property
    def expr(self) -> Expr:
        items = [e for e in self.guard + self.folded]
        if any(isinstance(e, Const) and not e.value for e in items):
            return Const(False)
        items = [e for e in items if not isinstance(e, Const)]
        return And(tuple(items)) if len(items) > 1 else (items[0] if items else Const(True))

    @property
    def possible(self) -> bool:
        return not (isinstance(self.expr, Const) and not self.expr.value)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, str) and value in PARAMS:
            return self.params.get(value)
        return value


def class_params(config: Config, deposit_class: str | None, customer_class: str | None) -> dict:
    p: dict[str, Any] = {
        "installation.credit_rating_threshold": config.installation.credit_rating_threshold,
    }
    if deposit_class is not None:
        dc = config.deposit_classes[deposit_class]
        p.update({
            "deposit_class.code": dc.code,
            "deposit_class.refund_criteria.algorithm": dc.refund_criteria,
            "deposit_class.refund_criteria.hold_months": dc.hold_months,
            "deposit_class.good_customer.algorithm": dc.good_customer,
            "deposit_class.good_customer.max_late_payments": dc.max_late_payments,
            "deposit_class.refund_method.algorithm": dc.refund_method,
            "deposit_class.interest.algorithm": dc.interest.algorithm if dc.interest else "NONE",
            "deposit_class.interest.min_days_held": dc.interest.min_days_held if dc.interest else 0,
            "deposit_class.months_between_interest": dc.months_between_interest or 0,
        })
    if customer_class is not None and customer_class in config.write_off_controls:
        wo = config.write_off_controls[customer_class]
        p["write_off.grace_days"] = wo.grace_days
        for alias, alg in CRITERIA_ALIASES.items():
            c = wo.criterion(alg)
            if c is None:
                continue
            p[f"write_off.{alias}.position"] = c.position
            p[f"write_off.{alias}.todo_type"] = c.todo_type
            if c.lower is not None:
                p[f"write_off.{alias}.lower"] = c.lower
                p[f"write_off.{alias}.upper"] = c.upper
            if c.min_refund is not None:
                p[f"write_off.{alias}.min_refund"] = c.min_refund
    return p


@dataclass
class RuleBook:
    """All rules, by process, specialised against one configuration."""

    config: Config
    rules: tuple[Rule, ...]
    source: str
    raw: list = field(default_factory=list, repr=False)
    # "" for the book of the configuration's first values; else which entries of the
    # effective-dated parameters this book was specialised with (names durable rulesets)
    view: str = ""
    _dated: dict = field(default_factory=dict, repr=False)

    @cached_property
    def hash(self) -> str:
        """Content hash of configuration + rules: stamps every result."""
        text = json.dumps({"config": self.config.hash, "rules": self.raw}, sort_keys=True,
                          separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def on(self, on: date) -> "RuleBook":
        """The rule book specialised with the configuration as it applies on process date
        ``on`` (:meth:`Config.on`): effective-dated parameters fold into the variants like
        any other. Same hash (it names the whole configuration); one book per distinct
        choice of entries, cached."""
        if self.config is None:
            return self
        self._dated.setdefault(self.config.effective_key, self)
        config = self.config.on(on)
        if config is self.config:
            return self
        key = config.effective_key
        book = self._dated.get(key)
        if book is None:
            book = RuleBook(config=config, rules=self.rules, source=self.source, raw=self.raw,
                            view="-e" + ".".join(map(str, key)) if key else "",
                            _dated=self._dated)
            book.__dict__["hash"] = self.hash
            self._dated[key] = book
        return book

    def by_process(self, process: str) -> list[Rule]:
        return [r for r in self.rules if r.process == process]

    @cached_property
    def _variants(self) -> dict[str, list[Variant]]:
        out: dict[str, list[Variant]] = {p: [] for p in PROCESSES}
        for rule in self.rules:
            out[rule.process].extend(self._specialise(rule))
        return out

    def variants(self, process: str) -> list[Variant]:
        return self._variants[process]

    @cached_property
    def _cash_only(self) -> dict[str, bool]:
        return {p: all(r.applies_to == "cash_deposit" for r in self.by_process(p))
                for p in self._variants}

    def cash_deposit_only(self, process: str) -> bool:
        """True when no rule of the process looks at SAs other than cash deposits."""
        return self._cash_only[process]

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)

    def _specialise(self, rule: Rule) -> list[Variant]:
        uses_dc = any(p.startswith("deposit_class.") for p in rule.params)
        uses_wo = any(p.startswith("write_off.") for p in rule.params)
        dcs = sorted(self.config.deposit_classes) if uses_dc else [None]
        ccs = sorted(self.config.write_off_controls) if uses_wo else [None]
        variants = []
        for dc in dcs:
            for cc in ccs:
                params = class_params(self.config, dc, cc)
                guard: list[Expr] = []
                if rule.applies_to == "cash_deposit":
                    guard.append(Cmp("==", Field("sa.is_cash_deposit"), Const(True)))
                if dc is not None:
                    guard.append(Cmp("==", Field("sa.deposit_class"), Const(dc)))
                if cc is not None:
                    guard.append(Cmp("==", Field("account.customer_class"), Const(cc)))
                folded = tuple(fold(c.expr, params) for c in rule.when)
                rank = rule.rank
                if isinstance(rank, str):
                    rank = params.get(rank)
                    if rank is None:  # the control lacks this criterion: never applies
                        folded = folded + (Const(False),)
                        rank = 0
                suffix = "@" + "/".join(x for x in (dc, cc) if x) if (dc or cc) else ""
                variants.append(Variant(rule, rule.id + suffix, dc, cc, params, folded,
                                        tuple(guard), int(rank or 0)))
        return variants


def _parse_rule(doc: LoadedYaml, process: str, i: int, raw: dict, order: int,
                config: Config | None, problems: list[Problem]) -> Rule | None:
    path = ("rules", i)
    conditions = []
    for j, text in enumerate(raw.get("when") or []):
        line, col = doc.where(path + ("when", j))
        try:
            expr = parse_condition(text)
        except ConditionSyntaxError as exc:
            quoted = _quote_offset(doc, line, col)
            problems.append(Problem(doc.file, line, col + quoted + exc.offset,
                                    _jp(path + ("when", j)), f"{exc} (in: {text})", exc.code))
            continue
        conditions.append(Condition(text, expr, line, col))
    actions = []
    for j, item in enumerate(raw.get("then") or []):
        verb, args = (item, {}) if isinstance(item, str) else next(iter(item.items()))
        args = dict(args or {})
        where = path + ("then", j, verb)
        if verb == "create_todo" and config is not None:
            t = args.get("type")
            if t not in PARAMS and t not in config.todo_types:
                problems.append(doc.problem(where + ("type",),
                                            f"unknown To Do type {t!r}; known: "
                                            f"{', '.join(sorted(config.todo_types))} or a "
                                            "write_off.<criterion>.todo_type parameter",
                                            "unknown-reference"))
        if verb == "create_adjustment" and config is not None:
            cat = args.get("category")
            if cat not in config.batch_types:
                problems.append(doc.problem(where + ("category",),
                                            f"no batch adjustment type for category {cat!r} in "
                                            "adjustment_types.yaml batch_types",
                                            "unknown-reference"))
        actions.append(Action(verb, args))
    rank = raw.get("rank", 0)
    if isinstance(rank, str) and rank not in PARAMS:
        problems.append(doc.problem(path + ("rank",), f"unknown parameter {rank!r} for rank",
                                    "unknown-parameter"))
    line, _ = doc.where(path)
    return Rule(
        id=raw["id"], process=process, seed_step=str(raw["seed_step"]),
        description=raw["description"], applies_to=raw.get("applies_to", "cash_deposit"),
        when=tuple(conditions), then=tuple(actions), outcome=raw.get("outcome", ""),
        group=raw.get("group"), rank=rank, order=order, file=doc.file, line=line)


def _quote_offset(doc: LoadedYaml, line: int, col: int) -> int:
    """1 when the scalar at line:col starts with a quote (the expression starts after it)."""
    lines = doc.text.splitlines()
    if 0 < line <= len(lines) and col - 1 < len(lines[line - 1]):
        return 1 if lines[line - 1][col - 1] in "\"'" else 0
    return 0


def _jp(path) -> str:
    from ..yamlload import json_path

    return json_path(path)


def load_rules(folder: Path | str, config: Config | None,
               limits: YamlLimits | None = None) -> RuleBook:
    """Load every ``*.yaml`` under ``folder`` (sorted). Raises ConfigError with every problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"rules folder {folder} does not exist (use --rules DIR)")
    problems: list[Problem] = []
    rules: list[Rule] = []
    raw_all = []
    files = sorted(folder.rglob("*.yaml"))
    if not files:
        raise InputError(f"rules folder {folder} holds no *.yaml rule files")
    seen: dict[str, str] = {}
    order = 0
    for path in files:
        try:
            doc = load_yaml_file(path, limits)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        found = schema_problems(doc, "rules")
        if found:
            problems.extend(found)
            continue
        raw_all.append({"file": path.name, "doc": jsonable(doc.data)})
        process = doc.data["process"]
        for i, raw in enumerate(doc.data["rules"]):
            if raw["id"] in seen:
                problems.append(doc.problem(("rules", i, "id"), f"duplicate rule id {raw['id']!r} "
                                            f"(first in {seen[raw['id']]})", "duplicate-id"))
                continue
            seen[raw["id"]] = f"{doc.file}:{doc.where(('rules', i))[0]}"
            rule = _parse_rule(doc, process, i, raw, order, config, problems)
            order += 1
            if rule is not None:
                rules.append(rule)
    if problems:
        raise ConfigError(problems, what=str(folder))
    book = RuleBook(config=config, rules=tuple(rules), source=str(folder), raw=raw_all)
    if config is not None:
        # fold every variant now so comparisons of two fields are reported, located
        for rule in rules:
            try:
                book._specialise(rule)
            except ConditionSyntaxError as exc:
                problems.append(Problem(rule.file, rule.line, 1, "", f"rule {rule.id}: {exc}",
                                        exc.code))
        if problems:
            raise ConfigError(problems, what=str(folder))
    return book
