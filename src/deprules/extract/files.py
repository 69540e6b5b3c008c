"""Finding and opening the table files of an extract folder, safely.

A table is ``NAME.csv`` or ``NAME.parquet``; whatever stands at that name must be a
regular file (a symbolic link to one is fine).  A directory, a dangling link, a named pipe
(FIFO), a device (``/dev/zero``) or a socket is refused with a problem naming the path and
what it is -- never silently taken as "no such table", never opened: opening a device can
have side effects, and reading a FIFO or ``/dev/zero`` blocks or never ends.  The check is
made on the name before anything is opened and again on the open descriptor (the name
could be replaced in between); the open itself never blocks (``O_NONBLOCK``).

A table file may hold at most :func:`max_bytes` bytes (``$DEPRULES_EXTRACT_MAX_BYTES``):
checked from its size before a byte is read, and enforced again on what is actually read
(a file can grow, and some regular files, under ``/proc`` for one, report no size).

Pure Python: the one-account reader behind ``deprules evaluate`` uses it without loading
pyarrow or pandas.
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .context import TABLES

MAX_BYTES_ENV = "DEPRULES_EXTRACT_MAX_BYTES"
DEFAULT_MAX_BYTES = 8 * 1024**3  # 8 GiB: 50 million rows (the row limit) of 170 bytes
FORMATS = ("csv", "parquet")


def max_bytes() -> int:
    """Bytes a table file may hold: ``$DEPRULES_EXTRACT_MAX_BYTES``, default 8 GiB."""
    from ..yamlload import env_limit

    return env_limit(MAX_BYTES_ENV, DEFAULT_MAX_BYTES)


@dataclass(frozen=True)
class TableFile:
    """The file a table is read from."""

    table: str
    path: Path
    fmt: str  # "csv" or "parquet"

    @property
    def name(self) -> str:
        return self.path.name


class TableReader:
    """What every one-account reader of a table file holds (``single._Table`` streaming a
    CSV file, ``csvindex.IndexedTable`` reading it by its index, ``rowgroups.ParquetTable``
    by row groups): the file, where its problems go, the size limits, and once its header
    is read the position of each column, the columns it cannot use and whether it was
    read without a problem."""

    def __init__(self, tf: TableFile, report, limits: tuple[int, int]):
        self.tf, self.table, self.file = tf, tf.table, tf.name
        self.report = report
        self.limits = limits
        self.positions: dict[str, int] = {}
        self.width = 0
        self.readable = False
        self.unusable: set[str] = set()

    @property
    def complete(self) -> bool:
        """Every required column present and usable (the full reader's notion)."""
        return self.readable and all(c.name in self.positions and c.name not in self.unusable
                                     for c in TABLES[self.table] if c.required)


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def examine(path: Path) -> tuple[bool, str | None]:
    """``(exists, problem)``: whether anything stands at ``path`` (a dangling link counts)
    and, when it is not a readable regular file, what it is in words. Nothing is opened."""
    try:
        link = os.lstat(path)
    except FileNotFoundError:
        return False, None
    except OSError as exc:
        return True, f"{path} cannot be examined: {exc.strerror or exc}"
    target = ""
    if stat.S_ISLNK(link.st_mode):
        try:
            target = f" (a symbolic link to {os.readlink(path)})"
        except OSError:
            target = " (a symbolic link)"
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return True, (f"{path} is a symbolic link to {os.readlink(path)}, which does not "
                          "exist; a table must be a regular file")
        except OSError as exc:
            return True, f"{path}{target} cannot be followed: {exc.strerror or exc}"
    else:
        st = link
    kind = _kind(st.st_mode)
    if kind is not None:
        return True, (f"{path}{target} is {kind}, not a regular file; a table must be a "
                      "regular file")
    return True, None


def locate_tables(folder: Path, report) -> dict[str, TableFile]:
    """The file of every table present in ``folder``; ``report.add(...)`` gets a problem for
    a name that holds something other than a regular file (``not-a-file``) and for a table
    present both as CSV and as Parquet (``duplicate-table``). Such tables are left out of
    the result but counted as present in ``present`` (see :func:`present_tables`)."""
    found: dict[str, TableFile] = {}
    for table in TABLES:
        entries = []
        for fmt in FORMATS:
            path = folder / f"{table}.{fmt}"
            exists, problem = examine(path)
            if problem is not None:
                report.add(path.name, 0, 0, "", problem, "not-a-file")
            if exists:
                entries.append((fmt, path, problem is None))
        if len(entries) == 2:
            csv_name, pq_name = (p.name for _, p, _ in entries)
            report.add(csv_name, 0, 0, "", f"both {csv_name} and {pq_name} exist; keep one of "
                       "them", "duplicate-table")
        elif entries and entries[0][2]:
            fmt, path, _ = entries[0]
            found[table] = TableFile(table, path, fmt)
    return found


def present_tables(folder: Path) -> set[str]:
    """Tables that have an entry in ``folder`` (whatever it is)."""
    return {t for t in TABLES for fmt in FORMATS if os.path.lexists(folder / f"{t}.{fmt}")}


class NotReadable(Exception):
    """A table file that cannot be read; ``code`` and ``message`` make its problem."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def too_large(path: Path, limit: int) -> NotReadable:
    return NotReadable("too-large", f"the file is larger than {limit:,} bytes, the limit "
                       f"({MAX_BYTES_ENV}); split the extract or raise the limit")


def open_table(path: Path, limit: int) -> io.BufferedReader:
    """Open a regular file for reading without blocking, or raise :class:`NotReadable`.

    The file handed back reads at most ``limit`` bytes; one more raises ``NotReadable``."""
    exists, problem = examine(path)
    if problem is not None or not exists:
        raise NotReadable("not-a-file", problem or f"{path} does not exist")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise NotReadable("bad-file", f"cannot read the file: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        kind = _kind(st.st_mode)
        if kind is not None:  # replaced between the check and the open
            raise NotReadable("not-a-file", f"{path} is {kind}, not a regular file; a table "
                              "must be a regular file")
        if st.st_size > limit:
            raise too_large(path, limit)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return io.BufferedReader(_Capped(io.FileIO(fd, "rb", closefd=True), limit, path),
                             buffer_size=1 << 20)


class _Capped(io.RawIOBase):
    """A raw file that refuses to hand out more than ``limit`` bytes in all."""

    def __init__(self, raw, limit: int, path: Path):
        self._raw, self._limit, self._path, self._read = raw, limit, path, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._raw.seekable()

    def seek(self, offset: int, whence: int = 0) -> int:
        pos = self._raw.seek(offset, whence)
        self._read = pos
        return pos

    def tell(self) -> int:
        return self._raw.tell()

    def readinto(self, buffer) -> int:
        n = self._raw.readinto(buffer)
        if n:
            self._read += n
            if self._read > self._limit:
                raise too_large(self._path, self._limit)
        return n

    def fileno(self) -> int:
        return self._raw.fileno()

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()
