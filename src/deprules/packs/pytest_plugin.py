"""pytest plugin: every scenario of a pack file is a test item named after the scenario.

Registered through the ``pytest11`` entry point, so ``pytest packs/ -k seizure`` or
``pytest packs/seed/automated.yaml`` just works. Only ``*.yaml`` / ``*.yml`` files
below a folder named ``packs`` are collected (configuration and test-case YAML
elsewhere is left alone). The configuration and rules default to ``config/`` and
``rules/`` under pytest's rootdir; change them with ``--deprules-config`` /
``--deprules-rules`` or the ini options ``deprules_config`` / ``deprules_rules``.
A failure shows expected vs actual per field and the account's trace; an invalid
pack file is a collection error with its FILE:LINE:COL problems.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_CACHE = pytest.StashKey[object]()


def pytest_addoption(parser):
    group = parser.getgroup("deprules", "deprules regression packs")
    group.addoption("--deprules-config", default=None, metavar="DIR",
                    help="configuration folder for pack scenarios (default: <rootdir>/config)")
    group.addoption("--deprules-rules", default=None, metavar="DIR",
                    help="rules folder for pack scenarios (default: <rootdir>/rules)")
    parser.addini("deprules_config", "configuration folder for pack scenarios", default="")
    parser.addini("deprules_rules", "rules folder for pack scenarios", default="")


def _folder(config, option: str, ini: str, default: str) -> Path:
    value = config.getoption(option) or config.getini(ini)
    if value:
        path = Path(value)
        return path if path.is_absolute() else Path(config.invocation_params.dir) / path
    return Path(config.rootpath) / default


def _cache(config):
    cache = config.stash.get(_CACHE, None)
    if cache is None:
        from deprules.packs.setup import SetupCache

        cache = SetupCache(_folder(config, "--deprules-config", "deprules_config", "config"),
                           _folder(config, "--deprules-rules", "deprules_rules", "rules"))
        config.stash[_CACHE] = cache
    return cache


def is_pack_file(path: Path, rootpath: Path) -> bool:
    """A YAML file below a folder named ``packs`` (counted from the rootdir when inside it)."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    try:
        parts = path.resolve().relative_to(Path(rootpath).resolve()).parts
    except ValueError:
        parts = path.resolve().parts
    return "packs" in parts[:-1]


def pytest_collect_file(file_path, parent):
    if is_pack_file(Path(file_path), parent.config.rootpath):
        return PackFile.from_parent(parent, path=Path(file_path))
    return None


class PackFile(pytest.File):
    def collect(self):
        from deprules.errors import DeprulesError, ProblemsError
        from deprules.packs.loader import load_pack

        cache = _cache(self.config)
        try:
            pack = load_pack(self.path, rule_ids=cache.rule_ids())
        except ProblemsError as exc:
            raise self.CollectError(exc.render()) from None
        except DeprulesError as exc:
            raise self.CollectError(f"error: {exc}") from None
        for sc in pack.scenarios:
            item = ScenarioItem.from_parent(self, name=sc.name, scenario=sc)
            for step in sc.seed_steps:
                item.extra_keyword_matches.add(step)
            yield item


class ScenarioFailed(Exception):
    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario, **kwargs):
        super().__init__(**kwargs)
        self.scenario = scenario

    def runtest(self):
        from deprules.errors import DeprulesError
        from deprules.packs.report import failure_text
        from deprules.packs.runner import run_scenario

        try:
            result = run_scenario(self.scenario, _cache(self.config))
        except DeprulesError as exc:  # the baseline configuration or rules are invalid
            raise ScenarioFailed(str(exc)) from None
        if not result.passed:
            head = (f"scenario {self.scenario.name} ({self.scenario.file}:"
                    f"{self.scenario.line}) {result.status}:")
            raise ScenarioFailed(head + "\n" + failure_text(result, indent="  "))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ScenarioFailed):
            return excinfo.value.text
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, self.scenario.line - 1, f"scenario: {self.scenario.name}"
