"""Faults: a killed cycle, two writers, a full disk, failing rules. The store must always be
at its previous or its new committed state, sound, and never half-applied.

SIGKILL inside the store's own transaction and torn WAL writes are tested in
test_store_crash.py; here a REAL ``deprules run cycle`` process is killed, paused by a test
hook at chosen points of its write transaction (after BEGIN IMMEDIATE, inside its reads and
writes, just before and just after COMMIT), so where the kill lands never depends on how fast
the machine is. A full or unwritable disk is simulated inside SQLite (``max_page_count``,
``query_only``), since the tests run as root.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from deprules.cli import cli
from deprules.ledger import Ledger, sqlstore
from deprules.ledger.sqlstore import Store

from helpers import acct, sa, write_extract

ROOT = Path(__file__).resolve().parents[1]
ON = "2026-11-21"


def cli_run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def subprocess_cli(*args, env=None, **kw):
    full_env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
    return subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *map(str, args)], cwd=ROOT,
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def dump(store: Path) -> dict[str, list]:
    """Every row of every table of a store, in rowid order: 'unchanged' means this is
    equal."""
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {n: conn.execute(f"SELECT * FROM {n} ORDER BY rowid").fetchall() for n in names
}
    finally:
        conn.close()


def contents(store: Path) -> dict[str, list]:
    """What a store holds whatever order its accounts were written in, journal aside: each
    entity table's rows account by account (an account's rows in their order), with each
    cause named by its seven fields rather than its id; the other tables as :func:`dump`.
    The engines and the two ways a batch writes (from columns, or replayed: rows of one
    account change place when they are rewritten) hold equal contents."""
    from deprules.ledger.sqlrows import LAYOUTS

    entity = {lay.table: lay for lay in LAYOUTS.values()}
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        out = {}
        for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                 "ORDER BY name").fetchall():
            if n in ("journal", "causes"):
                continue
            if n not in entity:
                out[n] = conn.execute(f"SELECT * FROM {n} ORDER BY rowid").fetchall()
                continue
            lay = entity[n]  # logical rows (causes joined in), stable-sorted by account
            out[n] = sorted(lay.read(conn), key=lambda r: r[lay.account_pos])
        return out
    finally:
        conn.close()


def generation(store: Path) -> int:
    return Store.open(store).generation()


def assert_sound(store_dir: Path, setup) -> int:
    with Store.open(store_dir).reader() as r:
        states, gen = r.load(), r.generation()
    problems = Ledger(states, setup.config).check()
    assert problems == [], problems[:5]
    return gen


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def generated(tmp_path_factory, setup):
    """A store of 300 generated accounts at generation 1, and its cycle run uninterrupted
    in a child process (the reference, and how long a run takes here)."""
    from deprules.extract import generate_extract, write_extract as write
    from deprules.storeops import init_store

    base = tmp_path_factory.mktemp("faults")
    write(generate_extract(300, 7), base / "extract")
    init_store(base / "template", base / "extract", setup, "test")
    reference = base / "reference"
    shutil.copyfile(base / "template", reference)
    proc = subprocess_cli("run", "cycle", "--store", reference, "--date", ON,
                          env={"PYTHONHASHSEED": "12345"})
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    assert b"of 300 accounts changed" in out
    return {"base": base, "template": base / "template", "reference": reference}


@pytest.fixture()
def small_store(tmp_path, setup):
    """Three accounts whose cycle refunds, applies to debt and writes down (generation 1)."""
    from deprules.storeops import init_store

    extract = write_extract(
        tmp_path / "extract",
        [acct("A1"), acct("A2", customer_class="COM"), acct("A3")],
        [sa("D1", "DEP-RES", start="2024-01-01", payoff="-100.00"),
         sa("E1", "E-RES", payoff="60.00", current="60.00"),
         sa("D2", "DEP-COM", start="2023-01-01", payoff="-500.00", account_id="A2"),
         sa("D3", "DEP-RES", start="2024-01-01", payoff="-100.00", account_id="A3"),
         sa("E3", "E-RES", payoff="99.50", current="99.50", account_id="A3")])
    init_store(tmp_path / "store", extract, setup, "test")
    return tmp_path / "store"


# ----------------------------------------------------------------------------- kills

# A child ``deprules`` whose write transaction stops at PAUSE_POINT (a hook point, or
# "step:N": the N-th SQLite progress callback, every 1,000 VM steps, after BEGIN IMMEDIATE),
# says so on stderr and waits to be killed; "count" only reports how many steps there are.
PAUSING_CLI = r"""
import os, sys, time
from deprules.ledger import sqlstore
point = os.environ["PAUSE_POINT"]
steps = {"n": 0}

def pause(where):
    os.write(2, f"paused {where}\n".encode())
    while True:
        time.sleep(3600)

def hook(name, conn):
    if name == "begun" and (point.startswith("step:") or point == "count"):
        def step():
            steps["n"] += 1
            if point == f"step:{steps['n']}":
                pause(point)
            return 0
        conn.set_progress_handler(step, 1000)
    if name == "committed" and point == "count":
        os.write(2, f"steps {steps['n']}\n".encode())
    if name == point:
        pause(point)

sqlstore.HOOKS.append(hook)
from deprules.cli import cli
cli(sys.argv[1:])
"""


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    """``pid`` runs (a zombie nobody has reaped yet has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _run_paused(store: Path, point: str, engine: str = "python", env: dict | None = None,
                orphans: list | None = None) -> tuple[bool, str]:
    """Run the cycle, SIGKILL it where it paused; returns (killed, stderr). The pids of
    the processes it had started are added to ``orphans`` when given."""
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSING_CLI, "run", "cycle", "--store", str(store), "--date", ON,
         "--engine", engine], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "PAUSE_POINT": point,
             **(env or {})})
    line = proc.stderr.readline().decode()  # blocks until the pause or the end of the run
    killed = line.startswith("paused ")
    if killed:
        if orphans is not None:
            orphans.extend(_children(proc.pid))
        proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    if killed:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 0, line + err.decode()
    return killed, line + err.decode()


def test_killed_cycle_leaves_previous_or_new_state(generated, setup, tmp_path):
    """Kill a real run at every hook point of its transaction and at steps spread over its
    SQL work; a kill before COMMIT returned leaves exactly the previous state, after it
    exactly the reference result, and the store is sound either way."""
    reference = contents(generated["reference"])
    original = dump(generated["template"])
    for engine in ("python", "vector"):
        calib = tmp_path / f"calibrate-{engine}"
        shutil.copyfile(generated["template"], calib)
        killed, err = _run_paused(calib, "count", engine)
        assert not killed and contents(calib) == reference
        total = int(err.split("steps ")[1].split()[0])
        assert total > 10, err
        points = ["begun", "written", "journaled"] + [
            f"step:{max(1, total * k // 8)}" for k in range(0, 8)] + ["committed"]
        for i, point in enumerate(points):
            store = tmp_path / f"store-{engine}-{i}"
            shutil.copyfile(generated["template"], store)
            killed, err = _run_paused(store, point, "durable" if engine == "python" and
                                      i % 4 == 0 else engine)
            assert killed, f"{engine} {point}: {err}"
            if point == "committed":
                assert contents(store) == reference and generation(store) == 2
            else:
                assert dump(store) == original, point
                assert generation(store) == 1
            assert assert_sound(store, setup) == generation(store)
    # the next run after a kill gives exactly the reference
    r = cli_run("run", "cycle", "--store", tmp_path / "store-vector-1", "--date", ON)
    assert r.exit_code == 0, r.output
    assert contents(tmp_path / "store-vector-1") == reference
    r = cli_run("ledger", "check", "--store", tmp_path / "store-vector-1")
    assert r.exit_code == 0 and "ledger sound: 300 accounts, generation 2" in r.output


def test_killed_cycle_with_worker_processes(generated, setup, tmp_path):
    """A cycle whose changed accounts are applied by two worker processes (chunks of 20
    accounts), its columns read by the two reading children (storeread.py), killed after its
    first chunk is written, at steps of its SQL work and after COMMIT: the store is the
    previous state or exactly the reference, and the workers end with their parent (they
    find its pipe closed), leaving no process behind."""
    reference = contents(generated["reference"])
    original = dump(generated["template"])
    env = {"DEPRULES_WORKER_CHUNK": "20", "DEPRULES_WORKERS": "2",
           "DEPRULES_STORE_READER": "arrow", "DEPRULES_STORE_ROWS": "replay"}
    calib = tmp_path / "calibrate"
    shutil.copyfile(generated["template"], calib)
    killed, err = _run_paused(calib, "count", "vector", env)
    assert not killed and contents(calib) == reference
    journal = Store.open(calib).journal()
    assert journal[-1]["workers"] == 2, journal[-1]
    total = int(err.split("steps ")[1].split()[0])
    orphans: list[int] = []
    for i, point in enumerate(["written"] + [f"step:{max(1, total * k // 4)}"
                                             for k in range(1, 4)] + ["committed"]):
        store = tmp_path / f"store-{i}"
        shutil.copyfile(generated["template"], store)
        killed, err = _run_paused(store, point, "vector", env, orphans)
        assert killed, f"{point}: {err}"
        if point == "committed":
            assert contents(store) == reference and generation(store) == 2
        else:
            assert dump(store) == original, point
        assert assert_sound(store, setup) == generation(store)
    assert orphans  # the workers were running when their parent was killed
    deadline = time.monotonic() + 120  # a hang guard, not a timing expectation
    while any(_alive(pid) for pid in orphans) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in orphans if _alive(pid)]


def test_ctrl_c_during_a_cycle_with_worker_processes(generated, tmp_path):
    """Ctrl-C while worker processes apply a cycle: the command says it was interrupted and
    committed nothing (exit 130), with no traceback or warning from its workers, the store
    is unchanged and no worker is left."""
    original = dump(generated["template"])
    store = tmp_path / "store"
    shutil.copyfile(generated["template"], store)
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSING_CLI, "run", "cycle", "--store", str(store), "--date", ON],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "PAUSE_POINT": "written",
             "DEPRULES_WORKER_CHUNK": "20", "DEPRULES_WORKERS": "2",
             "DEPRULES_STORE_ROWS": "replay"},
        # as from a terminal: a suite started in the background of a shell without job
        # control runs with SIGINT ignored, and a child would inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    line = proc.stderr.readline().decode()
    assert line.startswith("paused written"), line
    workers = _children(proc.pid)
    assert workers
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    err = err.decode()
    assert proc.returncode == 130, err
    assert "interrupted; nothing was committed" in err
    assert "Traceback" not in err and "leaked" not in err and "Warning" not in err, err
    assert dump(store) == original
    deadline = time.monotonic() + 120  # a hang guard, not a timing expectation
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if _alive(pid)]


def test_same_cycle_on_two_copies_gives_identical_tables(generated, tmp_path):
    """Determinism: the reference ran in another process (its own hash seed); this one runs
    here, once with each matching back end. Every table must hold the same (contents()), and
    running the cycle again on the same date must write nothing but its journal entry."""
    reference = contents(generated["reference"])
    for engine in ("durable", "python", "vector"):
        store = tmp_path / f"copy-{engine}"
        shutil.copyfile(generated["template"], store)
        r = cli_run("run", "cycle", "--store", store, "--date", ON, "--engine", engine)
        assert r.exit_code == 0, r.output
        assert contents(store) == reference
    r = cli_run("run", "cycle", "--store", store, "--date", ON, "--engine", "python")
    assert r.exit_code == 0 and "0 of 300 accounts changed" in r.output
    assert generation(store) == 3
    assert contents(store) == reference
    last = Store.open(store).journal(1)[0]
    assert last["accounts_written"] == 0 and last["kind"] == "run"


# ----------------------------------------------------------------------------- two writers

# A child ``deprules`` whose write transaction stops at PAUSE_POINT, says so on stderr and
# goes on when a line arrives on its standard input.
RESUMABLE_CLI = r"""
import os, sys
from deprules.ledger import sqlstore
point = os.environ["PAUSE_POINT"]

def hook(name, conn):
    if name == point:
        os.write(2, f"paused {name}\n".encode())
        sys.stdin.readline()

sqlstore.HOOKS.append(hook)
from deprules.cli import cli
cli(sys.argv[1:])
"""


def test_csr_command_during_a_batch_waits_or_is_refused_and_readers_see_the_last_commit(
        generated, tmp_path):
    """A batch holds the write transaction (paused after writing its rows, before COMMIT):
    a CSR command with no wait is refused naming the holder, one that may wait commits
    after the batch, and a reader meanwhile sees the state before the batch."""
    store = tmp_path / "store"
    shutil.copyfile(generated["template"], store)
    with Store.open(store).reader() as r:  # an active service SA: the cycle never stops it
        account, sa_id = r.conn.execute(
            "SELECT account_id, sa_id FROM service_agreements WHERE status = 'active' AND "
            "sa_type NOT LIKE 'DEP-%' ORDER BY sa_id").fetchone()
    before_show = cli_run("ledger", "show", account, "--store", store, "--format", "json")
    batch = subprocess.Popen(
        [sys.executable, "-c", RESUMABLE_CLI, "run", "cycle", "--store", str(store), "--date",
         ON, "--by", "nightly"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT / "src"),
                                     "PAUSE_POINT": "written"})
    waiting = None
    try:
        assert batch.stderr.readline().decode() == "paused written\n"
        # refused at once, naming the batch
        r = cli_run("ledger", "show", account, "--store", store, "--format", "json")
        assert r.exit_code == 0 and r.stdout == before_show.stdout
        refused = cli_run("sa", "pending-stop", sa_id, "--date", "2026-12-01", "--store", store,
                          "--reason", "moving out", "--wait", "0")
        assert refused.exit_code == 2, refused.output
        assert "is locked by another writer" in refused.output
        assert f"pid {batch.pid}" in refused.output and "as 'nightly'" in refused.output
        # this one waits for the batch, then commits after it
        waiting = subprocess_cli("todo", "list", "--store", store)  # a reader: not blocked
        out, err = waiting.communicate(timeout=120)
        assert waiting.returncode == 0, err.decode()
        waiting = subprocess_cli("sa", "pending-stop", sa_id, "--date", "2026-12-01",
                                 "--store", store, "--reason", "moving out", "--wait", "120")
        batch.stdin.write(b"\n")
        batch.stdin.flush()
        out, err = batch.communicate(timeout=300)
        assert batch.returncode == 0, err.decode()
        out, err = waiting.communicate(timeout=300)
        assert waiting.returncode == 0, err.decode()
    finally:
        for p in (batch, waiting):
            if p is not None and p.poll() is None:
                p.kill()
    journal = Store.open(store).journal()
    assert [e["kind"] for e in journal] == ["init", "run", "manual"]
    assert "run cycle" in journal[1]["command"] and "pending-stop" in journal[2]["command"]
    after = json.loads(cli_run("ledger", "show", account, "--store", store,
                               "--format", "json").stdout)
    assert next(s for s in after["service_agreements"] if s["sa_id"] == sa_id)["status"] == \
        "pending_stop"




def test_second_writer_is_refused_while_the_lock_is_held(small_store, setup):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from deprules.ledger.sqlstore import Store\n"
         "with Store.open(sys.argv[1]).writer(who='analyst-1'):\n"
         "    print('locked', flush=True)\n"
         "    time.sleep(60)\n", str(small_store)],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = dump(small_store)
        r = cli_run("run", "cycle", "--store", small_store, "--date", ON, "--wait", "0.5")
        assert r.exit_code == 2, r.output
        assert (f"store {small_store} is locked by another writer (waited 0.5 s): "
                f"pid {holder.pid}") in r.output
        assert "as 'analyst-1'" in r.output and "Traceback" not in r.output
        # a second real process is refused the same way
        other = subprocess_cli("run", "WPM", "--store", small_store, "--date", ON,
                               env={"DEPRULES_WAIT": "0"})
        out, err = other.communicate(timeout=120)
        assert other.returncode == 2 and b"is locked by another writer" in err
        # readers are never blocked
        assert cli_run("ledger", "check", "--store", small_store).exit_code == 0
        assert dump(small_store) == before
    finally:
        holder.kill()
        holder.wait()
    # the lock dies with its holder: now the run goes through
    r = cli_run("run", "cycle", "--store", small_store, "--date", ON)
    assert r.exit_code == 0, r.output
    assert assert_sound(small_store, setup) == 2


# ----------------------------------------------------------------------------- disk trouble


@pytest.fixture
def busy_store(tmp_path, setup):
    """300 accounts whose cycle writes more than the free space inside the store's pages
    (the small store's cycle fits in its last pages: no page would be added)."""
    from deprules.storeops import init_store

    accounts, sas = [], []
    for i in range(300):
        accounts.append(acct(f"A{i:03d}"))
        sas += [sa(f"D{i:03d}", "DEP-RES", start="2024-01-01", payoff="-100.00",
                   account_id=f"A{i:03d}"),
                sa(f"E{i:03d}", "E-RES", payoff="60.00", current="60.00", account_id=f"A{i:03d}")]
    init_store(tmp_path / "store", write_extract(tmp_path / "extract", accounts, sas), setup,
               "test")
    return tmp_path / "store"


@pytest.mark.parametrize("trouble, hint", [
    ("full", "the disk is full"),
    ("readonly", "writable"),
])
def test_disk_full_or_unwritable_leaves_the_store_unchanged(busy_store, setup, monkeypatch,
                                                            trouble, hint):
    small_store = busy_store
    before = dump(small_store)
    pages = sqlite3.connect(small_store).execute("PRAGMA page_count").fetchone()[0]

    def hook(point, conn):
        if point == "begun":
            conn.execute(f"PRAGMA max_page_count={pages}" if trouble == "full"
                         else "PRAGMA query_only=1")

    monkeypatch.setattr(sqlstore, "HOOKS", [hook])
    r = cli_run("run", "cycle", "--store", small_store, "--date", ON)
    assert r.exit_code == 2, r.output
    assert f"cannot write to store {small_store}" in r.output
    assert "the store is unchanged" in r.output
    assert hint in r.output and "Traceback" not in r.output
    monkeypatch.undo()
    assert dump(small_store) == before
    assert assert_sound(small_store, setup) == 1
    r = cli_run("run", "cycle", "--store", small_store, "--date", ON)  # and it recovers
    assert r.exit_code == 0, r.output


def test_unwritable_output_folder(small_store, tmp_path):
    # /proc refuses new entries even to root
    r = cli_run("ledger", "export", "--store", small_store, "--out", "/proc/deprules-out")
    assert r.exit_code == 2 and r.output.startswith("error:") and "/proc/deprules-out" in r.output
    r = cli_run("extract", "generate", "--accounts", "3", "--out", "/proc/deprules-gen")
    assert r.exit_code == 2 and "/proc/deprules-gen" in r.output
    assert "Traceback" not in r.output


# ----------------------------------------------------------------------------- failing rules


def _rules_with(tmp_path: Path, name: str, text: str) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / name).write_text(text)
    return rules


LOOP_RULE = """\
process: DEPRFND
description: a broken rule that never settles
rules:
  - id: test/charge-forever
    seed_step: "9.9"
    description: charges the payoff balance again and again; it never makes itself false
    applies_to: any
    when:
      - sa.payoff_balance != 0
      - sa.status == "active"
    then:
      - create_adjustment: {category: deposit_charge, amount: sa.payoff_balance}
"""


def test_rule_loop_stops_naming_rule_and_account(small_store, tmp_path):
    rules = _rules_with(tmp_path, "60-loop.yaml", LOOP_RULE)
    before = dump(small_store)
    r = cli_run("run", "cycle", "--store", small_store, "--date", ON, "--rules", rules)
    assert r.exit_code == 1, r.output
    assert "error: account A1: DEPRFND did not settle after 25 rounds" in r.output
    assert "rules still firing: test/charge-forever (E1)" in r.output
    assert dump(small_store) == before


def test_configuration_that_loops_the_engine(small_store, tmp_path):
    """A write-down type that only posts to the GL (ADJT-GL) never brings the balance to
    zero, so WPM writes down again and again: a pure configuration mistake."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    f = config / "adjustment_types.yaml"
    text = f.read_text()
    old = "    category: write_down\n    ft_algorithm: ADJT-NM\n"
    assert old in text
    f.write_text(text.replace(old, "    category: write_down\n    ft_algorithm: ADJT-GL\n"))
    assert cli_run("validate", "--config", config).exit_code == 0
    before = dump(small_store)
    r = cli_run("run", "cycle", "--store", small_store, "--date", ON, "--config", config)
    assert r.exit_code == 1, r.output
    assert "error: account A3: WPM did not settle after 25 rounds" in r.output
    assert "wpm/write-down (D3)" in r.output
    assert dump(small_store) == before


def test_action_the_ledger_refuses_names_rule_and_account(small_store, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    f = rules / "10-deprfnd.yaml"
    f.write_text(f.read_text().replace("set_status: {to: pending_stop, stop_date: process_date}",
                                       "set_status: {to: closed}"))
    before = dump(small_store)
    for engine in ("vector", "durable", "python"):
        r = cli_run("run", "cycle", "--store", small_store, "--date", ON, "--rules", rules,
                    "--engine", engine)
        assert r.exit_code == 1, r.output
        # per account, the first account fails; the vector engine decides for all accounts
        # at once and names the first it finds (same rule, same message)
        acct = r"A\d, SA (D\d): SA \1" if engine == "vector" else "A1, SA D1: SA D1"
        assert re.search(r"error: rule deprfnd/refund-good-credit-rating on account "
                         + acct + ": illegal status move active -> closed", r.output), r.output
    assert dump(small_store) == before


def test_exception_inside_a_durable_action_is_not_swallowed(small_store, monkeypatch):
    """durable-rules swallows errors raised in actions; the engine wrapper must not."""
    from deprules.rules import engine

    class Exploding(list):
        def append(self, item):
            raise RuntimeError("injected fault in a rule action")

    class Buffers(dict):
        def __getitem__(self, name):
            _, errors = super().__getitem__(name)
            return Exploding(), errors

    monkeypatch.setattr(engine, "_BUFFERS", Buffers(engine._BUFFERS))
    before = dump(small_store)
    r = cli_run("run", "cycle", "--store", small_store, "--date", ON, "--engine", "durable")
    assert r.exit_code == 1, r.output
    assert "failed on account A1: injected fault in a rule action" in r.output
    assert "error: rule depintrf/periodic-interest" in r.output  # the cycle's first rule
    assert dump(small_store) == before


def _explode(*args, **kwargs):
    raise ZeroDivisionError("injected fault in the executor")


def test_unexpected_exception_in_an_action_leaves_store_unchanged(small_store, monkeypatch):
    """In the executor: every account replayed (a fresh store's accounts are otherwise
    written from the engine's columns; tests/test_store_columns.py fails those)."""
    from deprules.ledger.executor import Executor

    monkeypatch.setenv("DEPRULES_STORE_ROWS", "replay")
    monkeypatch.setattr(Executor, "create_final_bill", _explode)
    before = dump(small_store)
    r = CliRunner().invoke(cli, ["run", "cycle", "--store", str(small_store), "--date", ON])
    assert r.exit_code != 0
    assert "Traceback" not in r.output
    assert dump(small_store) == before


def test_unexpected_exception_in_an_action_names_rule_and_account(small_store, monkeypatch):
    from deprules.ledger.executor import Executor

    monkeypatch.setenv("DEPRULES_STORE_ROWS", "replay")
    monkeypatch.setattr(Executor, "create_final_bill", _explode)
    r = CliRunner().invoke(cli, ["run", "cycle", "--store", str(small_store), "--date", ON])
    assert r.exit_code == 1, r.output
    assert "billing/final-bill-segment" in r.output and "A1" in r.output
