"""The persisted ledger store: round trips, generations, journal, lock, failures."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deprules.errors import DeprulesError, StoreError, StoreLockedError
from deprules.ledger import store as store_mod
from deprules.ledger.store import Store

SRC = str(Path(__file__).resolve().parents[1] / "src")


def all_dtypes_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": pd.Series(["A1", "A2", "Ä3", "A4"], dtype=object),
            "note": pd.Series(["x", None, "", "long " * 20], dtype=object),
            "label": pd.Series(["p", None, "q", "r"], dtype="str"),
            "money": np.array([12345, -2**63, 2**63 - 1, 0], dtype="int64"),
            "active": [True, False, True, False],
            "posted": pd.Series(
                [pd.Timestamp("2026-01-31"), pd.NaT, pd.Timestamp("2026-02-01 12:34:56.000000789"), pd.NaT],
                dtype="datetime64[ns]",
            ),
            "days": pd.array([1, None, -3, 2**62], dtype="Int64"),
            "ref_no": pd.Series([7, None, 2**53 + 1, -1], dtype=object),
        }
    )


def gen_dirs(path: Path) -> list[str]:
    return sorted(e for e in os.listdir(path) if e.startswith("gen-"))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.create(
        tmp_path / "s",
        {"accounts": all_dtypes_frame(), "todos": pd.DataFrame({"n": np.arange(3, dtype="int64")})},
        {"as_of": "2026-11-21"},
        who="fixture",
        journal_entries=[{"op": "create"}],
    )


# --------------------------------------------------------------------------- round trips


def test_round_trip_preserves_every_dtype_exactly(tmp_path: Path) -> None:
    df = all_dtypes_frame()
    empty = df.iloc[:0].reset_index(drop=True)
    indexed = pd.DataFrame({"v": np.array([5, 6], dtype="int64")}, index=pd.Index(["a", "b"], name="key"))
    meta = {"as_of": "2026-11-21", "nested": {"list": [1, 2.5, None, "é"]}, "big": 2**62}

    s = Store.create(tmp_path / "s", {"accounts": df, "empty": empty, "indexed": indexed}, meta)
    tables, got_meta = Store.open(tmp_path / "s").read()

    assert set(tables) == {"accounts", "empty", "indexed"}
    pd.testing.assert_frame_equal(tables["accounts"], df, check_exact=True)
    pd.testing.assert_frame_equal(tables["empty"], empty, check_exact=True)
    pd.testing.assert_frame_equal(tables["indexed"], indexed, check_exact=True)
    out = tables["accounts"]
    assert out.dtypes.to_dict() == df.dtypes.to_dict()
    assert out["money"].dtype == np.dtype("int64")
    assert out["money"].tolist() == [12345, -2**63, 2**63 - 1, 0]
    assert out["note"].tolist() == ["x", None, "", "long " * 20]
    assert out["posted"].isna().tolist() == [False, True, False, True]
    assert out["posted"][2] == pd.Timestamp("2026-02-01 12:34:56.000000789")
    assert out["days"].isna().tolist() == [False, True, False, False]
    assert out["days"][3] == 2**62
    assert out["ref_no"].tolist() == [7, None, 2**53 + 1, -1]  # not floats
    assert [type(v) for v in out["ref_no"]] == [int, type(None), int, int]
    assert {k: got_meta[k] for k in meta} == meta
    assert got_meta["generation"] == 1 == s.generation()
    assert got_meta["who"]
    assert got_meta["created"]


int64s = st.integers(-(2**63), 2**63 - 1)
texts = st.one_of(st.none(), st.text(max_size=8))
stamps = st.one_of(
    st.none(),
    st.integers(pd.Timestamp("1900-01-01").value, pd.Timestamp("2200-01-01").value),
)


@st.composite
def frames(draw) -> pd.DataFrame:
    n = draw(st.integers(0, 12))
    return pd.DataFrame(
        {
            "money": np.array(draw(st.lists(int64s, min_size=n, max_size=n)), dtype="int64"),
            "text": pd.Series(draw(st.lists(texts, min_size=n, max_size=n)), dtype=object),
            "flag": np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool),
            "when": pd.Series(
                [pd.NaT if v is None else pd.Timestamp(v) for v in draw(st.lists(stamps, min_size=n, max_size=n))],
                dtype="datetime64[ns]",
            ),
            "count": pd.array(draw(st.lists(st.one_of(st.none(), int64s), min_size=n, max_size=n)), dtype="Int64"),
        }
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=frames())
def test_round_trip_property(df: pd.DataFrame) -> None:
    with tempfile.TemporaryDirectory() as d:
        Store.create(Path(d) / "s", {"t": df}, {})
        out = Store.open(Path(d) / "s").read()[0]["t"]
    pd.testing.assert_frame_equal(out, df, check_exact=True)
    assert out["money"].tolist() == df["money"].tolist()
    assert out["text"].tolist() == df["text"].tolist()


# --------------------------------------------------------------------------- generations and journal


def test_commits_advance_generations_append_journal_and_prune(store: Store) -> None:
    path = store.path
    assert store.generation() == 1
    assert store.journal() == [{"op": "create"}]

    for i in range(2, 6):
        with store.writer(who=f"run-{i}") as w:
            tables, meta = w.read()
            assert meta["generation"] == i - 1
            tables["todos"] = pd.DataFrame({"n": np.arange(i, dtype="int64")})
            meta["step"] = i
            assert w.commit(tables, meta, [{"op": "step", "i": i}, {"op": "extra", "i": i}]) == i
            assert w.generation() == i

    tables, meta = Store.open(path).read()
    assert meta["generation"] == 5 and meta["step"] == 5 and meta["who"] == "run-5"
    assert tables["todos"]["n"].tolist() == [0, 1, 2, 3, 4]
    pd.testing.assert_frame_equal(tables["accounts"], all_dtypes_frame(), check_exact=True)
    assert store.journal() == [{"op": "create"}] + [
        e for i in range(2, 6) for e in ({"op": "step", "i": i}, {"op": "extra", "i": i})
    ]
    assert gen_dirs(path) == ["gen-4", "gen-5"]
    assert (path / "CURRENT").read_text().strip() == "gen-5"
    doc = json.loads((path / "gen-5" / "meta.json").read_text())
    assert doc["generation"] == 5 and doc["who"] == "run-5" and doc["created"]
    assert doc["journal_entries"] == 9


def test_reserved_meta_keys_are_set_by_the_store(store: Store) -> None:
    with store.writer() as w:
        tables, _ = w.read()
        g = w.commit(tables, {"generation": 99, "who": "liar", "created": "never", "k": 1})
    meta = store.read()[1]
    assert g == 2 and meta["generation"] == 2 and meta["k"] == 1
    assert meta["who"] != "liar" and meta["created"] != "never"


def test_tables_can_be_added_and_dropped(store: Store) -> None:
    with store.writer() as w:
        w.commit({"only": pd.DataFrame({"x": [1]})}, {})
    assert list(store.read()[0]) == ["only"]
    with store.writer() as w:
        w.commit({}, {})
    assert store.read()[0] == {}


def test_debris_of_an_interrupted_commit_is_ignored_then_removed(store: Store) -> None:
    path = store.path
    (path / "gen-2.tmp").mkdir()
    (path / "gen-2.tmp" / "accounts.parquet").write_bytes(b"half a file")
    (path / "gen-2").mkdir()  # renamed but CURRENT never swapped
    (path / "CURRENT.tmp").write_text("gen-2\n")
    (path / "notes.txt").write_text("the user's own file")

    assert store.generation() == 1
    assert store.read()[1]["generation"] == 1
    with store.writer() as w:
        assert w.commit(*w.read()) == 2
    assert sorted(os.listdir(path)) == ["CURRENT", "LOCK", "gen-1", "gen-2", "notes.txt"]
    pd.testing.assert_frame_equal(store.read()[0]["accounts"], all_dtypes_frame(), check_exact=True)


def test_readers_see_whole_generations_while_a_writer_commits(store: Store) -> None:
    def tables_for(g: int) -> dict[str, pd.DataFrame]:
        return {name: pd.DataFrame({"g": np.full(50, g, dtype="int64")}) for name in ("a", "b", "c")}

    done = threading.Event()

    def write() -> None:
        try:
            with store.writer() as w:
                for _ in range(40):
                    g = w.generation() + 1
                    w.commit(tables_for(g), {"g": g})
        finally:
            done.set()

    t = threading.Thread(target=write)
    t.start()
    reads = 0
    while not done.is_set() or reads == 0:
        tables, meta = Store.open(store.path).read()
        if meta["generation"] > 1:
            assert meta["g"] == meta["generation"]
            assert all((df["g"] == meta["g"]).all() for df in tables.values())
        reads += 1
    t.join()
    assert store.generation() == 41 and gen_dirs(store.path) == ["gen-40", "gen-41"]


# --------------------------------------------------------------------------- the lock


def test_second_writer_in_same_process_is_refused(store: Store) -> None:
    with store.writer(who="first-run") as w:
        with pytest.raises(StoreLockedError) as info:
            with Store.open(store.path).writer(who="second"):
                pass
        msg = str(info.value)
        assert str(store.path) in msg
        assert f"pid {os.getpid()}" in msg
        assert "first-run" in msg
        assert "Wait for that process to finish" in msg
        w.commit(*w.read())  # the refused attempt did not disturb the holder
    assert isinstance(info.value, StoreError) and isinstance(info.value, DeprulesError)
    with store.writer():  # released at the end of the with-block
        pass
    assert store.generation() == 2


HOLDER = """
import sys
from deprules.ledger.store import Store
with Store.open(sys.argv[1]).writer(who="holder-process"):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_second_writer_is_refused_while_another_process_holds_the_lock(store: Store) -> None:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store.path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(StoreLockedError) as info:
            with store.writer():
                pass
        msg = str(info.value)
        assert str(store.path) in msg and f"pid {child.pid}" in msg and "holder-process" in msg
        assert "command" in msg and "user" in msg
        # readers are never blocked by the writer
        assert store.read()[1]["generation"] == 1
    finally:
        child.stdin.close()
        assert child.wait(timeout=30) == 0
    with store.writer() as w:
        assert w.commit(*w.read()) == 2


def test_writer_waits_up_to_timeout(store: Store) -> None:
    with store.writer():
        t0 = time.monotonic()
        with pytest.raises(StoreLockedError, match="waited 0.3 s"):
            with store.writer(timeout=0.3):
                pass
        assert time.monotonic() - t0 >= 0.3

    holding = threading.Event()

    def hold_briefly() -> None:
        with store.writer():
            holding.set()
            time.sleep(0.2)

    t = threading.Thread(target=hold_briefly)
    t.start()
    holding.wait()
    with store.writer(timeout=10) as w:
        w.commit(*w.read())
    t.join()
    assert store.generation() == 2


def test_writer_is_unusable_after_its_block(store: Store) -> None:
    with store.writer() as w:
        pass
    with pytest.raises(StoreError, match="closed"):
        w.commit({}, {})
    assert (store.path / "LOCK").read_text() == ""


# --------------------------------------------------------------------------- opening and creating


def test_open_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"does not exist"):
        Store.open(tmp_path / "nope")


def test_open_folder_that_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("a,b\n")
    with pytest.raises(StoreError) as info:
        Store.open(tmp_path)
    assert str(info.value) == f"{tmp_path} is not a deprules store (no CURRENT file)"
    with pytest.raises(StoreError, match="not a deprules store"):
        Store(tmp_path).writer().__enter__()
    assert not (tmp_path / "LOCK").exists()


def test_open_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(StoreError, match="not a folder"):
        Store.open(tmp_path / "f")


def test_open_damaged_store(store: Store) -> None:
    (store.path / "CURRENT").write_text("rubbish\n")
    with pytest.raises(StoreError, match="damaged: CURRENT holds 'rubbish'"):
        Store.open(store.path)
    (store.path / "CURRENT").write_text("gen-7\n")
    with pytest.raises(StoreError, match="gen-7 but that generation is missing"):
        Store.open(store.path)


def test_create_refuses_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "report.html").write_text("<html/>")
    with pytest.raises(StoreError) as info:
        Store.create(tmp_path, {}, {})
    assert "not empty and is not a deprules store" in str(info.value)
    assert "report.html" in str(info.value) and str(tmp_path) in str(info.value)
    assert os.listdir(tmp_path) == ["report.html"]


def test_create_refuses_existing_store(store: Store) -> None:
    with pytest.raises(StoreError, match="already a deprules store"):
        Store.create(store.path, {}, {})
    assert store.generation() == 1


def test_create_in_empty_folder_or_new_nested_path(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert Store.create(tmp_path / "empty", {}, {"a": 1}).read()[1]["a"] == 1
    assert Store.create(tmp_path / "x" / "y" / "z", {}, {}).generation() == 1


def test_failed_create_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a pandas DataFrame"):
        Store.create(tmp_path / "new", {"t": "not a frame"}, {})
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="meta is not JSON"):
        Store.create(tmp_path / "empty", {}, {"x": object()})
    assert os.listdir(tmp_path / "empty") in ([], ["LOCK"])
    Store.create(tmp_path / "empty", {}, {})  # and the folder is still usable


def test_create_on_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(StoreError, match="not a folder"):
        Store.create(tmp_path / "f", {}, {})


def test_create_recovers_an_interrupted_create(tmp_path: Path) -> None:
    path = tmp_path / "s"
    path.mkdir()
    (path / "LOCK").write_text("")
    (path / "gen-1.tmp").mkdir()
    (path / "gen-1.tmp" / "t.parquet").write_bytes(b"junk")
    with pytest.raises(StoreError, match="interrupted create"):
        Store.open(path)
    Store.create(path, {"t": pd.DataFrame({"a": [1]})}, {})
    assert sorted(os.listdir(path)) == ["CURRENT", "LOCK", "gen-1"]


# --------------------------------------------------------------------------- failed commits


def test_disk_full_mid_commit_leaves_the_store_unchanged(store: Store, monkeypatch) -> None:
    before_tables, before_meta = store.read()
    before_listing = sorted(os.listdir(store.path))
    real_write = store_mod._write_table
    calls = []

    def full_disk(table, path):
        calls.append(path)
        if len(calls) == 2:
            with open(path, "xb") as f:
                f.write(b"PAR1 partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_write(table, path)

    monkeypatch.setattr(store_mod, "_write_table", full_disk)
    with store.writer() as w:
        tables, meta = w.read()
        tables["extra"] = pd.DataFrame({"a": [1, 2]})
        with pytest.raises(StoreError) as info:
            w.commit(tables, {**meta, "changed": True}, [{"op": "lost"}])
        msg = str(info.value)
        assert "No space left on device" in msg and str(store.path) in msg
        assert "unchanged (still generation 1)" in msg and "disk is full" in msg
        assert isinstance(info.value.__cause__, OSError)

        assert sorted(os.listdir(store.path)) == before_listing
        assert store.generation() == 1
        after_tables, after_meta = store.read()
        assert after_meta == before_meta and set(after_tables) == set(before_tables)
        for name in before_tables:
            pd.testing.assert_frame_equal(after_tables[name], before_tables[name], check_exact=True)
        assert store.journal() == [{"op": "create"}]

        monkeypatch.setattr(store_mod, "_write_table", real_write)
        assert w.commit(tables, meta, [{"op": "retry"}]) == 2  # the same writer can retry
    assert store.journal() == [{"op": "create"}, {"op": "retry"}]
    assert list(store.read()[0]["extra"]["a"]) == [1, 2]


def test_failure_swapping_current_leaves_no_stray_generation(store: Store, monkeypatch) -> None:
    real_replace = os.replace

    def failing_replace(src, dst, *a, **k):
        if Path(dst).name == "CURRENT":
            raise OSError(errno.EIO, "Input/output error")
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", failing_replace)
    with store.writer() as w:
        with pytest.raises(StoreError, match="Input/output error.*unchanged"):
            w.commit(*w.read())
    monkeypatch.undo()
    assert gen_dirs(store.path) == ["gen-1"]
    assert not (store.path / "CURRENT.tmp").exists()
    assert Store.open(store.path).read()[1]["generation"] == 1


def test_unwritable_store_folder_simulated(store: Store, monkeypatch) -> None:
    def denied(path, *a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(os, "mkdir", denied)
    with store.writer() as w:
        with pytest.raises(StoreError) as info:
            w.commit(*w.read())
    msg = str(info.value)
    assert str(store.path) in msg and "Permission denied" in msg and "writable" in msg


def _permissions_enforced() -> bool:
    """False when running as root (or with CAP_DAC_OVERRIDE): read-only folders stay writable."""
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o555)
        try:
            Path(d, "probe").touch()
        except PermissionError:
            return True
        finally:
            os.chmod(d, 0o755)
    return False


needs_permissions = pytest.mark.skipif(
    not _permissions_enforced(), reason="this user can write into read-only folders (root)"
)


@needs_permissions
def test_unwritable_store_folder_real(store: Store) -> None:
    os.chmod(store.path, 0o555)
    try:
        with store.writer() as w:
            with pytest.raises(StoreError) as info:
                w.commit(*w.read())
        assert str(store.path) in str(info.value) and "writable" in str(info.value)
        assert store.read()[1]["generation"] == 1
    finally:
        os.chmod(store.path, 0o755)


@needs_permissions
def test_create_in_unwritable_parent(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o555)
    try:
        with pytest.raises(StoreError, match="cannot create store folder"):
            Store.create(tmp_path / "s", {}, {})
    finally:
        os.chmod(tmp_path, 0o755)


@pytest.mark.parametrize(
    "tables, meta, journal, message",
    [
        ({"t": [1, 2]}, {}, None, "not a pandas DataFrame"),
        ({"../escape": pd.DataFrame()}, {}, None, "table name '../escape' cannot be stored"),
        ({"t": pd.DataFrame({1: [1]})}, {}, None, "non-string column names"),
        ({"t": pd.DataFrame([[1, 2]], columns=["a", "a"])}, {}, None, "duplicate column names"),
        ({"t": pd.DataFrame({"a": [1, "x"]})}, {}, None, "table 't' cannot be stored as Parquet"),
        ({}, {"s": {1, 2}}, None, "meta is not JSON-serialisable"),
        ({}, {}, [{"when": object()}], "journal entry 0 is not JSON-serialisable"),
        ({}, {}, ["text"], "journal entry 0 is a str"),
    ],
)
def test_bad_input_is_refused_before_touching_the_disk(store: Store, tables, meta, journal, message) -> None:
    listing = sorted(os.listdir(store.path))
    with store.writer() as w:
        with pytest.raises(StoreError, match=message.replace(".", r"\.").replace("(", r"\(")):
            w.commit(tables, meta, journal)
    assert sorted(os.listdir(store.path)) == listing
    assert store.generation() == 1
