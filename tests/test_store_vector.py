"""Batch runs on a store with the vector back end (`deprules run ... --engine vector`, the
default): the same rows as the per-account engines, the same money as `simulate`'s baseline,
and a run that changes nothing reads and writes no account."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from deprules.cli import cli
from deprules.extract import generate
from deprules.extract.writer import write_extract as write_generated
from deprules.ledger.sqlrows import state_rows
from deprules.ledger.sqlstore import Store
from deprules.money import format_money
from deprules.simulate.outcomes import money_of
from helpers import acct, sa, write_extract

ON = date(2026, 11, 21)
HORIZON = [ON, ON + timedelta(days=15), ON + timedelta(days=61)]


def invoke(*args, ok: bool = True):
    r = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert r.exit_code == 0, r.output
    return r


def rows(store: Path) -> dict:
    """Every entity row of every account, as stored."""
    with Store.open(store).reader() as r:
        states = r.load()
    return {a: state_rows(s) for a, s in sorted(states.items())}


def init(extract: Path, store: Path, *config) -> Path:
    invoke("ledger", "init", "--extract", extract, "--store", store, *config)
    return store


def run(store: Path, on: date, engine: str, *config, process: str = "cycle") -> dict:
    out = invoke("run", process, "--store", store, "--date", on.isoformat(), "--engine", engine,
                 "--format", "json", *config)
    return json.loads(out.stdout)


def generated(tmp_path: Path, n: int, seed: int) -> Path:
    folder = tmp_path / f"extract-{n}-{seed}"
    write_generated(generate.generate_extract(n, seed=seed, as_of=ON), folder)
    return folder


@pytest.mark.parametrize("seed", [3, 11])
def test_vector_store_runs_write_the_rows_the_per_account_runner_writes(tmp_path, seed):
    extract = generated(tmp_path, 400, seed)
    vec, ref = init(extract, tmp_path / "vec.db"), init(extract, tmp_path / "ref.db")
    for on in HORIZON:
        a, b = run(vec, on, "vector"), run(ref, on, "python")
        assert a == b
        assert rows(vec) == rows(ref)
    assert a["accounts"] == 400
    # the checks made stay sound, and the cycle did change most deposits on its first date
    assert invoke("ledger", "check", "--store", vec).exit_code == 0


def test_vector_store_run_after_csr_work_and_single_processes(tmp_path, root):
    """A store that is not fresh from an extract: bills, To Dos, FTs, checks exported and
    paid by earlier commands; then single processes one after the other."""
    extract = generated(tmp_path, 300, 5)
    vec, ref = init(extract, tmp_path / "vec.db"), init(extract, tmp_path / "ref.db")
    for store, engine in ((vec, "vector"), (ref, "python")):
        run(store, ON, engine, process="DEPRFND")
        run(store, ON, engine, process="SAACT")
        invoke("ap", "export", "--store", store, "--out", tmp_path / f"{engine}.csv",
               "--date", ON.isoformat(), "--by", "ap1")
        for p in ("STOP", "BILLING", "WPM"):
            run(store, ON, engine, process=p)
        invoke("ap", "export", "--store", store, "--out", tmp_path / f"{engine}-2.csv",
               "--date", ON.isoformat(), "--by", "ap1")
        invoke("ap", "paid", tmp_path / f"{engine}-2.csv", "--store", store, "--date",
               HORIZON[1].isoformat(), "--by", "ap1")
    assert rows(vec) == rows(ref)
    assert (tmp_path / "vector-2.csv").read_text() == (tmp_path / "python-2.csv").read_text()
    for on in HORIZON[1:]:
        assert run(vec, on, "vector") == run(ref, on, "python")
    assert rows(vec) == rows(ref)


def test_changed_accounts_applied_in_small_chunks_give_the_same_store(tmp_path, monkeypatch):
    """The changed accounts are read, changed and written a chunk at a time inside the one
    transaction; chunks of 7 accounts give the rows of one pass (every account replayed:
    written from columns, a fresh store's accounts would not be read at all)."""
    from deprules import processes

    monkeypatch.setenv("DEPRULES_STORE_ROWS", "replay")

    extract = generated(tmp_path, 150, 9)
    vec, ref = init(extract, tmp_path / "vec.db"), init(extract, tmp_path / "ref.db")
    monkeypatch.setattr(processes, "BATCH_CHUNK", 7)
    for on in HORIZON[:2]:
        assert run(vec, on, "vector") == run(ref, on, "python")
    assert rows(vec) == rows(ref)


def test_worker_processes_write_the_rows_of_one_process(tmp_path, monkeypatch):
    """``--workers 2`` with chunks of 7 accounts (workers start from 14 changed accounts):
    the workers read, replay and return each chunk's rows and the parent writes them in
    order, so the store is the one a single process writes, row for row in rowid order,
    over a horizon; the journal says how many workers applied the batch (every account
    replayed: written from columns, a fresh store's accounts need no workers)."""
    monkeypatch.setenv("DEPRULES_WORKER_CHUNK", "7")
    monkeypatch.setenv("DEPRULES_STORE_ROWS", "replay")
    extract = generated(tmp_path, 200, 4)
    pooled, one, ref = (init(extract, tmp_path / f"{n}.db") for n in ("pooled", "one", "ref"))
    for on in HORIZON:
        a = run(pooled, on, "vector", "--workers", "2")
        assert a == run(one, on, "vector", "--workers", "1") == run(ref, on, "python")
        assert rows(pooled) == rows(one) == rows(ref)
    journal = json.loads(invoke("ledger", "journal", "--store", pooled, "--format",
                                "json").stdout)["entries"]
    runs = [e for e in journal if e["kind"] == "run"]
    assert runs[0]["workers"] == 2 and runs[0]["accounts_changed"] >= 14
    assert invoke("ledger", "check", "--store", pooled).exit_code == 0


@pytest.mark.parametrize("value", ["abc", "0", "-3"])
def test_a_bad_worker_chunk_is_refused_before_the_store_is_opened(tmp_path, monkeypatch, value):
    store = init(generated(tmp_path, 20, 2), tmp_path / "s.db")
    before = rows(store)
    monkeypatch.setenv("DEPRULES_WORKER_CHUNK", value)
    r = invoke("run", "cycle", "--store", store, "--date", ON.isoformat(), ok=False)
    assert r.exit_code == 2
    assert f"DEPRULES_WORKER_CHUNK is {value!r}; it must be a whole number" in r.output
    assert rows(store) == before and Store.open(store).generation() == 1


def test_a_worker_failure_is_raised_in_the_parent(tmp_path, root):
    """What goes wrong in a worker (here: its store has gone) is raised in the command,
    which then rolls back; the workers are stopped."""
    from deprules.batchpool import BatchPool
    from deprules.errors import StoreError
    from deprules.processes import BatchSummary
    from deprules.workspace import load_setup

    setup = load_setup(root / "config", root / "rules")

    session = SimpleNamespace(writer=SimpleNamespace(cause_ids=SimpleNamespace(known={})),
                              command="run cycle", flushed=[])
    with BatchPool(setup, 2) as pool:
        with pytest.raises(StoreError, match="gone.db"):
            pool.apply(session, tmp_path / "gone.db", ("WPM",), ON, "r1", [0], ["A1"],
                       {0: []}, set(), BatchSummary("cycle", ON, "r1"))
        workers = pool.pool._pool
    assert all(not w.is_alive() for w in workers)


def test_vector_durable_and_python_give_the_same_store(tmp_path):
    extract = generated(tmp_path, 120, 7)
    stores = {e: init(extract, tmp_path / f"{e}.db") for e in ("vector", "durable", "python")}
    summaries = {e: run(s, ON, e) for e, s in stores.items()}
    assert summaries["vector"] == summaries["durable"] == summaries["python"]
    assert rows(stores["vector"]) == rows(stores["durable"]) == rows(stores["python"])


def test_accounts_the_vector_engine_cannot_order_run_per_account(tmp_path, monkeypatch):
    """A deposit in debit next to another deposit of its class: the vector engine hands
    the account to the per-account runner (tests/test_vector.py); the store is the same."""
    accounts = [acct("A1", credit_rating=600), acct("A2", credit_rating=600)]
    sas = [
        sa("S1", "DEP-RES", status="stopped", start="2024-01-15", stop_date="2026-11-01",
           payoff="-100.00", account_id="A1"),
        sa("S2", "DEP-RES", status="stopped", start="2024-02-15", stop_date="2026-11-01",
           payoff="40.00", current="40.00", account_id="A1"),
        sa("S3", "E-RES", start="2023-01-01", payoff="25.00", current="25.00", account_id="A1"),
        sa("T1", "DEP-RES", start="2024-01-15", payoff="-50.00", account_id="A2"),
        sa("T2", "E-RES", start="2022-01-01", payoff="5.00", current="5.00", account_id="A2"),
    ]
    extract = write_extract(tmp_path / "x", accounts, sas)
    vec, ref = init(extract, tmp_path / "vec.db"), init(extract, tmp_path / "ref.db")
    from deprules.runner import Runner

    per_account: list = []
    original = Runner.run_cycle
    for on in (ON, ON + timedelta(days=31)):
        b = run(ref, on, "python")
        monkeypatch.setattr(Runner, "run_cycle", lambda self, st, *a, **k: (
            per_account.append(st.account_id), original(self, st, *a, **k))[1])
        assert run(vec, on, "vector") == b
        monkeypatch.setattr(Runner, "run_cycle", original)
        assert rows(vec) == rows(ref)
    assert per_account == ["A1"]
    assert rows(vec)["A1"]["adjustments"]


def test_store_cycle_equals_simulate_baseline_to_the_cent(tmp_path):
    extract = generated(tmp_path, 500, 13)
    store = init(extract, tmp_path / "s.db")
    run(store, ON, "vector")
    invoke("simulate", "--extract", extract, "--as-of", ON.isoformat(), "--out", tmp_path / "sim")
    with (tmp_path / "sim" / "accounts.csv").open(newline="") as fh:
        sim = {r["account_id"]: r for r in csv.DictReader(fh)}
    with Store.open(store).reader() as r:
        states = r.load()
    assert sim.keys() == states.keys()
    moved = 0
    for aid, st in states.items():
        refund, applied, interest, written = (format_money(x, 2) for x in money_of(st, 0, 0))
        row = sim[aid]
        assert (refund, applied, interest, written) == (
            row["refund_checks_baseline"], row["applied_to_debt_baseline"],
            row["interest_baseline"], row["write_downs_baseline"]), aid
        moved += refund != "0.00"
    assert moved > 50


def test_a_second_run_on_the_same_date_reads_and_writes_no_account(tmp_path, monkeypatch):
    extract = generated(tmp_path, 200, 2)
    store = init(extract, tmp_path / "s.db")
    first = run(store, ON, "vector")
    assert first["accounts_changed"] > 50
    before = rows(store)
    loaded: list = []
    from deprules.ledger import sqlstore

    original = sqlstore.Reader.load_selected

    def spy(self, ids, snapshot, with_journal=False):
        loaded.extend(ids)
        return original(self, ids, snapshot, with_journal)

    monkeypatch.setattr(sqlstore.Reader, "load_selected", spy)
    again = run(store, ON, "vector")
    assert again["accounts_changed"] == 0 and again["rules_fired"] == {}
    assert loaded == []
    assert rows(store) == before
    entry = Store.open(store).journal(1)[0]
    assert (entry["kind"], entry["accounts_written"], entry["engine"]) == ("run", 0, "vector")


def test_a_failing_vector_run_leaves_the_store_as_it_was(tmp_path, root):
    """A rule that breaks the ledger's rules (closing an SA with money on it) fails the
    whole run with the per-account runner's message; nothing is committed."""
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(root / "rules", rules)
    wpm = rules / "50-wpm.yaml"
    text = wpm.read_text()
    old = "      - sa.payoff_balance == 0\n      - sa.current_balance == 0\n"
    assert old in text
    wpm.write_text(text.replace(old, "      - sa.payoff_balance <= 0\n", 1))
    extract = generated(tmp_path, 150, 4)
    outs = {}
    for engine in ("vector", "python"):
        store = init(extract, tmp_path / f"{engine}.db", "--rules", rules)
        gen = Store.open(store).generation()
        before = rows(store)
        r = invoke("run", "cycle", "--store", store, "--date", ON.isoformat(), "--engine",
                   engine, "--rules", rules, ok=False)
        assert r.exit_code != 0 and "Traceback" not in r.output
        outs[engine] = r.stderr
        assert Store.open(store).generation() == gen and rows(store) == before
    assert outs["vector"] == outs["python"]
    assert "cannot be closed" in outs["vector"]


def test_store_columns_of_a_fresh_store_are_the_extracts(tmp_path, setup):
    """Right after ledger init the vector columns read from the store equal the ones built
    from the extract itself, array for array."""
    import numpy as np

    from deprules.vector import state as vst
    from deprules.vector.fromstore import store_state
    from deprules.extract import load_extract
    from deprules.workspace import extract_context

    extract_dir = generated(tmp_path, 300, 21)
    store = init(extract_dir, tmp_path / "s.db")
    extract = load_extract(extract_dir, extract_context(setup.config))
    static, mut = vst.build(extract, setup.config)
    with Store.open(store).reader() as r:
        s2, m2 = store_state(r.conn, setup.config, for_frames=True)
    for name in ("acct", "rank", "sa_type", "is_cash", "dclass", "prio", "start", "cust",
                 "credit", "late", "dnr", "postpone", "acct_first", "grp", "ncd_acct",
                 "ncd_class", "ncd_start", "ncd_end", "hist_sa", "hist_day", "hist_payoff",
                 "has_hist"):
        assert np.array_equal(getattr(static, name), getattr(s2, name)), name
    assert static.sa_ids.equals(s2.sa_ids) and static.account_ids.equals(s2.account_ids)
    for name in ("status", "stop", "last_int", "payoff", "current", "bill_n", "own_ft_n",
                 "n_adj", "n_ft", "n_chk", "n_todo", "n_bill"):
        assert np.array_equal(getattr(mut, name), getattr(m2, name)), name


def test_columns_read_on_two_connections_equal_one_connections(tmp_path, setup):
    """A batch reads about half of its columns on a second connection (in a thread) while
    the writer reads the rest: the columns are the same, scoped or not, before and after a
    cycle (FTs, bills and To Dos in the store)."""
    import numpy as np

    from deprules.processes import scope_sql
    from deprules.rules.vocabulary import PROCESSES
    from deprules.vector.fromstore import reading_beside, scope_accounts, store_state

    store = init(generated(tmp_path, 300, 23), tmp_path / "s.db")
    for step in range(2):
        for scoped in (False, True):
            with Store.open(store).writer() as w:
                if scoped:
                    assert scope_accounts(w.conn, scope_sql(setup.book, setup.config,
                                                            PROCESSES)) > 0
                one = store_state(w.conn, setup.config, scoped=scoped)
                two = store_state(w.conn, setup.config, scoped=scoped,
                                  beside=reading_beside(w.store, w.conn, scoped))
            for a, b in zip(one, two):
                for name, value in vars(a).items():
                    other = getattr(b, name)
                    if isinstance(value, np.ndarray):
                        assert np.array_equal(value, other), name
                    elif name == "own_ft":
                        assert all(np.array_equal(x, y) for p, q in zip(value, other)
                                   for x, y in zip(p, q)), name
            assert one[0].sa_ids.equals(two[0].sa_ids) and len(one[1].own_ft) == \
                len(two[1].own_ft) == step
        run(store, ON, "vector")


def test_a_batch_reads_only_the_accounts_a_rule_can_fire_on(tmp_path, root, setup):
    """After a cycle most deposits are closed: their accounts are out of the batch's scope
    (no rule accepts a closed SA), so a later run reads only the rest; with a rule that
    limits neither status nor final bill every account is read. Either way the rows are the
    per-account runner's (the horizon tests above)."""
    import shutil

    from deprules.processes import scope_sql
    from deprules.rules.vocabulary import PROCESSES
    from deprules.vector.fromstore import scope_accounts
    from deprules.workspace import load_setup

    extract = generated(tmp_path, 300, 17)
    store = init(extract, tmp_path / "s.db")
    sql = scope_sql(setup.book, setup.config, PROCESSES)
    assert sql is not None
    with Store.open(store).writer() as w:
        before = scope_accounts(w.conn, sql)
    run(store, ON, "vector")
    with Store.open(store).writer() as w:
        after = scope_accounts(w.conn, sql)
    assert 0 < after < before <= 300
    rules = tmp_path / "rules"
    shutil.copytree(root / "rules", rules)
    f = rules / "50-wpm.yaml"
    f.write_text(f.read_text().replace('      - sa.status in ["stopped", "reactivated"]\n'
                                       '      - sa.final_bill == "complete"\n', "", 1))
    wide = load_setup(root / "config", rules)
    assert scope_sql(wide.book, wide.config, PROCESSES) is None


def test_vector_store_runs_with_effective_dated_values(tmp_path, root, monkeypatch):
    """A configuration whose values change between the horizon's dates (hold months and
    refund method from 2026-12-01, the credit threshold from 2026-12-06): each store run
    decides with the values of its date, as the per-account runner does, in one process or
    applied by worker processes (chunks of 7 accounts)."""
    monkeypatch.setenv("DEPRULES_WORKER_CHUNK", "7")
    import shutil

    cfg = tmp_path / "config"
    shutil.copytree(root / "config", cfg)
    dc = (cfg / "deposit_classes.yaml").read_text()
    dc = dc.replace("      hold_months: 12\n", "      hold_months:\n        - value: 12\n"
                    "        - {effective: \"2026-12-01\", value: 18}\n", 1)
    com = dc.index("  COM:")
    dc = dc[:com] + dc[com:].replace(
        "    refund_method:\n      algorithm: APPLYDEPOSIT\n",
        "    refund_method:\n      algorithm:\n        - value: APPLYDEPOSIT\n"
        "        - {effective: \"2026-12-01\", value: DEPREF-TODO}\n", 1)
    (cfg / "deposit_classes.yaml").write_text(dc)
    inst = (cfg / "installation.yaml").read_text().replace(
        "credit_rating_threshold: 300\n", "credit_rating_threshold:\n  - value: 300\n"
        "  - {effective: \"2026-12-06\", value: 450}\n")
    (cfg / "installation.yaml").write_text(inst)
    config = ("--config", cfg)
    extract = generated(tmp_path, 300, 13)
    vec, ref = init(extract, tmp_path / "vec.db", *config), init(extract, tmp_path / "ref.db",
                                                                   *config)
    pooled = init(extract, tmp_path / "pooled.db", *config)
    fired = []
    for on in HORIZON:
        a, b = run(vec, on, "vector", *config), run(ref, on, "python", *config)
        monkeypatch.setenv("DEPRULES_STORE_ROWS", "replay")  # the workers replay every account
        c = run(pooled, on, "vector", *config, "--workers", "2")
        monkeypatch.delenv("DEPRULES_STORE_ROWS")
        assert a == b == c
        assert rows(vec) == rows(ref) == rows(pooled)
        fired.append(a["rules_fired"])
    assert fired[1].get("billing/refund-method-todo", 0) > 0  # COM from 2026-12-01
    journal = json.loads(invoke("ledger", "journal", "--store", pooled, "--format",
                                "json").stdout)["entries"]
    pooled_runs = [e for e in journal if e["kind"] == "run" and e.get("workers") == 2]
    assert len(pooled_runs) >= 2  # the workers applied runs after the change dates too
    assert invoke("ledger", "check", "--store", vec, *config).exit_code == 0


def _events(ids: np.ndarray, days: np.ndarray, amounts: np.ndarray) -> list:
    """(SA row, day, amount) triples sorted: FTs are read in no particular order (the engine
    sums them per SA and day), so two readers may return them in different orders."""
    return sorted(zip(ids.tolist(), days.tolist(), amounts.tolist()))


def test_columns_read_by_child_processes_equal_the_ones_read_in_process(tmp_path, setup,
                                                                         monkeypatch):
    """A large store's batch reads its columns in two forked children through ADBC's SQLite
    driver (storeread.py): the same columns as Python's sqlite3 in this process, scoped
    or not, before and after cycles (FTs, bills and To Dos in the store); a child that sees
    another snapshot than the writer's refuses: an error when the children were asked for
    by name, else the batch reads in process."""
    import numpy as np

    from deprules import storeread
    from deprules.errors import StoreError
    from deprules.storecheck import generation
    from deprules.processes import scope_sql
    from deprules.rules.vocabulary import PROCESSES
    from deprules.vector.fromstore import SCOPE, _queries, scope_accounts, store_state

    monkeypatch.setenv(storeread.READER_ENV, "arrow")
    store = init(generated(tmp_path, 300, 29), tmp_path / "s.db")
    for step in range(3):
        for scoped in (False, True):
            sql = scope_sql(setup.book, setup.config, PROCESSES) if scoped else None
            with Store.open(store).writer() as w:
                if scoped:
                    scope_accounts(w.conn, sql)
                one = store_state(w.conn, setup.config, scoped=scoped)
                queries = _queries(SCOPE if scoped else "", False)
                raw = storeread.read(w.store.path, sql, queries, generation(w.conn), 300)
                assert raw is not None and set(raw) == set(queries)
                with pytest.raises(StoreError, match="reader saw journal entry"):
                    storeread.read(w.store.path, sql, queries, generation(w.conn) + 1, 300)
                monkeypatch.setenv(storeread.READER_ENV, "auto")  # auto: read in process
                assert storeread.read(w.store.path, sql, queries, generation(w.conn) + 1,
                                      10**9) is None
                monkeypatch.setenv(storeread.READER_ENV, "arrow")
                two = store_state(w.conn, setup.config, scoped=scoped, raw=raw)
            for a, b in zip(one, two):
                for name, value in vars(a).items():
                    other = getattr(b, name)
                    if name.startswith("hist_"):
                        continue
                    if isinstance(value, np.ndarray):
                        assert np.array_equal(value, other), name
            assert _events(one[0].hist_sa, one[0].hist_day, one[0].hist_payoff) == \
                _events(two[0].hist_sa, two[0].hist_day, two[0].hist_payoff)
            assert one[0].sa_ids.equals(two[0].sa_ids)
            assert one[0].account_ids.equals(two[0].account_ids)
            own = [_events(*np.concatenate(m.own_ft, axis=1)) if m.own_ft else []
                   for m in (one[1], two[1])]
            assert own[0] == own[1] and (len(own[0]) > 0) == (step > 0)
        run(store, ON + timedelta(days=40 * step), "vector")


def test_a_cycle_read_by_child_processes_writes_the_same_rows(tmp_path, monkeypatch):
    """The store after cycles over a horizon is the same row for row whether the batches
    read their columns in child processes (arrow) or in process (python)."""

    extract = generated(tmp_path, 250, 31)
    stores = {}
    for reader in ("arrow", "python"):
        monkeypatch.setenv("DEPRULES_STORE_READER", reader)
        stores[reader] = init(extract, tmp_path / f"{reader}.db")
        for on in HORIZON:
            run(stores[reader], on, "vector")
    assert rows(stores["arrow"]) == rows(stores["python"])
    monkeypatch.setenv("DEPRULES_STORE_READER", "sometimes")
    r = invoke("run", "cycle", "--store", stores["arrow"], "--date", HORIZON[-1].isoformat(),
               ok=False)
    assert r.exit_code == 2 and "DEPRULES_STORE_READER is 'sometimes'" in r.output
    assert "Traceback" not in r.output
