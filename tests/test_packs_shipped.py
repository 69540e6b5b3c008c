"""The shipped regression packs (packs/): every scenario is a test, and together they fire
every rule, see every condition both ways and sit on both sides of every threshold.

`make test` runs these through the library; `pytest packs/` runs the same scenarios
through the pytest plugin, and `deprules test packs --coverage` from the command line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from deprules.packs import SetupCache, load_packs, run_scenario, select
from deprules.packs.coverage import Coverage
from deprules.packs.report import failure_text

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = select(load_packs([ROOT / "packs"]))
_RESULTS: dict[str, object] = {}


@pytest.fixture(scope="module")
def shipped():
    cache = SetupCache(ROOT / "config", ROOT / "rules")
    return cache, Coverage(cache.base.book, cache.base.config.installation.minor_units)


def _run(sc, shipped):
    if sc.id not in _RESULTS:
        cache, cov = shipped
        result = run_scenario(sc, cache, observe=cov.observe)
        cov.add_result(result)
        _RESULTS[sc.id] = result
    return _RESULTS[sc.id]


def test_packs_are_shipped():
    names = {sc.name for sc in SCENARIOS}
    files = {Path(sc.pack.path).relative_to(ROOT).as_posix() for sc in SCENARIOS}
    assert {"packs/regulatory/ohio.yaml", "packs/regulatory/pennsylvania.yaml",
            "packs/regulatory/texas.yaml"} <= files
    assert "2.2-deposit-seized-after-last-electric-sa-stopped" in names
    # a scenario for every seed step the rules implement and every manual step
    steps = {s for sc in SCENARIOS for s in sc.seed_steps}
    wanted = {"2.0.1", "2.2", "2.3", "2.4", "2.5", "2.7", "2.8", "2.9", "3.0.1.0", "3.0.1.1", "3.0.1.2",
              "3.0.1.3", "3.0.1.4", "3.0.2.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7",
              "1.8", "1.9", "2.0", "2.6", "3.0.2.1", "3.0.2.2", "3.0.2.3", "3.0.2.4", "3.0.2.5",
              "3.0.2.6", "3.1.2.8"}
    assert wanted <= steps, sorted(wanted - steps)


@pytest.mark.parametrize("sc", SCENARIOS, ids=[f"{Path(sc.file).stem}::{sc.name}"
                                               for sc in SCENARIOS])
def test_shipped_scenario(sc, shipped):
    result = _run(sc, shipped)
    if not result.passed:
        pytest.fail(f"{sc.id} {result.status}:\n{failure_text(result, indent='  ')}",
                    pytrace=False)


def test_shipped_packs_cover_every_rule_condition_and_threshold(shipped):
    for sc in SCENARIOS:  # the scenarios -k left out, if any
        _run(sc, shipped)
    data = shipped[1].as_dict()
    never = [x["rule"] for x in data["rules"]["items"] if not x["fired"]]
    assert never == [], f"rules no shipped scenario fires: {never}"
    assert data["rules"]["percent"] == 100.0
    half = [f"{x['rule']} #{x['index'] + 1}" for x in data["conditions"]["items"]
            if not (x["seen_true"] and x["seen_false"])]
    assert half == [], f"conditions not seen both true and false: {half}"
    sides = [f"{x['rule']} `{x['condition']}` @{x['class']}"
             for x in data["thresholds"]["items"] if not (x["seen_true"] and x["seen_false"])]
    assert sides == [], f"thresholds without a scenario on each side: {sides}"
