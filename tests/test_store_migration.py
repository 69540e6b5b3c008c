"""Schema migrations: a version-1 store (made by the deprules of commit 57306ae: 80 generated
accounts, ``ledger init``, ``run cycle``, one ``sa pending-stop`` with a reason) is migrated to
the current version when opened (1 -> 2: causes stored once; 2 -> 3: the journal and GL lines
packed per account), in one transaction, and reads back the same ledger (a journal entry's
detail as compact JSON); a crash in the middle of the migration leaves it at version 1,
unchanged."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from deprules.ledger import sqlstore
from deprules.ledger.sqlrows import CAUSED, LAYOUTS
from deprules.ledger.sqlstore import SCHEMA_VERSION, Store

ROOT = Path(__file__).resolve().parents[1]
V1 = ROOT / "tests" / "data" / "store-v1.db"


def dump(path: Path) -> dict[str, list]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        out = {n: conn.execute(f"SELECT * FROM {n} ORDER BY rowid").fetchall() for n in names}
        out["version"] = conn.execute("PRAGMA user_version").fetchone()[0]
        return out
    finally:
        conn.close()


def v1_rows(path: Path) -> dict[str, list]:
    """The logical rows of a version-1 store, read as the version-1 code read them."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        return {lay.name: conn.execute(f"SELECT {lay.quoted} FROM {lay.table} ORDER BY rowid"
                                       ).fetchall() for lay in LAYOUTS.values()}
    finally:
        conn.close()


def compact(rows: list, lay) -> list:
    """Rows with their detail as compact JSON (keys sorted), as version 3 stores it."""
    if "detail" not in lay.columns:
        return rows
    at = lay.columns.index("detail")
    return [r[:at] + (json.dumps(json.loads(r[at]), sort_keys=True, ensure_ascii=False,
                                 separators=(",", ":")) if r[at] else r[at],) + r[at + 1:]
            for r in rows]


def by_account(rows: list, lay) -> list:
    """Rows in account order, each account's in its order (as a packed table keeps them)."""
    if not lay.packed:
        return rows
    return sorted(rows, key=lambda r: r[lay.account_pos])  # stable: order within kept


@pytest.fixture
def v1(tmp_path: Path) -> Path:
    path = tmp_path / "v1.db"
    shutil.copyfile(V1, path)
    return path


def test_a_version_1_store_is_migrated_and_reads_back_identical(v1: Path, tmp_path: Path):
    before = v1_rows(v1)
    plain = {n: dump(v1)[n] for n in ("meta", "journal", "ap_exports")}
    store = Store.open(v1)
    conn = sqlite3.connect(v1)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for lay in LAYOUTS.values():  # the same logical rows, in the same order
            assert list(lay.read(conn)) == by_account(compact(before[lay.name], lay), lay), \
                lay.name
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({lay.table})")]
            assert cols == (lay.pack_columns if lay.packed else lay.stored_columns)
        packs = conn.execute("SELECT COUNT(*), COUNT(DISTINCT account_id), SUM(n) FROM "
                             "account_journal").fetchone()
        with_entries = len({r[1] for r in before["journal"]})
        assert with_entries > 40  # one packed row per account
        assert packs == (with_entries, with_entries, len(before["journal"]))
    finally:
        conn.close()
    conn = sqlite3.connect(v1)
    try:  # every cause once, every row naming one
        assert conn.execute("SELECT COUNT(*) FROM causes").fetchone()[0] == len(
            {r[lay.cause_at:lay.cause_at + 7] for lay in CAUSED for r in before[lay.name]})
        for lay in CAUSED:
            assert not [r for r in lay.read(conn) if r[lay.cause_at] is None]
        # the same indexes as a store made by this version
        new = tmp_path / "new.db"
        Store.create(new, {}, {}, {"command": "t", "user": "t"})
        indexes = "SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name"
        assert conn.execute(indexes).fetchall() == sqlite3.connect(new).execute(indexes).fetchall()
    finally:
        conn.close()
    after = dump(v1)
    assert {n: after[n] for n in plain} == plain
    with store.reader() as r:  # the objects too
        states = r.load()
    assert sorted(states) == sorted(row[0] for row in before["accounts"])
    Store.open(v1)  # opening it again migrates nothing
    assert dump(v1) == after


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], cwd=ROOT,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})})


def test_commands_on_a_migrated_store(v1: Path):
    out = _cli("ledger", "check", "--store", str(v1))
    assert out.returncode == 0, out.stderr
    assert "ledger sound: 80 accounts, generation 3" in out.stdout
    conn = sqlite3.connect(v1)
    sa = conn.execute("SELECT sa_id FROM service_agreements WHERE status = 'active' AND sa_type "
                      "LIKE 'DEP%' ORDER BY sa_id LIMIT 1").fetchone()[0]
    conn.close()
    out = _cli("sa", "pending-stop", sa, "--date", "2026-11-23", "--store", str(v1),
               "--reason", "after the migration")
    assert out.returncode == 0, out.stderr
    out = _cli("ledger", "check", "--store", str(v1))
    assert out.returncode == 0 and "generation 4" in out.stdout, out.stdout + out.stderr


def test_a_failed_migration_leaves_version_1(v1: Path, monkeypatch):
    before = dump(v1)

    def fail(point, conn):
        if point == "migrated 1":
            conn.execute("INSERT INTO nowhere VALUES (1)")  # an SQL error after the last step

    monkeypatch.setattr(sqlstore, "HOOKS", [fail])
    with pytest.raises(Exception, match="cannot migrate store .* from schema version 1 to 3.*"
                                        "still version 1"):
        Store.open(v1)
    assert dump(v1) == before


@pytest.mark.parametrize("point", ["migrated 1", "migrated 2"])
def test_a_crash_in_the_middle_of_the_migration_leaves_version_1(v1: Path, point: str):
    before = dump(v1)
    code = ("import os, sys; from deprules.ledger import sqlstore\n"
            "def die(point, conn):\n"
            f"    if point == {point!r}: os._exit(9)\n"
            "sqlstore.HOOKS.append(die)\n"
            f"sqlstore.Store.open({str(v1)!r})\n")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ,
                         "PYTHONPATH": str(ROOT / "src")}, capture_output=True, text=True)
    assert out.returncode == 9, out.stderr
    assert dump(v1) == before  # the WAL's uncommitted frames are ignored
    Store.open(v1)
    assert dump(v1)["version"] == 3


def test_a_detail_that_is_not_json_survives_the_packing(v1: Path, monkeypatch):
    """A journal detail that is not JSON (only damage makes one) is kept, as text, when the
    journal is packed (2 -> 3); the other entries keep their details as compact JSON."""
    def damage(point, conn):
        if point == "migrated 1":  # the store is at version 2 inside the migration
            conn.execute("UPDATE account_journal SET detail = 'not {json' WHERE rowid = 2")

    monkeypatch.setattr(sqlstore, "HOOKS", [damage])
    before = v1_rows(v1)["journal"]
    Store.open(v1)
    monkeypatch.setattr(sqlstore, "HOOKS", [])
    conn = sqlite3.connect(v1)
    try:
        lay = LAYOUTS["journal"]
        got = {(r[lay.account_pos], r[0]): r for r in lay.read(conn)}
    finally:
        conn.close()
    at = lay.columns.index("detail")
    second = before[1]
    assert got[(second[lay.account_pos], second[0])][at] == "not {json"
    first = before[0]
    assert got[(first[lay.account_pos], first[0])][at] == json.dumps(
        json.loads(first[at]), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert len(got) == len(before)
