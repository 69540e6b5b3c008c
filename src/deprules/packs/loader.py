"""Find and load pack files: YAML with positions -> JSON Schema -> checks -> model.

Every problem of every file is collected and raised at once as a
:class:`~deprules.errors.ScenarioError`, each located ``FILE:LINE:COL``.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any, Iterable

from ..config.schema import schema_problems
from ..errors import ConfigError, InputError, Problem, ScenarioError
from ..yamlload import (
    STDIN,
    STDIN_NAME,
    LoadedYaml,
    is_stdio,
    load_yaml_file,
    load_yaml_stdin,
    load_yaml_text,
)
from .model import (
    ITEM_FIELDS,
    STEP_META,
    Given,
    Pack,
    Row,
    Scenario,
    Step,
    YPath,
)

PACK_SUFFIXES = (".yaml", ".yml")
DEFAULT_ACCOUNT_ID = "A1"
DEFAULT_USER = "csr1"


def display_path(path: Path) -> str:
    """The path relative to the working directory when it is below it (shorter messages)."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive
        return str(path)


def find_pack_files(targets: Iterable[str | Path]) -> list[tuple[Path, str | None]]:
    """``PACK_OR_DIR`` arguments -> (file, scenario name or None) in a stable order.

    A folder contributes every ``*.yaml`` / ``*.yml`` below it; ``FILE::NAME`` selects one
    scenario of a file (as pytest ids do).
    """
    out: list[tuple[Path, str | None]] = []
    seen: set[tuple[Path, str | None]] = set()
    for target in targets:
        text = str(target)
        name = None
        if is_stdio(text):  # a pack piped in: `deprules test -`
            key = (Path(STDIN_NAME), None)
            if key in seen:
                raise InputError("- (standard input) can be given only once")
            seen.add(key)
            out.append(key)
            continue
        if "::" in text:
            text, name = text.split("::", 1)
        path = Path(text)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in PACK_SUFFIXES and p.is_file())
            if not files:
                raise InputError(f"{path} holds no pack files (*.yaml)")
        elif path.is_file():
            files = [path]
        else:
            raise InputError(f"pack file or folder {path} does not exist")
        for f in files:
            key = (f.resolve(), name)
            if key not in seen:
                seen.add(key)
                out.append((f, name))
    return out


def load_packs(targets: Iterable[str | Path], rule_ids: set[str] | None = None) -> list[Pack]:
    """Load every pack named by ``targets``; raises ScenarioError with every problem."""
    problems: list[Problem] = []
    files: dict[Path, tuple[Path, set[str] | None]] = {}  # resolved -> (path, names or all)
    for path, name in find_pack_files(targets):
        key = path if str(path) == STDIN_NAME else path.resolve()
        _, names = files.get(key, (path, set()))
        if name is None or names is None:
            names = None
        else:
            names = names | {name}
        files[key] = (path, names)
    packs: list[Pack] = []
    for path, names in files.values():
        try:
            pack = load_pack(path, rule_ids=rule_ids)
        except ScenarioError as exc:
            problems.extend(exc.problems)
            continue
        if names is not None:
            missing = sorted(names - {s.name for s in pack.scenarios})
            if missing:
                raise InputError(f"{path} has no scenario named {', '.join(missing)}; it has: "
                                 f"{', '.join(s.name for s in pack.scenarios)}")
            pack.scenarios = [s for s in pack.scenarios if s.name in names]
        packs.append(pack)
    if problems:
        raise ScenarioError(problems, what="the pack files")
    return packs


def load_pack(path: Path | str, rule_ids: set[str] | None = None,
              display: str | None = None, text: str | None = None) -> Pack:
    """One pack file (or ``text`` as if it were that file). Raises ScenarioError (located
    problems) when it is not valid."""
    path = Path(path)
    stdin = text is None and str(path) in (STDIN, STDIN_NAME)
    if stdin:  # read from standard input; from_extract: folders are relative to the cwd
        path = Path(STDIN_NAME)
    display = display or (STDIN_NAME if stdin else display_path(path))
    try:
        if stdin:
            doc = load_yaml_stdin(display=display)
        else:
            doc = load_yaml_file(path, display=display) if text is None else \
                load_yaml_text(text, display)
    except ConfigError as exc:
        raise ScenarioError(exc.problems, what=display) from None
    if doc.data is None:
        raise ScenarioError([Problem(display, 1, 1, "$", "the pack file is empty; it needs "
                                     "scenarios:", "missing-key")], what=display)
    problems = schema_problems(doc, "pack")
    if problems:
        raise ScenarioError(problems, what=display)
    data = doc.data
    pack = Pack(path=path, display=display, doc=doc, name=data.get("pack") or path.stem,
                description=data.get("description", ""))
    names: dict[str, int] = {}
    for i, raw in enumerate(data["scenarios"]):
        if raw["name"] in names:
            problems.append(doc.problem(("scenarios", i, "name"), f"duplicate scenario name "
                                        f"{raw['name']!r} (first at line {names[raw['name']]})",
                                        "duplicate-id"))
        names.setdefault(raw["name"], doc.where(("scenarios", i, "name"))[0])
        sc = _scenario(pack, i, raw, problems, rule_ids)
        if sc is not None:
            pack.scenarios.append(sc)
    if problems:
        raise ScenarioError(problems, what=display)
    return pack


# ---- scenarios --------------------------------------------------------------------------------
def _scenario(pack: Pack, i: int, raw: dict, problems: list[Problem],
              rule_ids: set[str] | None) -> Scenario | None:
    doc = pack.doc
    base: YPath = ("scenarios", i)
    before = len(problems)
    given = _given(doc, pack.path.parent, raw.get("given") or {}, base + ("given",), problems)
    if not given.accounts and given.from_extract is None:
        problems.append(doc.problem(base + ("name",), "the scenario has no account: give "
                                    "account:, accounts: or from_extract: (here or in the "
                                    "pack-level given)", "missing-key"))
    when = raw["when"]
    _date(doc, base + ("when", "date"), when["date"], problems)
    steps: list[Step] = []
    if "run" in when and "steps" in when:
        problems.append(doc.problem(base + ("when", "steps"), "give either run: or steps:, "
                                    "not both", "bad-step", key=True))
    elif "steps" in when:
        for j, st in enumerate(when["steps"]):
            step = _step(doc, base + ("when", "steps", j), st, problems)
            if step is not None:
                steps.append(step)
    else:
        steps.append(Step("run", when.get("run", "cycle"), None, "batch", "", None,
                          base + ("when", "run") if "run" in when else base + ("when",)))
    expect = raw.get("expect")
    if expect is not None:  # a candidate rules folder's ids are checked when it is loaded
        _check_expect(doc, base + ("expect",), expect, problems,
                      None if given.rules else rule_ids)
    if len(problems) > before:
        return None
    seed = raw.get("seed_step", ())
    return Scenario(pack=pack, index=i, name=raw["name"], description=raw.get("description", ""),
                    seed_steps=(seed,) if isinstance(seed, str) else tuple(seed), given=given,
                    date=when["date"], steps=steps, expect=expect)


def _date(doc: LoadedYaml, path: YPath, text: str, problems: list[Problem]) -> None:
    """The schema checks the form; this, that the day exists (no 2026-02-30)."""
    try:
        date.fromisoformat(text)
    except ValueError:
        problems.append(doc.problem(path, f"{text!r} is not a day of the calendar", "bad-date"))


# steps that are batch processes: by batch, unless the step names someone
BATCH_OPS = ("run", "approval_timeout")


def _step(doc: LoadedYaml, path: YPath, raw: dict, problems: list[Problem]) -> Step | None:
    if "date" in raw:
        _date(doc, path + ("date",), raw["date"], problems)
    stop = raw.get("pending_stop")
    if isinstance(stop, dict) and "stop_date" in stop:
        _date(doc, path + ("pending_stop", "stop_date"), stop["stop_date"], problems)
    ops = [k for k in raw if k not in STEP_META]
    if len(ops) != 1:
        what = "nothing to do" if not ops else f"{len(ops)} operations ({', '.join(ops)})"
        problems.append(doc.problem(path, f"a step does exactly one thing; this one has {what}: "
                                    "split it into several steps", "bad-step"))
        return None
    op = ops[0]
    if op == "run" and "by" in raw:
        problems.append(doc.problem(path + ("by",), "by: names the user of a manual operation; "
                                    "batch runs are by batch", "bad-step", key=True))
    if op != "run" and isinstance(raw[op], dict):
        ref_ops = {"freeze_adjustment", "cancel_adjustment", "approve_adjustment",
                   "reject_adjustment", "work_todo", "complete_todo"}
        if op in ref_ops and not ({"id", "sa"} & set(raw[op])):
            problems.append(doc.problem(path + (op,), f"{op} needs id: or sa: to say which one",
                                        "missing-key"))
    return Step(op, raw[op], raw.get("date"), raw.get("by", "batch" if op in BATCH_OPS else
                                                     DEFAULT_USER),
                raw.get("reason", ""), raw.get("expect_error"), path)


def _check_expect(doc: LoadedYaml, path: YPath, expect: dict, problems: list[Problem],
                  rule_ids: set[str] | None) -> None:
    for name, fields in ITEM_FIELDS.items():
        value = expect.get(name)
        if value is None:
            continue
        groups: list[tuple[YPath, list]] = []
        if isinstance(value, list):
            groups.append((path + (name,), value))
        else:
            for part in ("include", "exclude"):
                if part in value:
                    groups.append((path + (name, part), value[part]))
        for gpath, items in groups:
            for j, item in enumerate(items):
                for k in item:
                    if k not in fields:
                        problems.append(doc.problem(gpath + (j, k), f"unknown field {k!r} for "
                                                    f"{name}; known: {', '.join(fields)}",
                                                    "unknown-key", key=True))
    if rule_ids is not None:
        for key in ("rules_fired", "rules_not_fired"):
            for j, rid in enumerate(expect.get(key) or []):
                if rid not in rule_ids:
                    close = sorted(r for r in rule_ids if rid.split("/")[-1] in r)[:3]
                    hint = f"; did you mean {', '.join(close)}?" if close else \
                        "; see `deprules rules list`"
                    problems.append(doc.problem(path + (key, j), f"unknown rule {rid!r}{hint}",
                                                "unknown-rule"))


# ---- given: pack-level defaults + the scenario's own -------------------------------------------
def _given(doc: LoadedYaml, base_dir: Path, sg: dict, spath: YPath,
           problems: list[Problem]) -> Given:
    pg = (doc.data.get("given") or {}) if isinstance(doc.data, dict) else {}
    ppath: YPath = ("given",)
    g = Given()
    for src, p in ((pg, ppath), (sg, spath)):
        if "config" in src:
            g.overlays.append(p + ("config",))
        if "rules" in src:  # the scenario's own replaces the pack's
            folder = base_dir / src["rules"]
            g.rules = (folder, p + ("rules",))
            if not folder.is_dir():
                problems.append(doc.problem(p + ("rules",), f"no rules folder {folder} (rules: "
                                            "is a folder of rule files, relative to the pack "
                                            "file)", "bad-given"))
        for j, s in enumerate(src.get("set") or []):
            g.sets.append((s, p + ("set", j)))
        if "account" in src and "accounts" in src:
            problems.append(doc.problem(p + ("accounts",), "give account: (one) or accounts: "
                                        "(several), not both", "bad-given", key=True))
    # accounts: the scenario's own replace the pack's; a single account merges over the pack's
    if "accounts" in sg:
        g.accounts = _rows(sg["accounts"], spath + ("accounts",))
    elif "account" in sg:
        row = Row({}, spath + ("account",))
        if isinstance(pg.get("account"), dict):
            for k, v in pg["account"].items():
                row.data[k], row.where[k] = v, ppath + ("account", k)
        for k, v in sg["account"].items():
            row.data[k], row.where[k] = v, spath + ("account", k)
        g.accounts = [row]
    elif "accounts" in pg:
        g.accounts = _rows(pg["accounts"], ppath + ("accounts",))
    elif "account" in pg:
        g.accounts = [Row(dict(pg["account"]), ppath + ("account",),
                          {k: ppath + ("account", k) for k in pg["account"]})]
    for row in g.accounts:
        row.data.setdefault("account_id", DEFAULT_ACCOUNT_ID)
    for table in ("service_agreements", "non_cash_deposits", "financial_transactions"):
        if table in sg:
            setattr(g, table, _rows(sg[table], spath + (table,)))
        elif table in pg:
            setattr(g, table, _rows(pg[table], ppath + (table,)))
    inline_keys = ("account", "accounts", "service_agreements")
    src = None
    if "from_extract" in sg:
        src = (sg, spath)
    elif "from_extract" in pg and not any(k in sg for k in inline_keys):
        src = (pg, ppath)
        g.accounts = []
        g.service_agreements, g.non_cash_deposits, g.financial_transactions = [], [], []
    if src is not None:
        fe, p = src[0]["from_extract"], src[1] + ("from_extract",)
        if any(k in src[0] for k in inline_keys):
            problems.append(doc.problem(p, "from_extract: and inline accounts or SAs exclude "
                                        "each other", "bad-given", key=True))
        g.accounts = []
        g.from_extract = ((base_dir / fe["dir"]), fe.get("accounts"), p)
    # SAs and NCDs of the only account need not repeat its id
    if len(g.accounts) == 1:
        only = g.accounts[0].data["account_id"]
        for row in g.service_agreements + g.non_cash_deposits:
            row.data.setdefault("account_id", only)
    return g


def _rows(items: list[Any], path: YPath) -> list[Row]:
    return [Row(dict(item), path + (j,), {k: path + (j, k) for k in item})
            for j, item in enumerate(items)]
