"""Table files (files.py) and the byte scan both readers share (scan.py)."""

from __future__ import annotations

import csv
import io
import os
import random
import signal
import socket
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pv
import pytest

from deprules.extract import files, scan
from deprules.extract.files import NotReadable, examine, open_table
from deprules.extract.scan import CsvProblem, CsvScan, split_line


# --------------------------------------------------------------------------- files.py


def test_what_stands_at_a_table_name(tmp_path):
    (tmp_path / "regular.csv").write_text("a\n")
    (tmp_path / "folder.csv").mkdir()
    os.mkfifo(tmp_path / "fifo.csv")
    (tmp_path / "dangling.csv").symlink_to(tmp_path / "nowhere")
    (tmp_path / "link.csv").symlink_to(tmp_path / "regular.csv")
    (tmp_path / "loop.csv").symlink_to(tmp_path / "loop.csv")
    (tmp_path / "null.csv").symlink_to("/dev/null")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "socket.csv"))
    try:
        assert examine(tmp_path / "absent.csv") == (False, None)
        assert examine(tmp_path / "regular.csv") == (True, None)
        assert examine(tmp_path / "link.csv") == (True, None)
        words = {name: examine(tmp_path / f"{name}.csv")[1] for name in
                 ("folder", "fifo", "dangling", "loop", "null", "socket")}
    finally:
        sock.close()
    assert "is a folder, not a regular file" in words["folder"]
    assert "is a named pipe (FIFO)" in words["fifo"]
    assert f"is a symbolic link to {tmp_path / 'nowhere'}, which does not exist" in words["dangling"]
    assert "cannot be followed" in words["loop"]
    assert "(a symbolic link to /dev/null) is a character device" in words["null"]
    assert "is a socket" in words["socket"]
    assert all(w.startswith(str(tmp_path)) for w in words.values())  # the path is named


def test_a_fifo_swapped_in_after_the_check_is_refused_without_blocking(tmp_path, monkeypatch):
    os.mkfifo(tmp_path / "t.csv")
    monkeypatch.setattr(files, "examine", lambda path: (True, None))  # the check passed
    signal.alarm(20)  # a blocking open would hang the test: fail it instead
    try:
        with pytest.raises(NotReadable) as err:
            open_table(tmp_path / "t.csv", 1000)
    finally:
        signal.alarm(0)
    assert err.value.code == "not-a-file" and "named pipe" in err.value.message


def test_the_byte_limit_holds_for_what_is_read(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"x" * 100)
    with pytest.raises(NotReadable) as err:
        open_table(path, 99)  # refused from its size, before a byte is read
    assert err.value.code == "too-large"
    with open_table(path, 150) as f:
        with open(path, "ab") as grow:  # the file grows after it was opened
            grow.write(b"y" * 100)
        with pytest.raises(NotReadable, match="larger than 150 bytes"):
            f.read()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="no /proc")
def test_a_file_that_reports_no_size_is_capped_too():
    assert os.stat("/proc/self/status").st_size == 0
    with open_table(Path("/proc/self/status"), 64) as f:
        with pytest.raises(NotReadable, match="larger than 64 bytes"):
            f.read()


# --------------------------------------------------------------------------- scan.py


def _scan(data: bytes, max_rows: int = 1000) -> tuple[list[str] | None, int, bytes]:
    s = CsvScan(io.BytesIO(data), max_rows)
    body = b"".join(block for _, block in s.blocks())
    return s.header, s.lines, body


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64])
def test_chunk_boundaries_change_nothing(monkeypatch, chunk):
    data = ("\ufeffid,name\r\nA1,caf\u00e9\rA2,\"x,\"\"y\"\"\"\r\n\r\nA3,\u20ac\nA4,z").encode()
    monkeypatch.setattr(scan, "CHUNK_BYTES", chunk)
    assert _scan(data) == (["id", "name"], 6,
                           'A1,caf\u00e9\nA2,"x,""y"""\n\nA3,\u20ac\nA4,z\n'.encode())


@pytest.mark.parametrize("chunk", [3, 64, 1 << 16, 1 << 22])
def test_problems_are_located_whatever_the_chunks(monkeypatch, chunk):
    monkeypatch.setattr(scan, "CHUNK_BYTES", chunk)
    cases = [(b"a,b\r\nx,y\r\nx,\xe9\r\n", (3, 2, "b")), (b"a,b\rx,y\rx,\"open\r", (3, 2, "b"))]
    if chunk >= 1 << 16:  # (a line carried over many tiny chunks is copied quadratically)
        cases.append((b"a,b\nx,y\nx" + b"y" * (scan.MAX_LINE_BYTES + 5) + b"\n", (3, 0, "")))
    for data, where in cases:
        with pytest.raises(CsvProblem) as err:
            _scan(data)
        assert (err.value.line, err.value.column, err.value.path) == where, data[:20]


def _strict_line(rng: random.Random) -> str:
    cells = []
    for _ in range(rng.randint(1, 5)):
        text = "".join(rng.choice('ab ,"\u00e9') for _ in range(rng.randint(0, 6)))
        if rng.random() < 0.5 or any(c in text for c in ',"'):
            cells.append('"' + text.replace('"', '""') + '"')
        else:
            cells.append(text)
    return ",".join(cells)


def test_both_parsers_split_an_accepted_line_alike():
    """What the scan accepts, Python's csv module, Arrow and split_line split the same."""
    rng = random.Random(3)
    lines = [_strict_line(rng) for _ in range(1500)]
    for line in lines:
        if line:  # an empty line is a blank line to both readers (csv gives no cells)
            assert split_line(line) == next(csv.reader([line])), line
    by_width: dict[int, list[str]] = {}
    for line in lines:
        by_width.setdefault(len(split_line(line)), []).append(line)
    for width, group in by_width.items():
        data = ("h\n" + "\n".join(group) + "\n").encode()
        header, count, _ = _scan(data)  # accepted by the scan
        names = [f"c{i}" for i in range(width)]
        table = pv.read_csv(io.BytesIO(data), read_options=pv.ReadOptions(
            column_names=names, skip_rows=1), convert_options=pv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=False,
            quoted_strings_can_be_null=False), parse_options=pv.ParseOptions(
            ignore_empty_lines=False))
        got = [list(r.values()) for r in table.to_pylist()]
        assert got == [split_line(g) for g in group]


@pytest.mark.parametrize("line, column, words", [
    ('x"y,z', 1, "a quote character inside an unquoted cell"),
    ('x,"y"z', 2, "text follows the closing quote"),
    ('x, "y"', 2, "a quote character inside an unquoted cell"),
    ('x,"y', 2, "not closed on its line"),
    ('x,"y""', 2, "not closed on its line"),
])
def test_loose_quotes_are_located(line, column, words):
    with pytest.raises(CsvProblem) as err:
        _scan(f"a,b\n{line}\n".encode())
    assert (err.value.line, err.value.column) == (2, column) and words in err.value.message
