"""The id-to-offset index of a CSV extract (``deprules.index``), and reading rows by it.

``deprules evaluate`` reads one account. Without an index every CSV table is streamed
whole (``single.py``): about 2 s for a million accounts. ``deprules extract index DIR``
(and ``extract generate``, ``ledger export`` when they write CSV) writes
``DIR/deprules.index``, which says for each CSV table where the rows of an id are, so
that the reader seeks to a few lines instead (``csvindex_build.py`` writes it).

What the index promises, per table file, and what it is checked against:

- **the file it was made from**: its size, modification and change times (ns) and a hash
  of sampled blocks (its first and last 64 KiB and 16 blocks between). A file that
  differs in any of them is *stale*: it is streamed as without an index, and the reader
  says so (``notes``). Copying an extract changes the change time, so a copied extract
  needs ``deprules extract index`` again.
- **the file was clean**: the writer streamed it through the same byte checks as the
  reader (``scan.py``), its header has no problem, every line has the header's number of
  fields (or is blank) and the ids are plain (no NUL, at most :data:`MAX_KEY_BYTES`).
  A file that is not clean is recorded as *not indexed* (with the reason) and streamed,
  so its problems are found and reported exactly as without an index. Hence rows read
  by the index are the rows the stream would keep, and the checks the stream makes on
  the other lines of a clean file find nothing.
- **where the rows are**: for the columns the reader searches (``account_id`` of
  accounts, SAs and non-cash deposits, ``sa_id`` of FTs), either one record per block of
  about :data:`BLOCK_LINES` lines (a file in the column's order, as ``extract generate``
  and most exports write it: a small index) or one record per line sorted by id (any
  other order). Each record: the id, the byte offset of a line start and its line number.
- **whether the table's key repeats** (``sa_id``, ``ncd_id``, ``ft_id``): when it does
  not, the reader's second search (rows sharing a key with the account's rows) is
  answered by the rows already read.

The records are checked too: the index file's header carries its own hash, each page
of :data:`PAGE_RECORDS` records a hash, checked when the page is first read; every line
read is checked to start at a line start and to hold the id (a block: its first id, its
line count). A check that fails raises :class:`IndexMismatch`; ``single.load_account``
then says so and reads the whole extract by streaming, so a bad index costs time, never
a wrong answer.

Pure Python (``hashlib``, ``mmap``, ``json``): no numpy or pyarrow when reading.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
from pathlib import Path

from . import cells
from .cells import Report
from .context import TABLES
from .files import NotReadable, TableFile, TableReader, open_table
from .scan import MAX_LINE_BYTES, _normalise, split_line

INDEX_NAME = "deprules.index"
MAGIC = b"DEPRULES-INDEX\n"
VERSION = 1
#: the columns the one-account reader searches first, by table
SEARCHED = {"accounts": "account_id", "service_agreements": "account_id",
            "non_cash_deposits": "account_id", "financial_transactions": "sa_id"}
BLOCK_LINES = 64  # lines per record of a sorted column
PAGE_RECORDS = 1024  # records per hashed page
MAX_KEY_BYTES = 256  # a longer id (or one holding NUL) leaves its table unindexed
SAMPLE_EDGE = 1 << 16
SAMPLE_BLOCK = 1 << 12
SAMPLE_BLOCKS = 16
_HEADER = struct.Struct("<Q")


class IndexUnusable(Exception):
    """The index file cannot be used at all (unreadable, another version, damaged)."""


class IndexMismatch(Exception):
    """What the index says does not match a table file: the file changed unnoticed, or
    the index is damaged. The reader then streams the whole extract."""


def index_path(folder: Path) -> Path:
    return Path(folder) / INDEX_NAME


def key_column(table: str) -> str:
    return TABLES[table][0].name


# --------------------------------------------------------------------------- fingerprint


def file_stat(path: Path) -> dict:
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns}


def sample_hash(f, size: int) -> str:
    """A hash of the size and sampled blocks of an open file (a few hundred KiB read)."""
    h = hashlib.blake2b(str(size).encode("ascii"), digest_size=16)
    spans = [(0, min(size, SAMPLE_EDGE)), (max(0, size - SAMPLE_EDGE), size)]
    step = size // (SAMPLE_BLOCKS + 1)
    spans += [(i * step, min(size, i * step + SAMPLE_BLOCK)) for i in range(1, SAMPLE_BLOCKS + 1)]
    for start, end in spans:
        f.seek(start)
        h.update(f.read(max(0, end - start)))
    return h.hexdigest()


# --------------------------------------------------------------------------- the file


class CsvIndex:
    """An index file, opened: its header read and checked; records read on demand."""

    def __init__(self, path: Path):
        self.path = path
        try:
            with open(path, "rb") as f:
                self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:  # ValueError: an empty file
            raise IndexUnusable(f"cannot read it ({getattr(exc, 'strerror', None) or exc})") \
                from None
        mm = self._mm
        start = len(MAGIC) + 1
        if mm[:len(MAGIC)] != MAGIC:
            raise IndexUnusable("it is not a deprules index")
        if mm[len(MAGIC)] != VERSION:
            raise IndexUnusable(f"it is of another version ({mm[len(MAGIC)]}, this deprules "
                                f"reads {VERSION})")
        try:
            (n,) = _HEADER.unpack_from(mm, start)
            body = mm[start + 8:start + 8 + n]
            digest = mm[start + 8 + n:start + 8 + n + 32]
            if len(body) != n or hashlib.blake2b(body, digest_size=32).digest() != digest:
                raise IndexUnusable("it is damaged (its header does not match its hash)")
            self.header = json.loads(body.decode("utf-8"))
            self.tables = self.header["tables"]
        except (struct.error, ValueError, KeyError, TypeError):
            raise IndexUnusable("it is damaged (its header cannot be read)") from None
        self._sections: dict[tuple[str, str], Section] = {}

    def close(self) -> None:
        self._mm.close()

    def section(self, table: str, column: str) -> Section | None:
        got = self._sections.get((table, column))
        if got is None:
            spec = self.tables[table].get("sections", {}).get(column)
            if spec is None:
                return None
            got = self._sections[(table, column)] = Section(self._mm, spec)
        return got


class Section:
    """The records of one column: ``lookup(id)`` gives the byte ranges to read."""

    def __init__(self, mm: mmap.mmap, spec: dict):
        try:
            self.sorted = spec["mode"] == "sorted"
            self.width = int(spec["width"])
            self.count = int(spec["count"])
            self.at = int(spec["records_at"])
            self.page = int(spec["page_records"])
            pages_at = int(spec["pages_at"])
        except (KeyError, TypeError, ValueError):
            raise IndexMismatch("a section of the index cannot be read") from None
        self.mm = mm
        self.size = self.width + 16
        npages = -(-self.count // self.page) if self.page > 0 else -1
        hashes = mm[pages_at:pages_at + 16 * npages]
        if npages < 0 or self.at + self.count * self.size > len(mm) or \
                len(hashes) != 16 * npages or \
                hashlib.blake2b(hashes, digest_size=16).hexdigest() != spec.get("pages_hash"):
            raise IndexMismatch("the index is damaged (a section's page hashes do not match)")
        self._hashes = hashes
        self._checked: set[int] = set()

    def _record(self, i: int) -> tuple[bytes, int, int]:
        p = i // self.page
        if p not in self._checked:
            start = self.at + p * self.page * self.size
            end = self.at + min(self.count, (p + 1) * self.page) * self.size
            if hashlib.blake2b(self.mm[start:end], digest_size=16).digest() != \
                    self._hashes[16 * p:16 * p + 16]:
                raise IndexMismatch("the index is damaged (a page of records does not match "
                                    "its hash)")
            self._checked.add(p)
        at = self.at + i * self.size
        rec = self.mm[at:at + self.size]
        offset, line = struct.unpack_from("<QQ", rec, self.width)
        return rec[:self.width], offset, line

    def _bisect(self, key: bytes, right: bool) -> int:
        lo, hi = 0, self.count
        while lo < hi:
            mid = (lo + hi) // 2
            k = self._record(mid)[0]
            if k < key or (right and k == key):
                lo = mid + 1
            else:
                hi = mid
        return lo

    def lookup(self, key: bytes) -> list[tuple[int, int, int]]:
        """``(record, offset, line)`` of every record to read for ``key`` (a block of a
        sorted column stretches to the next record)."""
        if not key or len(key) > self.width or b"\0" in key:
            return []  # no id of the file is like that
        padded = key.ljust(self.width, b"\0")
        if self.sorted:
            lo = max(0, self._bisect(padded, False) - 1)
            hi = self._bisect(padded, True) - 1
            return [(i, *self._record(i)[1:]) for i in range(lo, hi + 1)]
        out = []
        i = self._bisect(padded, False)
        while i < self.count:
            k, offset, line = self._record(i)
            if k != padded:
                break
            out.append((i, offset, line))
            i += 1
        return out

    def block_end(self, i: int, size: int, last_line: int) -> tuple[int, int]:
        """Byte offset and line number where the block of record ``i`` ends."""
        if i + 1 < self.count:
            return self._record(i + 1)[1:]
        return size, last_line + 1

    def first_key(self, i: int) -> bytes:
        return self._record(i)[0].rstrip(b"\0")


def open_index(folder: Path) -> CsvIndex | None:
    """The index of ``folder``, or None when it has none; :class:`IndexUnusable` when it
    has one that cannot be used."""
    path = index_path(folder)
    if not os.path.lexists(path):
        return None
    return CsvIndex(path)


# --------------------------------------------------------------------------- reading rows


class IndexedTable(TableReader):
    """A clean CSV table file read by the index, as ``single._Table`` offers it."""

    def __init__(self, tf: TableFile, report: Report, limits: tuple[int, int], index: CsvIndex,
                 entry: dict):
        super().__init__(tf, report, limits)
        self.index = index
        self.entry = entry
        self._f = None
        self._size = int(entry["size"])
        self._last_line = int(entry["rows"]) + 1
        self._rows: dict[int, object] = {}  # rows read, by line
        self._stream = None

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def search(self, column: str, wanted: set[str], first: bool) -> list:
        if first:
            scratch = Report()
            self.positions = cells.header_problems(scratch, self.table, self.file,
                                                   list(self.entry["header"]), 1)
            if scratch.problems():
                raise IndexMismatch(f"the index says the header of {self.file} is clean")
            self.width = len(self.entry["header"])
            self.readable = True
        pos = self.positions.get(column)
        if pos is None or not wanted:
            return []
        section = self.index.section(self.table, column)
        if section is not None:
            rows = self._by_index(section, column, pos, wanted)
        elif column == key_column(self.table) and self.entry.get("unique") and \
                wanted <= {r.cells[pos - 1] for r in self._rows.values()}:
            # every id of the key column is on one line only: the rows already read
            rows = [r for r in self._rows.values() if r.cells[pos - 1] in wanted]
        else:
            rows = self._streamed(column, wanted)
        return sorted(rows, key=lambda r: r.line)

    # ---- the file --------------------------------------------------------------------
    def _file(self):
        if self._f is None:
            self._f = open_table(self.tf.path, self.limits[1])
        return self._f

    def _read(self, start: int, end: int) -> bytes:
        f = self._file()
        f.seek(start)
        return f.read(end - start)

    def _line_start(self, offset: int, first: bytes) -> None:
        """``offset`` must be where a line starts (``first``: the bytes from there)."""
        if offset <= 0 or offset > self._size:
            raise IndexMismatch(f"the index points outside {self.file}")
        before = self._read(offset - 1, offset)
        if not (before == b"\n" or (before == b"\r" and not first.startswith(b"\n"))):
            raise IndexMismatch(f"the index does not point at a line start of {self.file}")

    def _fields(self, raw: bytes) -> list[str]:
        try:
            return [c.strip() for c in split_line(raw.decode("utf-8"))]
        except UnicodeDecodeError:
            raise IndexMismatch(f"{self.file} is not what the index says") from None

    def _keep(self, line: int, fields: list[str]):
        from .single import _Row

        row = self._rows.get(line)
        if row is None:
            row = self._rows[line] = _Row(line, fields)
        return row

    def _by_index(self, section: Section, column: str, pos: int, wanted: set[str]) -> list:
        found: dict[int, object] = {}
        for want in wanted:
            key = want.encode("utf-8")
            for i, offset, line in section.lookup(key):
                if section.sorted:
                    self._block(section, i, offset, line, pos, want, key, found)
                else:
                    raw = self._one_line(offset)
                    fields = self._fields(raw)
                    if len(fields) != self.width or fields[pos - 1] != want:
                        raise IndexMismatch(f"line {line} of {self.file} is not what the "
                                            "index says")
                    found[line] = self._keep(line, fields)
        return list(found.values())

    def _one_line(self, offset: int) -> bytes:
        data = self._read(offset, min(self._size, offset + 4096))
        self._line_start(offset, data)
        while True:
            ends = [p for p in (data.find(b"\n"), data.find(b"\r")) if p >= 0]
            if ends:
                return data[:min(ends)]
            if offset + len(data) >= self._size or len(data) > MAX_LINE_BYTES + 2:
                return data
            data += self._read(offset + len(data), min(self._size, offset + 2 * len(data)))

    def _block(self, section: Section, i: int, offset: int, line: int, pos: int, want: str,
               key: bytes, found: dict) -> None:
        end, end_line = section.block_end(i, self._size, self._last_line)
        if not (0 < offset < end <= self._size) or end_line <= line:
            raise IndexMismatch(f"the index does not match {self.file}")
        data = self._read(offset, end)
        self._line_start(offset, data)
        if end < self._size and not data.endswith((b"\n", b"\r")):
            raise IndexMismatch(f"the index does not match {self.file}")
        data = _normalise(data)
        if not data.endswith(b"\n"):
            data += b"\n"
        lines = data.split(b"\n")[:-1]
        if len(lines) != end_line - line:
            raise IndexMismatch(f"the index does not match {self.file} (line count)")
        first = section.first_key(i)
        if first:  # the block's first line holds the record's id
            fields = self._fields(lines[0])
            if len(fields) != self.width or fields[pos - 1].encode("utf-8") != first:
                raise IndexMismatch(f"line {line} of {self.file} is not what the index says")
        for j, raw in enumerate(lines):
            if key not in raw:
                continue
            fields = self._fields(raw)
            if len(fields) == self.width and fields[pos - 1] == want:
                found[line + j] = self._keep(line + j, fields)

    def _streamed(self, column: str, wanted: set[str]) -> list:
        """A search the index cannot answer: the file streamed (its checks already made)."""
        from .single import _Table

        if self._stream is None:
            self._stream = _Table(self.tf, self.report, self.limits)
            self._stream.positions, self._stream.width = self.positions, self.width
            self._stream.readable = True
        rows = self._stream.search(column, wanted, first=False)
        return [self._keep(r.line, r.cells) for r in rows]


def usable_entry(index: CsvIndex, tf: TableFile, limits: tuple[int, int]) -> tuple[dict | None,
                                                                                    str | None]:
    """``(entry, note)``: the index's entry for a CSV table when it can be used; else None
    and, when the index holds the file but is out of date for it, why (for a note)."""
    entry = index.tables.get(tf.table)
    if not isinstance(entry, dict) or entry.get("file") != tf.name:
        return None, None
    if entry.get("status") != "indexed":
        return None, None  # streamed: its problems are reported as without an index
    try:
        now = file_stat(tf.path)
        if any(now[k] != entry.get(k) for k in now):
            return None, f"{tf.name} changed after the index was written"
        if now["size"] > limits[1] or int(entry["rows"]) > limits[0]:
            return None, None  # over a limit: streamed, refused as usual
        with open_table(tf.path, limits[1]) as f:
            if sample_hash(f, now["size"]) != entry.get("sample"):
                return None, f"{tf.name} changed after the index was written"
    except (OSError, NotReadable, KeyError, TypeError, ValueError):
        return None, None  # streamed: the reader reports what is wrong with the file
    return entry, None
