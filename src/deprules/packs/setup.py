"""The configuration and rules a scenario runs with: --config + the scenario's overlays, and
--rules or the scenario's own rules folder (``given.rules``: a candidate rule set).

A scenario's ``given.config`` is a configuration overlay written inside the pack
file; it is applied exactly as ``--whatif FILE`` would be, but from the pack's
own YAML nodes, so a bad value is reported at the pack's ``FILE:LINE:COL``.
Setups are cached by (overlays, sets): scenarios that share a configuration
share its rule book and its compiled durable-rules rulesets.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from ..config import loader as config_loader
from ..config.checks import cross_reference_problems
from ..config.schema import jsonable, schema_problems
from ..errors import ConfigError, InputError, Problem, ScenarioError
from ..rules.book import RuleBook, load_rules
from ..workspace import Setup, load_setup
from ..yamlload import LoadedYaml, YamlLimits
from .model import Scenario, YPath


def subdoc(doc: LoadedYaml, prefix: YPath) -> LoadedYaml:
    """The node at ``prefix`` as a document of its own, keeping the file's positions."""
    data = doc.data
    for k in prefix:
        data = data[k]
    n = len(prefix)
    pos = {p[n:]: v for p, v in doc.positions.items() if p[:n] == prefix}
    keys = {p[n:]: v for p, v in doc.key_positions.items() if p[:n] == prefix}
    return LoadedYaml(doc.file, copy.deepcopy(data), pos, keys, doc.text)


class SetupCache:
    """Loads (and remembers) the Setup of each distinct scenario configuration."""

    def __init__(self, config_dir: Path | str = "config", rules_dir: Path | str = "rules"):
        self.config_dir = Path(config_dir)
        self.rules_dir = Path(rules_dir)
        self._base: Setup | None = None
        self._setups: dict[str, Setup] = {}
        self._books: dict[str, RuleBook] = {}  # configuration hash (and rules folder) -> book

    @property
    def base(self) -> Setup:
        """--config and --rules as they are (raises ConfigError when they are invalid)."""
        if self._base is None:
            self._base = load_setup(self.config_dir, self.rules_dir)
            self._books[f"{self._base.config.hash}:{self.rules_dir}"] = self._base.book
        return self._base

    def rule_ids(self) -> set[str]:
        return {r.id for r in self.base.book.rules}

    def for_scenario(self, sc: Scenario) -> Setup:
        g = sc.given
        if not g.overlays and not g.sets and g.rules is None:
            return self.base
        overlays = [subdoc(sc.doc, p) for p in g.overlays]
        rules_dir = g.rules[0].resolve() if g.rules else self.rules_dir
        key = json.dumps({"o": [jsonable(o.data) for o in overlays],
                          "s": [s for s, _ in g.sets], "r": str(rules_dir)}, sort_keys=True)
        if key not in self._setups:
            config = self._config(sc, overlays) if overlays or g.sets else self.base.config
            book_key = f"{config.hash}:{rules_dir}"
            book = self._books.get(book_key)
            if book is None:
                self.base  # noqa: B018 - validate the rules once against the baseline first
                book = load_rules(rules_dir, config)
                self._books[book_key] = book
            self._setups[key] = Setup(config, book)
        setup = self._setups[key]
        if g.rules is not None:
            self._check_rule_ids(sc, setup.book)
        return setup

    @staticmethod
    def _check_rule_ids(sc: Scenario, book: RuleBook) -> None:
        """The rules a scenario with its own rules folder expects must be in that folder."""
        known = {r.id for r in book.rules}
        problems = [sc.problem(sc.base + ("expect", k, j), f"unknown rule {rid!r} in the "
                               f"scenario's rules folder {sc.given.rules[0]}", "unknown-rule")
                    for k in ("rules_fired", "rules_not_fired")
                    for j, rid in enumerate((sc.expect or {}).get(k) or []) if rid not in known]
        if problems:
            raise ScenarioError(problems, what=f"scenario {sc.name}")

    def _config(self, sc: Scenario, overlays: list[LoadedYaml]):
        """load_config with in-pack overlays (config/loader.py's pipeline, step by step)."""
        L = config_loader
        limits = YamlLimits()
        problems: list[Problem] = []
        docs = L._read_folder(self.config_dir, limits, problems)
        if problems:  # the baseline itself is broken: say so as it is
            raise ConfigError(problems, what=str(self.config_dir))
        for overlay in overlays:
            L._apply_overlay(docs, overlay, problems)
        set_where: dict[str, YPath] = {}
        for text, path in sc.given.sets:
            try:
                value_doc, keys = L.parse_set(text)
            except (InputError, ConfigError) as exc:
                found = getattr(exc, "problems", None)
                msg = found[0].message if found else str(exc)
                problems.append(sc.problem(path, f"set {text!r}: {msg}", "bad-set"))
                continue
            set_where[value_doc.file] = path
            L._apply_set(docs, value_doc, keys, problems)
        if not problems:
            for stem, doc in docs.items():
                problems.extend(L._located(doc, p) for p in schema_problems(doc, stem))
        if not problems:
            problems.extend(L._located(docs[stem], p) for stem, p in
                            cross_reference_problems(docs))
        if problems:
            raise ScenarioError([self._relocate(sc, p, set_where) for p in problems],
                                what=f"scenario {sc.name}")
        return L.build_config(docs, f"{self.config_dir} + {sc.file}::{sc.name}")

    @staticmethod
    def _relocate(sc: Scenario, p: Problem, set_where: dict[str, YPath]) -> Problem:
        """A problem of a set: item points at that item in the pack file."""
        if p.file in set_where:
            line, col = sc.doc.where(set_where[p.file])
            return Problem(sc.file, line, col, p.path, f"{p.message} (from {p.file[2:]})",
                           p.code)
        return p
