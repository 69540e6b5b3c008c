"""A store batch's columns read by child processes through ADBC's SQLite driver.

Reading a million accounts' rows through Python's ``sqlite3`` builds a Python object per
value (about 10 s of the 1,000,000-account no-op cycle). ADBC's SQLite driver
(``adbc-driver-sqlite``) steps the same queries and appends the values to Arrow columns in
C, about half the CPU; two children read half of the tables each, on two cores, and send
their columns back as Arrow IPC.

Why children, not a thread: the driver links its own copy of SQLite, and two copies of
SQLite in one process break each other's POSIX locks (closing one copy's file releases the
other's locks: sqlite.org/howtocorrupt.html, 2.2.1). The children are fresh interpreters
(``python -m deprules.storeread``, importing only pyarrow and the driver: about 0.2 s; a
process holding a SQLite connection is never forked), so they work the same from the
command line and from a server's job thread. A child reads its request (JSON) on standard
input and writes each query's columns as an Arrow IPC stream, length-prefixed, on standard
output.

The snapshot: the parent holds the store's write transaction and has written nothing, so
a reader that starts now sees exactly what the parent sees (nobody else can commit). Each
child checks that its snapshot holds the parent's last journal entry and fails otherwise.

``read(...)`` returns None (and the caller reads in process, with the same result) when
``$DEPRULES_STORE_READER`` is ``python``, or ``auto`` (the default) and the store holds
fewer than CHILDREN_FROM accounts or a child fails. ``arrow`` uses the children whatever
the size, and a child's failure is an error (naming what the child said).
"""

from __future__ import annotations

import os

import pyarrow as pa

READER_ENV = "DEPRULES_STORE_READER"
READERS = ("auto", "arrow", "python")
# auto: children from this many accounts in the store. Starting two interpreters with the
# driver costs about 0.3 s more than reading in process at 20,000 accounts; at 1,000,000 the
# no-op cycle takes 6.2 - 7.9 s with them, 19.9 s without (docs/performance.md).
CHILDREN_FROM = 50_000
# two children of about equal work (measured at 1,000,000 accounts: 2.6 and 2.2 s of CPU)
GROUPS = (("service_agreements", "accounts", "bills"),
          ("fts", "ft_history", "non_cash_deposits", "todos"))


def reader() -> str:
    """The store reader ``$DEPRULES_STORE_READER`` names (default ``auto``)."""
    want = os.environ.get(READER_ENV, "").strip().lower() or "auto"
    if want not in READERS:
        from .errors import InputError

        raise InputError(f"{READER_ENV} is {want!r}; it must be one of {', '.join(READERS)} "
                         "(default auto)")
    return want


def usable(accounts: int) -> bool:
    """Whether the columns of a store of ``accounts`` accounts are read by child processes."""
    want = reader()
    return want != "python" and (want == "arrow" or accounts >= CHILDREN_FROM)


def read(path, scope_select: str | None, queries: dict[str, str], generation: int,
         accounts: int) -> dict[str, list] | None:
    """The columns (lists of Arrow arrays, one per selected column) of each of ``queries``
    on the store file ``path``, scoped by ``temp.batch_scope`` filled from ``scope_select``
    (None: not scoped), in the snapshot whose last journal entry is ``generation``; None
    when it is not done here (see the module's text)."""
    if not usable(accounts):
        return None
    import json
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    groups = [[n for n in g if n in queries] for g in GROUPS]
    groups.append([n for n in queries if not any(n in g for g in GROUPS)])
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (here, os.environ.get("PYTHONPATH")) if p)}
    children = []
    out: dict[str, list] = {}
    why = None
    try:
        requests = []
        for names in (g for g in groups if g):
            children.append(subprocess.Popen(
                [sys.executable, "-m", "deprules.storeread"], env=env, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE))
            requests.append(json.dumps({"path": str(path), "scope": scope_select,
                                        "queries": {n: queries[n] for n in names},
                                        "generation": generation}).encode())
        # each child's request, columns and messages through communicate(), in threads
        with ThreadPoolExecutor(len(children)) as pool:
            answers = list(pool.map(lambda c, r: c.communicate(r), children, requests))
        for child, (data, err) in zip(children, answers):
            if child.returncode != 0:
                err = err.decode(errors="replace").strip()
                why = err.splitlines()[-1] if err else f"exit status {child.returncode}"
                break
            out.update(_unpack(data))
    except Exception as exc:  # any failure: the caller reads in process (same result)
        why = repr(exc)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
            for f in (child.stdin, child.stdout, child.stderr):
                f.close()
    return out if why is None else _failed(why)


def _failed(why: str) -> None:
    """None (the caller reads in process), or with ``DEPRULES_STORE_READER=arrow`` (the
    children asked for by name) the error."""
    if reader() == "arrow":
        from .errors import StoreError

        raise StoreError(f"the store's reading child process failed ({why}); "
                         f"{READER_ENV}=python reads in this process")
    return None


def _child(path: str, scope_select: str | None, queries: dict[str, str],
           generation: int, out) -> None:  # pragma: no cover - in a child
    import adbc_driver_manager
    import adbc_driver_sqlite

    uri = "file:" + path.replace("?", "%3f").replace("#", "%23") + "?mode=ro"
    db = adbc_driver_sqlite.connect(uri)
    conn = adbc_driver_manager.AdbcConnection(db)

    def query(sql: str) -> pa.Table:
        stmt = adbc_driver_manager.AdbcStatement(conn)
        try:
            stmt.set_sql_query(sql)
            stream, _ = stmt.execute_query()
            return pa.RecordBatchReader._import_from_c(stream.address).read_all()
        finally:
            stmt.close()

    query("BEGIN")
    seen = query("SELECT COALESCE(MAX(seq), 0) FROM journal").column(0)[0].as_py()
    if seen != generation:
        raise RuntimeError(f"the reader saw journal entry {seen}, not {generation}")
    if scope_select is not None:
        query("CREATE TEMP TABLE batch_scope (account_id TEXT PRIMARY KEY) WITHOUT ROWID")
        query(f"INSERT OR IGNORE INTO temp.batch_scope SELECT account_id FROM "
              f"({scope_select}) WHERE account_id IS NOT NULL")
    for name, sql in queries.items():
        data = _pack(query(sql))
        key = name.encode()
        out.write(len(key).to_bytes(4, "little") + key + len(data).to_bytes(8, "little"))
        out.write(data)
    query("ROLLBACK")
    conn.close()
    db.close()


def _pack(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def _unpack(data: bytes) -> dict[str, list]:
    out, at = {}, 0
    view = memoryview(data)
    while at < len(data):
        n = int.from_bytes(view[at:at + 4], "little")
        name = bytes(view[at + 4:at + 4 + n]).decode()
        at += 4 + n
        size = int.from_bytes(view[at:at + 8], "little")
        at += 8
        table = pa.ipc.open_stream(pa.py_buffer(view[at:at + size])).read_all()
        at += size
        out[name] = [table.column(i).combine_chunks() for i in range(table.num_columns)] \
            if table.num_rows else [[] for _ in range(table.num_columns)]
    return out


def main() -> None:  # pragma: no cover - the child: python -m deprules.storeread
    import json
    import signal
    import sys

    # Ctrl-C is the parent's to handle: it rolls back and stops the children
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    request = json.loads(sys.stdin.buffer.read())
    _child(request["path"], request["scope"], request["queries"], request["generation"],
           sys.stdout.buffer)
    sys.stdout.buffer.flush()


if __name__ == "__main__":  # pragma: no cover
    main()
