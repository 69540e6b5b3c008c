"""A crash-safe folder of named pandas tables plus metadata and a journal.

Layout::

    <store>/CURRENT          the name of the committed generation ("gen-7")
    <store>/LOCK             flock'ed by the single writer; holds who holds it
    <store>/gen-7/           <table>.parquet, meta.json, journal.jsonl

A commit builds ``gen-<N+1>.tmp/``, renames it to ``gen-<N+1>/`` and then swaps
``CURRENT``; readers only ever look at the generation ``CURRENT`` names, so a
crash at any point leaves the last committed state.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import getpass
import json
import os
import re
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from deprules.errors import StoreError, StoreLockedError

FORMAT = 1
KEEP_GENERATIONS = 2
CURRENT = "CURRENT"
LOCK = "LOCK"
META_FILE = "meta.json"
JOURNAL_FILE = "journal.jsonl"
# Keys the store sets in the metadata it returns; callers' values are overwritten.
RESERVED_META_KEYS = ("generation", "created", "who")

_GEN_RE = re.compile(r"^gen-(\d+)$")
_TMP_RE = re.compile(r"^(gen-\d+|CURRENT)\.tmp$")
_TABLE_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# A reader racing two commits can see its generation pruned; it then re-reads CURRENT.
_READ_ATTEMPTS = 5


# --------------------------------------------------------------------------- helpers


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _write_table(table: pa.Table, path: Path) -> None:
    """Write one table as Parquet and fsync it (tests patch this to simulate a full disk)."""
    with open(path, "xb") as f:
        pq.write_table(table, f)
        f.flush()
        os.fsync(f.fileno())


def _os_hint(exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return " (the disk is full: free some space and retry)"
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return " (is the folder writable by this user?)"
    return ""


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers)
        return str(os.getuid())


def _command() -> str:
    argv = list(sys.argv)
    if not argv or argv[0] in ("", "-c"):
        argv[:1] = [sys.executable, "-c", "..."]
    return " ".join(argv)[:300]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _to_arrow(name: str, df: object) -> pa.Table:
    if not _TABLE_NAME_RE.match(name):
        raise StoreError(
            f"table name {name!r} cannot be stored: use letters, digits, '_', '.', '-' "
            "(at most 128 characters, not starting with '.' or '-')"
        )
    if not isinstance(df, pd.DataFrame):
        raise StoreError(f"table {name!r} is a {type(df).__name__}, not a pandas DataFrame")
    bad = [c for c in df.columns if not isinstance(c, str)]
    if bad:
        raise StoreError(f"table {name!r} has non-string column names: {bad[:5]!r}")
    if df.columns.has_duplicates:
        dups = sorted(set(df.columns[df.columns.duplicated()]))
        raise StoreError(f"table {name!r} has duplicate column names: {dups[:5]!r}")
    try:
        return pa.Table.from_pandas(df, preserve_index=None)
    except (pa.ArrowException, ValueError, TypeError) as e:
        raise StoreError(f"table {name!r} cannot be stored as Parquet: {e}") from e


def _from_arrow(table: pa.Table) -> pd.DataFrame:
    df = table.to_pandas()
    # Object columns come back typed (pandas >= 3 reads text as "str", integers with
    # nulls as float): give them back as object holding the original Python values.
    columns = (table.schema.pandas_metadata or {}).get("columns", [])
    for col in columns:
        name, field = col.get("name"), col.get("field_name")
        if col.get("numpy_type") != "object" or name not in df.columns or df[name].dtype == object:
            continue
        s = table.column(field).to_pandas(integer_object_nulls=True)
        if s.dtype != object:
            s = s.astype(object).where(s.notna(), None)
        # an explicit dtype: pandas >= 3 would infer "str" again from a bare array
        df[name] = pd.Series(s.to_numpy(dtype=object), index=df.index, dtype=object)
    return df


def _dumps(value: object, what: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise StoreError(f"{what} is not JSON-serialisable: {e}") from e


def _gen_name(n: int) -> str:
    return f"gen-{n}"


# --------------------------------------------------------------------------- lock


class _Lock:
    """An exclusive flock on <store>/LOCK, held for the life of one writer."""

    def __init__(self, fd: int):
        self.fd = fd

    @classmethod
    def acquire(cls, store: Path, who: str, timeout: float) -> _Lock:
        lock_path = store / LOCK
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as e:
                raise StoreError(f"cannot open the lock file of store {store}: {e}{_os_hint(e)}") from e
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = cls._holder(fd)
                os.close(fd)
                if time.monotonic() >= deadline:
                    raise StoreLockedError(cls._locked_message(store, holder, timeout)) from None
                time.sleep(min(0.05, max(deadline - time.monotonic(), 0.001)))
                continue
            except OSError as e:
                os.close(fd)
                raise StoreError(f"cannot lock store {store}: {e}") from e
            # Someone may have deleted/replaced LOCK while we waited: a lock on an
            # unlinked file would not exclude a writer that opens the new one.
            try:
                same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            lock = cls(fd)
            lock._write_holder(who)
            return lock

    def _write_holder(self, who: str) -> None:
        info = {
            "pid": os.getpid(),
            "user": _user(),
            "host": socket.gethostname(),
            "command": _command(),
            "who": who,
            "since": _now(),
        }
        try:  # informative only: a failure here must not stop the writer
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, (json.dumps(info) + "\n").encode(), 0)
        except OSError:
            pass

    @staticmethod
    def _holder(fd: int) -> dict:
        try:
            return json.loads(os.pread(fd, 65536, 0).decode() or "{}")
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _locked_message(store: Path, holder: dict, timeout: float) -> str:
        waited = f" (waited {timeout:g} s)" if timeout > 0 else ""
        if holder.get("pid"):
            desc = f"pid {holder['pid']}"
            if holder.get("host"):
                desc += f" on {holder['host']}"
            if holder.get("user"):
                desc += f", user {holder['user']}"
            if holder.get("command"):
                desc += f", command {holder['command']!r}"
            if holder.get("who"):
                desc += f", as {holder['who']!r}"
            if holder.get("since"):
                desc += f", since {holder['since']}"
        else:
            desc = "an unknown process (it has not yet recorded itself in the lock file)"
        return (
            f"store {store} is locked by another writer{waited}: {desc}. "
            "Wait for that process to finish and retry (or pass a longer timeout); "
            "the lock is released automatically when it exits, so stop it only if it is stuck."
        )

    def release(self) -> None:
        if self.fd < 0:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
        with contextlib.suppress(OSError):
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = -1


# --------------------------------------------------------------------------- store


class Store:
    """A committed set of tables in a folder; use :meth:`create` or :meth:`open`."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- opening

    @staticmethod
    def create(
        path: str | os.PathLike,
        tables: dict[str, pd.DataFrame],
        meta: dict,
        *,
        who: str = "",
        journal_entries: list[dict] | None = None,
    ) -> Store:
        """Make a new store (generation 1) in a new or empty folder."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise StoreError(f"cannot create a store at {path}: it exists and is not a folder")
        Store._check_creatable(path)
        existed = path.exists()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create store folder {path}: {e}{_os_hint(e)}") from e
        with contextlib.suppress(OSError):
            _fsync_dir(path.parent)
        store = Store(path)
        try:
            with store._writer(who, 0, creating=True) as w:
                # Checked again under the lock: two concurrent creates must not both win.
                Store._check_creatable(path)
                try:
                    w.commit(tables, meta, journal_entries)
                except BaseException:
                    if not existed:
                        # Unlinked while still locked, so a waiting creator notices (inode check).
                        with contextlib.suppress(OSError):
                            (path / LOCK).unlink()
                    raise
        except BaseException:
            if not existed:  # leave no empty folder behind; rmdir refuses a non-empty one
                with contextlib.suppress(OSError):
                    path.rmdir()
            raise
        return store

    @staticmethod
    def _check_creatable(path: Path) -> None:
        if not path.exists():
            return
        if (path / CURRENT).exists():
            raise StoreError(
                f"cannot create a store at {path}: it is already a deprules store; "
                "open it, or remove it first to start over"
            )
        try:
            entries = sorted(os.listdir(path))
        except OSError as e:
            raise StoreError(f"cannot read folder {path}: {e}") from e
        # Leftovers of an interrupted create (no CURRENT yet) may be reused.
        foreign = [e for e in entries if e != LOCK and not _TMP_RE.match(e) and not _GEN_RE.match(e)]
        if foreign:
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise StoreError(
                f"cannot create a store at {path}: the folder is not empty and is not a "
                f"deprules store (it holds {shown}); use a new or empty folder"
            )

    @staticmethod
    def open(path: str | os.PathLike) -> Store:
        path = Path(path)
        if not path.exists():
            raise StoreError(f"store {path} does not exist")
        if not path.is_dir():
            raise StoreError(f"{path} is not a deprules store (it is not a folder)")
        store = Store(path)
        gen = store.generation()
        if not (path / _gen_name(gen) / META_FILE).is_file():
            raise StoreError(
                f"store {path} is damaged: CURRENT names {_gen_name(gen)} but that generation is missing"
            )
        return store

    # -- reading

    def generation(self) -> int:
        """The last committed generation number."""
        cur = self.path / CURRENT
        try:
            text = cur.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            if not self.path.is_dir():
                raise StoreError(f"store {self.path} does not exist") from None
            hint = ""
            with contextlib.suppress(OSError):
                if any(_GEN_RE.match(e) or _TMP_RE.match(e) for e in os.listdir(self.path)):
                    hint = " - it looks like an interrupted create; create the store again"
            raise StoreError(f"{self.path} is not a deprules store (no CURRENT file){hint}") from None
        except (OSError, UnicodeDecodeError) as e:
            raise StoreError(f"cannot read {cur}: {e}") from e
        m = _GEN_RE.match(text)
        if not m:
            raise StoreError(f"store {self.path} is damaged: CURRENT holds {text[:60]!r}, not a generation name")
        return int(m.group(1))

    def read(self) -> tuple[dict[str, pd.DataFrame], dict]:
        """The tables and metadata of the last committed generation."""
        return self._retrying(self._read_generation)

    def journal(self) -> list[dict]:
        """Every journal entry committed so far, oldest first."""
        return self._retrying(self._read_journal)

    def writer(self, *, who: str = "", timeout: float = 0) -> contextlib.AbstractContextManager[StoreWriter]:
        """Take the store's exclusive write lock for the ``with`` block."""
        return self._writer(who, timeout)

    @contextlib.contextmanager
    def _writer(self, who: str, timeout: float, creating: bool = False) -> Iterator[StoreWriter]:
        if not creating:
            self.generation()  # refuse to lock (and create LOCK in) a folder that is not a store
        lock = _Lock.acquire(self.path, who, timeout)
        w = StoreWriter(self, who, lock, creating)
        try:
            yield w
        finally:
            w._closed = True
            lock.release()

    def _retrying(self, fn):
        for attempt in range(_READ_ATTEMPTS):
            gen = self.generation()
            try:
                return fn(gen)
            except FileNotFoundError as e:
                if attempt + 1 < _READ_ATTEMPTS and self.generation() != gen:
                    continue
                raise StoreError(f"store {self.path} is damaged: generation {gen} is incomplete ({e})") from e
            except OSError as e:
                raise StoreError(f"cannot read store {self.path}: {e}") from e
        raise AssertionError("unreachable")

    def _meta_doc(self, gen: int) -> dict:
        p = self.path / _gen_name(gen) / META_FILE
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as e:
            raise StoreError(f"store {self.path} is damaged: cannot read {p}: {e}") from e
        if not isinstance(doc, dict) or doc.get("generation") != gen:
            raise StoreError(f"store {self.path} is damaged: {p} does not describe generation {gen}")
        return doc

    def _read_generation(self, gen: int) -> tuple[dict[str, pd.DataFrame], dict]:
        doc = self._meta_doc(gen)
        folder = self.path / _gen_name(gen)
        tables: dict[str, pd.DataFrame] = {}
        for name, info in doc["tables"].items():
            p = folder / info["file"]
            try:
                table = pq.read_table(p)
            except FileNotFoundError:
                raise
            except (OSError, pa.ArrowException) as e:
                raise StoreError(f"store {self.path} is damaged: cannot read table {name!r} from {p}: {e}") from e
            df = _from_arrow(table)
            if len(df) != info["rows"]:
                raise StoreError(
                    f"store {self.path} is damaged: table {name!r} has {len(df)} rows, meta.json says {info['rows']}"
                )
            tables[name] = df
        meta = dict(doc.get("meta", {}))
        meta.update(generation=gen, created=doc.get("created"), who=doc.get("who"))
        return tables, meta

    def _journal_bytes(self, gen: int) -> bytes:
        if gen == 0:
            return b""
        return (self.path / _gen_name(gen) / JOURNAL_FILE).read_bytes()

    def _read_journal(self, gen: int) -> list[dict]:
        data = self._journal_bytes(gen)
        try:
            return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
        except ValueError as e:
            raise StoreError(f"store {self.path} is damaged: generation {gen} journal: {e}") from e

    # -- housekeeping (only under the lock)

    def _remove_entries(self, doomed) -> None:
        for name in doomed:
            p = self.path / name
            with contextlib.suppress(FileNotFoundError):
                if p.is_dir():
                    shutil.rmtree(p)
                else:
                    p.unlink()

    def _clean_debris(self, current: int) -> None:
        """Remove leftovers of interrupted commits: *.tmp and generations newer than CURRENT."""
        doomed = []
        for e in os.listdir(self.path):
            m = _GEN_RE.match(e)
            if _TMP_RE.match(e) or (m and int(m.group(1)) > current):
                doomed.append(e)
        self._remove_entries(doomed)

    def _prune(self, current: int) -> None:
        oldest_kept = current - KEEP_GENERATIONS + 1
        doomed = []
        for e in os.listdir(self.path):
            m = _GEN_RE.match(e)
            if _TMP_RE.match(e) or (m and int(m.group(1)) < oldest_kept):
                doomed.append(e)
        self._remove_entries(doomed)


class StoreWriter:
    """The holder of a store's write lock; valid only inside ``with store.writer()``."""

    def __init__(self, store: Store, who: str, lock: _Lock, creating: bool = False):
        self.store = store
        self.who = who
        self._lock = lock
        self._closed = False
        # Only create() may start from "no CURRENT": anywhere else that means damage,
        # and treating it as generation 0 would delete every generation as debris.
        self._creating = creating

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the writer of store {self.store.path} is closed (its with-block has ended)")

    def generation(self) -> int:
        self._check_open()
        return self.store.generation()

    def read(self) -> tuple[dict[str, pd.DataFrame], dict]:
        self._check_open()
        return self.store.read()

    def commit(
        self,
        tables: dict[str, pd.DataFrame],
        meta: dict,
        journal_entries: list[dict] | None = None,
    ) -> int:
        """Atomically replace the store's content; returns the new generation number.

        ``journal_entries`` are appended to the journal in the same generation.
        On failure the store is left as it was and :class:`StoreError` is raised.
        """
        self._check_open()
        store = self.store
        path = store.path

        # Everything that can be refused is refused before the disk is touched.
        if not isinstance(tables, dict):
            raise StoreError(f"tables must be a dict of name -> DataFrame, not {type(tables).__name__}")
        if not isinstance(meta, dict):
            raise StoreError(f"meta must be a dict, not {type(meta).__name__}")
        entries = list(journal_entries or [])
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise StoreError(f"journal entry {i} is a {type(entry).__name__}, not a dict")
        journal_lines = "".join(_dumps(e, f"journal entry {i}") + "\n" for i, e in enumerate(entries))
        arrow = {name: _to_arrow(name, df) for name, df in tables.items()}
        user_meta = {k: v for k, v in meta.items() if k not in RESERVED_META_KEYS}
        _dumps(user_meta, "meta")

        base = 0 if self._creating else store.generation()
        new = base + 1
        tmp = path / f"{_gen_name(new)}.tmp"
        final = path / _gen_name(new)
        cur_tmp = path / f"{CURRENT}.tmp"
        published = False
        try:
            store._clean_debris(base)
            old_journal = store._journal_bytes(base)
            os.mkdir(tmp)
            manifest = {}
            for name, table in arrow.items():
                fname = f"{name}.parquet"
                _write_table(table, tmp / fname)
                manifest[name] = {"file": fname, "rows": table.num_rows}
            _write_bytes(tmp / JOURNAL_FILE, old_journal + journal_lines.encode("utf-8"))
            doc = {
                "format": FORMAT,
                "generation": new,
                "created": _now(),
                "who": self.who or _user(),
                "pid": os.getpid(),
                "tables": manifest,
                "journal_entries": old_journal.count(b"\n") + len(entries),
                "meta": user_meta,
            }
            _write_bytes(tmp / META_FILE, _dumps(doc, "meta").encode("utf-8"))
            _fsync_dir(tmp)
            os.rename(tmp, final)
            _fsync_dir(path)
            _write_bytes(cur_tmp, f"{_gen_name(new)}\n".encode())
            os.replace(cur_tmp, path / CURRENT)
            published = True
            _fsync_dir(path)
        except BaseException as e:
            if published:
                if isinstance(e, OSError):
                    raise StoreError(
                        f"generation {new} of store {path} is committed but may not be durable: "
                        f"syncing {path} failed: {e}{_os_hint(e)}"
                    ) from e
                raise
            with contextlib.suppress(Exception):
                store._remove_entries([tmp.name, final.name, cur_tmp.name])
            if isinstance(e, StoreError):
                raise
            if isinstance(e, Exception):
                raise StoreError(
                    f"cannot commit to store {path}: {e}{_os_hint(e)}; "
                    f"the store is unchanged (still generation {base})"
                ) from e
            raise
        self._creating = False
        # Pruning is housekeeping: the commit has already succeeded.
        with contextlib.suppress(OSError):
            store._prune(new)
        return new
