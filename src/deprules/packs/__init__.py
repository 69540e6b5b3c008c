"""Regression packs: named scenarios (given / when / expect) in YAML, run on the rules.

One loader serves ``deprules test`` and the pytest plugin, so every scenario is
both a line of the command's report and a pytest item with its own id::

    from deprules.packs import SetupCache, load_packs, run_scenarios, select
    cache = SetupCache("config", "rules")
    packs = load_packs(["packs/"], rule_ids=cache.rule_ids())
    results = run_scenarios(select(packs, "seizure"), cache)
"""

from .loader import find_pack_files, load_pack, load_packs
from .model import Pack, Scenario
from .runner import ScenarioResult, run_scenario, run_scenarios, select
from .setup import SetupCache

__all__ = ["Pack", "Scenario", "ScenarioResult", "SetupCache", "find_pack_files", "load_pack",
           "load_packs", "run_scenario", "run_scenarios", "select"]
