"""SIGKILL a writer inside its transaction, and tear its WAL writes: the store always reopens
at the state before or after the commit, never between.

Importing pandas takes most of a second, too slow for one fresh interpreter per kill, so one
child interpreter (the "zygote") imports everything once and forks a fresh worker per round.

Where a kill lands must not depend on how fast the machine is. The worker counts SQLite's
progress callbacks (one every 100 virtual-machine steps) from BEGIN IMMEDIATE on; a first
round counts them through a whole commit, then each round stops the worker at a chosen count
(spread over its reads, deletes and inserts, and at the hook points just before and just
after COMMIT), says so and waits to be killed. A kill before COMMIT returned must leave the
previous state; after it, the new one.

The commit itself (SQLite appending frames to the WAL and fsyncing) is one C call, so it is
tested by tearing: a worker commits with checkpoints off and is killed; the test then
reopens copies of the database with the WAL cut at every frame boundary and half-way through
every frame, and with a flipped byte in the commit frame. Only the whole WAL gives the new
state; anything less gives exactly the old one (SQLite's frame checksums and commit marker).
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deprules.ledger.sqlstore import Store

from helpers import simple_state

SRC = str(Path(__file__).resolve().parents[1] / "src")
TESTS = str(Path(__file__).resolve().parent)
ACCOUNTS = 200
KILL_POINTS = 24

ZYGOTE = r'''
import os, sys, time, traceback
from dataclasses import replace
from deprules.ledger import sqlstore
from deprules.ledger.sqlstore import Store

path = sys.argv[1]


def mutate(states, g):
    """Commit g + 1: every account's deposit moves by 1, gains an adjustment, its To Do
    changes status; so a half-applied commit shows as accounts at different generations."""
    for aid, s in states.items():
        sa = s.sas[f"{aid}-D"]
        sa.payoff_balance += 1
        s.adjustments.append(replace(s.adjustments[0], adjustment_id=f"{aid}-G{g + 1}"))
        s.todos[0].status = "being_worked" if (g + 1) % 2 == 0 else "open"


def work(mode, arg):
    steps = {"n": 0}

    def pause(where):
        os.write(1, f"paused {os.getpid()} {where}\n".encode())
        while True:
            time.sleep(3600)

    def hook(point, conn):
        if point == "begun":
            if mode == "tear":
                conn.execute("PRAGMA wal_autocheckpoint=0")
            def step():
                steps["n"] += 1
                if mode == "step" and steps["n"] == arg:
                    pause(f"step:{arg}")
                return 0
            conn.set_progress_handler(step, 100)
        if mode == "point" and point == arg:
            pause(point)
        if point == "committed":
            os.write(1, f"committed {os.getpid()} {steps['n']}\n".encode())
            if mode == "tear":
                pause("committed")

    sqlstore.HOOKS[:] = [hook]
    store = Store.open(path)
    with store.writer(who=f"crash-worker {os.getpid()}") as w:
        snap = {}
        states = w.load(None, snap)
        mutate(states, w.generation())
        w.write_changed(states, snap)
        w.commit({"command": "crash test", "user": "worker"})


print("ready", flush=True)
for line in sys.stdin:
    mode, arg = line.split()
    pid = os.fork()
    if pid == 0:
        try:
            work(mode, int(arg) if mode == "step" else arg)
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(4)
        os._exit(0)
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

    def next(self, timeout: float = 60.0) -> str:
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


def consistent(path: Path) -> int:
    """The generation the store is at; every account must show exactly that many commits."""
    store = Store.open(path)
    with store.reader() as r:
        g = r.generation()
        states = r.load()
        journal = r.journal()
    base = simple_state("A0").sas["A0-D"].payoff_balance
    assert len(states) == ACCOUNTS
    for aid, s in states.items():
        assert s.sas[f"{aid}-D"].payoff_balance == base + g - 1, f"{aid} is not at generation {g}"
        assert [a.adjustment_id for a in s.adjustments[1:]] == [f"{aid}-G{k}" for k in range(2, g + 1)]
        assert s.todos[0].status == ("being_worked" if g % 2 == 0 else "open")
    assert [e["seq"] for e in journal] == list(range(1, g + 1))
    return g


class Zygote:
    def __init__(self, path: Path):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, TESTS, os.environ.get("PYTHONPATH", "")]),
               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE, str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, env=env)
        self.lines = Lines(self.proc.stdout)
        assert self.lines.next(timeout=120) == "ready"

    def round(self, mode: str, arg) -> dict:
        """One worker; killed where it paused. Returns what it said."""
        self.proc.stdin.write(f"{mode} {arg}\n".encode())
        self.proc.stdin.flush()
        out = {"paused": None, "committed": None}
        while True:
            words = self.lines.next().split()
            if words[0] == "paused":
                out["paused"] = words[2]
                os.kill(int(words[1]), signal.SIGKILL)
            elif words[0] == "committed":
                out["committed"] = int(words[2])
            elif words[0] == "exit":
                code = os.waitstatus_to_exitcode(int(words[2]))
                assert code == (-signal.SIGKILL if out["paused"] else 0), (code, self.errors())
                return out

    def errors(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def make_store(path: Path) -> None:
    states = {f"A{i:04d}": simple_state(f"A{i:04d}") for i in range(ACCOUNTS)}
    Store.create(path, states, {}, {"command": "ledger init", "kind": "init", "user": "test"})


def test_sigkill_inside_the_transaction_leaves_before_or_after(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    make_store(path)
    z = Zygote(path)
    try:
        first = z.round("count", 0)  # a whole commit, counting its progress steps
        total = first["committed"]
        assert total > KILL_POINTS and consistent(path) == 2
        slots = [("point", "begun"), ("point", "written"), ("point", "journaled")] + [
            ("step", 1 + (total - 1) * k // (KILL_POINTS - 1)) for k in range(KILL_POINTS)]
        for mode, arg in slots:
            g = consistent(path)
            got = z.round(mode, arg)
            assert got["paused"] and got["committed"] is None, (mode, arg, got)
            assert consistent(path) == g, f"killed at {mode} {arg}: not the state before"
        got = z.round("point", "committed")  # killed right after COMMIT returned
        assert got["paused"] == "committed" and consistent(path) == g + 1
    except BaseException:
        sys.stderr.write(z.errors())
        raise
    finally:
        z.close()


def _wal_frames(wal: bytes) -> tuple[int, list[int]]:
    page_size = int.from_bytes(wal[8:12], "big")
    frame = 24 + page_size
    n = (len(wal) - 32) // frame
    return frame, [32 + k * frame for k in range(n + 1)]


def test_torn_wal_of_a_killed_commit_gives_before_or_after(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    make_store(path)
    z = Zygote(path)
    try:
        got = z.round("tear", 0)  # commits (checkpoints off), then killed
        assert got["paused"] == "committed"
    finally:
        z.close()
    wal = Path(str(path) + "-wal").read_bytes()
    frame, bounds = _wal_frames(wal)
    assert len(bounds) > 3 and bounds[-1] == len(wal), "the commit should be a few frames"
    cuts = sorted(set(bounds[:-1] + [b + frame // 2 for b in bounds[:-1]] + [bounds[-1] - 1]))
    work = tmp_path / "copies"
    cases = [(f"cut {c}", wal[:c]) for c in cuts]
    flipped = bytearray(wal)
    flipped[bounds[-2] + 24 + 100] ^= 0xFF  # a byte of the last (commit) frame's page
    cases.append(("flipped byte in the commit frame", bytes(flipped)))
    cases.append(("whole WAL", wal))
    for i, (name, data) in enumerate(cases):
        d = work / str(i)
        d.mkdir(parents=True)
        shutil.copyfile(path, d / "store.db")
        (d / "store.db-wal").write_bytes(data)
        g = consistent(d / "store.db")
        assert g == (2 if name == "whole WAL" else 1), f"{name}: generation {g}"
