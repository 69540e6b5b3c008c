"""A store batch's columns read by child processes through ADBC's SQLite driver.

Reading a million accounts' rows through Python's ``sqlite3`` builds a Python object per
value (about 10 s of the 1,000,000-account no-op cycle). ADBC's SQLite driver
(``adbc-driver-sqlite``) steps the same queries and appends the values to Arrow columns in
C, about half the CPU; two children read half of the tables each, on two cores, and send
their columns back as Arrow IPC.

Why children, not a thread: the driver links its own copy of SQLite, and two copies of
SQLite in one process break each other's POSIX locks (closing one copy's file releases the
other's locks: sqlite.org/howtocorrupt.html, 2.2.1). The children are started fresh
(``spawn``, as the batch's workers: a process holding a SQLite connection is never forked),
so they work the same from the command line and from a server's job thread.

The snapshot: the parent holds the store's write transaction and has written nothing, so
a reader that starts now sees exactly what the parent sees (nobody else can commit). Each
child checks that its snapshot holds the parent's last journal entry and fails otherwise.

``read(...)`` returns None (and the caller reads in process, with the same result) when
``$DEPRULES_STORE_READER`` is ``python`` (or ``auto``, the default, and the store holds
fewer than CHILDREN_FROM accounts; ``arrow`` uses the children whatever the size), or when a
child fails.
"""

from __future__ import annotations

import os

import pyarrow as pa

READER_ENV = "DEPRULES_STORE_READER"
READERS = ("auto", "arrow", "python")
# auto: children from this many accounts in the store (below it starting two interpreters
# with the driver, about half a second, costs more than the rows)
CHILDREN_FROM = 20_000
# two children of about equal work (measured at 1,000,000 accounts: 2.6 and 2.2 s of CPU)
GROUPS = (("service_agreements", "accounts", "bills"),
          ("fts", "ft_history", "non_cash_deposits", "todos"))


def reader() -> str:
    """The store reader ``$DEPRULES_STORE_READER`` names (default ``auto``)."""
    want = os.environ.get(READER_ENV, "").strip().lower() or "auto"
    if want not in READERS:
        from ..errors import InputError

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
    import multiprocessing

    groups = [[n for n in g if n in queries] for g in GROUPS]
    groups.append([n for n in queries if not any(n in g for g in GROUPS)])
    works = [{n: queries[n] for n in g} for g in groups if g]
    try:
        with multiprocessing.get_context("spawn").Pool(len(works), initializer=_quiet) as pool:
            pending = [pool.apply_async(_read_child, (str(path), scope_select, w, generation))
                       for w in works]
            out: dict[str, list] = {}
            for result in pending:
                out.update(_unpack(result.get()))
        return out
    except Exception:  # any failure: the caller reads in process (same result)
        return None


def _quiet() -> None:  # pragma: no cover - in a child
    import signal

    # Ctrl-C is the parent's to handle: it rolls back and stops the children
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _read_child(path: str, scope_select: str | None, queries: dict[str, str],
                generation: int) -> dict[str, bytes]:  # pragma: no cover - in a child
    import adbc_driver_sqlite.dbapi as adbc

    uri = "file:" + path.replace("?", "%3f").replace("#", "%23") + "?mode=ro"
    with adbc.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("SELECT COALESCE(MAX(seq), 0) FROM journal")
        seen = cur.fetchone()[0]
        if seen != generation:
            raise RuntimeError(f"the reader saw journal entry {seen}, not {generation}")
        if scope_select is not None:
            cur.execute("CREATE TEMP TABLE batch_scope (account_id TEXT PRIMARY KEY) "
                        "WITHOUT ROWID")
            cur.execute(f"INSERT OR IGNORE INTO temp.batch_scope SELECT account_id FROM "
                        f"({scope_select}) WHERE account_id IS NOT NULL")
        out = {}
        for name, sql in queries.items():
            cur.execute(sql)
            out[name] = _pack(cur.fetch_arrow_table())
        cur.execute("ROLLBACK")
        return out


def _pack(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue().to_pybytes()


def _unpack(packed: dict[str, bytes]) -> dict[str, list]:
    out = {}
    for name, data in packed.items():
        table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
        out[name] = [table.column(i).combine_chunks() for i in range(table.num_columns)] \
            if table.num_rows else [[] for _ in range(table.num_columns)]
    return out


__all__ = ["READER_ENV", "read", "reader", "usable"]
