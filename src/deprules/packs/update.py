"""``--update``: rewrite the expectations of scenarios from what they now produce.

The ``expect:`` block of each selected scenario is replaced in the pack file's
text, nothing else: comments and layout elsewhere in the file stay as they are
(comments inside the replaced block are lost). The shape the author chose is
kept: the SAs and fields written, the fields of list items, the rules named.
A scenario without expectations gets a full set (every SA's status and balances,
every adjustment, check and To Do, the rules that fired). The new text is
validated before anything is written, and written atomically.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.schema import schema_problems
from ..errors import ConfigError, ScenarioError
from ..yamlload import load_yaml_text
from .expect import _matches, normal
from .model import DEFAULT_ITEM_FIELDS, DEFAULT_SA_FIELDS, ITEM_FIELDS, MONEY_FIELDS, Scenario
from .runner import ScenarioResult

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_./@-]*$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


# ---- the new expectations -----------------------------------------------------------------------
def new_expect(sc: Scenario, actual: dict, mu: int) -> dict:
    old = sc.expect or {}
    if not old:
        return full_expect(actual, mu)
    out: dict[str, Any] = {}
    for name, value in old.items():
        if name == "service_agreements":
            sas = {}
            for sa_id, fields in (value or {}).items():
                got = actual["service_agreements"].get(sa_id)
                if got is not None:
                    keys = list(fields or ()) or list(DEFAULT_SA_FIELDS)
                    sas[sa_id] = {k: normal(k, got.get(k), mu) for k in keys}
            out[name] = sas
        elif name in ITEM_FIELDS:
            out[name] = _new_items(name, value, actual[name], mu)
        elif name == "rules_fired":
            out[name] = [r for r in value if r in actual["rules_fired"]]
        elif name == "rules_not_fired":
            out[name] = [r for r in value if r not in actual["rules_fired"]]
    return out


def normalized(expect: dict | None, mu: int) -> dict:
    """``expect`` with every value in its comparable form (to tell a real change)."""
    out: dict[str, Any] = {}
    for name, value in (expect or {}).items():
        if name == "service_agreements":
            out[name] = {sa: {k: normal(k, v, mu) for k, v in (f or {}).items()}
                         for sa, f in (value or {}).items()}
        elif name in ITEM_FIELDS:
            def items(xs):
                return [{k: normal(k, v, mu) for k, v in x.items()} for x in xs or ()]
            out[name] = items(value) if isinstance(value, list) else {
                part: (items(v) if part != "count" else v) for part, v in value.items()}
        else:
            out[name] = list(value or ())
    return out


def _new_items(name: str, old: Any, have: list[dict], mu: int) -> Any:
    if isinstance(old, list):
        keys = list(dict.fromkeys(k for item in old for k in item)) or \
            list(DEFAULT_ITEM_FIELDS[name])
        return [{k: normal(k, h.get(k), mu) for k in keys} for h in have]
    out: dict[str, Any] = {}
    for part, value in old.items():
        if part == "include":
            out[part] = [w for w in value if any(_matches(w, h, mu) for h in have)]
        elif part == "exclude":
            out[part] = [w for w in value if not any(_matches(w, h, mu) for h in have)]
        elif part == "count":
            out[part] = len(have)
    return out


def full_expect(actual: dict, mu: int) -> dict:
    """Every SA's status and balances, every adjustment, bill, check and To Do, rules fired."""
    out: dict[str, Any] = {"service_agreements": {
        sa_id: {k: normal(k, sa.get(k), mu) for k in DEFAULT_SA_FIELDS}
        for sa_id, sa in actual["service_agreements"].items()}}
    for name in ("adjustments", "bills", "checks", "todos"):
        if actual[name] or name != "bills":
            out[name] = [{k: normal(k, h.get(k), mu) for k in DEFAULT_ITEM_FIELDS[name]}
                         for h in actual[name]]
    out["rules_fired"] = list(actual["rules_fired"])
    return out


# ---- YAML text ----------------------------------------------------------------------------------
def scalar(key: str | None, value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if key not in MONEY_FIELDS and _PLAIN.match(text) and text.lower() not in _RESERVED:
        return text
    return json.dumps(text)


def _flow(item: dict) -> str:
    return "{" + ", ".join(f"{k}: {scalar(k, v)}" for k, v in item.items()) + "}"


def _sa_line(sa_id: str, fields: dict, indent: int) -> str:
    return f"{' ' * indent}{scalar(None, sa_id)}: {_flow(fields)}"


def key_yaml(name: str, value: Any, indent: int) -> list[str]:
    """One key of an ``expect:`` block as lines (the key at ``indent`` spaces)."""
    pad = " " * indent
    if name == "service_agreements":
        if not value:
            return [f"{pad}{name}: {{}}"]
        return [f"{pad}{name}:"] + [_sa_line(k, v, indent + 2) for k, v in value.items()]
    if isinstance(value, list):
        if not value:
            return [f"{pad}{name}: []"]
        return [f"{pad}{name}:"] + [
            f"{pad}  - {_flow(item) if isinstance(item, dict) else scalar(None, item)}"
            for item in value]
    lines = [f"{pad}{name}:"]
    for part, v in value.items():
        if isinstance(v, list):
            lines.append(f"{pad}  {part}:" + (" []" if not v else ""))
            lines.extend(f"{pad}    - {_flow(item)}" for item in v)
        else:
            lines.append(f"{pad}  {part}: {scalar(None, v)}")
    return lines


def expect_yaml(expect: dict, indent: int) -> list[str]:
    """The ``expect:`` block as lines (the key at ``indent`` spaces)."""
    lines = [f"{' ' * indent}expect:" + (" {}" if not expect else "")]
    for name, value in expect.items():
        lines.extend(key_yaml(name, value, indent + 2))
    return lines


# ---- rewriting the file -------------------------------------------------------------------------
@dataclass
class FileUpdate:
    path: Path
    display: str
    old_text: str
    new_text: str
    scenarios: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.old_text != self.new_text

    def diff(self) -> str:
        return "".join(difflib.unified_diff(
            self.old_text.splitlines(keepends=True), self.new_text.splitlines(keepends=True),
            fromfile=f"a/{self.display}", tofile=f"b/{self.display}"))

    def write(self) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(self.new_text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_filler(line: str) -> bool:
    s = line.strip()
    return not s or s.startswith("#")


def _scenario_span(sc: Scenario, lines: list[str]) -> tuple[int, int]:
    """0-based [first, end) lines of the scenario's list item, without trailing filler."""
    doc = sc.doc
    first = doc.where(sc.base)[0] - 1
    n = len(doc.data["scenarios"])
    if sc.index + 1 < n:
        end = doc.where(("scenarios", sc.index + 1))[0] - 1
        # the next item's "- " starts on that line
    else:
        end = len(lines)
        item_indent = doc.where(sc.base)[1] - 1
        for j in range(first + 1, len(lines)):
            if not _is_filler(lines[j]) and _indent(lines[j]) < item_indent:
                end = j
                break
    while end > first + 1 and _is_filler(lines[end - 1]):
        end -= 1
    return first, end


def _expect_span(sc: Scenario, lines: list[str]) -> tuple[int, int, int] | None:
    """0-based [first, end) of the expect: block and the key's indentation."""
    doc = sc.doc
    path = sc.base + ("expect",)
    if path not in doc.key_positions:
        return None
    line, col = doc.key_positions[path]
    first = line - 1
    _, scen_end = _scenario_span(sc, lines)
    later = [ln - 1 for p, (ln, _) in doc.key_positions.items()
             if len(p) == 3 and p[:2] == sc.base and ln - 1 > first]
    end = min(later + [scen_end])
    while end > first + 1 and _is_filler(lines[end - 1]):
        end -= 1
    return first, end, col - 1


def _children(sc: Scenario, lines: list[str], path: tuple, first: int,
              end: int) -> dict[str, tuple[int, int]] | None:
    """0-based [start, end) lines of each key of the block mapping at ``path`` (None when it
    is not a block mapping with one key per line, e.g. written in flow style)."""
    doc = sc.doc
    starts = sorted((ln - 1, p[-1]) for p, (ln, _) in doc.key_positions.items()
                    if len(p) == len(path) + 1 and p[:-1] == path)
    if not starts or starts[0][0] <= first or len({ln for ln, _ in starts}) != len(starts):
        return None
    out = {}
    for j, (ln, key) in enumerate(starts):
        stop = starts[j + 1][0] if j + 1 < len(starts) else end
        while stop > ln + 1 and _is_filler(lines[stop - 1]):
            stop -= 1
        out[key] = (ln, stop)
    return out


def _merged_block(sc: Scenario, lines: list[str], expect: dict, mu: int, first: int,
                  end: int, indent: int) -> list[str]:
    """The new expect block, keeping the text (and comments) of what did not change."""
    base = sc.base + ("expect",)
    keys = _children(sc, lines, base, first, end)
    old = normalized(sc.expect, mu)
    if keys is None:
        return expect_yaml(expect, indent)
    out = [lines[first]]
    for name, value in expect.items():
        if name in keys and old.get(name) == value:
            out.extend(lines[slice(*keys[name])])
            continue
        sas = keys and name == "service_agreements" and name in keys and \
            _children(sc, lines, base + (name,), keys[name][0], keys[name][1])
        if sas:
            out.append(lines[keys[name][0]])
            for sa_id, fields in value.items():
                if sa_id in sas and old[name].get(sa_id) == fields:
                    out.extend(lines[slice(*sas[sa_id])])
                else:
                    out.append(_sa_line(sa_id, fields, indent + 4))
            continue
        if name in keys and isinstance(value, list) and keys[name][1] - keys[name][0] == 1 \
                and lines[keys[name][0]].split(":", 1)[1].lstrip().startswith("["):
            flow = f"{' ' * (indent + 2)}{name}: [" + ", ".join(
                _flow(i) if isinstance(i, dict) else scalar(None, i) for i in value) + "]"
            if len(flow) <= 100:  # it was written in flow style: keep it so when it fits
                out.append(flow)
                continue
        out.extend(key_yaml(name, value, indent + 2))
    return out


def rewrite(sc: Scenario, text_lines: list[str], expect: dict, mu: int = 2) -> list[str]:
    """``text_lines`` with the scenario's expect block replaced (or added)."""
    span = _expect_span(sc, text_lines)
    if span is not None:
        first, end, indent = span
        block = _merged_block(sc, text_lines, expect, mu, first, end, indent)
        return text_lines[:first] + block + text_lines[end:]
    first, end = _scenario_span(sc, text_lines)
    name_col = sc.doc.key_positions.get(sc.base + ("name",), (0, 5))[1]
    return text_lines[:end] + expect_yaml(expect, name_col - 1) + text_lines[end:]


def plan_updates(results: list[ScenarioResult]) -> list[FileUpdate]:
    """The new text of every pack file with selected scenarios (errors cannot be updated)."""
    by_file: dict[Path, list[ScenarioResult]] = {}
    for r in results:
        if r.status != "error" and r.actual is not None:
            by_file.setdefault(r.scenario.pack.path, []).append(r)
    out = []
    for path, rs in by_file.items():
        pack = rs[0].scenario.pack
        old_text = pack.doc.text
        lines = old_text.split("\n")
        # bottom-up, so that the line numbers of the scenarios above stay valid
        changed = []
        for r in sorted(rs, key=lambda r: -r.scenario.index):
            expect = new_expect(r.scenario, r.actual, r.minor_units)
            if r.scenario.expect and expect == normalized(r.scenario.expect, r.minor_units):
                continue  # already what it produces: leave its text (and comments) alone
            lines = rewrite(r.scenario, lines, expect, r.minor_units)
            changed.insert(0, r.name)
        new_text = "\n".join(lines)
        try:
            doc = load_yaml_text(new_text, pack.display)
        except ConfigError as exc:
            raise ScenarioError(exc.problems, what=f"the updated {pack.display}") from None
        problems = schema_problems(doc, "pack")
        if problems:
            raise ScenarioError(problems, what=f"the updated {pack.display}")
        out.append(FileUpdate(path, pack.display, old_text, new_text, changed))
    return out

