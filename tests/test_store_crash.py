"""SIGKILL a writer inside its commits and check the store always reopens consistent.

Importing pandas and pyarrow takes most of a second, too slow for one fresh
interpreter per kill.  So one child interpreter (the "zygote") imports everything
once and forks a fresh worker process per round; the test SIGKILLs that worker.

Where a kill lands must not depend on how fast or loaded the machine is. So most rounds
stop the worker at a chosen point of a commit: every file operation of the store's commit
(mkdir, each table and file write, each fsync, the rename, the switch of CURRENT, the
pruning) is a numbered "slot", before it runs and, for writes, half-way through its
bytes. The worker announces the slot it reached and waits there to be killed, so every
slot of the first commits is killed at, on any machine. A few rounds kill at a random
moment instead, as a real crash would; those only have to leave a sound store.
"""

from __future__ import annotations

import inspect
import os
import random
import selectors
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

from deprules.ledger.store import Store

SRC = str(Path(__file__).resolve().parents[1] / "src")
KILLS = 64
PAUSED = 48  # rounds killed at a chosen slot; the others at a random moment
SEED = 20261122


def make_tables(gen, rng):
    """Tables whose every row carries ``gen`` and whose money sums to zero."""
    import numpy as np
    import pandas as pd

    def zero_sum(n):
        v = rng.integers(-10**9, 10**9, size=n, dtype="int64")
        v[-1] = -int(v[:-1].sum())
        return v

    sizes = {"accounts": 300, "adjustments": 200 + gen % 37, "fts": 400, "gl_lines": 150 + (gen * 7) % 50}
    n = sizes["accounts"]
    opened = pd.Series(pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"))
    opened[rng.random(n) < 0.2] = pd.NaT
    accounts = pd.DataFrame({
        "gen": np.full(n, gen, dtype="int64"),
        "account_id": pd.Series([f"A{gen}-{i}" for i in range(n)], dtype=object),
        "active": rng.random(n) < 0.5,
        "opened": opened.astype("datetime64[ns]"),
        "money": zero_sum(n),
    })
    n = sizes["adjustments"]
    amount = pd.array([None] * n, dtype="Int64")
    present = np.flatnonzero(rng.random(n) < 0.8)
    amount[present] = zero_sum(len(present))
    adjustments = pd.DataFrame({
        "gen": np.full(n, gen, dtype="int64"),
        "amount": amount,
        "money": zero_sum(n),
    })
    fts = pd.DataFrame({"gen": np.full(sizes["fts"], gen, dtype="int64"), "money": zero_sum(sizes["fts"])})
    gl_lines = pd.DataFrame({
        "gen": np.full(sizes["gl_lines"], gen, dtype="int64"),
        "money": zero_sum(sizes["gl_lines"]),
        "ref": pd.Series([f"g{gen}"] * sizes["gl_lines"], dtype="str"),
    })
    tables = {"accounts": accounts, "adjustments": adjustments, "fts": fts, "gl_lines": gl_lines}
    meta = {"data_gen": gen, "rows": sizes}
    return tables, meta, [{"gen": gen, "rows": sum(sizes.values())}]


ZYGOTE_MAIN = r'''
import os, shutil, sys, time, traceback
import numpy as np
from deprules.ledger import store as store_mod
from deprules.ledger.store import Store

path = sys.argv[1]
# the commit's file operations in the order a commit runs them (for the test's verdict)
OPS = ("mkdir", "write_table", "write_bytes", "fsync_dir", "rename", "replace", "rmtree")


def pause_at(slot):
    # Number every file operation of the store; stop at slot ``slot`` and wait to be killed.
    state = {"n": 0, "commit": 1, "switched": 0}

    def reached(op, phase):
        state["n"] += 1
        if state["n"] == slot:
            os.write(1, (f"paused {os.getpid()} {slot} {state['commit']} {op} {phase} "
                         f"{state['switched']}\n").encode())
            while True:
                time.sleep(3600)

    def hook(op, fn):
        def run(*args, **kwargs):
            reached(op, "before")
            return fn(*args, **kwargs)
        return run

    def writes(op, to_bytes, fn, data_first):
        def run(first, second):
            data, where = (first, second) if data_first else (second, first)
            reached(op, "before")
            if state["n"] + 1 == slot:  # half the bytes are on disk, unsynced, then the kill
                raw = to_bytes(data)
                with open(where, "xb") as f:
                    f.write(raw[: len(raw) // 2])
                    f.flush()
                reached(op, "half-written")
            state["n"] += 1
            return fn(first, second)
        return run

    def parquet_bytes(table):
        import io
        import pyarrow.parquet as pq
        buf = io.BytesIO()
        pq.write_table(table, buf)
        return buf.getvalue()

    store_mod._write_table = writes("write_table", parquet_bytes, store_mod._write_table, True)
    store_mod._write_bytes = writes("write_bytes", bytes, store_mod._write_bytes, False)
    store_mod._fsync_dir = hook("fsync_dir", store_mod._fsync_dir)
    os.mkdir = hook("mkdir", os.mkdir)
    os.rename = hook("rename", os.rename)
    replace = hook("replace", os.replace)

    def switch(*args, **kwargs):  # CURRENT names the new generation once this returns
        replace(*args, **kwargs)
        state["switched"] += 1

    os.replace = switch
    shutil.rmtree = hook("rmtree", shutil.rmtree)
    return state


def work(seed, slot):
    rng = np.random.default_rng(seed)
    with Store.open(path).writer(who=f"crash-worker {os.getpid()}") as w:
        g = w.read()[1]["generation"]
        state = pause_at(slot) if slot else {"commit": 1}
        os.write(1, f"locked {os.getpid()} {g}\n".encode())
        while True:
            tables, meta, journal = make_tables(g + 1, rng)
            got = w.commit(tables, meta, journal)
            if got != g + 1:
                os.write(2, f"commit returned {got}, expected {g + 1}\n".encode())
                os._exit(3)
            g = got
            state["commit"] += 1
            # after the commit returned: the test may miss this line, never see it early
            os.write(1, f"committed {os.getpid()} {g}\n".encode())


print("ready", flush=True)
for line in sys.stdin:
    _, seed, slot = line.split()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            work(int(seed), int(slot))
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
        os._exit(4)
    _, status = os.waitpid(pid, 0)
    print(f"exit {pid} {status}", flush=True)
'''


class Lines:
    """Line reader over a pipe with a timeout, so a stuck child fails the test instead of hanging it."""

    def __init__(self, stream):
        self.fd = stream.fileno()
        self.buf = b""
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.fd, selectors.EVENT_READ)

    def next(self, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sel.select(left):
                raise AssertionError(f"no output from the child within {timeout} s")
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise AssertionError("the child closed its output")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


def check_consistent(store: Store) -> int:
    tables, meta = store.read()
    g = meta["generation"]
    assert meta["data_gen"] == g
    assert set(tables) == {"accounts", "adjustments", "fts", "gl_lines"}
    for name, df in tables.items():
        assert len(df) == meta["rows"][name], name
        assert df["gen"].dtype == np.dtype("int64")
        assert (df["gen"] == g).all(), f"{name} mixes generations"
        assert df["money"].dtype == np.dtype("int64")
        assert int(df["money"].sum()) == 0, f"{name} money does not sum to zero"
    assert tables["adjustments"]["amount"].dtype == pd.Int64Dtype()
    assert int(tables["adjustments"]["amount"].sum()) == 0
    assert tables["accounts"]["opened"].dtype == np.dtype("datetime64[ns]")
    assert tables["accounts"]["active"].dtype == np.dtype("bool")
    assert tables["accounts"]["account_id"].iloc[0] == f"A{g}-0"
    assert [e["gen"] for e in store.journal()] == list(range(1, g + 1))
    return g


def crash_point(path: Path, g: int) -> str:
    """Where in a commit the kill landed, as far as the leftovers tell."""
    entries = set(os.listdir(path))
    if "CURRENT.tmp" in entries:
        return "writing CURRENT"
    if f"gen-{g + 1}" in entries:
        return "after renaming the generation"
    if f"gen-{g + 1}.tmp" in entries:
        return "writing the generation"
    if any(e.startswith("gen-") and int(e[4:]) < g - 1 for e in entries):
        return "pruning"
    return "between commits"


def _kill(zygote, lines: Lines, seed: int, slot: int, rnd: random.Random) -> dict:
    """One round: a worker commits until it is killed, at ``slot`` or (slot 0) at random."""
    zygote.stdin.write(f"go {seed} {slot}\n".encode())
    zygote.stdin.flush()
    line = lines.next()
    assert line.startswith("locked "), line
    _, pid_text, g_text = line.split()
    pid, paused, committed = int(pid_text), None, []
    if slot:
        line = lines.next()
        while line.startswith(f"committed {pid} "):  # commits before the slot's commit
            committed.append(int(line.split()[2]))
            line = lines.next()
        assert line.startswith(f"paused {pid} {slot} "), line
        _, _, _, commit, op, phase, switched = line.split()
        paused = {"commit": int(commit), "op": op, "phase": phase, "switched": int(switched)}
    else:
        # a kill at a random moment of the first few commits, as a real crash would
        time.sleep(rnd.uniform(0, 0.06))
    os.kill(pid, signal.SIGKILL)
    while True:
        line = lines.next()
        word, who, value = line.split()
        if word == "committed":
            committed.append(int(value))
        elif word == "exit" and int(who) == pid:
            assert os.waitstatus_to_exitcode(int(value)) == -signal.SIGKILL, (
                f"worker ended with status {value}, not by SIGKILL")
            break
        else:
            raise AssertionError(line)
    return {"before": int(g_text), "committed": committed, "paused": paused}


def test_sigkill_during_commits_never_breaks_the_store(tmp_path: Path) -> None:
    t0 = time.monotonic()
    path = tmp_path / "store"
    rnd = random.Random(SEED)
    np_rng = np.random.default_rng(SEED)
    tables, meta, journal = make_tables(1, np_rng)
    Store.create(path, tables, meta, who="test", journal_entries=journal)

    code = textwrap.dedent(inspect.getsource(make_tables)) + ZYGOTE_MAIN
    env = {
        **os.environ,
        "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
        # fork() after import: keep the zygote free of helper threads
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    }
    stderr = tempfile.TemporaryFile()
    zygote = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env
    )
    lines = Lines(zygote.stdout)
    points: dict[str, int] = {}
    ops: set[tuple[str, str]] = set()
    # slots 1..PAUSED cover every file operation of the first two commits and part of a
    # third; the random rounds are spread among them
    plan = list(range(1, PAUSED + 1))
    for k in range(KILLS - PAUSED):
        plan.insert(rnd.randrange(len(plan) + 1), 0)
    try:
        assert lines.next(timeout=120) == "ready"
        for round_no, slot in enumerate(plan):
            before = Store.open(path).generation()
            got = _kill(zygote, lines, SEED + round_no, slot, rnd)
            assert got["before"] == before
            committed = got["committed"]
            assert committed == list(range(before + 1, before + 1 + len(committed)))
            last = committed[-1] if committed else before
            store = Store.open(path)
            g = store.generation()
            if got["paused"]:
                p = got["paused"]
                where = f"round {round_no}, slot {slot}: {p}"
                # the store holds exactly what the worker had switched CURRENT to
                assert g == before + p["switched"], f"{where}: reopened generation {g}"
                assert len(committed) == p["commit"] - 1, where
                ops.add((p["op"], p["phase"]))
                point = crash_point(path, g)
                points[point] = points.get(point, 0) + 1
            else:
                assert g in (last, last + 1), f"round {round_no}: reopened {g}, last printed commit {last}"
            assert check_consistent(store) == g

            with store.writer(who="test") as w:
                assert w.commit(*make_tables(g + 1, np_rng)) == g + 1
            assert check_consistent(Store.open(path)) == g + 1
            assert sorted(os.listdir(path)) == sorted(["CURRENT", "LOCK", f"gen-{g}", f"gen-{g + 1}"])
    except BaseException:
        stderr.seek(0)
        sys.stderr.write(stderr.read().decode(errors="replace"))
        raise
    finally:
        zygote.stdin.close()
        try:
            zygote.wait(timeout=30)
        except subprocess.TimeoutExpired:
            zygote.kill()
            zygote.wait()
    print(f"{KILLS} kills in {time.monotonic() - t0:.1f} s; paused kills by crash point {points}")
    # every file operation of a commit was killed at, before it ran and half-way through
    # each write; the leftovers show kills in every stage of a commit
    assert ops >= {("mkdir", "before"), ("write_table", "before"), ("write_table", "half-written"),
                   ("write_bytes", "before"), ("write_bytes", "half-written"),
                   ("fsync_dir", "before"), ("rename", "before"), ("replace", "before"),
                   ("rmtree", "before")}, ops
    assert {"writing the generation", "after renaming the generation", "writing CURRENT",
            "pruning"} <= set(points), points
