"""Issue 18, the fast paths of ``simulate`` give exactly what the plain paths give (no
timing is asserted anywhere): the candidate in a forked process, Arrow text columns on
load, native Parquet columns parsed without text, frames without id text, and
accounts.csv built with Arrow string kernels."""

from __future__ import annotations

import csv
import io
import os
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import assert_same_simulation
from hypothesis import given, settings
from hypothesis import strategies as hs

AS_OF = date(2026, 11, 21)
HOLD_18 = "deposit_classes.RES.refund_criteria.hold_months=18"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    from deprules.extract import generate_extract, write_extract

    folder = tmp_path_factory.mktemp("gen1500") / "extract"
    write_extract(generate_extract(1500, seed=11), folder, "parquet")
    return folder


def _sim(root, extract, **kw):
    from deprules.simulate import simulate

    return simulate(extract, AS_OF, config_dir=root / "config", rules_dir=root / "rules", **kw)


@pytest.mark.parametrize("kw", [{"overlays": "whatif"}, {"sets": [HOLD_18], "horizon": 2,
                                                         "reasons": "all"}],
                         ids=["whatif", "hold18-horizon2-all"])
def test_the_forked_candidate_gives_the_one_process_result(root, generated, tmp_path,
                                                           monkeypatch, kw):
    from deprules.simulate import vector_path

    kw = dict(kw)
    if kw.get("overlays") == "whatif":
        kw["overlays"] = [root / "examples" / "whatif"]
    monkeypatch.setenv("DEPRULES_SIMULATE_PROCESSES", "1")
    one = _sim(root, generated, **kw)
    monkeypatch.setenv("DEPRULES_SIMULATE_PROCESSES", "2")
    monkeypatch.setattr(vector_path, "FORK_MIN_ACCOUNTS", 0)
    forked_pids = []
    from deprules.simulate import forked as forked_mod

    class Spy(forked_mod.Forked):
        def __init__(self, fn, fork=True):
            super().__init__(fn, fork)
            forked_pids.append(self.pid)

    monkeypatch.setattr(forked_mod, "Forked", Spy)
    two = _sim(root, generated, **kw)
    assert forked_pids and all(forked_pids), "the candidate did not run in a child"
    assert_same_simulation(two, one, tmp_path)


def test_a_failing_or_dying_child_is_reported():
    from deprules.simulate.forked import Forked
    from deprules.simulate.partition import SimulationError

    def boom():
        raise ValueError("in the child")

    with pytest.raises(ValueError, match="in the child"):
        Forked(boom).result()
    with pytest.raises(SimulationError, match="died"):
        Forked(lambda: os._exit(3)).result()
    assert Forked(lambda: {"a": np.arange(3)}).result()["a"].tolist() == [0, 1, 2]
    assert Forked(lambda: 5, fork=False).result() == 5
    child = Forked(lambda: __import__("time").sleep(60))
    child.cancel()
    assert child.pid == 0


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_arrow_text_columns_hold_the_object_columns_values(tmp_path, fmt):
    from deprules.extract import generate_extract, load_extract, write_extract
    from deprules.workspace import extract_context, load_setup

    folder = tmp_path / "x"
    write_extract(generate_extract(300, seed=3), folder, fmt)
    ctx = extract_context(load_setup("config", "rules").config)
    obj, arrow = load_extract(folder, ctx), load_extract(folder, ctx, text="arrow")
    for name, frame in obj.tables().items():
        other = getattr(arrow, name)
        assert list(other.columns) == list(frame.columns)
        for c in frame.columns:
            if frame[c].dtype == object:
                assert isinstance(other[c].dtype, pd.StringDtype), (name, c)
                assert other[c].astype(object).tolist() == frame[c].tolist(), (name, c)
            else:
                pd.testing.assert_series_equal(other[c], frame[c], check_exact=True)
    with pytest.raises(ValueError):
        load_extract(folder, ctx, text="python")


def test_native_parquet_columns_are_checked_like_their_text(tmp_path):
    """Dates, integers and booleans stored natively give the values and the problems (same
    messages, same places) of the same cells stored as text."""
    from deprules.extract import check_extract, load_extract
    from deprules.workspace import extract_context, load_setup

    ctx = extract_context(load_setup("config", "rules").config)
    accounts = pa.table({
        "account_id": ["A1", "A2", "A3", "A4"],
        "customer_class": ["RES"] * 4,
        "credit_rating": pa.array([500, 10**18, -7, None], pa.int64()),
        "late_payments_12m": pa.array([0, -1, None, 3], pa.int32()),
        "do_not_refund": pa.array([True, None, False, False]),
        "cc_postpone_date": pa.array([date(2026, 1, 2), None, date(1600, 1, 1),
                                      date(2300, 5, 5)], pa.date32()),
    })
    sas = pa.table({
        "sa_id": ["S1", "S2"], "account_id": ["A1", "A2"], "sa_type": ["DEP-RES", "DEP-RES"],
        "status": ["20", "20"],
        "start_date": pa.array([date(2024, 1, 1), None], pa.date32()),
        "stop_date": pa.array([None, None], pa.date32()),
        "current_balance": ["0.00", "0.00"], "payoff_balance": ["-10.00", "-20.00"],
    })

    def as_text(table):
        return pa.table({n: (c if pa.types.is_string(c.type) else
                             pa.compute.cast(c, pa.string())) for n, c in
                         zip(table.column_names, table.columns)})

    for name, tables in (("native", (accounts, sas)), ("text", (as_text(accounts),
                                                                as_text(sas)))):
        folder = tmp_path / name
        folder.mkdir()
        pq.write_table(tables[0], folder / "accounts.parquet")
        pq.write_table(tables[1], folder / "service_agreements.parquet")
    native, text = check_extract(tmp_path / "native", ctx), check_extract(tmp_path / "text",
                                                                          ctx)
    assert native and native == text
    assert {p.code for p in native} >= {"bad-integer", "bad-date", "missing-value"}
    # the cells that are fine load to the same values
    good = pa.table({**{n: accounts[n][:1] for n in accounts.column_names}})
    for name, table in (("good-native", good), ("good-text", as_text(good))):
        folder = tmp_path / name
        folder.mkdir()
        pq.write_table(table, folder / "accounts.parquet")
        pq.write_table(sas.slice(0, 1), folder / "service_agreements.parquet")
    a = load_extract(tmp_path / "good-native", ctx)
    b = load_extract(tmp_path / "good-text", ctx)
    for name, frame in a.tables().items():
        pd.testing.assert_frame_equal(frame, getattr(b, name), check_exact=True)


def test_frames_without_ids_are_the_frames_less_their_id_columns(root, generated):
    from deprules.extract import load_extract
    from deprules.vector import VectorCycle
    from deprules.workspace import extract_context, load_setup

    setup = load_setup(root / "config", root / "rules")
    ex = load_extract(generated, extract_context(setup.config), text="arrow")
    full = VectorCycle(ex, setup.book).run(AS_OF, explain=("DEPRFND",))
    bare = VectorCycle(ex, setup.book).run(AS_OF, explain=("DEPRFND",), ids=False)
    for name in ("adjustments", "checks", "todos", "trace", "why_not"):
        a, b = getattr(full, name), getattr(bare, name)
        assert len(a), name
        dropped = [c for c in ("account_id", "sa_id", "message") if c in a.columns]
        pd.testing.assert_frame_equal(b, a.drop(columns=dropped), check_exact=True)
        assert (np.asarray(full.sa_rows[name]) == np.asarray(bare.sa_rows[name])).all()


_TEXT = hs.text(alphabet=hs.sampled_from(list('ab ,"\r\n\té;\'x')), max_size=8)


@settings(max_examples=60, deadline=None)
@given(rows=hs.lists(hs.tuples(_TEXT, _TEXT, hs.booleans(), hs.integers(-10**15, 10**15)),
                     min_size=0, max_size=8),
       candidate=hs.booleans())
def test_accounts_csv_is_what_csv_writer_writes(rows, candidate):
    from deprules.simulate.files import accounts_csv, accounts_csv_rows
    from deprules.simulate.table import build

    n = len(rows)
    ids = np.array([f"A{i}{r[0]}" for i, r in enumerate(rows)], object)
    text = np.array([r[1] for r in rows], object)
    money = np.array([[r[3], -r[3], 0, 7] for r in rows], np.int64).reshape(n, 4)
    table = build(ids, np.full(n, "RES", object), text, money, text, text, money * 2, text,
                  np.array([r[2] for r in rows], bool), text, np.full(n, "R,ES", object)) \
        if candidate else build(ids, np.full(n, "RES", object), text, money, text,
                                deposit_class=np.full(n, 'R"ES', object))
    result = SimpleNamespace(minor_units=2, table=table,
                             impact={"candidate": {} if candidate else None})
    got = accounts_csv(result)
    assert got == accounts_csv_rows(result)
    if not any("\r" in r[0] + r[1] for r in rows):  # csv.writer leaves \r unquoted
        back = list(csv.reader(io.StringIO(got.decode("utf-8"), newline="")))
        assert len(back) == n + 1


@settings(max_examples=80, deadline=None)
@given(keys=hs.sets(hs.text(alphabet="AB\x00é9", min_size=1, max_size=10), max_size=12),
       values=hs.lists(hs.text(alphabet="AB\x00é9", min_size=0, max_size=10), max_size=12))
def test_reference_check_by_binary_search_is_is_in(keys, values):
    """The extract reader's sorted fixed-width membership (references between tables)
    answers what Arrow's is_in answers, or declines (None)."""
    import pyarrow.compute as pc

    from deprules.extract.reader import _sorted_member

    k = pa.array(sorted(keys, key=lambda x: x.encode()), pa.string())
    v = pa.array(values, pa.string())
    got = _sorted_member(v, k)
    if got is not None:
        assert got.tolist() == pc.is_in(v, value_set=k).to_pylist()
    same = [x for x in values if x and len(x.encode()) == 8] or ["ABABABAB"]
    fixed = sorted({x.encode() for x in same})
    k2 = pa.array([x.decode() for x in fixed[::2]], pa.string())
    v2 = pa.array(same, pa.string())
    got = _sorted_member(v2, k2)
    if got is not None:
        assert got.tolist() == pc.is_in(v2, value_set=k2).to_pylist()
