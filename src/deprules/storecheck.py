"""`ledger check`'s queries shared out over child processes, in the parent's snapshot.

The set-at-a-time check (:mod:`deprules.ledger.sqlcheck`) is about fifty seconds of SQLite's
CPU at 1,000,000 accounts. Two connections in threads of one process took a third more CPU
than one connection alone (SQLite's global mutexes: 9 - 10 s of system time instead of 3.5),
so the second share runs in a child process (``python -m deprules.storecheck``, a fresh
interpreter importing only ``sqlite3`` and ``json``; a process holding a connection is never
forked): the parent runs its share on its own connection meanwhile.

The snapshot: the parent holds a read transaction; a child's is the parent's when it holds
the same last journal entry (every committed change adds one). A child that sees another,
or fails in any way, gets its tasks run by the parent instead: the findings never depend on
whether children were used.

A task is ``[kind, argument]``: ``["sql", text]`` (its rows), ``["orphan", table]`` (the
first row's account of ``table`` not in ``accounts``, or None) or ``["dup", [table, id
column]]`` (whether some account has two rows of one id). Request (stdin) and answer
(stdout) are JSON; the rows' values (integers, texts, NULL) come back as they were.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor


def generation(conn) -> int:
    """The store's last journal entry (what a snapshot holds)."""
    return conn.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()[0]


def orphan_in(conn, table: str) -> str | None:
    """The first row's account (rowid order) of ``table`` that is not in ``accounts``."""
    if table == "accounts":
        return None
    # the distinct accounts from the index (or, where an account has many rows, by one
    # seek from each account to the next: the journal, 15 rows an account at 1,000,000,
    # in 1.8 instead of 3.3 s), then the first orphan row
    many = conn.execute(f"SELECT COALESCE(MAX(rowid), 0) > 8 * (SELECT COALESCE(MAX(rowid), "
                        f"0) FROM accounts) FROM {table}").fetchone()[0]
    ids = (f"WITH RECURSIVE d(account_id) AS (SELECT MIN(account_id) FROM {table} UNION ALL "
           f"SELECT (SELECT MIN(account_id) FROM {table} WHERE account_id > d.account_id) "
           "FROM d WHERE d.account_id IS NOT NULL) SELECT 1 FROM d WHERE account_id IS NOT "
           "NULL AND" if many else
           f"SELECT 1 FROM (SELECT DISTINCT account_id FROM {table} INDEXED BY "
           f"{table}_account) d WHERE")
    if not conn.execute(f"{ids} NOT EXISTS (SELECT 1 FROM accounts x WHERE x.account_id = "
                        "d.account_id) LIMIT 1").fetchone():
        return None
    row = conn.execute(f"SELECT account_id FROM {table} t WHERE NOT EXISTS (SELECT 1 "
                       "FROM accounts x WHERE x.account_id = t.account_id) ORDER BY rowid "
                       "LIMIT 1").fetchone()
    return row[0] if row else None


def duplicated(conn, table: str, col: str) -> bool:
    """Whether some account of ``table`` has two rows of one ``col`` (damage: the executor
    never makes them)."""
    # ids are unique store-wide in practice: a scan of the id's index proves it at once
    return bool(conn.execute(f"SELECT 1 FROM {table} INDEXED BY {table}_{col} GROUP BY {col} "
                             "HAVING COUNT(*) > 1 LIMIT 1").fetchone() and conn.execute(
        f"SELECT 1 FROM {table} GROUP BY {col}, account_id HAVING COUNT(*) > 1 LIMIT 1"
    ).fetchone())


def run_task(conn, task) -> object:
    kind, arg = task
    if kind == "sql":
        return conn.execute(arg).fetchall()
    if kind == "orphan":
        return orphan_in(conn, arg)
    if kind == "dup":
        return duplicated(conn, *arg)
    raise ValueError(f"unknown task kind {kind!r}")


def shares(costs: list[float], n: int) -> list[list[int]]:
    """The task indexes in ``n`` shares of about equal cost (the costliest first, each to the
    share with the least so far); share 0 is the parent's."""
    out: list[list[int]] = [[] for _ in range(n)]
    load = [0.0] * n
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        k = min(range(n), key=lambda k: (load[k], k))
        out[k].append(i)
        load[k] += costs[i]
    return out


def run(conn, path, tasks: list, costs: list[float], workers: int) -> list:
    """The result of every task, in task order: share 0 on ``conn`` (in this thread), the
    other ``workers - 1`` shares in child processes on the store file ``path``, each in
    ``conn``'s snapshot (a child that cannot be used has its share run on ``conn``)."""
    results: list = [None] * len(tasks)
    groups = shares(costs, max(1, workers))
    children, requests = [], []
    want = generation(conn)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (here, os.environ.get("PYTHONPATH")) if p)}
    try:
        for group in groups[1:]:
            if not group:
                continue
            children.append((group, subprocess.Popen(
                [sys.executable, "-m", "deprules.storecheck"], env=env, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
            requests.append(json.dumps({"path": str(path), "generation": want,
                                        "tasks": [tasks[i] for i in group]}).encode())
        if not children:
            return [run_task(conn, t) for t in tasks]
        with ThreadPoolExecutor(len(children)) as pool:
            answers = [pool.submit(child.communicate, req)
                       for (_, child), req in zip(children, requests)]
            for i in groups[0]:
                results[i] = run_task(conn, tasks[i])
            for (group, child), answer in zip(children, answers):
                got = _answer(child, answer)
                for i, value in zip(group, got if got is not None else [None] * len(group)):
                    results[i] = value if got is not None else run_task(conn, tasks[i])
    finally:
        for _, child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
            for f in (child.stdin, child.stdout, child.stderr):
                f.close()
    return results


def _answer(child, future) -> list | None:
    """A child's results (rows as tuples), or None when it failed or saw another snapshot."""
    try:
        data, _ = future.result()
        if child.returncode != 0:
            return None
        answer = json.loads(data)
    except (OSError, ValueError):
        return None
    if answer.get("generation") is None or "results" not in answer:
        return None
    return [[tuple(r) for r in v] if isinstance(v, list) else v for v in answer["results"]]


def _child(request: dict) -> dict:  # pragma: no cover - in a child
    path = str(request["path"])
    uri = "file:" + path.replace("?", "%3f").replace("#", "%23") + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=5.0)
    try:
        conn.execute("PRAGMA cache_size=-131072")
        conn.execute("BEGIN")
        if generation(conn) != request["generation"]:  # a command committed in between
            return {"generation": None}
        return {"generation": request["generation"],
                "results": [run_task(conn, t) for t in request["tasks"]]}
    finally:
        conn.close()


def main() -> None:  # pragma: no cover - the child: python -m deprules.storecheck
    import signal

    # Ctrl-C is the parent's to handle: it stops its children
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answer = _child(json.loads(sys.stdin.buffer.read()))
    sys.stdout.write(json.dumps(answer, ensure_ascii=False))
    sys.stdout.flush()


if __name__ == "__main__":  # pragma: no cover
    main()
