"""One account's rows of a Parquet table, read row group by row group (no pandas).

The one-account reader (``single.py``) asks a table for the rows whose column holds one
of a few ids. For a Parquet file, the footer says, for every row group and column, the
least and greatest value: a row group whose range cannot hold any of the ids is not read.
The rest are read in two steps: the one column searched, then the whole row group only
where a row matched. A file written sorted by that column (``deprules extract convert``,
``extract generate``) has narrow, disjoint ranges, so an account costs a few row groups
of each table whatever the size of the extract; a file in any other order, or without
statistics, is still read correctly, only more of it.

Cells are read as the full reader reads them (``parquet_text.py``, then trimmed): a
cell's trimmed text is compared with the ids, so the pruning allows for surrounding
whitespace (see :func:`may_hold`). Locations are the full reader's: the row index + 1
(over the whole file), and the 1-based column position.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import cells
from .cells import Report
from .context import TABLES
from .files import NotReadable, TableFile, TableReader, open_table
from .parquet_text import parquet_text

#: what Arrow's ``utf8_trim_whitespace`` trims (as ``str.isspace``; checked in the tests)
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
              "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")

_WHITESPACE_RANGES = [(c, chr(ord(c) + 1)) for c in sorted(WHITESPACE)]


def may_hold(low: str, high: str, wanted: list[str]) -> bool:
    """Whether a row group whose values lie in ``[low, high]`` may hold a cell whose trimmed
    text is one of ``wanted`` (codepoint order: Parquet's order for UTF-8 statistics).

    A cell ``w`` padded with trailing whitespace starts with ``w``, so it lies in the range
    only if ``high >= w`` and ``low`` is at most ``w`` or starts with it; a cell with
    leading whitespace starts with a whitespace character, whose strings are in the range
    only if the range reaches that character."""
    for c, after in _WHITESPACE_RANGES:
        if high < c:
            break
        if low < after:
            return True
    return any(high >= w and (low <= w or low.startswith(w)) for w in wanted)


def _strings(values: list[str]) -> pa.Array:
    """A string array of ``values``, built from its buffers: ``pa.array`` of a list would
    import pandas (a second and more for ``deprules evaluate``)."""
    encoded = [v.encode("utf-8") for v in values]
    offsets, end = [0], 0
    for e in encoded:
        end += len(e)
        offsets.append(end)
    import array

    return pa.StringArray.from_buffers(len(values), pa.py_buffer(array.array("i", offsets)),
                                       pa.py_buffer(b"".join(encoded)))


class ParquetTable(TableReader):
    """A Parquet table file as ``single._Table`` offers it: header checks and searches."""

    def __init__(self, tf: TableFile, report: Report, limits: tuple[int, int], ctx):
        super().__init__(tf, report, limits)
        self.mu = ctx.minor_units
        self._pf: pq.ParquetFile | None = None
        self._handle = None
        self._fields: list[pa.Field] = []
        self._kinds = {c.name: c.kind for c in TABLES[tf.table]}
        self._offsets: list[int] = []  # first row (0-based) of every row group
        self._leaf: dict[str, int] = {}  # column name -> Parquet leaf column with statistics
        self._groups_read: dict[int, pa.Table] = {}  # row groups read whole, by index

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = self._pf = None
        self._groups_read.clear()

    # ---- the file and its schema -------------------------------------------------------
    def _open(self) -> bool:
        """Open the file and check its footer: row count, columns, their types."""
        try:
            self._handle = open_table(self.tf.path, self.limits[1])
            pf = pq.ParquetFile(self._handle)
            meta = pf.metadata
            if meta.num_rows > self.limits[0]:  # from the footer, as the full reader
                self.report.add(self.file, self.limits[0] + 1, 0, "",
                                cells.too_many_rows_message(self.limits[0]), "too-many-rows")
                return False
            schema = pf.schema_arrow
        except NotReadable as exc:
            self.report.add(self.file, 0, 0, "", exc.message, exc.code)
            return False
        except (pa.ArrowException, OSError) as exc:
            self.report.add(self.file, 0, 0, "", f"not a readable Parquet file: {exc}", "bad-file")
            return False
        if len(schema) == 0:
            self.report.add(self.file, 0, 0, "", "the Parquet file has no columns", "empty-table")
            return False
        self._pf, self._fields = pf, list(schema)
        for i, fld in enumerate(self._fields, start=1):
            if fld.name in self._kinds:
                problem = self._type_problem(fld)
                if problem is not None:
                    self.report.add(self.file, 0, i, fld.name, problem[1], problem[0])
                    self.unusable.add(fld.name)
        header = [f.name for f in self._fields]
        self.positions = cells.header_problems(self.report, self.table, self.file, header, 0)
        self.width = len(header)
        # the columns deprules reads; read by name when no name is repeated
        self._columns = [n for n in self.positions if n in self._kinds and n not in self.unusable]
        self._unique = all(header.count(n) == 1 for n in self._columns)
        start = 0
        for g in range(meta.num_row_groups):
            self._offsets.append(start)
            start += meta.row_group(g).num_rows
        parquet_schema = pf.schema
        for j in range(len(parquet_schema)):
            col = parquet_schema.column(j)
            if col.path in self.positions and col.logical_type.type == "STRING" \
                    and header.count(col.path) == 1:
                self._leaf[col.path] = j
        return True

    def _type_problem(self, fld: pa.Field):
        return parquet_text(pa.chunked_array([], fld.type), self._kinds[fld.name], self.mu)[1]

    # ---- searching ---------------------------------------------------------------------
    def search(self, column: str, wanted: set[str], first: bool) -> list:
        """Rows (``single._Row``) whose trimmed ``column`` is one of ``wanted``. The first
        search opens the file and checks its footer; a problem there is reported and
        nothing is kept."""
        from .single import _Row

        if first:
            self.readable = self._open()
        if not self.readable or not wanted or column not in self.positions \
                or column in self.unusable:
            return []
        pos = self.positions[column]
        ids = sorted(wanted)
        value_set = _strings(ids)
        rows: list[_Row] = []
        try:
            for g in self._groups(column, ids):
                hits = self._hits(g, pos, value_set)
                if hits is not None:
                    rows.extend(_Row(line, cells) for line, cells in self._rows(g, hits))
        except (pa.ArrowException, OSError) as exc:
            self.report.add(self.file, 0, 0, "", f"not a readable Parquet file: {exc}", "bad-file")
            self.readable = False
            return []
        return rows

    def _groups(self, column: str, ids: list[str]) -> list[int]:
        """The row groups whose statistics of ``column`` may hold one of ``ids``."""
        meta = self._pf.metadata
        leaf = self._leaf.get(column)
        out = []
        for g in range(meta.num_row_groups):
            if leaf is not None:
                try:
                    stats = meta.row_group(g).column(leaf).statistics
                    low, high = (stats.min, stats.max) if stats is not None \
                        and stats.has_min_max else (None, None)
                except (ValueError, pa.ArrowException):  # e.g. bounds that are not UTF-8
                    low = high = None
                if isinstance(low, str) and isinstance(high, str) \
                        and not may_hold(low, high, ids):
                    continue
            out.append(g)
        return out

    def _read(self, g: int, columns: list[str] | None) -> pa.Table:
        return self._pf.read_row_group(g, columns=columns, use_threads=False)

    def _text(self, fld: pa.Field, data) -> pa.ChunkedArray | None:
        """A column as trimmed text (null for a null cell: blank), or None when its cells
        cannot be turned into text (reported as the full reader reports the column)."""
        if isinstance(data, pa.Array):
            data = pa.chunked_array([data], fld.type)
        try:
            text, problem = parquet_text(data, self._kinds[fld.name], self.mu)
        except pa.ArrowInvalid:  # e.g. binary cells that are not UTF-8
            text, problem = None, self._type_problem(fld) or (
                "bad-file", f"column of type {fld.type} cannot hold "
                f"{self._kinds[fld.name]} values; store it as text")
        if problem is not None:
            if fld.name not in self.unusable:
                self.unusable.add(fld.name)
                i = self._fields.index(fld) + 1
                self.report.add(self.file, 0, i, fld.name, problem[1], problem[0])
            return None
        # (fill_null(text, "") as the full reader would import pandas, for its scalar)
        return pc.utf8_trim_whitespace(text)

    def _hits(self, g: int, pos: int, value_set: pa.Array) -> pa.Array | None:
        """Rows of row group ``g`` (0-based within it) whose column ``pos`` matched."""
        fld = self._fields[pos - 1]
        whole = self._groups_read.get(g)
        if whole is not None and fld.name in whole.column_names:
            data = whole.column(fld.name) if self._unique else whole.column(pos - 1)
        elif [f.name for f in self._fields].count(fld.name) == 1:
            data = self._read(g, [fld.name]).column(0)
        else:
            data = self._read(g, None).column(pos - 1)
        text = self._text(fld, data)
        if text is None:
            return None
        hits = pc.indices_nonzero(pc.is_in(text, value_set=value_set))  # null: not in it
        return hits if len(hits) else None

    def _rows(self, g: int, hits: pa.Array):
        """``(line, cells)`` of the rows ``hits`` of row group ``g``: every column deprules
        reads as trimmed text, the others (ignored, or refused) blank."""
        data = self._groups_read.get(g)
        if data is None:  # a second search (for a table's keys) often lands in it again
            data = self._groups_read[g] = self._read(g, self._columns if self._unique else None)
        columns: dict[int, list[str]] = {}
        for name in self._columns:
            if name in self.unusable:
                continue
            pos = self.positions[name]
            raw = data.column(name) if self._unique else data.column(pos - 1)
            text = self._text(self._fields[pos - 1], raw.take(hits))
            if text is not None:
                columns[pos - 1] = ["" if v is None else v for v in text.to_pylist()]
        first = self._offsets[g] + 1
        for k, i in enumerate(hits.to_pylist()):
            row = [""] * self.width
            for j, values in columns.items():
                row[j] = values[k]
            yield first + i, row
