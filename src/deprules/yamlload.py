"""YAML loading that keeps positions and refuses what PyYAML silently accepts.

PyYAML's ``compose`` gives nodes with line and column; we build plain Python
values from them ourselves so that we can (1) reject duplicate keys, (2) bound
the size, nesting depth and alias expansion of a hostile file, (3) keep decimal
numbers exact (``0.11`` becomes ``Decimal('0.11')``, never a float) and (4)
remember where every value and key came from, for ``FILE:LINE:COL`` errors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, InputError, Problem

try:  # the C composer is several times faster; fall back quietly
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


# A nesting limit above this would let the (recursive) composer and builder exhaust the
# stack: 100,000 levels of "[" crash PyYAML's C composer with a segmentation fault.
DEPTH_CEILING = 500


def env_limit(name: str, default: int, ceiling: int | None = None) -> int:
    """A positive whole number from the environment variable ``name`` (``default`` if unset).

    A value that is not a whole number >= 1 (or is above ``ceiling``) is refused with
    :class:`InputError` naming the variable, never a traceback.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise InputError(f"environment variable {name}={raw!r} is not a whole number "
                         f"(default {default})") from None
    if value < 1:
        raise InputError(f"environment variable {name}={raw!r} must be at least 1 "
                         f"(default {default})")
    if ceiling is not None and value > ceiling:
        raise InputError(f"environment variable {name}={raw!r} is above the ceiling of "
                         f"{ceiling} (default {default})")
    return value


@dataclass(frozen=True)
class YamlLimits:
    """Bounds that make a hostile file fail fast. Environment variables override them
    (read when the limits are made, so a running program sees a changed variable)."""

    max_bytes: int = field(
        default_factory=lambda: env_limit("DEPRULES_YAML_MAX_BYTES", 5 * 1024 * 1024))
    max_depth: int = field(
        default_factory=lambda: env_limit("DEPRULES_YAML_MAX_DEPTH", 50, DEPTH_CEILING))
    max_nodes: int = field(
        default_factory=lambda: env_limit("DEPRULES_YAML_MAX_NODES", 200_000))


Path_ = tuple  # a JSON path as a tuple of keys and indexes


@dataclass
class LoadedYaml:
    file: str
    data: Any
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    text: str = ""

    def where(self, path: Path_) -> tuple[int, int]:
        """Line and column (1-based) of the value at ``path``, or of its nearest parent."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))

    def where_key(self, path: Path_) -> tuple[int, int]:
        """Position of the key of the mapping entry at ``path`` (falls back to the value)."""
        return self.key_positions.get(tuple(path)) or self.where(path)

    def problem(self, path: Path_, message: str, code: str, key: bool = False) -> Problem:
        line, col = self.where_key(path) if key else self.where(path)
        return Problem(self.file, line, col, json_path(path), message, code)


def json_path(path: Path_) -> str:
    out = "$"
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        elif p.replace("_", "").replace("-", "").isalnum():
            out += f".{p}"
        else:
            out += f"[{p!r}]"
    return out


def excerpt(text: str, line: int, column: int, context: int = 2) -> str:
    """A numbered excerpt of ``text`` around ``line`` with a caret under ``column``."""
    lines = text.splitlines()
    if not lines:
        return ""
    lo, hi = max(1, line - context), min(len(lines), line + context)
    width = len(str(hi))
    # a very long line (minified or hostile) is shown as a window around the column
    start = 0
    if 0 < line <= len(lines) and len(lines[line - 1]) > EXCERPT_WIDTH:
        start = max(0, min(column - 1 - EXCERPT_WIDTH // 2, len(lines[line - 1]) - EXCERPT_WIDTH))
    out = []
    for n in range(lo, hi + 1):
        text = lines[n - 1]
        if len(text) > EXCERPT_WIDTH or start:
            shown = text[start:start + EXCERPT_WIDTH]
            text = ("..." if start else "") + shown + ("..." if len(text) > start + EXCERPT_WIDTH else "")
        out.append(f"  {n:>{width}} | {text}")
        if n == line:
            caret = max(0, column - 1 - start) + (3 if start else 0)
            out.append(f"  {'':>{width}} | {' ' * caret}^")
    return "\n".join(out)


EXCERPT_WIDTH = 120


class _Builder:
    def __init__(self, file: str, limits: YamlLimits):
        self.file = file
        self.limits = limits
        self.nodes = 0
        self.positions: dict[Path_, tuple[int, int]] = {}
        self.key_positions: dict[Path_, tuple[int, int]] = {}
        self.problems: list[Problem] = []
        self.bad_tags: set[int] = set()

    def _pos(self, node: yaml.Node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def build(self, node: yaml.Node, path: Path_, depth: int, record: bool = True) -> Any:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise _Abort(
                node,
                f"the document expands to more than {self.limits.max_nodes} nodes "
                "(an alias bomb?); raise DEPRULES_YAML_MAX_NODES if it is genuine",
                "too-many-nodes",
            )
        if depth > self.limits.max_depth:
            raise _Abort(
                node,
                f"nesting deeper than {self.limits.max_depth} levels "
                "(DEPRULES_YAML_MAX_DEPTH)",
                "too-deep",
            )
        if record:
            self.positions[path] = self._pos(node)
        if node.tag not in _TAGS and id(node) not in self.bad_tags:  # once, however aliased
            self.bad_tags.add(id(node))
            self.problems.append(
                Problem(self.file, *self._pos(node), _jp(path),
                        f"unsupported YAML tag {node.tag.replace(_STD, '!!')!r}; configuration, "
                        "rule and pack files use plain values only", "yaml-tag"))
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            first: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = self.build(key_node, path + ("<key>",), depth + 1, record=False)
                if isinstance(key, (dict, list)):
                    self.problems.append(
                        Problem(self.file, *self._pos(key_node), _jp(path),
                                "a mapping key must be a plain value", "bad-key")
                    )
                    continue
                if not isinstance(key, str):
                    key = str(key)
                if key in first:
                    self.problems.append(
                        Problem(self.file, *self._pos(key_node), _jp(path + (key,)),
                                f"duplicate key {key!r} (first defined at line {first[key]}); "
                                "YAML keeps only one of them, so remove or rename one",
                                "duplicate-key")
                    )
                    continue
                first[key] = key_node.start_mark.line + 1
                self.key_positions[path + (key,)] = self._pos(key_node)
                out[key] = self.build(value_node, path + (key,), depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, path + (i,), depth + 1) for i, v in enumerate(node.value)]
        return self._scalar(node)

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        tag, value = node.tag, node.value
        if tag == "tag:yaml.org,2002:int":
            try:
                return int(value.replace("_", ""), 0)
            except ValueError:
                return value
        if tag == "tag:yaml.org,2002:float":
            try:
                d = Decimal(value.replace("_", ""))
            except InvalidOperation:
                return value  # .inf / .nan: kept as text, the schema refuses it
            return d if d.is_finite() else value
        if tag == "tag:yaml.org,2002:bool":
            return value.lower() in ("true", "yes", "on", "y")
        if tag == "tag:yaml.org,2002:null":
            return None
        return value  # str, and timestamps kept as their ISO text


_STD = "tag:yaml.org,2002:"
# the tags plain YAML resolves to; anything else (!!python/object, !custom, !!binary) is refused
_TAGS = frozenset(_STD + t for t in ("str", "int", "float", "bool", "null", "map", "seq",
                                     "timestamp", "merge"))


def _jp(path: Path_) -> str:
    return json_path(tuple(p for p in path if p != "<key>"))


def _check_nesting(text: str, file: str, limits: YamlLimits) -> None:
    """Refuse deep nesting from the event stream, before anything recursive sees it.

    PyYAML's composer recurses once per level: 100,000 levels of ``[`` overflow the C
    stack (a segmentation fault, not an exception). The parser is iterative, so counting
    collection starts and ends is safe at any depth. The builder still applies the exact
    limit; this only has to stop what it could not survive.
    """
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > limits.max_depth + 1:
                mark = event.start_mark
                raise ConfigError(
                    [Problem(file, mark.line + 1, mark.column + 1, "",
                             f"nesting deeper than {limits.max_depth} levels "
                             "(DEPRULES_YAML_MAX_DEPTH)", "too-deep")],
                    what=file)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


class _Abort(Exception):
    def __init__(self, node: yaml.Node, message: str, code: str):
        self.node, self.message, self.code = node, message, code


def load_yaml_text(text: str, file: str, limits: YamlLimits | None = None) -> LoadedYaml:
    """Parse ``text`` (named ``file`` in messages). Raises :class:`ConfigError`."""
    limits = limits or YamlLimits()
    try:
        _check_nesting(text, file, limits)
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        msg = exc.problem or exc.context or "YAML syntax error"
        if "maximum nesting depth" in msg:  # PyYAML >= 6.0.3's own limit (1,000 levels),
            # met by its scanner, which reads ahead, before the events above are counted
            raise ConfigError([Problem(file, line, col, "", f"nesting deeper than "
                                       f"{limits.max_depth} levels (DEPRULES_YAML_MAX_DEPTH)",
                                       "too-deep")], what=file) from None
        if "\t" in text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else False:
            msg += " (a tab character: YAML indents with spaces only)"
        raise ConfigError(
            [Problem(file, line, col, "", f"YAML syntax error: {msg}", "yaml-syntax",
                     excerpt=excerpt(text, line, col))],
            what=file,
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, e.g. NUL
        pos = max(0, min(exc.position, len(text)))
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
        raise ConfigError(
            [Problem(file, line, col, "", f"character U+{char:04X} is not allowed in YAML "
                     f"({exc.reason})", "yaml-syntax", excerpt=excerpt(text, line, col))],
            what=file,
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, 1, 1, "", f"YAML error: {exc}", "yaml-syntax")],
                          what=file) from None
    builder = _Builder(file, limits)
    if node is None:
        return LoadedYaml(file, None, {(): (1, 1)}, {}, text)
    try:
        data = builder.build(node, (), 0)
    except _Abort as abort:
        line, col = builder._pos(abort.node)
        raise ConfigError([Problem(file, line, col, "", abort.message, abort.code)],
                          what=file) from None
    if builder.problems:
        raise ConfigError(builder.problems, what=file)
    return LoadedYaml(file, data, builder.positions, builder.key_positions, text)


def load_yaml_file(path: Path | str, limits: YamlLimits | None = None,
                   display: str | None = None) -> LoadedYaml:
    """Read and parse a YAML file, refusing oversized and non-UTF-8 files with a location."""
    limits = limits or YamlLimits()
    path = Path(path)
    name = display or str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ConfigError([Problem(name, 0, 0, "", "file not found", "missing-file")],
                          what=name) from None
    if not path.is_file():
        raise ConfigError([Problem(name, 0, 0, "", "this is a folder (or device), not a file",
                                   "not-a-file")], what=name)
    if size > limits.max_bytes:
        raise ConfigError(
            [Problem(name, 1, 1, "", f"file is {size} bytes, over the limit of "
                     f"{limits.max_bytes} (DEPRULES_YAML_MAX_BYTES)", "file-too-large")],
            what=name,
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise ConfigError(
            [Problem(name, line, col, "", f"byte 0x{raw[exc.start]:02x} is not UTF-8; "
                     "save the file as UTF-8", "not-utf8")],
            what=name,
        ) from None
    return load_yaml_text(text, name, limits)
