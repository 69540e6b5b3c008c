"""The persisted ledger: one SQLite database file in WAL mode.

A store is one file (``--store PATH``) plus SQLite's own ``PATH-wal`` and ``PATH-shm`` and
an informative ``PATH-writer`` (who holds the write lock, for the message a waiting writer
gets). Correctness comes from SQLite alone: every change is one ``BEGIN IMMEDIATE``
transaction (a second writer waits up to its busy timeout, then is refused; no lost update
whatever happens to ``PATH-writer``), committed with ``synchronous=FULL`` (a commit that
returned survives a power loss), readers read a consistent snapshot and are never blocked.
A kill at any moment leaves the last committed transaction.

Tables: the ledger's entities (:mod:`deprules.ledger.sqlrows`) and their ``causes``,
``meta`` (key -> JSON), ``journal`` (one audited row per committed command) and
``ap_exports`` (A/P files). ``PRAGMA application_id`` marks a deprules store,
``PRAGMA user_version`` its schema version; an older store is migrated when it is opened,
in one write transaction (all of :data:`MIGRATIONS` it needs, or nothing).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from ..errors import StoreError, StoreLockedError
from . import checkpoint
from .sqlrows import (CAUSES_DDL, ID_COLUMNS, INDEXES, LAYOUTS, SQL_TABLE, CauseIds, attach,
                      insert_rows, migration_1_to_2, migration_2_to_3, state_rows)

APPLICATION_ID = 0x44505253  # "DPRS"
# 1: the first SQLite store; 2: causes stored once (``causes`` table, ``cause_id`` in rows);
# 3: the journal and GL lines packed per account and write (:data:`sqlrows.PACKED`)
SCHEMA_VERSION = 3
# schema version -> the steps (SQL, or a function of the connection) that take a store from
# that version to the next one
MIGRATIONS: dict[int, list] = {1: migration_1_to_2(), 2: [migration_2_to_3]}
DEFAULT_WAIT = 5.0
# the page size of a new store (SQLite's default is 4096): a packed journal row of a batch
# is about 2.3 KB at a million accounts, so a 4 KiB page held one of them and 43 % of the
# journal's pages was empty space (docs/performance.md)
PAGE_SIZE = 16384
JOURNAL_COLUMNS = ["seq", "utc", "process_date", "user", "command", "kind", "run_id",
                   "config_hash", "reason", "host", "pid", "detail"]
STORE_DDL = [
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE journal (seq INTEGER PRIMARY KEY, utc TEXT NOT NULL, process_date TEXT, "
    "user TEXT NOT NULL, command TEXT NOT NULL, kind TEXT NOT NULL, run_id TEXT NOT NULL, "
    "config_hash TEXT NOT NULL, reason TEXT NOT NULL, host TEXT, pid INTEGER, detail TEXT)",
    "CREATE TABLE ap_exports (batch_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, file TEXT NOT NULL, "
    "requests INTEGER NOT NULL, amount INTEGER NOT NULL, sha256 TEXT NOT NULL, "
    "content TEXT NOT NULL, delivered INTEGER NOT NULL)",
]
# test hooks: called as hook(point, connection) at named points of a write transaction
HOOKS: list = []


def _hook(point: str, conn) -> None:
    for h in HOOKS:
        h(point, conn)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _user() -> str:
    from ..users import default_user

    return default_user()


def _command() -> str:
    argv = list(sys.argv)
    if not argv or argv[0] in ("", "-c"):
        argv[:1] = [sys.executable, "-c", "..."]
    return " ".join(argv)[:300]


def _hint(exc: BaseException) -> str:
    text = str(exc).lower()
    if "full" in text:
        return " (the disk is full: free some space and retry)"
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return " (is the store file and its folder writable by this user?)"
    return ""


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _connect(path: Path, timeout: float = 0.0) -> sqlite3.Connection:
    uri = "file:" + str(path.resolve()).replace("?", "%3f").replace("#", "%23") + "?mode=rw"
    conn = sqlite3.connect(uri, uri=True, timeout=max(timeout, 0.0), isolation_level=None,
                           check_same_thread=False)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA cache_size=-131072")
    return conn


class Store:
    """An opened store file; reads through :meth:`reader`, changes through :meth:`writer`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.holder_file = self.path.with_name(self.path.name + "-writer")

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- opening
    @staticmethod
    def open(path: str | os.PathLike) -> Store:
        path = Path(path)
        if path.is_dir():
            if (path / "CURRENT").exists():
                raise StoreError(
                    f"{path} is a store folder of an older deprules (generations of Parquet "
                    "files); this version keeps a store in one SQLite database file. Re-create "
                    f"it: with the older deprules run `deprules ledger export --store {path} "
                    "--out EXTRACT`, then with this one `deprules ledger init --extract EXTRACT "
                    "--store NEW-FILE`")
            raise StoreError(f"{path} is a folder, not a deprules store (a store is one "
                             "database file, made by ledger init)")
        if not path.exists():
            raise StoreError(f"store {path} does not exist")
        store = Store(path)
        # waits out a moment's lock (another process's last connection checkpointing the WAL
        # as it closes) instead of refusing at once; WAL readers are never blocked otherwise
        with store._conn(timeout=DEFAULT_WAIT) as conn:
            store._check_schema(conn)
        return store

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        try:
            app, version = (conn.execute(f"PRAGMA {p}").fetchone()[0]
                            for p in ("application_id", "user_version"))
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path} is not a deprules store or is damaged ({e})") from e
        if app != APPLICATION_ID:
            raise StoreError(f"{self.path} is not a deprules store (a SQLite database of "
                             "another application)" if app or version else
                             f"{self.path} is not a deprules store")
        if version > SCHEMA_VERSION:
            raise StoreError(f"store {self.path} has schema version {version}, newer than this "
                             f"deprules knows ({SCHEMA_VERSION}): use a newer deprules")
        if version < SCHEMA_VERSION:
            if any(v not in MIGRATIONS for v in range(version, SCHEMA_VERSION)):
                raise StoreError(f"store {self.path} has schema version {version}, which this "
                                 f"deprules ({SCHEMA_VERSION}) cannot migrate: export it with "
                                 "the deprules that made it and ledger init it again")
            self._migrate(conn, version)

    def _migrate(self, conn: sqlite3.Connection, version: int) -> None:
        conn.execute(f"PRAGMA busy_timeout={int(DEFAULT_WAIT * 1000)}")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                raise StoreLockedError(self._locked_message(DEFAULT_WAIT)) from None
            raise
        try:
            now = conn.execute("PRAGMA user_version").fetchone()[0]
            for v in range(now, SCHEMA_VERSION):  # another process may have migrated it
                for step in MIGRATIONS[v]:
                    step(conn) if callable(step) else conn.execute(step)
                _hook(f"migrated {v}", conn)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException as e:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if isinstance(e, sqlite3.Error):
                raise StoreError(f"cannot migrate store {self.path} from schema version "
                                 f"{version} to {SCHEMA_VERSION}: {e}{_hint(e)}; it is "
                                 f"unchanged (still version {version})") from e
            raise

    @contextlib.contextmanager
    def _conn(self, timeout: float = 0.0) -> Iterator[sqlite3.Connection]:
        try:
            conn = _connect(self.path, timeout)
        except sqlite3.DatabaseError as e:
            if "not a database" in str(e) or "malformed" in str(e):
                raise StoreError(f"{self.path} is not a deprules store or is damaged ({e})") from e
            raise StoreError(f"cannot open store {self.path}: {e}{_hint(e)}") from e
        try:
            yield conn
        except sqlite3.DatabaseError as e:
            if "not a database" in str(e) or "malformed" in str(e):
                raise StoreError(f"{self.path} is not a deprules store or is damaged ({e})") from e
            raise
        finally:
            conn.close()

    # -- reading
    @contextlib.contextmanager
    def reader(self) -> Iterator[Reader]:
        """A consistent snapshot of the store for the ``with`` block (never blocks, never
        blocked by a writer)."""
        with self._conn(timeout=DEFAULT_WAIT) as conn:
            conn.execute("BEGIN")
            try:
                r = Reader(self, conn)
                r.generation()  # starts the read transaction: the snapshot is taken here
                yield r
            finally:
                conn.execute("ROLLBACK")

    def journal(self, limit: int | None = None) -> list[dict]:
        with self.reader() as r:
            return r.journal(limit)

    def generation(self) -> int:
        with self.reader() as r:
            return r.generation()

    # -- writing
    @contextlib.contextmanager
    def writer(self, *, who: str = "", wait: float = DEFAULT_WAIT) -> Iterator[Writer]:
        """The store's write transaction (BEGIN IMMEDIATE) for the ``with`` block: committed
        by :meth:`Writer.commit`, rolled back otherwise."""
        with self._conn(timeout=wait) as conn:
            # statement journals (a multi-row INSERT or an UPDATE keeps one) and temporary
            # tables in memory, not in temporary files: a fifth of the system time of a
            # first cycle (docs/performance.md); set before the transaction, or it is ignored
            conn.execute("PRAGMA temp_store=MEMORY")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                if "locked" in str(e) or "busy" in str(e):
                    raise StoreLockedError(self._locked_message(wait)) from None
                raise StoreError(f"cannot write to store {self.path}: {e}{_hint(e)}") from e
            w = Writer(self, conn, who)
            self._write_holder(who)
            try:
                _hook("begun", conn)
                yield w
            finally:
                if not w.done:
                    self._clear_holder()
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                w.done = True

    def _write_holder(self, who: str) -> None:
        info = {"pid": os.getpid(), "user": _user(), "host": socket.gethostname(),
                "command": _command(), "who": who, "since": utc_now()}
        with contextlib.suppress(OSError):  # informative only
            with open(self.holder_file, "w", encoding="utf-8") as f:
                f.write(json.dumps(info) + "\n")

    def _clear_holder(self) -> None:
        with contextlib.suppress(OSError):
            with open(self.holder_file, "r+", encoding="utf-8") as f:
                info = json.loads(f.read() or "{}")
                if info.get("pid") == os.getpid():
                    f.seek(0)
                    f.truncate()

    def _locked_message(self, wait: float) -> str:
        try:
            holder = json.loads(self.holder_file.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            holder = {}
        waited = f" (waited {wait:g} s)" if wait > 0 else ""
        if holder.get("pid"):
            desc = f"pid {holder['pid']}"
            for key, label in (("host", " on "), ("user", ", user "), ("command", ", command "),
                               ("who", ", as "), ("since", ", since ")):
                if holder.get(key):
                    value = holder[key]
                    desc += label + (repr(value) if key in ("command", "who") else str(value))
        else:
            desc = "an unknown process (it has not recorded itself in " \
                   f"{self.holder_file.name})"
        return (f"store {self.path} is locked by another writer{waited}: {desc}. Wait for that "
                "process to finish and retry (or pass a longer --wait); the lock is released "
                "automatically when it exits, so stop it only if it is stuck.")

    # -- creating
    @staticmethod
    def create(path: str | os.PathLike, states: dict | None, meta: dict, entry: dict, *,
               rows: dict[str, list[tuple]] | None = None, verify=None) -> Store:
        """Bulk-load ``states`` (or ready ``rows``: entity name -> stored rows, in order) into
        a new store file; all or nothing (the file appears only complete: it is built under
        a temporary name, passed to ``verify(connection)`` if given, which may raise to
        refuse it, fsynced and linked into place)."""
        path = Path(path)
        if path.is_dir() or path.exists():
            kind = "it is a folder" if path.is_dir() else "it exists"
            raise StoreError(f"cannot create a store at {path}: {kind}; name a new file "
                             "(remove the old store first to start over)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create store folder {path.parent}: {e}") from e
        tmp = path.with_name(f".{path.name}.init-{os.getpid()}")
        for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
            leftover.unlink(missing_ok=True)
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"cannot create store {path}: {e}{_hint(e)}") from e
        try:
            try:
                _bulk_load(conn, states, meta, entry, rows)
                if verify is not None:
                    conn.execute("BEGIN")
                    try:
                        verify(conn)
                    finally:
                        conn.execute("ROLLBACK")
                conn.execute("PRAGMA journal_mode=WAL")
            finally:
                conn.close()
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)  # never replaces a store made meanwhile
            except FileExistsError:
                raise StoreError(f"cannot create a store at {path}: it exists") from None
            tmp.unlink()
            fsync_dir(path.parent)
        except sqlite3.Error as e:
            raise StoreError(f"cannot create store {path}: {e}{_hint(e)}") from e
        except OSError as e:
            raise StoreError(f"cannot create store {path}: {e}") from e
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
                leftover.unlink(missing_ok=True)
        return Store(path)


def _bulk_load(conn: sqlite3.Connection, states: dict | None, meta: dict, entry: dict,
               ready: dict[str, list[tuple]] | None = None) -> None:
    conn.execute(f"PRAGMA page_size={PAGE_SIZE}")  # before the first table
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.execute("BEGIN")
    for sql in STORE_DDL + [CAUSES_DDL] + [lay.table_ddl() for lay in LAYOUTS.values()]:
        conn.execute(sql)
    rows: dict[str, list] = {name: list(ready.get(name, ())) if ready else [] for name in LAYOUTS}
    cause_ids = CauseIds(conn)
    for aid in sorted(states or ()):
        for name, r in state_rows(states[aid]).items():
            lay = LAYOUTS[name]
            rows[name].extend(lay.stored(x, cause_ids) for x in r)
    for name, lay in LAYOUTS.items():
        insert_rows(conn, lay, rows[name])
        rows[name] = []
    for sql in INDEXES:
        conn.execute(sql)
    conn.executemany("INSERT INTO meta VALUES (?, ?)",
                     [(k, json.dumps(v)) for k, v in meta.items()])
    _insert_journal(conn, 1, entry)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    conn.execute("COMMIT")


def _insert_journal(conn: sqlite3.Connection, seq: int, entry: dict) -> None:
    e = dict(entry)
    row = [seq, utc_now(), e.pop("process_date", None), e.pop("user", "") or _user(),
           e.pop("command"), e.pop("kind", "manual"), e.pop("run_id", ""),
           e.pop("config_hash", ""), e.pop("reason", "") or "", socket.gethostname(),
           os.getpid(), json.dumps(e, sort_keys=True, default=str) if e else None]
    conn.execute(f"INSERT INTO journal ({', '.join(JOURNAL_COLUMNS)}) VALUES "
                 f"({', '.join('?' * len(JOURNAL_COLUMNS))})", row)


class Reader:
    """Queries inside one transaction (a snapshot)."""

    def __init__(self, store: Store, conn: sqlite3.Connection):
        self.store, self.conn = store, conn

    def generation(self) -> int:
        """The number of commands committed so far (1 after ledger init)."""
        return self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()[0]

    def meta(self) -> dict:
        out = {k: json.loads(v) for k, v in self.conn.execute("SELECT key, value FROM meta")}
        out["generation"] = self.generation()
        return out

    def last_run_date(self) -> str | None:
        return self.conn.execute("SELECT MAX(process_date) FROM journal WHERE kind = 'run'"
                                 ).fetchone()[0]

    def journal(self, limit: int | None = None) -> list[dict]:
        sql = f"SELECT {', '.join(JOURNAL_COLUMNS)} FROM journal ORDER BY seq DESC"
        rows = self.conn.execute(sql + (f" LIMIT {int(limit)}" if limit else "")).fetchall()
        out = []
        for row in reversed(rows):
            d = dict(zip(JOURNAL_COLUMNS, row))
            detail = d.pop("detail")
            d.update(json.loads(detail) if detail else {})
            out.append(d)
        return out

    def count(self, name: str = "accounts") -> int:
        return self.conn.execute(f"SELECT COALESCE({LAYOUTS[name].count_sql}, 0) FROM "
                                 f"{SQL_TABLE[name]}").fetchone()[0]

    def account_ids(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT account_id FROM accounts ORDER BY account_id")]

    def account_of(self, kind: str, entity_id: str) -> str | None:
        """The account of an SA / adjustment / bill / To Do / check / FT id (indexed)."""
        table, col = ID_COLUMNS[kind]
        row = self.conn.execute(f"SELECT account_id FROM {table} WHERE {col} = ? LIMIT 1",
                                (entity_id,)).fetchone()
        return row[0] if row else None

    def has_account(self, account_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM accounts WHERE account_id = ?",
                                 (account_id,)).fetchone() is not None

    def accounts_where(self, name: str, where: str, params: tuple = ()) -> list[str]:
        """Accounts that have a row of entity ``name`` matching ``where`` (SQL over its columns)."""
        sql = f"SELECT DISTINCT account_id FROM {SQL_TABLE[name]} WHERE {where}"
        return sorted(r[0] for r in self.conn.execute(sql, params))

    def load(self, account_ids=None, snapshot: dict | None = None) -> dict:
        """AccountStates of ``account_ids`` (every account when None), with their rows in
        ``snapshot`` (entity name -> account -> rows) for :meth:`Writer.write_changed`."""
        states: dict = {}
        if account_ids is None:
            for lay in LAYOUTS.values():
                attach(states, lay, lay.read(self.conn), snapshot)
            return states
        ids = sorted(set(account_ids))
        for lay in LAYOUTS.values():
            for aid in ids:
                if lay.name != "accounts" and aid not in states:
                    continue
                attach(states, lay, lay.read(self.conn, "WHERE account_id = ?", (aid,)),
                       snapshot)
        return states

    def load_selected(self, account_ids, snapshot: dict, with_journal: bool = False) -> dict:
        """AccountStates of many ``account_ids`` at once (a batch's changed accounts), each
        table read in one query through a temporary table of the ids. Without
        ``with_journal`` the account journal's rows are not read: ``journal_base`` says how
        many there are, so new entries are numbered after them and appended."""
        states: dict = {}
        ids = sorted(set(account_ids))
        if not ids:
            return states
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS batch_accounts "
                          "(account_id TEXT PRIMARY KEY) WITHOUT ROWID")
        self.conn.execute("DELETE FROM temp.batch_accounts")
        self.conn.executemany("INSERT INTO temp.batch_accounts VALUES (?)", [(a,) for a in ids])
        where = "WHERE account_id IN (SELECT account_id FROM temp.batch_accounts)"
        try:
            for lay in LAYOUTS.values():
                if lay.name == "journal" and not with_journal:
                    snapshot.setdefault("journal", {})
                    for aid, n in self.conn.execute(
                            f"SELECT account_id, {lay.count_sql} FROM {lay.table} {where} "
                            "GROUP BY account_id"):
                        states[aid].journal_base = n
                    continue
                attach(states, lay, lay.read(self.conn, where), snapshot)
        finally:
            self.conn.execute("DELETE FROM temp.batch_accounts")
        return states

    def frame(self, name: str):
        """One entity table as a pandas DataFrame (the dtypes of Ledger.tables())."""
        from .tables import _frame, _row

        lay = LAYOUTS[name]
        return _frame(lay.cls, [_row(lay.build(r)) for r in lay.read(self.conn)])


def plan_changes(states: dict, snapshot: dict, cause_ids) -> tuple[list[str], list, dict]:
    """What writing ``states`` over their rows in ``snapshot`` takes: the accounts that
    changed, the ``(table, account)`` pairs whose rows must be deleted first, and the stored
    rows to insert per entity (account by account in id order).

    Per account and table: rows appended at the end are inserted; any other change deletes
    the account's rows of that table and inserts them again. ``cause_ids.id(cause)`` gives
    the ``causes`` id of a cause (:class:`CauseIds`, or a batch worker's map)."""
    changed: list[str] = []
    deletes: list[tuple[str, str]] = []
    inserts: dict[str, list] = {}
    for aid in sorted(states):
        rows = state_rows(states[aid])
        dirty = False
        for name, new in rows.items():
            old = snapshot.get(name, {}).get(aid, [])
            if new == old:
                continue
            dirty = True
            lay = LAYOUTS[name]
            if len(new) >= len(old) and new[:len(old)] == old:
                new = new[len(old):]
            else:
                deletes.append((lay.table, aid))
            inserts.setdefault(name, []).extend(lay.stored(x, cause_ids) for x in new)
        if dirty:
            changed.append(aid)
    return changed, deletes, inserts


class Writer(Reader):
    """The holder of the store's write transaction; valid only inside ``with store.writer()``."""

    def __init__(self, store: Store, conn: sqlite3.Connection, who: str):
        super().__init__(store, conn)
        self.who = who
        self.done = False
        self.rows_written = 0
        self.cause_ids = CauseIds(conn)
        self.checkpointer = None  # the background checkpoint after a large commit

    def _check_open(self) -> None:
        if self.done:
            raise StoreError(f"the writer of store {self.store.path} is closed (its "
                             "with-block has ended or it has committed)")

    def write_changed(self, states: dict, snapshot: dict) -> list[str]:
        """Write the accounts whose rows differ from ``snapshot``; returns their ids
        (:func:`plan_changes`, then :meth:`apply_changes`)."""
        self._check_open()
        changed, deletes, inserts = plan_changes(states, snapshot, self.cause_ids)
        self.apply_changes(deletes, inserts)
        return changed

    def apply_changes(self, deletes: list[tuple[str, str]], inserts: dict[str, list]) -> None:
        """Delete the ``(table, account)`` rows of ``deletes``, then insert ``inserts`` with
        one statement per table (an account's rows keep their order: rowids increase)."""
        self._check_open()
        if deletes:
            for table, aid in deletes:
                self.conn.execute(f"DELETE FROM {table} WHERE account_id = ?", (aid,))
        for name, new in inserts.items():
            self.rows_written += insert_rows(self.conn, LAYOUTS[name], new)
        _hook("written", self.conn)

    def set_meta(self, values: dict) -> None:
        self._check_open()
        self.conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                              [(k, json.dumps(v)) for k, v in values.items()])

    def commit(self, entry: dict) -> int:
        """Journal ``entry`` (command, user, reason, run_id, config_hash, process_date, kind,
        and any detail) and commit everything; returns the new generation."""
        self._check_open()
        seq = self.generation() + 1
        try:
            _insert_journal(self.conn, seq, entry)
            _hook("journaled", self.conn)
            self.store._clear_holder()
            later = checkpoint.hand_over(self.conn, self.store.path)
            self.conn.execute("COMMIT")
        except sqlite3.Error as e:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            self.done = True
            raise StoreError(f"cannot commit to store {self.store.path}: {e}{_hint(e)}; the "
                             f"store is unchanged (still generation {seq - 1})") from e
        self.done = True
        if later:  # a large WAL: folded into the file by a background process
            self.checkpointer = checkpoint.fold_later(self.store.path)
        _hook("committed", self.conn)
        return seq
