"""A store batch writes the changed accounts straight from the vector engine's columns
(deprules.vector.storerows); an account whose run changes a bill made before is replayed
through the executor. The rows must be the replay's and the per-account runner's, value for value."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from deprules.extract import generate
from deprules.extract.writer import write_extract as write_generated
from deprules.ledger.sqlstore import Store
from deprules.runner import Runner
from helpers import acct, sa, write_extract
from test_store_vector import invoke, rows

ON = date(2026, 11, 21)
HORIZON = [ON, ON + timedelta(days=15), ON + timedelta(days=61)]


def init(extract, store):
    invoke("ledger", "init", "--extract", extract, "--store", store)
    return store


def run(store, on: date, engine: str = "vector", process: str = "cycle") -> dict:
    out = invoke("run", process, "--store", store, "--date", on.isoformat(), "--engine", engine,
                 "--format", "json")
    return json.loads(out.stdout)


@pytest.fixture
def replayed(monkeypatch):
    """The accounts replayed (``("replay", id)``) or run per account (``("cycle", id)``)."""
    seen: list = []
    replay, cycle = Runner.replay, Runner.run_cycle
    monkeypatch.setattr(Runner, "replay", lambda self, st, *a, **k: (
        seen.append(("replay", st.account_id)), replay(self, st, *a, **k))[1])
    monkeypatch.setattr(Runner, "run_cycle", lambda self, st, *a, **k: (
        seen.append(("cycle", st.account_id)), cycle(self, st, *a, **k))[1])
    return seen


@pytest.mark.parametrize("seed", [2, 8, 21])
def test_columns_write_the_rows_the_replay_and_the_python_engine_write(tmp_path, monkeypatch,
                                                                        replayed, seed):
    extract = tmp_path / "x"
    write_generated(generate.generate_extract(600, seed=seed, as_of=ON), extract)
    col, rep, ref = (init(extract, tmp_path / f"{n}.db") for n in ("col", "rep", "ref"))
    for i, on in enumerate(HORIZON):
        monkeypatch.delenv("DEPRULES_STORE_ROWS", raising=False)
        replayed.clear()
        a = run(col, on)
        if i == 0:  # a fresh store: nothing is replayed, most accounts change
            assert replayed == [] and a["accounts_changed"] > 300
        monkeypatch.setenv("DEPRULES_STORE_ROWS", "replay")
        b = run(rep, on)
        c = run(ref, on, "python")
        assert a == b == c
        assert rows(col) == rows(rep) == rows(ref)
    assert invoke("ledger", "check", "--store", col).exit_code == 0


def test_accounts_with_rows_continue_their_ids_and_an_old_bill_is_replayed(
        tmp_path, monkeypatch, replayed):
    """Single processes and CSR work first, so accounts have rows: the cycle writes them
    from columns too, numbering new ids and journal entries after the ones they have. An
    account whose bill was made by hand before the cycle (it then applies its refund method
    and completes it: that bill's row changes in place) is replayed. The store equals the
    per-account runner's."""
    extract = tmp_path / "x"
    write_generated(generate.generate_extract(300, seed=5, as_of=ON), extract)
    col, ref = init(extract, tmp_path / "col.db"), init(extract, tmp_path / "ref.db")
    by_hand = ("A0000003",)
    for store, engine in ((col, "vector"), (ref, "python")):
        run(store, ON, engine, process="DEPRFND")
        run(store, ON, engine, process="SAACT")
        with Store.open(store).reader() as r:
            st = r.load([by_hand[0]])[by_hand[0]]
        sa_id = next(s.sa_id for s in st.sas.values() if s.sa_type.startswith("DEP"))
        invoke("sa", "stop", sa_id, "--store", store, "--date", ON.isoformat(), "--by", "csr1")
        invoke("bill", "final", sa_id, "--store", store, "--date", ON.isoformat(),
               "--by", "csr1")
    before = rows(col)
    touched = {a for a, t in before.items() if t["journal"]}
    assert len(touched) > 20 and before[by_hand[0]]["bills"]
    replayed.clear()
    summary = run(col, ON)
    seen = list(replayed)
    assert summary == run(ref, ON, "python")
    assert ("replay", by_hand[0]) in seen
    assert {a for how, a in seen if how == "replay"} == {by_hand[0]}
    after = rows(col)
    assert after == rows(ref)
    # accounts with rows before were written from columns, their ids continuing
    grown = [a for a in touched - {by_hand[0]}
             if len(after[a]["journal"]) > len(before[a]["journal"])]
    assert grown
    for a in grown:
        seqs = [r[0] for r in after[a]["journal"]]
        assert seqs == list(range(1, len(seqs) + 1))


def test_ids_that_need_escaping_in_the_journal(tmp_path):
    """Ids with quotes, backslashes and non-ASCII letters: the journal's JSON details are
    the ones ``json.dumps`` writes, as the executor writes them."""
    accounts = [acct('A"1', credit_rating=800), acct("Ä\\2", credit_rating=800)]
    sas = [sa('S"1', "DEP-RES", start="2023-01-15", payoff="-100.00", account_id='A"1'),
           sa("S\\2é", "DEP-RES", start="2023-01-15", payoff="-80.00", account_id="Ä\\2"),
           sa("E2", "E-RES", start="2023-01-15", payoff="30.00", current="30.00",
              account_id="Ä\\2")]
    extract = write_extract(tmp_path / "x", accounts, sas)
    col, ref = init(extract, tmp_path / "col.db"), init(extract, tmp_path / "ref.db")
    for on in HORIZON:
        assert run(col, on) == run(ref, on, "python")
        assert rows(col) == rows(ref)
    assert any('"ft_id":"A\\"1-FT' in r[6] for r in rows(col)['A"1']["journal"])


def test_broken_invariants_of_column_rows_refuse_the_commit(tmp_path, monkeypatch):
    """The accounts written from columns have their invariants checked before anything is
    written: an engine that forgets to move a balance is refused, the store unchanged."""
    from deprules.vector import engine as vengine

    extract = tmp_path / "x"
    write_generated(generate.generate_extract(50, seed=3, as_of=ON), extract)
    store = init(extract, tmp_path / "s.db")
    before = rows(store)
    original = vengine.Engine.run

    def careless(self, *a, **k):
        log = original(self, *a, **k)
        moved = np.flatnonzero(self.m.payoff != 0)
        self.m.payoff[moved[:1]] += 1  # a cent no FT accounts for
        return log

    monkeypatch.setattr(vengine.Engine, "run", careless)
    r = invoke("run", "cycle", "--store", store, "--date", ON.isoformat(), ok=False)
    assert r.exit_code != 0
    assert "refusing to commit, ledger invariants broken" in r.output
    assert "but opening balance plus FTs give" in r.output
    assert "Traceback" not in r.output
    assert rows(store) == before and Store.open(store).generation() == 1


def test_a_failure_half_way_through_the_column_rows_leaves_the_store_as_it_was(tmp_path,
                                                                              monkeypatch):
    from deprules.vector import storerows

    extract = tmp_path / "x"
    write_generated(generate.generate_extract(120, seed=4, as_of=ON), extract)
    store = init(extract, tmp_path / "s.db")
    before = rows(store)
    monkeypatch.setattr(storerows, "CHUNK_ACCOUNTS", 10)
    original = storerows.StoreRows._chunk
    calls = []

    def failing(self, lo, hi):
        calls.append(lo)
        if len(calls) == 3:  # two chunks of accounts are written by now
            raise OSError(28, "No space left on device")
        return original(self, lo, hi)

    monkeypatch.setattr(storerows.StoreRows, "_chunk", failing)
    r = invoke("run", "cycle", "--store", store, "--date", ON.isoformat(), ok=False)
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert len(calls) == 3
    assert rows(store) == before and Store.open(store).generation() == 1


@pytest.mark.parametrize("value", ["columns", "x"])
def test_a_bad_store_rows_mode_is_refused_before_the_store_is_opened(tmp_path, monkeypatch,
                                                                     value):
    extract = tmp_path / "x"
    write_generated(generate.generate_extract(20, seed=2, as_of=ON), extract)
    store = init(extract, tmp_path / "s.db")
    monkeypatch.setenv("DEPRULES_STORE_ROWS", value)
    r = invoke("run", "cycle", "--store", store, "--date", ON.isoformat(), ok=False)
    assert r.exit_code == 2
    assert f"DEPRULES_STORE_ROWS is {value!r}; it must be one of auto, replay" in r.output
    assert Store.open(store).generation() == 1


def test_a_terminal_sees_a_progress_bar_and_a_pipe_does_not(tmp_path):
    """``run cycle`` draws its progress on standard error when that is a terminal (a real
    pseudo-terminal here), and writes nothing but the summary to a pipe."""
    import os
    import pty
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    extract = tmp_path / "x"
    write_generated(generate.generate_extract(200, seed=6, as_of=ON), extract)
    stores = [init(extract, tmp_path / f"{n}.db") for n in ("tty", "pipe")]
    cmd = [sys.executable, str(root / "cli.py"), "run", "cycle", "--date", ON.isoformat(),
           "--config", str(root / "config"), "--rules", str(root / "rules"), "--store"]
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    leader, follower = pty.openpty()
    proc = subprocess.Popen(cmd + [str(stores[0])], stdout=subprocess.PIPE, stderr=follower,
                            env=env)
    os.close(follower)
    seen = b""
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the terminal's other side closed
            break
        if not data:
            break
        seen += data
    out, _ = proc.communicate(timeout=300)
    os.close(leader)
    assert proc.returncode == 0
    assert b"cycle 2026-11-21: applying" in seen and b"100%" in seen
    assert out.startswith(b"cycle on 2026-11-21")
    piped = subprocess.run(cmd + [str(stores[1])], capture_output=True, env=env, timeout=300)
    assert piped.returncode == 0 and piped.stderr == b""
    assert piped.stdout.replace(b"g2-run", b"") == out.replace(b"g2-run", b"")


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), later=st.integers(1, 400))
def test_column_rows_equal_the_per_account_runner_on_any_generated_store(tmp_path_factory,
                                                                          seed, later):
    """Property: for any generated store and a second date, the rows a batch writes from
    columns are the per-account runner's, and the ledger stays sound."""
    tmp = tmp_path_factory.mktemp("prop")
    extract = tmp / "x"
    write_generated(generate.generate_extract(40, seed=seed, as_of=ON), extract)
    col, ref = init(extract, tmp / "col.db"), init(extract, tmp / "ref.db")
    for on in (ON, ON + timedelta(days=later)):
        assert run(col, on) == run(ref, on, "python")
        assert rows(col) == rows(ref)
    assert invoke("ledger", "check", "--store", col).exit_code == 0
