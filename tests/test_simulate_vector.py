"""deprules simulate --rules-engine vector: the same rows, months and impact.json as the
per-account python engine (byte for byte), and the default engine."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import (assert_same_simulation, damaged_copy, no_whole_load,
                     shuffled_copy)

AS_OF = date(2026, 11, 21)
HOLD_18 = "deposit_classes.RES.refund_criteria.hold_months=18"


def _sim(root: Path, extract, **kw):
    from deprules.simulate import simulate

    return simulate(extract, AS_OF, config_dir=root / "config", rules_dir=root / "rules", **kw)


@pytest.fixture(scope="module")
def band(root, tmp_path_factory) -> Path:
    """The widened write-down band of examples/whatif/candidate.yaml, on its own."""
    text = (root / "examples" / "whatif" / "candidate.yaml").read_text()
    path = tmp_path_factory.mktemp("band") / "band.yaml"
    path.write_text(text[text.index("write_off_controls:"):])
    return path


def _same(root, tmp_path, extract, **kw):
    """vector (every reason) == python: rows, months, impact.json, the written files."""
    py = _sim(root, extract, rules_engine="python", **kw)
    vec = _sim(root, extract, rules_engine="vector", reasons="all", **kw)
    assert vec.rows == py.rows
    assert vec.json() == py.json()
    a, b = tmp_path / "python", tmp_path / "vector"
    py.write(a)
    vec.write(b)
    for name in ("impact.json", "accounts.csv", "report.html"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    # only the example accounts' reasons: the same impact (and report), fewer reasons
    quick = _sim(root, extract, rules_engine="vector", reasons="examples", **kw)
    assert quick.json() == py.json()
    shown = {e["account_id"] for t in py.impact.get("examples", ()) for e in t["examples"]}
    for q, p in zip(quick.rows, py.rows):
        assert q.reason == (p.reason if q.account_id in shown else "")
        assert replace(q, reason="") == replace(p, reason="")
    return py


@pytest.mark.parametrize("horizon", [None, 3])
def test_example_extract_and_whatif(root, tmp_path, horizon):
    py = _same(root, tmp_path, root / "examples" / "extract",
               overlays=[root / "examples" / "whatif"], horizon=horizon)
    assert py.impact["changed_accounts"] > 0
    assert bool(py.impact.get("monthly")) == bool(horizon)


def test_example_extract_baseline_only(root, tmp_path):
    py = _same(root, tmp_path, root / "examples" / "extract")
    assert py.impact["candidate"] is None


@pytest.mark.parametrize("horizon", [None, 3])
def test_generated_extract_longer_hold_and_wider_band(root, tmp_path, generated, band,
                                                      horizon):
    py = _same(root, tmp_path, generated, overlays=[band], sets=[HOLD_18], horizon=horizon)
    impact = py.impact
    assert impact["accounts"] == 2000 and impact["changed_accounts"] > 50
    moved = {(t["from"], t["to"]) for t in impact["examples"]}
    assert any(b.startswith("not_eligible_") for _, b in moved)  # the longer hold
    assert any(b == "written_down" for _, b in moved)  # the wider band


def test_vector_is_the_default_and_the_cli_agrees(root, tmp_path, band):
    from deprules.cli.main import cli

    ex = root / "examples" / "extract"
    default = _sim(root, ex, overlays=[root / "examples" / "whatif"])
    py = _sim(root, ex, overlays=[root / "examples" / "whatif"], rules_engine="python")
    assert default.json() == py.json()
    runner = CliRunner()
    base = ["simulate", "--extract", str(ex), "--as-of", "2026-11-21", "--whatif",
            str(root / "examples" / "whatif"), "--config", str(root / "config"),
            "--rules", str(root / "rules"), "--format", "json"]
    outs = {}
    for name, extra in (("default", []), ("vector", ["--rules-engine", "vector",
                                                     "--workers", "3"]),
                        ("python", ["--rules-engine", "python", "--workers", "2",
                                    "--partition-size", "7"])):
        r = runner.invoke(cli, base + extra)
        assert r.exit_code == 0, r.output
        outs[name] = r.stdout
    assert outs["default"] == outs["vector"] == outs["python"] == py.json()


def test_unknown_reasons_are_refused(root):
    from deprules.errors import InputError

    with pytest.raises(InputError, match="reasons"):
        _sim(root, root / "examples" / "extract", reasons="some")


@pytest.mark.parametrize("kw", [
    # changes in both customer classes: the examples kept per class survive the merge
    {"overlays": "whatif", "sets": ["deposit_classes.COM.refund_criteria.hold_months=36"],
     "reasons": "examples"},
    {"sets": [HOLD_18], "reasons": "all", "horizon": 2},
    {},  # baseline only
], ids=["whatif-com36-examples", "hold18-all-horizon2", "baseline"])
def test_vector_on_a_dask_local_cluster_equals_one_process(root, generated, tmp_path, kw):
    """Issue 18: the vector back end on account partitions of a 2-worker LocalCluster
    gives the table (frame equality) and the files (bytes) of the one-process run."""
    pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    kw = dict(kw)
    if kw.get("overlays") == "whatif":
        kw["overlays"] = [root / "examples" / "whatif"]
    local = _sim(root, generated, **kw)
    dask = _sim(root, generated, engine="dask", workers=2, partition_size=173, **kw)
    assert_same_simulation(dask, local, tmp_path)
    if kw.get("reasons") == "examples":  # partitions' own examples were blanked again
        assert 0 < (local.table["reason"] != "").sum() < local.table["changed"].sum()


@pytest.mark.parametrize("kw", [
    {"overlays": "whatif", "reasons": "examples"},
    {"sets": [HOLD_18], "reasons": "all", "horizon": 2},
    {},  # baseline only
], ids=["whatif-examples", "hold18-all-horizon2", "baseline"])
def test_dask_workers_reading_their_rows_equal_one_process(root, generated_parquet, tmp_path,
                                                           monkeypatch, kw):
    """Issue 18: on a Parquet extract each Dask worker reads its partition's row groups
    (the command reads only the id columns); the table and files are one process's."""
    pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    kw = dict(kw)
    if kw.get("overlays") == "whatif":
        kw["overlays"] = [root / "examples" / "whatif"]
    local = _sim(root, generated_parquet, **kw)
    with monkeypatch.context() as m:
        no_whole_load(m)
        dask = _sim(root, generated_parquet, engine="dask", workers=2, partition_size=173, **kw)
    assert_same_simulation(dask, local, tmp_path)
    shipped = _sim(root, generated_parquet, engine="dask", workers=2, partition_size=400,
                   ship_partitions=True, **kw)
    assert shipped.json() == local.json()


def test_dask_workers_read_rows_of_a_parquet_extract_in_any_order(root, generated_parquet,
                                                                  tmp_path, monkeypatch):
    """Rows in no particular order (an account's rows spread over row groups): the same."""
    pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    folder = shuffled_copy(generated_parquet, tmp_path / "shuffled")
    kw = {"overlays": [root / "examples" / "whatif"]}
    local = _sim(root, generated_parquet, **kw)
    with monkeypatch.context() as m:
        no_whole_load(m)
        dask = _sim(root, folder, engine="dask", workers=2, partition_size=600, **kw)
    assert dask.json() == local.json()


@pytest.mark.parametrize("damage", ["bad-money", "unknown-sa", "duplicate-sa"])
def test_a_problem_found_by_dask_workers_is_reported_as_one_process_reports_it(
        root, generated_parquet, tmp_path, damage):
    pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    from deprules.errors import ExtractError

    folder = damaged_copy(generated_parquet, tmp_path / "bad", damage)
    with pytest.raises(ExtractError) as one:
        _sim(root, folder)
    with pytest.raises(ExtractError) as dask:
        _sim(root, folder, engine="dask", workers=2, partition_size=173)
    assert dask.value.problems == one.value.problems
    assert str(dask.value) == str(one.value)


def test_load_rows_reads_and_locates_rows_as_the_whole_load(root, generated_parquet):
    import numpy as np
    import pandas as pd

    from deprules.extract import load_extract
    from deprules.extract.reader import load_rows
    from deprules.workspace import extract_context, load_setup

    ctx = extract_context(load_setup(root / "config", root / "rules").config)
    whole = load_extract(generated_parquet, ctx, text="arrow")
    rows = {"accounts": np.array([0, 5, 1023, 1024, 1999]),
            "service_agreements": np.arange(100, 2100, 7),
            "non_cash_deposits": np.array([], dtype=np.int64),
            "financial_transactions": np.array([3])}
    problems, _ = load_rows(generated_parquet, ctx, rows, text="arrow")
    # only references to rows not read fail, located at their rows of the whole file
    assert problems and {p.code for p in problems} <= {"unknown-account", "unknown-sa"}
    for p in problems:
        if not p.message.endswith("not shown"):
            assert p.line - 1 in rows[p.file.split(".")[0]], p
    from deprules.simulate.vector_dask import plan_rows

    plan = plan_rows(generated_parquet, ctx, threads=2, partition_size=300)
    assert sum(plan.sizes) == 2000 and len(plan.parts) == 7
    for k, rows in enumerate(plan.parts):
        problems, part = load_rows(generated_parquet, ctx, rows, text="arrow")
        assert problems == [], k
        for table, frame in part.tables().items():
            want = whole.tables()[table].iloc[rows[table]].reset_index(drop=True)
            pd.testing.assert_frame_equal(frame, want, check_exact=True, obj=table)


def test_ship_partitions_needs_dask(root):
    r = CliRunner().invoke(__import__("deprules.cli", fromlist=["cli"]).cli, [
        "simulate", "--extract", str(root / "examples" / "extract"), "--as-of", "2026-11-21",
        "--ship-partitions"])
    assert r.exit_code == 2 and "--ship-partitions needs --engine dask" in r.output


def test_progress_counts_every_account(root):
    seen, started = [], []
    _sim(root, root / "examples" / "extract", overlays=[root / "examples" / "whatif"],
         progress=seen.append, on_start=started.append)
    assert started == [202] and sum(seen) == 202


def test_cycle_frames_of_dask_partitions_equal_one_process(root, generated):
    """run_cycle_frames on account partitions of a 2-worker LocalCluster, merged: every
    frame equal to one process's (values, dtypes, categories, order), ids included."""
    pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    import numpy as np
    import pandas as pd

    from deprules.extract import load_extract
    from deprules.simulate.partition import dask_client
    from deprules.vector import run_cycle_frames, with_ids
    from deprules.vector.partitioned import FRAMES, run_cycle_frames_dask
    from deprules.workspace import extract_context, load_setup

    setup = load_setup(root / "config", root / "rules")
    extract = load_extract(generated, extract_context(setup.config))
    one = run_cycle_frames(extract, setup.book, AS_OF, explain=True)
    with dask_client(2, None) as client:
        many = run_cycle_frames_dask(client, extract, setup.book, AS_OF, partition_size=311,
                                     explain=True)
    for name in FRAMES:
        a, b = getattr(one, name), getattr(many, name)
        assert len(a) > 0, name
        pd.testing.assert_frame_equal(b, a, check_exact=True, obj=name)
        if name != "sas":
            pd.testing.assert_frame_equal(with_ids(b), with_ids(a), check_exact=True)
            assert np.array_equal(many.sa_rows[name], one.sa_rows[name]), name
    assert many.fallback_accounts == one.fallback_accounts


def test_horizon_across_an_effective_date(root, tmp_path):
    """examples/whatif-effdate: residential deposits held 18 months from 2027-01-01. Over
    four monthly runs from 2026-11-21 the candidate is the baseline until the change (the
    first entry, 12 months, applies), then fewer deposits are refunded: the months from
    2027-01-21 on differ. vector == python (rows, months, impact.json, files)."""
    py = _same(root, tmp_path, root / "examples" / "extract",
               overlays=[root / "examples" / "whatif-effdate"], horizon=4)
    monthly = py.impact["monthly"]
    assert [m["process_date"] for m in monthly] == ["2026-11-21", "2026-12-21", "2027-01-21",
                                                    "2027-02-21"]
    for m in monthly[:2]:
        assert m["candidate"] == m["baseline"], m["process_date"]
    jan = monthly[2]
    assert jan["candidate"]["outcomes"] != jan["baseline"]["outcomes"]
    assert jan["delta"]["refund_checks"].startswith("-")
    [change] = py.impact["candidate"]["changes"]
    assert change == {"path": "deposit_classes.RES.refund_criteria.hold_months",
                      "baseline": 12, "candidate": "12, 18 from 2027-01-01"}
    # the reason names the value in effect on the month the outcomes part
    reasons = {e["reason"] for t in py.impact["examples"] for e in t["examples"]}
    assert reasons and all(r.startswith("RES hold_months 12 → 18: months_held 1") for r in reasons)
