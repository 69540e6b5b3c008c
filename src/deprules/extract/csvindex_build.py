"""Writing the index of a CSV extract (``deprules.index``; what it holds: ``csvindex.py``).

Each CSV table file is read twice: once through the reader's byte checks (``scan.py``:
a file they refuse is left unindexed), once as raw bytes with numpy, which finds every
line's start, counts its fields and cuts out the searched column and the key. Lines
numpy cannot split exactly (a quote, a byte above ASCII, whitespace around an id) are
split in Python as the reader splits them (``split_line``, then trimmed), so the ids
are the reader's ids. About 2 s for the 244 MB of a million-account extract.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import cells
from .cells import Report
from .context import TABLES
from .csvindex import (
    BLOCK_LINES,
    INDEX_NAME,
    MAGIC,
    MAX_KEY_BYTES,
    PAGE_RECORDS,
    SEARCHED,
    VERSION,
    file_stat,
    key_column,
    sample_hash,
)
from .files import NotReadable, locate_tables, open_table
from .scan import CsvProblem, CsvScan, split_line

WINDOW_BYTES = 1 << 26  # raw bytes split at a time (64 MiB)
_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True  # str.isspace, in ASCII


class _NotIndexed(Exception):
    pass


@dataclass
class TableIndex:
    """What was found for one table file (``status`` "indexed" or "not-indexed")."""

    table: str
    file: str
    status: str
    reason: str = ""
    rows: int = 0
    modes: dict = field(default_factory=dict)  # searched column -> "sorted" or "dense"
    entry: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)  # column -> records (structured array)


def build_index(folder: Path | str) -> tuple[Path, list[TableIndex]]:
    """Write ``folder/deprules.index`` for the CSV tables of ``folder``; return its path and
    what was found per table. A table that is not clean is recorded unindexed."""
    folder = Path(folder)
    files = {t: tf for t, tf in locate_tables(folder, Report()).items() if tf.fmt == "csv"}
    results = [_table(tf) for tf in files.values()]
    path = folder / INDEX_NAME
    _write(path, results)
    return path, results


# --------------------------------------------------------------------------- one table


def _table(tf) -> TableIndex:
    try:
        before = file_stat(tf.path)
        header, rows, data_at = _checked(tf)
        scratch = Report()
        positions = cells.header_problems(scratch, tf.table, tf.name, header, 1)
        if scratch.problems():
            raise _NotIndexed("its header has a problem (deprules extract check shows it)")
        columns = [c for c in (SEARCHED[tf.table], key_column(tf.table)) if c in positions]
        with open_table(tf.path, 1 << 62) as f:
            offsets, lines, by_position = _split(f, data_at, len(header),
                                                 [positions[c] for c in columns])
            keys = {c: by_position[positions[c]] for c in columns}
            sample = sample_hash(f, before["size"])
        if len(lines) != rows:
            raise _NotIndexed("its lines could not be counted")  # not expected: scan agrees
        if file_stat(tf.path) != before:
            raise _NotIndexed("it changed while it was being indexed")
    except _NotIndexed as exc:
        return TableIndex(tf.table, tf.name, "not-indexed", str(exc))
    except CsvProblem as p:
        return TableIndex(tf.table, tf.name, "not-indexed",
                          f"line {p.line}: {p.message} [{p.code}]")
    except NotReadable as exc:
        return TableIndex(tf.table, tf.name, "not-indexed", exc.message)
    except OSError as exc:
        return TableIndex(tf.table, tf.name, "not-indexed",
                          f"cannot read the file: {exc.strerror or exc}")
    result = TableIndex(tf.table, tf.name, "indexed", rows=rows)
    result.entry = {"file": tf.name, "status": "indexed", **before, "sample": sample,
                    "rows": rows, "header": header}
    searched, key = SEARCHED[tf.table], key_column(tf.table)
    if searched in keys:
        result.arrays[searched], result.modes[searched] = _records(
            keys[searched], offsets, lines)
    if key != searched and key in keys:
        k = keys[key]
        k = np.sort(k[k != b""])
        result.entry["unique"] = bool(k.size < 2 or not np.any(k[1:] == k[:-1]))
    return result


def _checked(tf) -> tuple[list[str], int, int]:
    """The reader's byte checks over the whole file: ``(header, data lines, offset of the
    first data line)``; raises :class:`CsvProblem` as the reader would."""
    with open_table(tf.path, 1 << 62) as f:
        scan = CsvScan(f, 1 << 62)
        for _ in scan.blocks():
            pass
    if scan.header is None:
        raise _NotIndexed("it has no header line")
    with open_table(tf.path, 1 << 62) as f:
        head = f.read(1 << 21)
    ends = [p for p in (head.find(b"\n"), head.find(b"\r")) if p >= 0]
    if not ends:
        return scan.header, 0, len(head)
    end = min(ends)
    at = end + 2 if head[end:end + 2] == b"\r\n" else end + 1
    return scan.header, scan.lines - 1, at


def _split(f, start: int, width: int, columns: list[int]):
    """``(offsets, line numbers, {column position: ids})`` of every data line from byte
    ``start`` of the open file ``f`` on (ids trimmed; b"" for a blank id or line)."""
    parts = []
    line, pos, carry = 2, start, b""
    f.seek(start)
    while True:
        chunk = f.read(WINDOW_BYTES)
        data, last = carry + chunk, not chunk
        if not data:
            break
        cut = len(data)
        if not last:  # whole lines only; a CR at the very end may be half of a CRLF
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                cut = data.rfind(b"\r", 0, len(data) - 1) + 1
            if cut == 0:
                carry = data
                continue
        window, carry = data[:cut], data[cut:]
        offsets, keys = _window(window, width, columns, last)
        parts.append((offsets + pos, np.arange(line, line + len(offsets), dtype=np.int64), keys))
        line += len(offsets)
        pos += cut
        if last:
            break
    if not parts:
        return (np.zeros(0, np.int64), np.zeros(0, np.int64),
                {c: np.zeros(0, dtype="S1") for c in columns})
    offsets = np.concatenate([p[0] for p in parts])
    lines = np.concatenate([p[1] for p in parts])
    keys = {c: np.concatenate([p[2][c] for p in parts]) for c in columns}
    return offsets, lines, keys


def _window(raw: bytes, width: int, columns: list[int], last: bool):
    """The lines of ``raw`` (whole lines; the file's last line may lack its line end)."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    n = len(buf)
    nl = np.flatnonzero(buf == 10)
    cr = np.flatnonzero(buf == 13)
    if cr.size:
        after = cr + 1
        lone = cr[(after >= n) | (buf[np.minimum(after, n - 1)] != 10)]
        ends = np.union1d(nl, lone)
    else:
        ends = nl
    content = ends.copy()
    if cr.size:
        crlf = (buf[ends] == 10) & (ends > 0) & (buf[np.maximum(ends - 1, 0)] == 13)
        content[crlf] -= 1
    if last and n and buf[n - 1] not in (10, 13):
        ends = np.append(ends, n)
        content = np.append(content, n)
    starts = np.empty_like(ends)
    if ends.size:
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    nlines = len(ends)
    special = np.zeros(nlines, dtype=bool)
    if b'"' in raw:
        special[np.searchsorted(ends, np.flatnonzero(buf == 34))] = True
    if not raw.isascii():
        special[np.searchsorted(ends, np.flatnonzero(buf > 127))] = True
    commas = np.flatnonzero(buf == 44)
    first_comma = np.searchsorted(commas, starts)
    count = np.searchsorted(commas, content) - first_comma
    special |= count != width - 1
    bounds = {}
    for c in columns:
        ok = ~special
        fs = starts.copy() if c == 1 else np.zeros(nlines, np.int64)
        fe = content.copy() if c == width else np.zeros(nlines, np.int64)
        idx = first_comma[ok]
        if c > 1:
            fs[ok] = commas[idx + c - 2] + 1
        if c < width:
            fe[ok] = commas[idx + c - 1]
        length = np.where(ok, fe - fs, 0)
        has = ok & (length > 0)
        edge = np.zeros(nlines, dtype=bool)
        edge[has] = _WHITESPACE[buf[fs[has]]] | _WHITESPACE[buf[fe[has] - 1]]
        special |= edge
        bounds[c] = (fs, length)
    ok = ~special
    slow = {}
    for i in np.flatnonzero(special):
        text = raw[starts[i]:content[i]].decode("utf-8")
        fields = [f.strip() for f in split_line(text)]
        if len(fields) != width:
            if any(fields):
                raise _NotIndexed(f"a line has {len(fields)} fields, the header {width} "
                                  "(deprules extract check shows it)")
            slow[i] = {c: b"" for c in columns}  # a blank line: no id
        else:
            slow[i] = {c: fields[c - 1].encode("utf-8") for c in columns}
    keys = {}
    for c in columns:
        fs, length = bounds[c]
        length = np.where(ok, length, 0)
        w = max(int(length.max()) if nlines else 0,
                max((len(v[c]) for v in slow.values()), default=0), 1)
        if w > MAX_KEY_BYTES:
            raise _NotIndexed(f"an id is longer than {MAX_KEY_BYTES} bytes")
        mat = np.zeros((w, nlines), dtype=np.uint8)  # byte j of every id, for each j
        last_byte = max(n - 1, 0)
        for j in range(w):
            inside = length > j
            mat[j] = np.where(inside, buf[np.minimum(fs + j, last_byte)], 0)
            if np.any(inside & (mat[j] == 0)):
                raise _NotIndexed("an id holds a NUL character")
        ids = np.ascontiguousarray(mat.T).view(f"S{w}").ravel()
        for i, v in slow.items():
            if b"\0" in v[c]:
                raise _NotIndexed("an id holds a NUL character")
            ids[i] = v[c]
        keys[c] = ids
    return starts, keys


def _records(ids: np.ndarray, offsets: np.ndarray, lines: np.ndarray):
    """Records of a searched column: one per block when the file is in the column's
    order (blank ids aside), else one per line sorted by id."""
    w = max(ids.dtype.itemsize, 1)
    present = np.flatnonzero(ids != b"")
    k = ids[present]
    if k.size < 2 or bool(np.all(k[1:] >= k[:-1])):
        # blocks start on a line with an id (the first block: at the first line)
        j = np.searchsorted(present, np.arange(BLOCK_LINES, len(ids), BLOCK_LINES))
        starts = np.concatenate([np.zeros(min(len(ids), 1), np.int64), present[j[j < len(present)]]])
        pick, mode = np.unique(starts).astype(np.int64), "sorted"
    else:
        pick = present[np.argsort(k, kind="stable")]
        mode = "dense"
    rec = np.zeros(len(pick), dtype=[("k", f"S{w}"), ("o", "<u8"), ("l", "<u8")])
    rec["k"], rec["o"], rec["l"] = ids[pick], offsets[pick], lines[pick]
    return rec, mode


# --------------------------------------------------------------------------- the file


def _write(path: Path, results: list[TableIndex]) -> None:
    """The index file, written beside and renamed into place."""
    tables: dict = {}
    blobs: list[bytes] = []
    layout: list[tuple[dict, bytes, bytes]] = []
    for r in results:
        if r.status != "indexed":
            tables[r.table] = {"file": r.file, "status": r.status, "reason": r.reason}
            continue
        entry = dict(r.entry)
        entry["sections"] = {}
        for column, rec in r.arrays.items():
            data = rec.tobytes()
            size = rec.dtype.itemsize
            pages = b"".join(hashlib.blake2b(data[i:i + PAGE_RECORDS * size],
                                             digest_size=16).digest()
                             for i in range(0, len(data), PAGE_RECORDS * size))
            spec = {"mode": r.modes[column], "width": size - 16, "count": len(rec),
                    "page_records": PAGE_RECORDS,
                    "pages_hash": hashlib.blake2b(pages, digest_size=16).hexdigest()}
            entry["sections"][column] = spec
            layout.append((spec, data, pages))
        tables[r.table] = entry
    # offsets depend on the header's length, which depends on the offsets: fix them
    # with room to spare (the header is padded to a multiple of 4 KiB)
    head_room = 4096
    while True:
        at = _align(len(MAGIC) + 1 + 8 + head_room + 32)
        for spec, data, pages in layout:
            spec["records_at"] = at
            at = _align(at + len(data))
            spec["pages_at"] = at
            at = _align(at + len(pages))
        body = json.dumps({"version": VERSION, "tables": tables}, sort_keys=True).encode("utf-8")
        if len(body) <= head_room:
            break
        head_room = _align(len(body), 4096)
    body = body.ljust(head_room, b" ")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + bytes([VERSION]) + struct.pack("<Q", len(body)) + body
                    + hashlib.blake2b(body, digest_size=32).digest())
            for spec, data, pages in layout:
                f.seek(spec["records_at"])
                f.write(data)
                f.seek(spec["pages_at"])
                f.write(pages)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _align(n: int, to: int = 8) -> int:
    return -(-n // to) * to


def remove_index(folder: Path | str) -> None:
    """Remove an index that no longer describes the folder (its tables rewritten)."""
    (Path(folder) / INDEX_NAME).unlink(missing_ok=True)


def describe(results: list[TableIndex]) -> list[dict]:
    return [{"table": r.table, "file": r.file, "status": r.status, "rows": r.rows,
             **({"reason": r.reason} if r.reason else {}),
             **({"columns": r.modes} if r.modes else {})} for r in results]
