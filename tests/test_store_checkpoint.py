"""A large commit's WAL folded into the store file by a background process
(deprules.ledger.checkpoint): the commit is durable and visible at once, readers keep their
snapshot, a writer meanwhile is not held up, and a process that cannot start changes
nothing but who folds the WAL."""

from __future__ import annotations

import sqlite3
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from deprules.ledger import checkpoint
from deprules.ledger.sqlstore import Store

from test_store import load_all, make_store, rows_of, simple_states


def _grow(store: Store, n: int, amount: int = 1, wait: float = 5.0):
    """Commit ``n`` more adjustments of account A1; returns the expected states and the
    background checkpoint process (or None)."""
    with store.writer(wait=wait) as w:
        snap: dict = {}
        states = w.load(["A1"], snap)
        adj = states["A1"].adjustments[0]
        start = len(states["A1"].adjustments) + 1
        states["A1"].adjustments.extend(
            replace(adj, adjustment_id=f"A1-ADJ{start + k:03d}", amount=amount)
            for k in range(n))
        w.write_changed(states, snap)
        w.commit({"command": "grow", "user": "u"})
        proc = w.checkpointer
    return states, proc


def _wait(proc, timeout: float = 60.0) -> None:
    assert proc is not None, "no background checkpoint was started"
    proc.wait(timeout)


@pytest.fixture
def store(tmp_path: Path, monkeypatch) -> Store:
    # every commit counts as large here; the real threshold is 256 MiB of WAL
    monkeypatch.setattr(checkpoint, "BACKGROUND_BYTES", 0)
    return make_store(tmp_path / "s.db", simple_states())


def test_a_large_commit_is_folded_in_the_background(store: Store):
    states, proc = _grow(store, 50)
    _wait(proc)
    assert proc.returncode == 0
    assert checkpoint.wal_bytes(store.path) == 0  # folded and truncated
    got = load_all(store)
    assert len(got["A1"].adjustments) == 51
    assert rows_of({"A1": got["A1"]}) == rows_of({"A1": states["A1"]})
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT COUNT(*) FROM adjustments WHERE account_id = 'A1'"
                            ).fetchone() == (51,)
    finally:
        conn.close()


def test_the_fold_blocks_no_reader_and_no_writer(store: Store):
    with store.reader() as r:
        before = r.load(["A1"])["A1"]
        _, proc = _grow(store, 30)
        # a reader that began before the commit keeps its snapshot, and one that begins
        # after it sees the commit, whether the fold has run or not
        assert r.load(["A1"])["A1"] == before
        assert len(load_all(store)["A1"].adjustments) == 31
        # a writer that will not wait at all still commits (a PASSIVE checkpoint never
        # takes the write lock)
        _, proc2 = _grow(store, 1, amount=7, wait=0)
        _wait(proc)
        _wait(proc2)
    got = load_all(store)["A1"]
    assert len(got.adjustments) == 1 + 30 + 1 and got.adjustments[-1].amount == 7
    # with the reader gone the last fold could empty the WAL, or the next one will
    _, proc3 = _grow(store, 1)
    _wait(proc3)
    assert checkpoint.wal_bytes(store.path) == 0


def test_a_checkpoint_that_cannot_start_leaves_it_to_the_close(store: Store, monkeypatch):
    monkeypatch.setattr(sys, "executable", "/bin/false")  # the process exits at once
    states, proc = _grow(store, 20)
    assert proc is None
    # the writer's close was the last connection: SQLite folded the WAL and removed it
    assert checkpoint.wal_bytes(store.path) == 0
    assert len(load_all(store)["A1"].adjustments) == 21


def test_small_commits_checkpoint_as_sqlite_does(tmp_path: Path):
    store = make_store(tmp_path / "s.db", simple_states())
    _, proc = _grow(store, 5)
    assert proc is None  # far below BACKGROUND_BYTES
    assert len(load_all(store)["A1"].adjustments) == 6
