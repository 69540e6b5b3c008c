"""SIGKILL a writer at random moments and check the store always reopens consistent.

Importing pandas and pyarrow takes most of a second, too slow for one fresh
interpreter per kill.  So one child interpreter (the "zygote") imports everything
once and forks a fresh worker process per round; the test SIGKILLs that worker.
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
import os, sys, traceback
import numpy as np
from deprules.ledger.store import Store

path = sys.argv[1]


def work(seed):
    rng = np.random.default_rng(seed)
    with Store.open(path).writer(who=f"crash-worker {os.getpid()}") as w:
        g = w.read()[1]["generation"]
        os.write(1, f"locked {os.getpid()} {g}\n".encode())
        while True:
            tables, meta, journal = make_tables(g + 1, rng)
            got = w.commit(tables, meta, journal)
            if got != g + 1:
                os.write(2, f"commit returned {got}, expected {g + 1}\n".encode())
                os._exit(3)
            g = got
            # after the commit returned: the test may miss this line, never see it early
            os.write(1, f"committed {os.getpid()} {g}\n".encode())


print("ready", flush=True)
for line in sys.stdin:
    seed = int(line.split()[1])
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            work(seed)
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
    stats = {"committed_by_worker": 0, "reopened_unprinted": 0}
    points: dict[str, int] = {}
    try:
        assert lines.next(timeout=60) == "ready"
        for round_no in range(KILLS):
            before = Store.open(path).generation()
            zygote.stdin.write(f"go {SEED + round_no}\n".encode())
            zygote.stdin.flush()
            committed: list[int] = []
            line = lines.next()
            assert line.startswith("locked "), line
            _, pid_text, g_text = line.split()
            pid = int(pid_text)
            assert int(g_text) == before

            # Building the tables takes ~4 ms and a commit ~8 ms here: spread the
            # kills over the first few commits.
            time.sleep(rnd.uniform(0, 0.06))
            os.kill(pid, signal.SIGKILL)

            while True:
                line = lines.next()
                word, who, value = line.split()
                if word == "committed":
                    committed.append(int(value))
                elif word == "exit" and int(who) == pid:
                    assert os.waitstatus_to_exitcode(int(value)) == -signal.SIGKILL, (
                        f"worker ended with status {value}, not by SIGKILL"
                    )
                    break
                else:
                    raise AssertionError(line)

            assert committed == list(range(before + 1, before + 1 + len(committed)))
            last = committed[-1] if committed else before
            store = Store.open(path)
            g = store.generation()
            assert g in (last, last + 1), f"round {round_no}: reopened {g}, last printed commit {last}"
            assert check_consistent(store) == g
            stats["committed_by_worker"] += len(committed)
            stats["reopened_unprinted"] += g == last + 1
            point = crash_point(path, g)
            points[point] = points.get(point, 0) + 1

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
            zygote.wait(timeout=10)
        except subprocess.TimeoutExpired:
            zygote.kill()
            zygote.wait()
    elapsed = time.monotonic() - t0
    print(f"{KILLS} kills in {elapsed:.1f} s: {stats}, crash points {points}")
    # kills must land inside commits, not only between them
    assert points.get("writing the generation", 0) > 0
    assert stats["committed_by_worker"] > 0
