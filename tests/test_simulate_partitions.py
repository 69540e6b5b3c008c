"""simulate --engine local with the vector engine in account partitions
(simulate/vector_local.py): the table and every file byte-identical to the whole-extract
run, a Parquet extract read partition by partition, problems reported as before."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from helpers import assert_same_simulation, damaged_copy, no_whole_load, shuffled_copy

AS_OF = date(2026, 11, 21)
HOLD_18 = "deposit_classes.RES.refund_criteria.hold_months=18"
# changes in both customer classes: the examples kept per class must survive the merge
COM_36 = "deposit_classes.COM.refund_criteria.hold_months=36"


def _sim(root: Path, extract, **kw):
    from deprules.simulate import simulate

    return simulate(extract, AS_OF, config_dir=root / "config", rules_dir=root / "rules", **kw)


CASES = [
    {"overlays": "whatif", "sets": [COM_36], "reasons": "examples"},
    {"sets": [HOLD_18], "reasons": "all", "horizon": 2},
    {},  # baseline only
]
IDS = ["whatif-com36-examples", "hold18-all-horizon2", "baseline"]


def _kw(root, kw):
    kw = dict(kw)
    if kw.get("overlays") == "whatif":
        kw["overlays"] = [root / "examples" / "whatif"]
    return kw


@pytest.mark.parametrize("processes", ["1", "2"], ids=["one-process", "two-processes"])
@pytest.mark.parametrize("kw", CASES, ids=IDS)
def test_parquet_partitions_read_by_rows_equal_the_whole_extract(
        root, generated_parquet, tmp_path, monkeypatch, kw, processes):
    """In one process (the candidate forked beside each partition's baseline) or in two
    (a forked child running every second partition), the same table and files."""
    kw = _kw(root, kw)
    whole = _sim(root, generated_parquet, **kw)
    with monkeypatch.context() as m:
        no_whole_load(m)
        m.setenv("DEPRULES_SIMULATE_PROCESSES", processes)
        parts = _sim(root, generated_parquet, partition_size=173, **kw)
    assert_same_simulation(parts, whole, tmp_path)
    if kw.get("reasons") == "examples":  # partitions' own examples were blanked again
        changed = whole.table[whole.table["changed"]]
        assert changed["customer_class"].nunique() == 2
        assert 0 < (whole.table["reason"] != "").sum() < len(changed)


@pytest.mark.parametrize("kw", CASES[:1], ids=IDS[:1])
def test_csv_partitions_cut_after_the_load_equal_the_whole_extract(
        root, generated, tmp_path, kw):
    kw = _kw(root, kw)
    whole = _sim(root, generated, **kw)
    parts = _sim(root, generated, partition_size=173, **kw)
    assert_same_simulation(parts, whole, tmp_path)


def test_partitions_are_automatic_from_a_number_of_accounts(root, generated_parquet,
                                                            tmp_path, monkeypatch):
    from deprules.simulate import vector_local

    kw = {"overlays": [root / "examples" / "whatif"]}
    whole = _sim(root, generated_parquet, **kw)
    sizes: list[int] = []
    with monkeypatch.context() as m:
        m.setattr(vector_local, "AUTO_MIN_ACCOUNTS", 2000)
        m.setattr(vector_local, "PARTITION_ACCOUNTS", 700)
        no_whole_load(m)
        parts = _sim(root, generated_parquet, progress=sizes.append, **kw)
    # every account counted once (a forked child's partitions are counted when it is done)
    assert sorted(sizes) == [600, 700, 700]
    assert_same_simulation(parts, whole, tmp_path)
    assert vector_local.partition_accounts(2000, None) is None  # below the threshold
    assert vector_local.partition_accounts(2000, 2000) is None  # one partition
    assert vector_local.partition_accounts(2000, 500) == 500


def test_rows_in_no_order_are_read_by_partition_too(root, generated_parquet, tmp_path,
                                                    monkeypatch):
    folder = shuffled_copy(generated_parquet, tmp_path / "shuffled")
    kw = {"overlays": [root / "examples" / "whatif"], "sets": [COM_36]}
    whole = _sim(root, folder, **kw)
    with monkeypatch.context() as m:
        no_whole_load(m)
        parts = _sim(root, folder, partition_size=600, **kw)
    assert_same_simulation(parts, whole, tmp_path)


@pytest.mark.parametrize("damage", ["bad-money", "unknown-sa", "duplicate-sa"])
def test_a_problem_is_reported_as_the_whole_load_reports_it(root, generated_parquet,
                                                            tmp_path, monkeypatch, damage):
    """A bad cell in one partition, an FT whose SA is in no partition, an SA id in two
    partitions: the same problems, the same message."""
    from deprules.errors import ExtractError

    folder = damaged_copy(generated_parquet, tmp_path / "bad", damage)
    with pytest.raises(ExtractError) as whole:
        _sim(root, folder)
    for processes in ("1", "2"):  # the problem in this process's partition or the child's
        monkeypatch.setenv("DEPRULES_SIMULATE_PROCESSES", processes)
        with pytest.raises(ExtractError) as parts:
            _sim(root, folder, partition_size=173)
        assert parts.value.problems == whole.value.problems
        assert str(parts.value) == str(whole.value)


def test_the_cli_takes_partition_size_for_the_vector_engine(root, generated_parquet,
                                                            tmp_path):
    from click.testing import CliRunner

    from deprules.cli.main import cli

    args = ["simulate", "--extract", str(generated_parquet), "--as-of", "2026-11-21",
            "--whatif", str(root / "examples" / "whatif"), "--format", "json",
            "--config", str(root / "config"), "--rules", str(root / "rules")]
    whole = CliRunner().invoke(cli, args)
    parts = CliRunner().invoke(cli, [*args, "--partition-size", "500"])
    assert whole.exit_code == 0 and parts.exit_code == 0, whole.output + parts.output
    assert parts.output == whole.output
