"""A too-deep YAML document gets one located ``[too-deep]`` problem, whichever layer
notices first: deprules' own event-stream check, or the YAML library's own nesting limit
(libyaml 0.2.5+ stops at 1,000 levels, before deprules sees the events)."""

from __future__ import annotations

import pytest
import yaml

from deprules import yamlload
from deprules.errors import ConfigError
from deprules.yamlload import YamlLimits, load_yaml_text


def _problem(text: str, limits: YamlLimits, loader=None):
    with pytest.raises(ConfigError) as err:
        if loader is None:
            load_yaml_text(text, "deep.yaml", limits)
        else:
            yamlload._check_nesting(text, "deep.yaml", limits, loader=loader)
    (problem,) = err.value.problems
    return problem


@pytest.mark.parametrize("levels", [60, 999, 1001, 5000, 100_000])
@pytest.mark.parametrize("shape", ["flow", "block"])
def test_same_problem_whoever_notices(levels, shape):
    if shape == "flow":
        text = "a: " + "[" * levels + "]" * levels + "\n"
    else:
        text = "a:\n" + "- " * levels + "x\n"
    limits = YamlLimits(max_depth=50)
    seen = {_problem(text, limits),                              # the library in use (C)
            _problem(text, limits, loader=yaml.SafeLoader)}      # pure Python: no own limit
    assert len(seen) == 1, seen
    problem = seen.pop()
    assert problem.code == "too-deep"
    assert problem.message == "nesting deeper than 50 levels (DEPRULES_YAML_MAX_DEPTH)"
    assert problem.file == "deep.yaml" and problem.line >= 1 and problem.column >= 1


def test_the_limit_is_located_where_it_is_crossed():
    text = "ok: 1\nb: " + "[" * 2000 + "\n"
    problem = _problem(text, YamlLimits(max_depth=10))
    # line 2; "b: " then the mapping (level 1) and 11 brackets reach level 12 > 10 + 1
    assert (problem.line, problem.column) == (2, 3 + 11)


class _StrictScanner(yaml.SafeLoader):
    """A YAML library with a nesting limit far below deprules' own (10 levels)."""

    def fetch_flow_collection_start(self, TokenClass):
        if self.flow_level >= 10:
            raise yaml.scanner.ScannerError("while increasing flow level", self.get_mark(),
                                            "exceeded maximum nesting depth", self.get_mark())
        super().fetch_flow_collection_start(TokenClass)


def test_a_library_limit_below_ours_is_still_too_deep():
    text = "a: " + "[" * 20 + "]" * 20 + "\n"
    problem = _problem(text, YamlLimits(max_depth=50), loader=_StrictScanner)
    assert problem.code == "too-deep"
    assert "DEPRULES_YAML_MAX_DEPTH=50" in problem.message
    assert (problem.line, problem.column) == (1, 14)


def test_other_syntax_errors_are_not_depth_errors():
    with pytest.raises(ConfigError) as err:
        load_yaml_text("a: [1, 2\n", "bad.yaml")
    assert err.value.problems[0].code == "yaml-syntax"
