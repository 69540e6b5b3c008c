"""One pass over the bytes of an extract CSV file, before any parser sees them.

Both readers (the full one, through Arrow, and the one-account reader behind ``deprules
evaluate``, through Python's csv module) first stream the file through :class:`CsvScan`,
so they refuse the same files with the same located problem, and what each parser is
then given is plain enough that the two split it into the same rows and cells:

- UTF-8 text; a byte order mark at the start is dropped. A byte that is not UTF-8 is
  reported at its line and column (the bytes themselves are never echoed).
- Lines end with LF, CRLF or CR alone (Excel for Mac); each is one line end, mixed or not.
- No line longer than :data:`MAX_LINE_BYTES` (1 MiB).
- Quotes as RFC 4180 has them, on one line: a cell is either unquoted and free of ``"``,
  or wholly in double quotes (``""`` for a quote inside). A quoted cell cannot hold a line
  break, so every line is one row and line numbers are exact.
- At most ``max_rows`` lines after the header (every line counts, blank ones too).

Checks run on blocks of whole lines with bytes operations (``find``, ``count``,
``isascii``), so a 200 MB file is scanned in well under a second; per-line Python work is
done only for lines holding a quote. Pure Python: no pyarrow, no pandas.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

CHUNK_BYTES = 1 << 22  # read 4 MiB at a time
MAX_LINE_BYTES = 1 << 20  # 1 MiB: a line longer than this is not a row of an extract
BOM = b"\xef\xbb\xbf"

# atomic groups and possessive repeats: no backtracking, linear time on any line
_FIELD = rb'(?>"(?:[^"\n]|"")*+"|[^,"\n]*+)'
_LINE_RE = re.compile(rb"%s(?:,%s)*+" % (_FIELD, _FIELD))
_FIELD_RE = re.compile(_FIELD)
_TEXT_FIELD_RE = re.compile(_FIELD.decode("ascii"))


def split_line(text: str) -> list[str]:
    """The cells of a line :class:`CsvScan` accepted (RFC 4180 quoting, as Arrow reads it),
    untrimmed. Any length: no field size limit, unlike Python's csv module."""
    if '"' not in text:
        return text.split(",")
    cells, pos = [], 0
    while True:
        m = _TEXT_FIELD_RE.match(text, pos)
        cell = m.group()
        cells.append(cell[1:-1].replace('""', '"') if cell.startswith('"') else cell)
        pos = m.end()
        if pos >= len(text) or text[pos] != ",":
            return cells
        pos += 1


class CsvProblem(Exception):
    """What is wrong with the file, located: ``line`` (1 = header), ``column`` (1-based
    field, 0 for the whole line or file), ``path`` (the column's name when known)."""

    def __init__(self, line: int, column: int, message: str, code: str, path: str = ""):
        super().__init__(message)
        self.line, self.column, self.message, self.code, self.path = (
            line, column, message, code, path)


def _normalise(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in data else data


class CsvScan:
    """Iterate :meth:`blocks` to check the whole file; ``header`` is known after the first
    block (``None`` when the file has no header line), ``lines`` counts the lines seen."""

    def __init__(self, f, max_rows: int, rows_env: str = "DEPRULES_EXTRACT_MAX_ROWS",
                 checks: bool = True):
        self._f = f
        self._checks = checks  # False: a second pass over a file already checked
        self.max_rows = max_rows
        self.rows_env = rows_env
        self.header: list[str] | None = None
        self.lines = 0

    # ------------------------------------------------------------------ reading

    def blocks(self) -> Iterator[tuple[int, bytes]]:
        """``(number of the block's first line, block)``: the data lines after the header,
        checked, with ``\\n`` line ends, each block ending with one (the file's last line
        gets one added)."""
        carry, first = b"", True
        while True:
            chunk = self._f.read(CHUNK_BYTES)
            eof = not chunk
            data = carry + chunk
            if first:
                if not data and not eof:
                    continue
                data = data.removeprefix(BOM)
            held = b""
            if not eof and data.endswith(b"\r"):  # perhaps the first half of a CRLF
                held, data = b"\r", data[:-1]
            data = _normalise(data)
            if eof:
                cut = len(data)
                if data and not data.endswith(b"\n"):
                    data += b"\n"
                    cut += 1
            else:
                cut = data.rfind(b"\n") + 1
            block, carry = data[:cut], data[cut:] + held
            if len(carry) > MAX_LINE_BYTES:
                self._too_long(self.lines + block.count(b"\n") + 1, len(carry))
            if first and (block or eof):
                first = False
                block = self._take_header(block, eof)
            if block:
                start = self.lines + 1
                self._check(block, start)
                self.lines += block.count(b"\n")
                if self.lines - 1 > self.max_rows:
                    raise CsvProblem(self.max_rows + 2, 0, f"the table has more than "
                                     f"{self.max_rows:,} rows, the limit ({self.rows_env}); "
                                     "split the extract or raise the limit", "too-many-rows")
                yield start, block
            if eof:
                return

    def _take_header(self, block: bytes, eof: bool) -> bytes:
        end = block.find(b"\n")
        if end < 0:  # no complete line yet: only at the end of a file of one line
            end = len(block)
        line = block[:end + 1]
        self._check(line, 1)
        self.lines = 1 if line else 0
        text = line.decode("utf-8").rstrip("\n")
        if text.strip():
            self.header = [h.strip() for h in split_line(text)]
        return block[end + 1:]

    # ------------------------------------------------------------------ checks

    def _check(self, block: bytes, start: int) -> None:
        if not self._checks:
            return
        if not block.isascii():
            try:
                block.decode("utf-8")
            except UnicodeDecodeError as exc:
                self._not_utf8(block, start, exc)
        if len(block) > MAX_LINE_BYTES:
            self._long_lines(block, start)
        if b'"' in block:
            self._quotes(block, start)

    def _where(self, block: bytes, start: int, pos: int) -> tuple[int, int, bytes]:
        """Line number, offset of the line in ``block`` and the line, for byte ``pos``."""
        begin = block.rfind(b"\n", 0, pos) + 1
        end = block.find(b"\n", pos)
        return start + block.count(b"\n", 0, begin), begin, block[begin:end]

    def _column_at(self, line: bytes, offset: int) -> int:
        """1-based field holding byte ``offset`` of ``line`` (commas inside quotes skipped)."""
        quoted, column = False, 1
        for byte in line[:offset]:
            if byte == 0x22:
                quoted = not quoted
            elif byte == 0x2C and not quoted:
                column += 1
        return column

    def _name(self, line_no: int, column: int) -> str:
        if line_no > 1 and self.header and 0 < column <= len(self.header):
            return self.header[column - 1]
        return ""

    def _not_utf8(self, block: bytes, start: int, exc: UnicodeDecodeError) -> None:
        line_no, begin, line = self._where(block, start, exc.start)
        column = self._column_at(line, exc.start - begin)
        what = "header" if line_no == 1 else "file"
        raise CsvProblem(line_no, column, f"the {what} is not UTF-8 text (byte "
                         f"0x{block[exc.start]:02x} cannot be decoded: {exc.reason}); save the "
                         "file as UTF-8", "bad-file", self._name(line_no, column))

    def _too_long(self, line_no: int, length: int) -> None:
        what = "header" if line_no == 1 else "line"
        raise CsvProblem(line_no, 0, f"the {what} is longer than {MAX_LINE_BYTES:,} bytes, "
                         "the limit for a line of an extract", "too-long")

    def _long_lines(self, block: bytes, start: int) -> None:
        # a line longer than the limit holds a whole window of half the limit without a
        # line end; only such windows are looked at more closely
        half = MAX_LINE_BYTES // 2
        for i in range(0, len(block), half):
            if block.find(b"\n", i, i + half) < 0 and i + half <= len(block):
                line_no, begin, line = self._where(block, start, i)
                if len(line) > MAX_LINE_BYTES:
                    self._too_long(line_no, len(line))

    def _quotes(self, block: bytes, start: int) -> None:
        pos = block.find(b'"')
        while pos >= 0:
            begin = block.rfind(b"\n", 0, pos) + 1
            end = block.find(b"\n", pos)
            line = block[begin:end]
            if _LINE_RE.fullmatch(line) is None:
                self._bad_quotes(line, start + block.count(b"\n", 0, begin))
            pos = block.find(b'"', end)

    def _bad_quotes(self, line: bytes, line_no: int) -> None:
        pos, column = 0, 1
        while True:
            m = _FIELD_RE.match(line, pos)
            end = m.end()
            if end < len(line) and line[end:end + 1] == b",":
                pos, column = end + 1, column + 1
                continue
            break
        cell = line[pos:]
        if cell.startswith(b'"') and cell.count(b'"') % 2:
            message = ("a quoted cell is not closed on its line; a cell cannot hold a line "
                       "break")
        elif cell.startswith(b'"'):
            message = ('text follows the closing quote of a quoted cell; write the whole cell '
                       'in quotes, "like this", with "" for a quote inside it')
        else:
            message = ('a quote character inside an unquoted cell; write the whole cell in '
                       'quotes, "like this", with "" for a quote inside it')
        raise CsvProblem(line_no, column, message, "bad-file", self._name(line_no, column))
