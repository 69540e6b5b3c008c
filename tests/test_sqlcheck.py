"""``ledger check`` set at a time (:mod:`deprules.ledger.sqlcheck`) against the per-account
check on Python objects (:func:`deprules.ledger.check.check_account`): on stores built from
generated extracts, untouched and deliberately corrupted (each corruption alone, and random
combinations of them), both report exactly the same findings, in the same order."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deprules.errors import StoreError
from deprules.ledger.sqlcheck import check_store
from deprules.ledger.sqlstore import Store
from deprules.storeops import open_ledger

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "cli.py"), *map(str, args)], cwd=ROOT,
                         capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert out.returncode == 0, out.stderr


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> list[Path]:
    """A generated store after a cycle and a CSR command, and the migrated version-1 store."""
    d = tmp_path_factory.mktemp("sqlcheck")
    _cli("extract", "generate", "--accounts", 120, "--seed", 11, "--out", d / "x")
    store = d / "gen.db"
    _cli("ledger", "init", "--extract", d / "x", "--store", store)
    _cli("run", "cycle", "--store", store, "--date", "2026-11-21")
    conn = sqlite3.connect(store)
    sa = conn.execute("SELECT sa_id FROM service_agreements WHERE status = 'active' AND sa_type "
                      "LIKE 'DEP%' ORDER BY sa_id LIMIT 1").fetchone()[0]
    conn.close()
    _cli("sa", "pending-stop", sa, "--date", "2026-11-22", "--store", store, "--reason", "t")
    v1 = d / "v1.db"
    shutil.copyfile(ROOT / "tests" / "data" / "store-v1.db", v1)
    Store.open(v1)
    return [store, v1]


def _first(table: str, where: str = "1", order: str = "rowid") -> str:
    return f"(SELECT rowid FROM {table} WHERE {where} ORDER BY {order} LIMIT 1)"


def _bad_cause(process: str = "", run_id: str = "g9", config_hash: str = "h", rule: str = "r",
               user: str = "batch") -> str:
    return (f"INSERT OR IGNORE INTO causes (process, rule, seed_step, run_id, config_hash, user, "
            f"reason) VALUES ('{process}', '{rule}', '', '{run_id}', '{config_hash}', '{user}', "
            "'corrupt')")


def _cause_id(process: str = "", run_id: str = "g9", config_hash: str = "h", rule: str = "r",
              user: str = "batch") -> str:
    return (f"(SELECT id FROM causes WHERE process = '{process}' AND run_id = '{run_id}' AND "
            f"config_hash = '{config_hash}' AND rule = '{rule}' AND user = '{user}' "
            "AND reason = 'corrupt')")


def _packed(table: str, sets: list[tuple[str, str, str]], kind_is: str | None = None,
            last: bool = False) -> str:
    """An UPDATE of one entry of a packed table (journal, GL lines: each column a JSON array
    per account and write): the first entry (the last packed row's with ``last``), or the
    first journal entry of kind ``kind_is``; ``sets``: (column, path inside the entry's
    value, SQL value) for ``json_set``."""
    where = f"e.value = '{kind_is}'" if kind_is else "1"
    each = "json_each(p.kind)" if kind_is else f"json_each(p.{sets[0][0]})"
    row = (f"(SELECT p.rowid FROM {table} p, {each} e WHERE {where} "
           f"ORDER BY p.rowid {'DESC' if last else ''}, e.key LIMIT 1)")
    at = (f"(SELECT '$[' || e.key || ']' FROM {table} p, {each} e "
          f"WHERE p.rowid = {row} AND {where} ORDER BY e.key LIMIT 1)")
    cols = ", ".join(f'"{c}" = json_set("{c}", {at} || \'{path}\', {value})'
                     for c, path, value in sets)
    return f"UPDATE {table} SET {cols} WHERE rowid = {row}"


GL_PLUS_ONE = ("UPDATE gl_lines SET amount = json_set(amount, '$[0]', "
               "json_extract(amount, '$[0]') + 1)")
GL_SUMS = ("SELECT f.value, SUM(json_extract(p.amount, '$[' || f.key || ']')) FROM gl_lines p, "
           "json_each(p.ft_id) f GROUP BY 1 HAVING SUM(json_extract(p.amount, '$[' || f.key "
           "|| ']')) != 0")

FROZEN = "status = 'frozen' AND ft_id != ''"
TWIN, NO_TWIN, DEP = "twin_id != ''", "twin_id = ''", "sa_type LIKE 'DEP%'"


# name -> SQL statements that break (or exercise) one invariant
CORRUPTIONS: dict[str, list[str]] = {
    "sa payoff": [f"UPDATE service_agreements SET payoff_balance = payoff_balance + 7 WHERE rowid "
                  f"= {_first('service_agreements', 'opening_payoff IS NOT NULL')}"],
    "sa current": [f"UPDATE service_agreements SET current_balance = current_balance - 3 WHERE "
                   f"rowid = {_first('service_agreements', 'opening_current IS NOT NULL', 'rowid DESC')}"],
    "closed cash deposit": [
        "UPDATE service_agreements SET status = 'closed' WHERE rowid = "
        + _first("service_agreements", "sa_type LIKE 'DEP%' AND payoff_balance != 0")],
    "ft of unknown sa": [f"UPDATE fts SET sa_id = 'S-NOPE' WHERE rowid = {_first('fts')}"],
    "gl lines": [_packed("gl_lines", [("amount", "", "json_extract(amount, '$[0]') + 5")])],
    "adjustment amount 0": [
        f"UPDATE adjustments SET amount = 0 WHERE rowid = {_first('adjustments', FROZEN)}"],
    "adjustment without its ft": [
        "DELETE FROM fts WHERE ft_id = (SELECT ft_id FROM adjustments WHERE rowid = "
        f"{_first('adjustments', FROZEN, 'rowid DESC')})"],
    "ft not matching its algorithm": [
        "UPDATE fts SET current_amount = current_amount + 1 WHERE ft_id = (SELECT ft_id FROM "
        f"adjustments WHERE rowid = {_first('adjustments', FROZEN + ' AND ' + NO_TWIN)})"],
    "frozen without ft": [
        f"UPDATE adjustments SET ft_id = '' WHERE rowid = {_first('adjustments', FROZEN)}"],
    "canceled not reversed": [
        "UPDATE adjustments SET status = 'canceled', cancel_ft_id = '' WHERE rowid = "
        + _first("adjustments", FROZEN, "adjustment_id DESC")],
    "twin missing": [
        f"UPDATE adjustments SET twin_id = 'X-NOPE' WHERE rowid = {_first('adjustments', TWIN)}"],
    "twin amount": [
        "UPDATE adjustments SET amount = amount + 1 WHERE rowid = "
        + _first("adjustments", "twin_id != ''", "rowid DESC")],
    "twin half frozen": [
        "UPDATE adjustments SET status = 'incomplete' WHERE rowid = "
        + _first("adjustments", "twin_id != ''", "adjustment_id")],
    "adjustment cause unnamed": [
        _bad_cause(),
        f"UPDATE adjustments SET cause_id = {_cause_id()} WHERE rowid = {_first('adjustments')}"],
    "adjustment cause without run or hash": [
        _bad_cause("P", "", ""),
        f"UPDATE adjustments SET cause_id = {_cause_id('P', '', '')} WHERE rowid = "
        + _first("adjustments", "1", "rowid DESC")],
    "batch adjustment without rule": [
        _bad_cause("P", "g9", "h", ""),
        f"UPDATE adjustments SET cause_id = {_cause_id('P', 'g9', 'h', '')} WHERE rowid = "
        + _first("adjustments", "created_by = 'batch'", "adjustment_id DESC")],
    "dangling cause": [
        f"UPDATE adjustments SET cause_id = 999999 WHERE rowid = {_first('adjustments', FROZEN, 'ft_id')}",
        _packed("account_journal", [("cause_id", "", "NULL")])],
    "journal cause unnamed": [
        _bad_cause("", "", "h"),
        _packed("account_journal", [("cause_id", "", _cause_id('', '', 'h'))], last=True)],
    "check amount": [f"UPDATE checks SET amount = amount + 1 WHERE rowid = {_first('checks')}"],
    "check unknown adjustment": [
        f"UPDATE checks SET adjustment_id = 'X' WHERE rowid = {_first('checks', '1', 'rowid DESC')}"],
    "check of an unfrozen adjustment": [
        "UPDATE adjustments SET status = 'incomplete' WHERE adjustment_id = (SELECT adjustment_id "
        f"FROM checks WHERE rowid = {_first('checks', '1', 'check_id DESC')})"],
    "check status": [f"UPDATE checks SET status = 'lost' WHERE rowid = {_first('checks', '1', 'check_id')}"],
    "illegal sa move": [
        _packed("account_journal", [("detail", ".to_status", "'active'")], kind_is="status")],
    "two open to dos": [
        "INSERT INTO todos SELECT todo_id || '-2', account_id, sa_id, todo_type, role, message, "
        "'open', created_on, cause_id, adjustment_id, worked_by, completed_on, completed_by "
        f"FROM todos WHERE rowid = {_first('todos')}"],
    "to do status": [f"UPDATE todos SET status = 'lost' WHERE rowid = {_first('todos', '1', 'rowid DESC')}"],
    "to do worked by nobody": [
        f"UPDATE todos SET status = 'being_worked', worked_by = '' WHERE rowid = {_first('todos')}"],
    "approved by its creator": [
        "UPDATE adjustments SET approved_by = 'batch', rejected_by = 'batch' WHERE rowid = "
        + _first("adjustments", FROZEN, "amount")],
    "approved but incomplete": [
        "UPDATE adjustments SET approved_by = 'boss', status = 'incomplete' WHERE rowid = "
        + _first("adjustments", "twin_id = ''", "amount DESC")],
    "waits for approval": [
        "UPDATE adjustments SET status = 'pending_approval' WHERE rowid = "
        + _first("adjustments", "twin_id = ''", "adjustment_id DESC")],
    "partial refund half done": [
        "UPDATE adjustments SET group_id = 'G1' WHERE rowid IN (SELECT rowid FROM adjustments "
        "WHERE account_id = (SELECT account_id FROM adjustments GROUP BY account_id "
        "HAVING COUNT(*) > 1 ORDER BY account_id LIMIT 1))",
        "UPDATE adjustments SET status = 'incomplete' WHERE rowid = (SELECT MIN(rowid) FROM "
        "adjustments WHERE group_id = 'G1')"],
    "illegal check and to do moves": [
        _packed("account_journal", [("kind", "", "'check_status'"), ("detail", "", "json('{"
                "\"from_status\": \"paid\", \"to_status\": \"requested\"}')")], kind_is="check"),
        _packed("account_journal", [("kind", "", "'todo_status'"), ("detail", "", "json('{"
                "\"to_status\": \"open\"}')")], kind_is="bill")],
    "duplicate sa": [
        "INSERT INTO service_agreements SELECT sa_id, account_id, sa_type, 'closed', start_date, "
        "stop_date, current_balance + 1, payoff_balance, total_deposit_amount, "
        "last_interest_date, opening_payoff, opening_current FROM service_agreements WHERE rowid "
        f"= {_first('service_agreements', DEP)}"],
    "duplicate adjustment": [
        "INSERT INTO adjustments SELECT adjustment_id, account_id, sa_id, adjustment_type, "
        "category, amount + 2, status, created_by, created_on, cause_id, twin_id, ft_id, "
        "cancel_ft_id, approved_by, rejected_by, group_id FROM adjustments WHERE rowid = "
        + _first("adjustments", "twin_id != ''")],
    "duplicate ft": [
        "INSERT INTO fts SELECT ft_id, account_id, sa_id, date, payoff_amount * 2, "
        f"current_amount, source, source_id, cause_id, reverses FROM fts WHERE rowid = {_first('fts')}"],
}
RAISING = {"orphan rows": [f"UPDATE gl_lines SET account_id = 'Z-NOPE' WHERE rowid = {_first('gl_lines')}"]}


def both(path: Path, setup) -> tuple[list[str], list[str]]:
    store = Store.open(path)
    with store.reader() as r:
        sql = check_store(r.conn, setup.config, path)
    ledger, _ = open_ledger(path, setup)
    return sql, ledger.check()


def corrupt(base: Path, names, d: Path) -> Path:
    path = d / "c.db"
    for p in d.glob("c.db*"):
        p.unlink()
    shutil.copyfile(base, path)
    conn = sqlite3.connect(path, isolation_level=None)
    for name in names:
        for sql in CORRUPTIONS.get(name) or RAISING[name]:
            conn.execute(sql)
    conn.close()
    return path


def test_sound_stores_have_no_findings_either_way(bases, setup):
    for base in bases:
        assert both(base, setup) == ([], [])


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_each_corruption_is_found_the_same_way(bases, setup, name, tmp_path):
    found = []
    for base in bases:
        sql, objects = both(corrupt(base, [name], tmp_path), setup)
        assert sql == objects
        found += sql
    assert found, f"{name}: no finding (the corruption did not apply?)"


def test_rows_of_an_unknown_account_are_damage_the_same_way(bases, setup, tmp_path):
    path = corrupt(bases[0], ["orphan rows"], tmp_path)
    with pytest.raises(StoreError) as sql:
        with Store.open(path).reader() as r:
            check_store(r.conn, setup.config, path)
    with pytest.raises(StoreError) as objects:
        open_ledger(path, setup)
    assert str(sql.value) == str(objects.value)
    assert "rows of account 'Z-NOPE' which is not in its accounts table" in str(sql.value)


@settings(max_examples=20, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.sampled_from(sorted(CORRUPTIONS)), min_size=2, max_size=6, unique=True),
       which=st.integers(0, 1))
def test_combined_corruptions_are_found_the_same_way(bases, setup, names, which):
    with tempfile.TemporaryDirectory() as d:
        sql, objects = both(corrupt(bases[which], names, Path(d)), setup)
        assert sql == objects


def test_child_processes_give_the_same_findings(bases, setup, tmp_path):
    path = corrupt(bases[0], ["sa payoff", "gl lines", "twin missing", "two open to dos",
                              "duplicate adjustment"], tmp_path)
    with Store.open(path).reader() as r:
        one = check_store(r.conn, setup.config, path)
        assert check_store(r.conn, setup.config, path, workers=3) == one and one
        # a command committed after this snapshot: the children would see it, so their
        # shares run on this connection
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("INSERT INTO journal (seq, utc, user, command, kind, run_id, config_hash, "
                     "reason) VALUES (99, 'now', 'u', 'c', 'manual', 'r', 'h', '')")
        conn.execute(GL_PLUS_ONE)
        conn.close()
        assert check_store(r.conn, setup.config, path, workers=3) == one


def test_a_child_answers_its_share_in_the_snapshot_it_was_given(bases, tmp_path):
    """The child process itself (python -m deprules.storecheck): its tasks' results in its
    snapshot, and no results when the store holds another last journal entry."""
    from deprules.storecheck import generation

    path = corrupt(bases[0], ["gl lines"], tmp_path)
    conn = sqlite3.connect(path)
    want = generation(conn)
    gl = conn.execute(GL_SUMS).fetchall()
    conn.close()
    tasks = [["sql", GL_SUMS], ["orphan", "fts"],
             ["dup", ["adjustments", "adjustment_id"]]]

    def child(generation_seen: int) -> dict:
        out = subprocess.run([sys.executable, "-m", "deprules.storecheck"], input=json.dumps(
            {"path": str(path), "generation": generation_seen, "tasks": tasks}),
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    got = child(want)
    assert got["generation"] == want and gl
    assert [[tuple(r) for r in got["results"][0]], *got["results"][1:]] == [gl, None, False]
    assert child(want + 1) == {"generation": None}


def test_a_child_that_cannot_open_the_store_leaves_its_share_to_the_parent(bases, setup,
                                                                           tmp_path):
    """The store file renamed while the check runs: the parent's open connection still reads
    it, the children cannot open it, and the findings are the same."""
    path = corrupt(bases[0], ["sa payoff", "two open to dos"], tmp_path)
    with Store.open(path).reader() as r:
        one = check_store(r.conn, setup.config, path)
        moved = path.with_name("moved.db")
        path.rename(moved)
        try:
            assert check_store(r.conn, setup.config, path, workers=2) == one and one
        finally:
            moved.rename(path)
