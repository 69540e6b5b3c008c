"""Faults: a killed cycle, two writers, a full disk, failing rules. The store must always be
at its previous or its new committed generation, sound, and never half-applied.

SIGKILL during the store's own commit protocol is tested in test_store_crash.py (64 kills of a
bare writer); here a REAL ``deprules run cycle`` process is killed, so the whole path (load,
rules, executor, invariant check, commit) is covered. The tests run as root, so a read-only
folder would not stop them: a full or unwritable disk is simulated by making the store's
write functions raise the errors the OS would (ENOSPC, EACCES), and /proc is used where a
truly unwritable place is needed.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from deprules.cli import cli
from deprules.ledger import Ledger
from deprules.ledger.store import Store

from helpers import acct, sa, write_extract

ROOT = Path(__file__).resolve().parents[1]
ON = "2026-11-21"
KILLS = 10
SEED = 20261121


def cli_run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def subprocess_cli(*args, env=None, **kw):
    full_env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
    return subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *map(str, args)], cwd=ROOT,
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def tables_of(store_dir: Path) -> tuple[dict[str, pd.DataFrame], int]:
    tables, meta = Store.open(store_dir).read()
    return tables, int(meta["generation"])


def assert_same_tables(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


def assert_sound(store_dir: Path, setup) -> int:
    tables, gen = tables_of(store_dir)
    problems = Ledger.from_tables(tables, setup.config).check()
    assert problems == [], problems[:5]
    return gen


def store_files(store_dir: Path) -> dict[str, int]:
    """Every file of a store with its size and mtime: 'unchanged' means this is equal."""
    out = {}
    for p in sorted(store_dir.rglob("*")):
        if p.is_file() and p.name != "LOCK":
            st = p.stat()
            out[str(p.relative_to(store_dir))] = (st.st_size, st.st_mtime_ns)
    return out


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
    shutil.copytree(base / "template", reference)
    started = time.monotonic()
    proc = subprocess_cli("run", "cycle", "--store", reference, "--date", ON,
                          env={"PYTHONHASHSEED": "12345"})
    out, err = proc.communicate(timeout=300)
    duration = time.monotonic() - started
    assert proc.returncode == 0, err.decode()
    assert b"of 300 accounts changed" in out
    return {"base": base, "template": base / "template", "reference": reference,
            "duration": duration}


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


def _kill_at(store: Path, engine: str, delay: float | None, mark: str, after: float) -> str:
    """Start a real ``deprules run cycle`` and SIGKILL it after ``delay`` seconds or, without
    a delay, ``after`` seconds once ``mark`` appears in the store (``gen-2.tmp``: the commit
    has started; ``gen-2``: the new generation is renamed into place, CURRENT not yet
    switched)."""
    proc = subprocess_cli("run", "cycle", "--store", store, "--date", ON, "--engine", engine)
    started = time.monotonic()
    if delay is not None:
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass
    else:
        while proc.poll() is None and not (store / mark).exists():
            time.sleep(0.0005)
        time.sleep(after)
    finished = proc.poll() is not None
    if not finished:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    return "after it finished" if finished else f"at {time.monotonic() - started:.2f} s"


def test_killed_cycle_leaves_previous_or_new_generation(generated, setup, tmp_path):
    """KILLS real runs, two at a time: some at a random moment of the whole run, some a few
    milliseconds into their commit, some right at the switch of CURRENT. Each store must
    then hold exactly the previous generation or exactly the reference result, and be sound."""
    from concurrent.futures import ThreadPoolExecutor

    rng = random.Random(SEED)
    reference, _ = tables_of(generated["reference"])
    original, _ = tables_of(generated["template"])
    duration = generated["duration"]
    plans = []
    for i in range(KILLS):
        engine = "durable" if i % 4 == 0 else "python"  # python matches faster: more kills
        if i % 4 == 1:  # while the new generation is being written
            plans.append((i, engine, None, "gen-2.tmp", rng.uniform(0.0, 0.03)))
        elif i % 4 == 3:  # between its rename and the switch of CURRENT (or just after)
            plans.append((i, engine, None, "gen-2", rng.uniform(0.0, 0.004)))
        else:  # anywhere: start-up, loading, rules, invariant check, commit
            plans.append((i, engine, rng.uniform(0.05, 1.1) * duration, "", 0.0))

    def kill(plan):
        i, engine, delay, mark, after = plan
        store = tmp_path / f"store-{i}"
        shutil.copytree(generated["template"], store)
        when = _kill_at(store, engine, delay, mark, after)
        tables, gen = tables_of(store)
        return i, store, when, gen, tables, sorted(p.name for p in store.iterdir())

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(kill, plans))
    for i, store, when, gen, tables, files in outcomes:
        assert gen in (1, 2), f"kill {i} {when}: generation {gen}"
        assert_same_tables(tables, reference if gen == 2 else original)
        assert assert_sound(store, setup) == gen
    print("\nkills:", *(f"{o[2]} -> gen {o[3]} {o[5]}" for o in outcomes), sep="\n  ")
    # the next run after a kill recovers from the debris and gives exactly the reference
    killed = [o for o in outcomes if o[3] == 1]
    store = max(killed, key=lambda o: len(o[5]))[1] if killed else outcomes[0][1]
    r = cli_run("run", "cycle", "--store", store, "--date", ON)
    assert r.exit_code == 0, r.output
    assert_same_tables(tables_of(store)[0], reference)
    r = cli_run("ledger", "check", "--store", store)
    assert r.exit_code == 0 and "ledger sound: 300 accounts, generation 2" in r.output


def test_same_cycle_on_two_copies_gives_identical_tables(generated, tmp_path):
    """Determinism: the reference ran in another process (its own hash seed); this one runs
    here, once with each matching back end. Every table must be equal, value for value, and
    running the cycle again on the same date must leave every table as it was."""
    reference, gen = tables_of(generated["reference"])
    assert gen == 2
    for engine in ("durable", "python"):
        store = tmp_path / f"copy-{engine}"
        shutil.copytree(generated["template"], store)
        r = cli_run("run", "cycle", "--store", store, "--date", ON, "--engine", engine)
        assert r.exit_code == 0, r.output
        assert_same_tables(tables_of(store)[0], reference)
    # and the second run on the same date changes no table
    r = cli_run("run", "cycle", "--store", store, "--date", ON, "--engine", "python")
    assert r.exit_code == 0 and "0 of 300 accounts changed" in r.output
    again, gen = tables_of(store)
    assert gen == 3
    assert_same_tables(again, reference)


# ----------------------------------------------------------------------------- two writers


def test_second_writer_is_refused_while_the_lock_is_held(small_store, setup):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from deprules.ledger.store import Store\n"
         "with Store.open(sys.argv[1]).writer(who='analyst-1'):\n"
         "    print('locked', flush=True)\n"
         "    time.sleep(60)\n", str(small_store)],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = store_files(small_store)
        r = cli_run("run", "cycle", "--store", small_store, "--date", ON)
        assert r.exit_code == 2, r.output
        assert f"store {small_store} is locked by another writer: pid {holder.pid}" in r.output
        assert "as 'analyst-1'" in r.output and "Traceback" not in r.output
        # a second real process is refused the same way
        other = subprocess_cli("run", "WPM", "--store", small_store, "--date", ON)
        out, err = other.communicate(timeout=120)
        assert other.returncode == 2 and b"is locked by another writer" in err
        assert store_files(small_store) == before
    finally:
        holder.kill()
        holder.wait()
    # the lock dies with its holder: now the run goes through
    r = cli_run("run", "cycle", "--store", small_store, "--date", ON)
    assert r.exit_code == 0, r.output
    assert assert_sound(small_store, setup) == 2


# ----------------------------------------------------------------------------- disk trouble


@pytest.mark.parametrize("where, code", [
    ("table", errno.ENOSPC),      # the disk fills while the tables are written
    ("journal", errno.ENOSPC),    # ... while the journal is written
    ("current", errno.ENOSPC),    # ... while the new CURRENT is written
    ("table", errno.EACCES),      # the folder became unwritable
    ("rename", errno.EROFS),      # the file system went read-only at the switch
])
def test_disk_full_or_unwritable_leaves_the_store_unchanged(small_store, setup, monkeypatch,
                                                            where, code):
    import deprules.ledger.store as store_mod

    before = store_files(small_store)
    fail = OSError(code, os.strerror(code))
    if where == "table":
        real = store_mod._write_table
        calls = []

        def write_table(table, path):
            calls.append(path)
            if len(calls) == 3:  # a few tables are already on disk
                raise fail
            real(table, path)

        monkeypatch.setattr(store_mod, "_write_table", write_table)
    elif where in ("journal", "current"):
        real_bytes = store_mod._write_bytes
        name = store_mod.JOURNAL_FILE if where == "journal" else f"{store_mod.CURRENT}.tmp"

        def write_bytes(path, data):
            if Path(path).name == name:
                raise fail
            real_bytes(path, data)

        monkeypatch.setattr(store_mod, "_write_bytes", write_bytes)
    else:
        real_rename = os.rename

        def rename(src, dst):
            if str(src).endswith(".tmp"):
                raise fail
            real_rename(src, dst)

        monkeypatch.setattr(store_mod.os, "rename", rename)

    r = cli_run("run", "cycle", "--store", small_store, "--date", ON)
    assert r.exit_code == 2, r.output
    assert f"cannot commit to store {small_store}" in r.output
    assert "the store is unchanged (still generation 1)" in r.output
    hint = "the disk is full" if code == errno.ENOSPC else "is the folder writable"
    assert hint in r.output and "Traceback" not in r.output
    assert store_files(small_store) == before  # no debris either: gen-2.tmp is removed
    monkeypatch.undo()
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
    before = store_files(small_store)
    r = cli_run("run", "cycle", "--store", small_store, "--date", ON, "--rules", rules)
    assert r.exit_code == 1, r.output
    assert "error: account A1: DEPRFND did not settle after 25 rounds" in r.output
    assert "rules still firing: test/charge-forever (E1)" in r.output
    assert store_files(small_store) == before


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
    before = store_files(small_store)
    r = cli_run("run", "cycle", "--store", small_store, "--date", ON, "--config", config)
    assert r.exit_code == 1, r.output
    assert "error: account A3: WPM did not settle after 25 rounds" in r.output
    assert "wpm/write-down (D3)" in r.output
    assert store_files(small_store) == before


def test_action_the_ledger_refuses_names_rule_and_account(small_store, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    f = rules / "10-deprfnd.yaml"
    f.write_text(f.read_text().replace("set_status: {to: pending_stop, stop_date: process_date}",
                                       "set_status: {to: closed}"))
    before = store_files(small_store)
    for engine in ("durable", "python"):
        r = cli_run("run", "cycle", "--store", small_store, "--date", ON, "--rules", rules,
                    "--engine", engine)
        assert r.exit_code == 1, r.output
        assert ("error: rule deprfnd/refund-good-credit-rating on account A1, SA D1: "
                "SA D1: illegal status move active -> closed") in r.output
    assert store_files(small_store) == before


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
    before = store_files(small_store)
    r = cli_run("run", "cycle", "--store", small_store, "--date", ON)
    assert r.exit_code == 1, r.output
    assert "failed on account A1: injected fault in a rule action" in r.output
    assert "error: rule deprfnd/" in r.output
    assert store_files(small_store) == before


def _explode(*args, **kwargs):
    raise ZeroDivisionError("injected fault in the executor")


def test_unexpected_exception_in_an_action_leaves_store_unchanged(small_store, monkeypatch):
    from deprules.ledger.executor import Executor

    monkeypatch.setattr(Executor, "create_final_bill", _explode)
    before = store_files(small_store)
    r = CliRunner().invoke(cli, ["run", "cycle", "--store", str(small_store), "--date", ON])
    assert r.exit_code != 0
    assert "Traceback" not in r.output
    assert store_files(small_store) == before


def test_unexpected_exception_in_an_action_names_rule_and_account(small_store, monkeypatch):
    from deprules.ledger.executor import Executor

    monkeypatch.setattr(Executor, "create_final_bill", _explode)
    r = CliRunner().invoke(cli, ["run", "cycle", "--store", str(small_store), "--date", ON])
    assert r.exit_code == 1, r.output
    assert "billing/final-bill-segment" in r.output and "A1" in r.output
