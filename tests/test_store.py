"""The SQLite ledger store: exact round trips, per-account reads, changed-rows-only writes,
the audited journal, schema versions, locking (BEGIN IMMEDIATE), failures."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
from dataclasses import fields, replace
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deprules.errors import StoreError, StoreLockedError
from deprules.ledger import sqlstore
from deprules.ledger.model import AccountState, Cause
from deprules.ledger.sqlrows import LAYOUTS, state_rows
from deprules.ledger.sqlstore import SCHEMA_VERSION, Store

SRC = str(Path(__file__).resolve().parents[1] / "src")
INIT = {"command": "ledger init", "kind": "init", "user": "test", "run_id": "g1-ledger"}

int64s = st.integers(-(2**63), 2**63 - 1)
texts = st.text(max_size=6)
dates = st.dates(date(1900, 1, 1), date(2199, 12, 31))
causes = st.builds(Cause, texts, texts, texts, texts, texts, texts, texts)
details = st.dictionaries(st.text(max_size=4), st.one_of(st.none(), st.integers(-10**6, 10**6),
                                                         st.text(max_size=4)), max_size=3)


def _value(kind: str, name: str):
    if kind == "cause":
        return causes
    base = {"date": dates, "int": int64s, "bool": st.booleans(), "json": details,
            "text": texts}[kind]
    return base if name in ("sa_id",) else st.one_of(st.none(), base)


@st.composite
def entity(draw, name: str, account_id: str, key: str | None = None):
    lay = LAYOUTS[name]
    kwargs = {}
    for f, kind in zip(lay.field_names, lay.kinds):
        kwargs[f] = account_id if f == "account_id" else key if f == "sa_id" and key else \
            draw(_value(kind, f))
    return lay.cls(**kwargs)


@st.composite
def account_states(draw, max_accounts: int = 4) -> dict:
    out = {}
    for i in range(draw(st.integers(1, max_accounts))):
        aid = f"A{i}-" + draw(st.text(max_size=3))
        s = AccountState(draw(entity("accounts", aid)))
        for j in range(draw(st.integers(0, 2))):
            sa = draw(entity("service_agreements", aid, f"{aid}-S{j}"))
            s.sas[sa.sa_id] = sa
        for lay in LAYOUTS.values():
            if lay.name in ("accounts", "service_agreements"):
                continue
            getattr(s, lay.attr).extend(draw(st.lists(entity(lay.name, aid), max_size=2)))
        out[aid] = s
    return out


def rows_of(states: dict) -> dict:
    return {aid: state_rows(states[aid]) for aid in sorted(states)}


def make_store(path: Path, states: dict) -> Store:
    return Store.create(path, states, {"config_hash": "h0", "minor_units": 2}, INIT)


def load_all(store: Store, ids=None) -> dict:
    with store.reader() as r:
        return r.load(ids)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states=account_states())
def test_every_field_round_trips_exactly(states):
    with tempfile.TemporaryDirectory() as d:
        store = make_store(Path(d) / "s.db", states)
        got = load_all(store)
        assert rows_of(got) == rows_of(states)
        for aid, s in states.items():
            g = got[aid]
            assert g.account == s.account and g.sas == s.sas
            for lay in LAYOUTS.values():
                if lay.attr not in ("account", "sas", "journal"):
                    assert getattr(g, lay.attr) == getattr(s, lay.attr), lay.name
            # a journal entry's detail comes back as its JSON text, the same dict when read
            assert [e.details() for e in g.journal] == [e.details() for e in s.journal]
            assert [replace(e, detail="") for e in g.journal] == \
                [replace(e, detail="") for e in s.journal]
        # money and dates keep their Python types
        for s in got.values():
            for lay in LAYOUTS.values():
                items = getattr(s, lay.attr)
                items = [items] if lay.attr == "account" else \
                    items.values() if isinstance(items, dict) else items
                for obj in items:
                    for f, kind in zip(lay.field_names, lay.kinds):
                        v = getattr(obj, f)
                        if v is not None and kind in ("int", "bool", "date"):
                            assert type(v) is {"int": int, "bool": bool, "date": date}[kind]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_row_conversion_equals_the_field_by_field_one(data):
    for name, lay in LAYOUTS.items():
        obj = data.draw(entity(name, "A1"))
        assert lay.row(obj) == lay.row_slow(obj), name


def test_row_conversion_turns_numpy_integers_into_python_ones():
    import numpy as np

    lay = LAYOUTS["service_agreements"]
    obj = lay.cls("S1", "A1", "DEP-RES", "active", date(2024, 1, 1), None, np.int64(-5),
                  np.int64(7), 0, None)
    row = lay.row(obj)
    assert row == lay.row_slow(obj) and type(row[6]) is int and type(row[7]) is int


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states=account_states(), new=account_states())
def test_changed_accounts_only_are_written_and_read_back_exactly(states, new):
    with tempfile.TemporaryDirectory() as d:
        store = make_store(Path(d) / "s.db", states)
        target = sorted(states)[0]
        changed_state = next(iter(new.values()))
        with store.writer(who="t") as w:
            snap: dict = {}
            got = w.load(None, snap)
            assert w.write_changed(got, snap) == [] and w.rows_written == 0  # a no-op
            # the first account takes the other one's rows (under its own id)
            s = got[target]
            for lay in LAYOUTS.values():
                if lay.name == "accounts":
                    s.account = replace(changed_state.account, account_id=target)
                elif lay.attr == "sas":
                    s.sas = {k: replace(v, account_id=target) for k, v in changed_state.sas.items()}
                else:
                    setattr(s, lay.attr, [replace(x, account_id=target)
                                          for x in getattr(changed_state, lay.attr)])
            written = w.write_changed(got, snap)
            assert set(written) <= {target}
            w.commit({"command": "test", "user": "t"})
        assert rows_of(load_all(store)) == rows_of(got)
        assert rows_of(load_all(store, [target])) == {target: rows_of(got)[target]}


# --------------------------------------------------------------------------- fixtures


def simple_states(n: int = 5) -> dict:
    from helpers import simple_state

    return {f"A{i}": simple_state(f"A{i}") for i in range(n)}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return make_store(tmp_path / "s.db", simple_states())


# --------------------------------------------------------------------------- reads and writes


def test_one_account_reads_only_its_rows_and_ids_find_their_account(store: Store):
    with store.reader() as r:
        assert r.account_of("sa", "A3-D") == "A3" and r.account_of("sa", "nope") is None
        assert r.account_of("adjustment", "A2-ADJ001") == "A2"
        assert r.account_of("check", "A4-CHK001") == "A4"
        assert r.account_of("todo", "A1-TD001") == "A1"
        assert r.account_of("bill", "A0-BILL001") == "A0"
        assert r.has_account("A1") and not r.has_account("A9")
        assert r.accounts_where("checks", "status = ?", ("not_selected",)) == \
            [f"A{i}" for i in range(5)]
        got = r.load(["A3"])
        assert list(got) == ["A3"] and list(got["A3"].sas) == ["A3-D"]
        assert r.load(["A9"]) == {}
        assert r.count() == 5
        df = r.frame("adjustments")
    assert list(df["account_id"]) == [f"A{i}" for i in range(5)]
    assert str(df["amount"].dtype) == "int64" and str(df["created_on"].dtype).startswith("datetime64")


def test_write_appends_new_rows_and_rewrites_changed_tables_only(store: Store):
    with store.writer() as w:
        snap: dict = {}
        states = w.load(["A1", "A2"], snap)
        adj = states["A1"].adjustments[0]
        states["A1"].adjustments.append(replace(adj, adjustment_id="A1-ADJ002"))
        states["A2"].sas["A2-D"].payoff_balance += 1
        assert w.write_changed(states, snap) == ["A1", "A2"]
        assert w.rows_written == 2  # one appended adjustment, one rewritten SA
        assert w.commit({"command": "t", "user": "u"}) == 2
    got = load_all(store)
    assert [a.adjustment_id for a in got["A1"].adjustments] == ["A1-ADJ001", "A1-ADJ002"]
    assert got["A2"].sas["A2-D"].payoff_balance == simple_states()["A2"].sas["A2-D"].payoff_balance + 1
    assert rows_of({k: got[k] for k in ("A0", "A3", "A4")}) == \
        rows_of({k: simple_states()[k] for k in ("A0", "A3", "A4")})


def test_journal_is_audited_and_counts_generations(store: Store):
    with store.writer(who="bob") as w:
        assert w.commit({"command": "run cycle 2026-11-21", "kind": "run", "user": "bob",
                         "reason": "nightly", "run_id": "g2-run", "config_hash": "h1",
                         "process_date": "2026-11-21", "accounts_changed": 3}) == 2
    j = store.journal()
    assert [e["seq"] for e in j] == [1, 2] and store.generation() == 2
    e = j[-1]
    assert e["utc"].endswith("+00:00") and e["process_date"] == "2026-11-21"
    assert (e["user"], e["command"], e["run_id"], e["config_hash"], e["reason"], e["kind"]) == \
        ("bob", "run cycle 2026-11-21", "g2-run", "h1", "nightly", "run")
    assert e["accounts_changed"] == 3 and e["pid"] == os.getpid() and e["host"]
    assert store.journal(1) == [e]
    with store.reader() as r:
        assert r.last_run_date() == "2026-11-21"
        assert r.meta()["config_hash"] == "h0" and r.meta()["generation"] == 2


def test_a_writer_that_does_not_commit_changes_nothing(store: Store):
    before = rows_of(load_all(store))
    with pytest.raises(RuntimeError):
        with store.writer() as w:
            snap: dict = {}
            states = w.load(None, snap)
            states["A0"].sas["A0-D"].status = "closed"
            w.write_changed(states, snap)
            raise RuntimeError("refused")
    with store.writer() as w:
        pass
    assert rows_of(load_all(store)) == before and store.generation() == 1
    with pytest.raises(StoreError, match="closed"):
        w.commit({"command": "late"})


def test_disk_full_inside_the_transaction_leaves_the_store_unchanged(store: Store, monkeypatch):
    before = rows_of(load_all(store))
    pages = sqlite3.connect(store.path).execute("PRAGMA page_count").fetchone()[0]

    def tiny_disk(point, conn):
        if point == "begun":
            conn.execute(f"PRAGMA max_page_count={pages}")

    monkeypatch.setattr(sqlstore, "HOOKS", [tiny_disk])
    with pytest.raises(sqlite3.OperationalError, match="full"):
        with store.writer() as w:
            snap: dict = {}
            states = w.load(None, snap)
            for s in states.values():
                s.adjustments.extend(replace(s.adjustments[0], adjustment_id=f"X{i}",
                                             category="x" * 200) for i in range(300))
            w.write_changed(states, snap)
    monkeypatch.setattr(sqlstore, "HOOKS", [])
    assert rows_of(load_all(store)) == before and store.generation() == 1


# --------------------------------------------------------------------------- opening and creating


def test_open_refuses_what_is_not_a_store(tmp_path: Path):
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(tmp_path / "nope")
    (tmp_path / "dir").mkdir()
    with pytest.raises(StoreError, match="is a folder, not a deprules store"):
        Store.open(tmp_path / "dir")
    (tmp_path / "f.csv").write_text("a,b\n1,2\n" * 100)
    with pytest.raises(StoreError, match="not a deprules store or is damaged"):
        Store.open(tmp_path / "f.csv")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (a)").connection.commit()
    with pytest.raises(StoreError, match="is not a deprules store"):
        Store.open(other)
    old = tmp_path / "old"
    (old / "gen-2").mkdir(parents=True)
    (old / "CURRENT").write_text("gen-2\n")
    with pytest.raises(StoreError) as info:
        Store.open(old)
    msg = str(info.value)
    assert "older deprules" in msg and f"ledger export --store {old} --out EXTRACT" in msg
    assert "ledger init --extract EXTRACT --store NEW-FILE" in msg


def test_schema_versions_newer_refused_older_migrated(store: Store, monkeypatch):
    conn = sqlite3.connect(store.path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer than this "
                                         f"deprules knows \\({SCHEMA_VERSION}\\)"):
        Store.open(store.path)
    conn = sqlite3.connect(store.path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION - 1}")
    conn.close()
    monkeypatch.delitem(sqlstore.MIGRATIONS, SCHEMA_VERSION - 1)
    with pytest.raises(StoreError, match="cannot migrate"):
        Store.open(store.path)
    monkeypatch.setitem(sqlstore.MIGRATIONS, SCHEMA_VERSION - 1,
                        ["CREATE TABLE migrated (a INTEGER)"])
    Store.open(store.path)
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT COUNT(*) FROM migrated").fetchone()[0] == 0
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_create_is_all_or_nothing(tmp_path: Path, monkeypatch):
    path = tmp_path / "new" / "s.db"

    def broken(conn, *a):
        conn.execute("CREATE TABLE half (a)")
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(sqlstore, "_bulk_load", broken)
    with pytest.raises(StoreError, match="disk is full"):
        make_store(path, simple_states())
    assert os.listdir(path.parent) == []
    monkeypatch.undo()
    make_store(path, simple_states())
    with pytest.raises(StoreError, match="it exists"):
        make_store(path, simple_states())
    with pytest.raises(StoreError, match="it is a folder"):
        make_store(tmp_path, simple_states())


# --------------------------------------------------------------------------- the write lock


def test_second_writer_waits_then_is_refused_naming_the_holder(store: Store):
    with store.writer(who="first-run") as w:
        with pytest.raises(StoreLockedError) as info:
            with store.writer(who="second", wait=0.2):
                pass
        msg = str(info.value)
        assert str(store.path) in msg and "(waited 0.2 s)" in msg
        assert f"pid {os.getpid()}" in msg and "'first-run'" in msg and "--wait" in msg
        w.commit({"command": "first"})  # the refused attempt did not disturb the holder
    with store.writer() as w:  # released
        w.commit({"command": "second"})
    assert store.generation() == 3

    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.writer():
            holding.set()
            release.wait()

    t = threading.Thread(target=hold)
    t.start()
    holding.wait()
    threading.Timer(0.1, release.set).start()
    with store.writer(wait=30) as w:  # waits for the holder instead of failing
        w.commit({"command": "after waiting"})
    t.join()
    assert store.generation() == 4


HOLDER = """
import sys
from deprules.ledger.sqlstore import Store
store = Store.open(sys.argv[1])
with store.writer(who="holder-process") as w:
    snap = {}
    states = w.load(None, snap)
    for s in states.values():
        for sa in s.sas.values():
            sa.payoff_balance += 1
    w.write_changed(states, snap)
    print("locked", flush=True)
    sys.stdin.readline()
    w.commit({"command": "holder"})
"""


def test_no_lost_update_whatever_happens_to_the_holder_file(store: Store):
    """The holder file only names the holder: with it deleted, a second writer is still
    refused by SQLite's lock, and readers still read the last committed state at once."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(store.path)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    before = rows_of(load_all(store))
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(StoreLockedError, match=f"pid {child.pid}.*holder-process"):
            with store.writer(wait=0):
                pass
        store.holder_file.unlink()
        with pytest.raises(StoreLockedError, match="an unknown process"):
            with store.writer(wait=0):
                pass
        assert rows_of(load_all(store)) == before  # readers are not blocked
    finally:
        child.stdin.close()
        assert child.wait(timeout=60) == 0
    with store.writer() as w:
        snap: dict = {}
        states = w.load(None, snap)
        for s in states.values():
            for sa in s.sas.values():
                sa.payoff_balance += 10
        w.write_changed(states, snap)
        w.commit({"command": "second"})
    got = load_all(store)
    for aid, s in simple_states().items():  # both updates are there
        assert got[aid].sas[f"{aid}-D"].payoff_balance == s.sas[f"{aid}-D"].payoff_balance + 11


def test_model_fields_are_all_columns():
    for lay in LAYOUTS.values():
        names = [f.name for f in fields(lay.cls)]
        assert lay.field_names == names
        conn = sqlite3.connect(":memory:")
        conn.execute(lay.ddl())
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({lay.table})")]
        assert cols == lay.stored_columns
        assert ("cause_id" in cols) == ("cause" in lay.field_names)
