"""The exit code is always the one the message was printed with.

An error can leave pyarrow work running on Arrow's thread pools; when the interpreter then
finalized under those threads, the process could abort after its message ("terminate
called without an active exception" or "Fatal Python error: PyGILState_Release", exit
134). The console entry point (``deprules.cli.main``) now ends an error with ``os._exit``
after flushing its output.

One child process imports deprules once and forks a fresh process for each of 120 runs of
``main()`` on error paths (real ones, and a command that abandons an Arrow read with a
Python callback in flight, which aborted every time before the fix). Each must exit with
the intended code and print no fatal error. Nothing is timed: the in-flight command waits
for its callback to start, however slow the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import test_hostile as hostile

ROOT = Path(__file__).resolve().parents[1]
REPEAT = 12

DRIVER = textwrap.dedent(r'''
    import json, os, sys
    cfg = json.loads(sys.argv[1])
    sys.path.insert(0, cfg["src"])
    os.chdir(cfg["cwd"])
    import deprules.extract.reader, deprules.workspace, deprules.runner  # noqa: F401  once
    from deprules.cli import cli, main
    from deprules.cli.common import report_errors
    from deprules.errors import InputError

    @cli.command("abandon-a-read", hidden=True)
    @report_errors
    def abandon_a_read():
        """An error raised while an Arrow read calls back into Python on its threads."""
        import io, threading
        import pyarrow.csv as pv
        started = threading.Event()

        def slow_handler(row):
            started.set()
            threading.Event().wait(0.01)
            return "skip"

        data = b"a,b\n" + b"1,2,3\n" * 200000
        threading.Thread(daemon=True, target=lambda: pv.read_csv(
            io.BytesIO(data), read_options=pv.ReadOptions(block_size=1 << 14),
            parse_options=pv.ParseOptions(invalid_row_handler=slow_handler))).start()
        started.wait(300)
        raise InputError("a read was abandoned")

    statuses = []
    for i, argv in enumerate(cfg["runs"]):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            os.dup2(os.open(os.path.join(cfg["tmp"], f"err{i}"), os.O_WRONLY | os.O_CREAT), 2)
            sys.argv = ["deprules", *argv]
            main()  # ends the child: os._exit after an error, else a normal exit
        statuses.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    print(json.dumps(statuses))
''')


def _extract(tmp: Path, name: str, files: dict) -> str:
    folder = tmp / name
    folder.mkdir()
    for table, text in hostile.BASE_EXTRACT.items():
        (folder / table).write_text(text, encoding="utf-8")
    for rel, spec in files.items():
        hostile._apply(folder, rel, spec)
    return str(folder)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_every_error_exits_with_its_code(tmp_path):
    shutil_tree = __import__("shutil").copytree
    shutil_tree(ROOT / "config", tmp_path / "config")
    shutil_tree(ROOT / "rules", tmp_path / "rules")
    sa = "service_agreements.csv"
    bad_money = _extract(tmp_path, "bad-money", {sa: {"replace": [[
        "S2,A1,E-RES,active,2024-01-01,,60.00,60.00", "S2,A1,E-RES,active,2024-01-01,,60.00,1e3"]]}})
    ragged = _extract(tmp_path, "ragged", {sa: {"replace": [[
        "S2,A1,E-RES,active,2024-01-01,,60.00,60.00,,", "S2,A1,E-RES,active,2024-01-01,,60.00,60.00,,,x"]]}})
    latin = _extract(tmp_path, "latin", {"accounts.csv": {"replace": [[
        "A2,COM,100,1,false,", "A2,C\xd6M,100,1,false,,,extra"]], "encoding": "latin-1"}})
    bad_parquet = _extract(tmp_path, "bad-parquet", {"accounts.csv": {"delete": True},
                                                     "accounts.parquet": {"text": "PAR1 junk"}})
    good = _extract(tmp_path, "good", {})
    scenarios = [
        (["extract", "check", bad_money], 1),
        (["extract", "check", ragged], 1),
        (["extract", "check", latin], 1),
        (["extract", "check", bad_parquet], 1),
        (["evaluate", "A1", "--extract", bad_money, "--as-of", "2026-11-21"], 1),
        (["evaluate", "ZZ", "--extract", good, "--as-of", "2026-11-21"], 2),
        (["evaluate", "A1", "--extract", good], 2),  # a usage error: no --as-of
        (["ledger", "init", "--extract", ragged, "--store", str(tmp_path / "s")], 1),
        (["simulate", "--extract", latin, "--as-of", "2026-11-21"], 1),
        (["abandon-a-read"], 2),
    ]
    runs = [s for s in scenarios for _ in range(REPEAT)]
    cfg = {"src": str(ROOT / "src"), "cwd": str(tmp_path), "tmp": str(tmp_path),
           "runs": [argv for argv, _ in runs]}
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(cfg)], capture_output=True,
                          text=True, timeout=1800, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    statuses = json.loads(proc.stdout.strip().splitlines()[-1])
    wrong = []
    for i, ((argv, want), got) in enumerate(zip(runs, statuses)):
        err = (tmp_path / f"err{i}").read_text(errors="replace")
        if got != want or "Fatal Python error" in err or "terminate called" in err:
            wrong.append((argv[:2], want, got, err[-300:]))
    assert len(statuses) == len(runs) >= 100
    assert not wrong, wrong[:5]
    assert not (tmp_path / "s").exists()  # ledger init refused: nothing created
