"""Load a configuration folder (plus optional overlays) into a validated :class:`Config`.

Pipeline: YAML with positions -> overlays merged (positions follow the overlay) ->
JSON Schema per file -> cross-reference checks -> frozen model with a content hash.
Every problem of every file is collected before anything is raised.
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable

from ..errors import ConfigError, InputError, Problem
from ..money import parse_money
from ..yamlload import (
    LoadedYaml,
    YamlLimits,
    is_stdio,
    load_yaml_file,
    load_yaml_stdin,
    load_yaml_text,
)
from .checks import cross_reference_problems
from .model import (
    AdjustmentType,
    ApprovalProfile,
    Config,
    Dated,
    DepositClass,
    Installation,
    Interest,
    Rate,
    SaType,
    TodoType,
    WriteOffControl,
    WriteOffCriterion,
)
from .schema import jsonable, schema_problems

FILES = (
    "installation",
    "deposit_classes",
    "sa_types",
    "adjustment_types",
    "write_off_controls",
    "todo_types",
    "approval_profiles",
)
# files a configuration folder may have (config/users.yaml: docs/csr.md "Users and roles")
OPTIONAL_FILES = ("users",)

# first segment of an overlay / --set path -> (file, key inside the file or None)
_SECTIONS = {
    "installation": ("installation", None),
    "deposit_classes": ("deposit_classes", "deposit_classes"),
    "sa_types": ("sa_types", "sa_types"),
    "adjustment_types": ("adjustment_types", "adjustment_types"),
    "batch_types": ("adjustment_types", "batch_types"),
    "write_off_controls": ("write_off_controls", "write_off_controls"),
    "todo_types": ("todo_types", "todo_types"),
    "approval_profiles": ("approval_profiles", "approval_profiles"),
    "users": ("users", "users"),
}


class Docs(dict):
    """file stem -> LoadedYaml, with per-subtree origins for overlaid values."""


def _read_folder(folder: Path, limits: YamlLimits, problems: list[Problem]) -> Docs:
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise InputError(f"configuration folder {folder} {what} (use --config DIR)")
    docs = Docs()
    for stem in FILES:
        path = folder / f"{stem}.yaml"
        if not path.exists():
            problems.append(Problem(str(path), 0, 0, "", f"missing configuration file {stem}.yaml",
                                    "missing-file"))
            continue
        try:
            docs[stem] = load_yaml_file(path, limits)
        except ConfigError as exc:
            problems.extend(exc.problems)
    for stem in OPTIONAL_FILES:
        path = folder / f"{stem}.yaml"
        if path.exists():
            try:
                docs[stem] = load_yaml_file(path, limits)
            except ConfigError as exc:
                problems.extend(exc.problems)
    return docs


def _set_path(doc: LoadedYaml, path: tuple, value: Any, origin: LoadedYaml,
              origin_path: tuple) -> None:
    """Put ``value`` at ``path`` in ``doc``; positions of the subtree come from ``origin``."""
    node = doc.data
    for i, key in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
            continue
        if not isinstance(node, dict):
            raise _OverlayError(origin_path[: i + 1], f"{'.'.join(map(str, path[: i + 1]))} is not a mapping")
        if key not in node or not isinstance(node[key], (dict, list)):
            node[key] = [] if isinstance(nxt, int) else {}
        node = node[key]
    last = path[-1]
    if isinstance(node, list):
        if not isinstance(last, int) or last > len(node):
            raise _OverlayError(origin_path, f"index {last} is outside the list")
        if last == len(node):
            node.append(value)
        else:
            node[last] = value
    else:
        node[last] = value
    # re-home positions of the replaced subtree
    for store in (doc.positions, doc.key_positions):
        for p in [p for p in store if p[: len(path)] == path]:
            del store[p]
    for p, pos in origin.positions.items():
        if p[: len(origin_path)] == origin_path:
            doc.positions[path + p[len(origin_path):]] = pos
    for p, pos in origin.key_positions.items():
        if p[: len(origin_path)] == origin_path:
            doc.key_positions[path + p[len(origin_path):]] = pos
    origins = doc.__dict__.setdefault("origins", {})
    for p in [p for p in origins if p[: len(path)] == path]:
        del origins[p]
    origins[path] = origin.file


class _OverlayError(Exception):
    def __init__(self, path: tuple, message: str):
        self.path, self.message = path, message


def _merge(doc: LoadedYaml, path: tuple, value: Any, origin: LoadedYaml, origin_path: tuple):
    """Deep-merge mappings; anything else (lists included) replaces."""
    current = doc.data
    for key in path:
        current = current.get(key) if isinstance(current, dict) else None
    if isinstance(value, dict) and isinstance(current, dict):
        for k, v in value.items():
            _merge(doc, path + (k,), v, origin, origin_path + (k,))
    else:
        _set_path(doc, path, copy.deepcopy(value), origin, origin_path)


def _apply_overlay(docs: Docs, overlay: LoadedYaml, problems: list[Problem]) -> None:
    if not isinstance(overlay.data, dict):
        problems.append(overlay.problem((), "an overlay is a mapping of sections "
                                        f"({', '.join(_SECTIONS)})", "wrong-type"))
        return
    for section, value in overlay.data.items():
        if section not in _SECTIONS:
            problems.append(overlay.problem((section,), f"unknown section {section!r}; expected "
                                            f"one of: {', '.join(_SECTIONS)}", "unknown-key",
                                            key=True))
            continue
        stem, key = _SECTIONS[section]
        if stem not in docs and stem in OPTIONAL_FILES:
            docs[stem] = LoadedYaml(overlay.file, {key: {}}, {(): (1, 1)})
        if stem not in docs:
            continue
        target = (key,) if key else ()
        try:
            _merge(docs[stem], target, value, overlay, (section,))
        except _OverlayError as exc:
            problems.append(overlay.problem(exc.path, exc.message, "bad-overlay"))


def parse_set(assignment: str) -> tuple[LoadedYaml, tuple]:
    """``a.b.c=VALUE``: the value (a tiny document named ``--set a.b.c``) and its path."""
    if "=" not in assignment:
        raise InputError(f"--set {assignment!r}: expected PATH=VALUE, e.g. "
                         "deposit_classes.RES.refund_criteria.hold_months=18")
    path_text, value_text = assignment.split("=", 1)
    keys = tuple(int(p) if p.isdigit() else p for p in path_text.strip().split(".") if p)
    if not keys:
        raise InputError(f"--set {assignment!r}: the path is empty")
    doc = load_yaml_text(value_text, f"--set {path_text.strip()}") if value_text.strip() else \
        LoadedYaml(f"--set {path_text.strip()}", "", {(): (1, 1)})
    if isinstance(doc.data, Decimal):
        doc.data = value_text.strip()  # money and rates are decimal text in configuration
    return doc, keys


def _apply_set(docs: Docs, doc: LoadedYaml, path: tuple, problems: list[Problem]) -> None:
    section = path[0]
    if section not in _SECTIONS:
        problems.append(Problem(doc.file, 1, 1, "", f"unknown section {section!r}; expected one "
                                f"of: {', '.join(_SECTIONS)}", "unknown-key"))
        return
    stem, key = _SECTIONS[section]
    if stem not in docs and stem in OPTIONAL_FILES:
        docs[stem] = LoadedYaml(doc.file, {key: {}}, {(): (1, 1)})
    if stem not in docs:
        return
    target = ((key,) if key else ()) + tuple(path[1:])
    try:
        _set_path(docs[stem], target, doc.data, doc, ())
    except _OverlayError as exc:
        problems.append(Problem(doc.file, 1, 1, "", exc.message, "bad-overlay"))


def _located(doc: LoadedYaml, problem: Problem) -> Problem:
    """Point a problem at the overlay file when the value came from one."""
    origins = doc.__dict__.get("origins") or {}
    if not origins:
        return problem
    # find the path tuple of the problem by matching the JSON path text
    from ..yamlload import json_path

    best = None
    for p, file in origins.items():
        jp = json_path(p)
        if problem.path == jp or problem.path.startswith(jp + ".") or problem.path.startswith(jp + "["):
            if best is None or len(p) > len(best[0]):
                best = (p, file)
    if best is None:
        return problem
    return Problem(best[1], problem.line, problem.column, problem.path, problem.message,
                   problem.code, problem.severity, problem.excerpt)


def load_config(
    folder: Path | str = "config",
    overlays: Iterable[Path | str] = (),
    sets: Iterable[str] = (),
    limits: YamlLimits | None = None,
) -> Config:
    """Load, validate and freeze a configuration. Raises :class:`ConfigError` with every problem."""
    limits = limits or YamlLimits()
    folder = Path(folder)
    problems: list[Problem] = []
    docs = _read_folder(folder, limits, problems)
    for overlay in overlays:
        if is_stdio(overlay):  # an overlay YAML of sections piped in: `--whatif -`
            try:
                _apply_overlay(docs, load_yaml_stdin(limits), problems)
            except ConfigError as exc:
                problems.extend(exc.problems)
            continue
        overlay = Path(overlay)
        if not overlay.exists():
            raise InputError(f"what-if {overlay} does not exist (give an overlay YAML file or "
                             "a folder of configuration files)")
        if overlay.is_dir():
            # a candidate folder: files named like configuration files (sa_types.yaml, ...)
            # replace the baseline's whole file; any other *.yaml is an overlay of sections,
            # applied after the replacements, in name order
            names = {f"{stem}.yaml" for stem in FILES + OPTIONAL_FILES}
            found = sorted(p for p in overlay.glob("*.yaml") if p.is_file())
            if not found:
                raise InputError(f"what-if folder {overlay} holds no *.yaml files (expected "
                                 "configuration files to replace, or overlay files of sections)")
            for path in found:
                if path.name in names:
                    try:
                        docs[path.stem] = load_yaml_file(path, limits)
                    except ConfigError as exc:
                        problems.extend(exc.problems)
            for path in found:
                if path.name not in names:
                    try:
                        _apply_overlay(docs, load_yaml_file(path, limits), problems)
                    except ConfigError as exc:
                        problems.extend(exc.problems)
            continue
        try:
            _apply_overlay(docs, load_yaml_file(overlay, limits), problems)
        except ConfigError as exc:
            problems.extend(exc.problems)
    for assignment in sets:
        try:
            _apply_set(docs, *parse_set(assignment), problems)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems, what=str(folder))
    for stem, doc in docs.items():
        problems.extend(_located(doc, p) for p in schema_problems(doc, stem))
    problems.extend(_cross_references(docs, problems))
    if problems:
        raise ConfigError(problems, what=str(folder))
    return build_config(docs, str(folder))


def _cross_references(docs: Docs, schema: list[Problem]) -> list[Problem]:
    """Cross-reference problems, found in the same run as the schema problems so that one
    run shows both kinds. A value the schema already refused is not reported again, and
    data of the wrong shape may stop the cross-reference checks early (what they did find
    is kept; the rest shows once the schema problems are fixed)."""
    found: list[Problem] = []
    try:
        for stem, p in cross_reference_problems(docs):
            found.append(_located(docs[stem], p))
    except Exception:
        if not schema:
            raise
    refused = {(p.file, p.path) for p in schema}

    def under(a: str, b: str) -> bool:
        return a == b or a.startswith(b + ".") or a.startswith(b + "[")

    return [p for p in found
            if not any(f == p.file and (under(p.path, q) or under(q, p.path))
                       for f, q in refused)]


def _money(text: Any, minor_units: int) -> int:
    return parse_money(str(text), minor_units)


def _fraction(text: Any) -> Fraction:
    return Fraction(Decimal(str(text)))


def is_dated(value: Any) -> bool:
    """An effective-dated value is written as a list of {value} / {effective, value}."""
    return isinstance(value, list)


def _plain(value: Any, convert, path: str, target: tuple, dated: list[Dated]) -> Any:
    """The first (or only) value of a parameter, converted; an effective-dated one with more
    than one entry is also added to ``dated``."""
    if value is None:
        return None
    if not is_dated(value):
        return convert(value)
    entries = tuple((date.fromisoformat(str(e["effective"])) if e.get("effective") is not None
                     else None, convert(e["value"])) for e in value)
    if len(entries) > 1:
        dated.append(Dated(path, target, entries))
    return entries[0][1]


def build_config(docs: Docs, source: str) -> Config:
    inst = docs["installation"].data
    mu = int(inst.get("minor_units", 2))
    dated: list[Dated] = []
    installation = Installation(
        currency=inst["currency"],
        minor_units=mu,
        credit_rating_threshold=_plain(inst["credit_rating_threshold"], int,
                                       "installation.credit_rating_threshold",
                                       ("installation", "credit_rating_threshold"), dated),
        rounding=inst.get("rounding", "half_up"),
        default_day_count=inst.get("default_day_count", "actual/365"),
        bill_due_days=int(inst.get("bill_due_days", 0)),
        customer_classes={k: (v or {}).get("description", "") for k, v in
                          inst["customer_classes"].items()},
        distribution_codes={k: (v or {}).get("description", "") for k, v in
                            (inst.get("distribution_codes") or {}).items()},
    )
    deposit_classes = {}
    for code, d in docs["deposit_classes"].data["deposit_classes"].items():
        rc, gc, rm = d["refund_criteria"], d["good_customer"], d["refund_method"]
        interest = None
        if d.get("interest"):
            i = d["interest"]
            interest = Interest(
                algorithm=i.get("algorithm", "REFUNDINT"),
                day_count=i.get("day_count", installation.default_day_count),
                min_days_held=int(i.get("min_days_held", 0)),
                rounding=i.get("rounding", installation.rounding),
                rates=tuple(Rate(date.fromisoformat(r["effective"]), _fraction(r["annual_percent"]))
                            for r in i.get("rates", [])),
            )
        at = f"deposit_classes.{code}."

        def param(value, attr, name, convert=int):
            return _plain(value, convert, at + name, ("deposit_class", code, attr), dated)

        deposit_classes[code] = DepositClass(
            code=code,
            description=d.get("description", ""),
            refund_criteria=rc["algorithm"],
            hold_months=param(rc.get("hold_months"), "hold_months",
                              "refund_criteria.hold_months"),
            good_customer=gc["algorithm"],
            max_late_payments=param(gc.get("max_late_payments"), "max_late_payments",
                                    "good_customer.max_late_payments"),
            refund_method=param(rm["algorithm"], "refund_method", "refund_method.algorithm",
                                str),
            interest=interest,
            months_between_interest=param(d.get("months_between_interest"),
                                          "months_between_interest", "months_between_interest"),
        )
    sa_types = {
        code: SaType(code, t.get("description", ""), t["special_role"], t["deposit_class"],
                     int(t["distribution_priority"]), t["distribution_code"])
        for code, t in docs["sa_types"].data["sa_types"].items()
    }
    adj = docs["adjustment_types"].data
    adjustment_types = {
        code: AdjustmentType(code, t.get("description", ""), t["category"], t["ft_algorithm"],
                             t.get("distribution_code"), t.get("ap_request_type"),
                             t.get("approval_profile"))
        for code, t in adj["adjustment_types"].items()
    }
    controls = {}
    for cls, c in docs["write_off_controls"].data["write_off_controls"].items():
        criteria = []
        for pos, crit in enumerate(c["criteria"], start=1):
            def amount(name, pos=pos, crit=crit, cls=cls):
                return _plain(crit.get(name), lambda v: _money(v, mu),
                              f"write_off_controls.{cls}.criteria.{pos - 1}.{name}",
                              ("write_off", cls, pos, name), dated)

            criteria.append(WriteOffCriterion(
                algorithm=crit["algorithm"], position=pos, lower=amount("lower"),
                upper=amount("upper"), min_refund=amount("min_refund"),
                todo_type=crit.get("todo_type"),
            ))
        controls[cls] = WriteOffControl(cls, int(c.get("grace_days", 0)), tuple(criteria))
    todo_types = {
        code: TodoType(code, t["role"], int(t.get("priority", 3)), t.get("message", ""))
        for code, t in docs["todo_types"].data["todo_types"].items()
    }
    approval_profiles = {
        code: ApprovalProfile(code, p.get("description", ""), _money(p["threshold"], mu),
                              p.get("approver_role", ""), p.get("timeout_days"),
                              p.get("timeout_todo_type", "ADJ-TIMEOUT"))
        for code, p in docs["approval_profiles"].data["approval_profiles"].items()
    }
    users = None
    if "users" in docs:
        from ..users import Users

        users = Users({name: frozenset((u or {}).get("roles") or ())
                       for name, u in (docs["users"].data.get("users") or {}).items()},
                      docs["users"].file)
    raw = {stem: jsonable(doc.data) for stem, doc in sorted(docs.items())
           if stem not in OPTIONAL_FILES}
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, separators=(",", ":")).encode())
    return Config(
        installation=installation,
        deposit_classes=deposit_classes,
        sa_types=sa_types,
        adjustment_types=adjustment_types,
        batch_types=dict(adj.get("batch_types") or {}),
        write_off_controls=controls,
        todo_types=todo_types,
        approval_profiles=approval_profiles,
        source=source,
        users=users,
        raw=raw,
        hash=digest.hexdigest(),
        dated=tuple(dated),
    )


__all__ = ["load_config", "build_config", "parse_set", "FILES", "OPTIONAL_FILES"]
