"""One account from a request's rows without writing them to files: the fast path of
``Decider.evaluate``.

``Decider.evaluate`` used to write every table of the request as the CSV file an extract
would hold and read the account back with ``extract.single.load_account``: about half of
an evaluation's time went to the files. This module hands the same reader logic
(``extract.single._load``: the same row selection, cell parsing, duplicate, reference,
order and sign checks, the same ``AccountState``) tables held in memory instead of files.

The file reader also checks the bytes of every line (UTF-8, quotes, line and file sizes,
the row limit, the header). Rows that could meet one of those checks are not taken here
(:func:`direct_state` answers ``None``: printable ASCII only, no quote or comma, cells
and lines far below the limits, a non-empty header with every required column), and a
request where the reader reports any problem at all goes the file way too, so that every
refusal is the file reader's own, located exactly as before. The answer for a request the
fast path takes is the same document (``tests/test_service.py`` and
``tests/test_service_fastpath.py`` hold the two ways equal).
"""

from __future__ import annotations

import re

from .extract import cells
from .extract.cells import Report
from .extract.context import REQUIRED_TABLES, TABLES
from .extract.files import max_bytes
from .extract.scan import MAX_LINE_BYTES
from .extract.single import _load, _Row

#: a cell longer than this, or a line longer than LINE_CHARS, goes the file way
CELL_CHARS = min(256, cells.MAX_CELL_CHARS)
LINE_CHARS = min(16_384, MAX_LINE_BYTES // 4)


class _MemTable:
    """A table file as ``extract.single._load`` uses one, over rows in memory."""

    def __init__(self, table: str, header: list[str], rows: list[list[str]], report: Report):
        self.table, self.file = table, f"{table}.csv"
        self.report = report
        self.positions = cells.header_problems(report, table, self.file, header, 1)
        self.width = len(header)
        self.readable = True
        self.unusable: set[str] = set()
        self._rows = rows
        # the header is the table's for good: whether it has every required column is too
        self.complete = all(c.name in self.positions for c in TABLES[table] if c.required)

    def search(self, column: str, wanted: set[str], first: bool) -> list[_Row]:
        pos = self.positions.get(column)
        if pos is None or not wanted:
            return []
        return [_Row(i + 2, list(r)) for i, r in enumerate(self._rows) if r[pos - 1] in wanted]

    def close(self) -> None:
        pass


# a character the fast path does not take: anything but printable ASCII (the separator
# \x1f aside), a quote or a comma (the CSV writer would quote the cell); or a cell longer
# than CELL_CHARS
_REFUSED = re.compile(r'[^\x20-\x7e\x1f]|[",]|[^\x1f]{%d,}' % (CELL_CHARS + 1))
#: at most this many columns: a line then stays far below the reader's line limit
MAX_COLUMNS = LINE_CHARS // (CELL_CHARS + 1)


def direct_state(account_id: str, tables: dict[str, list[dict]], ctx):
    """``(True, AccountState or None)`` as ``load_account`` would give for these rows
    written as files, or ``(False, None)`` when the rows must go the file way (they could
    meet a byte-level check, or the reader finds a problem: the file reader then reports
    it, located as usual)."""
    limit_rows = cells.max_rows()
    limit_bytes = max_bytes()
    mem: dict[str, _MemTable] = {}
    report = Report()
    for t in TABLES:
        rows = tables.get(t)
        if rows is None:
            if t in REQUIRED_TABLES:
                return False, None
            continue
        if rows:
            header: dict[str, None] = {}
            for r in rows:
                header.update(dict.fromkeys(r))
            cols = list(header)
        else:
            cols = [c.name for c in TABLES[t]]
        if not 2 <= len(cols) <= MAX_COLUMNS or len(rows) > limit_rows:
            return False, None
        lines = [[r.get(c, "") for c in cols] for r in rows]
        blob = "\x1f".join(cols + [v for line in lines for v in line])
        if not blob.isascii() or _REFUSED.search(blob) or len(blob) > limit_bytes // 2 \
                or any(not c or c != c.strip() for c in cols):
            return False, None
        if " " in blob:  # the reader strips every cell
            lines = [[v.strip() for v in line] for line in lines]
        mem[t] = _MemTable(t, cols, lines, report)
    if report.problems():
        return False, None
    account_id = account_id.strip()
    if not account_id:
        return True, None
    try:
        state = _load(None, account_id, ctx, mem, report)
    except Exception:  # ExtractError (or anything odd): the file reader says what it is
        return False, None
    return True, state
