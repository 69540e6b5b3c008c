"""``ledger init`` from columns (``tables.rows_from_extract``, checked set at a time) against
the object path (account states, checked per account): the same rows in every table, and the
same refusal of an extract that does not load into a sound ledger."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from deprules.errors import InvariantError
from deprules.extract import load_extract
from deprules.ledger.sqlstore import SCHEMA_VERSION
from deprules.ledger.tables import rows_from_extract
from deprules.storeops import init_store
from deprules.workspace import extract_context
from helpers import acct, sa, write_extract

ROOT = Path(__file__).resolve().parents[1]
# journal columns that name the moment and the process, not the content
VOLATILE = {"utc", "host", "pid"}


def dump(path: Path) -> dict[str, list]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = {}
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type IN "
                                    "('table', 'index') ORDER BY name"):
            if conn.execute("SELECT type FROM sqlite_master WHERE name = ?", (name,)
                            ).fetchone()[0] == "index":
                out["index " + name] = True
                continue
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({name})")
                    if r[1] not in VOLATILE]
            quoted = ", ".join(f'"{c}"' for c in cols)
            out[name] = conn.execute(f"SELECT {quoted} FROM {name} ORDER BY rowid").fetchall()
        for p in ("user_version", "application_id", "journal_mode"):
            out[p] = conn.execute(f"PRAGMA {p}").fetchone()[0]
        return out
    finally:
        conn.close()


def both(extract: Path, setup, tmp_path: Path) -> tuple[dict, dict]:
    a, b = tmp_path / "columns.db", tmp_path / "objects.db"
    _, ca = init_store(a, extract, setup, "test", "why", columns=True)
    _, cb = init_store(b, extract, setup, "test", "why", columns=False)
    assert ca == cb
    return dump(a), dump(b)


def _generate(out: Path, accounts: int, seed: int, fmt: str) -> Path:
    subprocess.run([sys.executable, str(ROOT / "cli.py"), "extract", "generate", "--accounts",
                    str(accounts), "--seed", str(seed), "--out", str(out), "--file-format", fmt],
                   check=True, capture_output=True, cwd=ROOT,
                   env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    return out


@pytest.mark.parametrize("accounts,seed,fmt", [(300, 5, "csv"), (200, 9, "parquet"),
                                               (1, 2, "csv")])
def test_generated_extracts_give_the_same_store(setup, tmp_path, accounts, seed, fmt):
    extract = _generate(tmp_path / "x", accounts, seed, fmt)
    # the column path is the one taken
    assert rows_from_extract(load_extract(extract, extract_context(setup.config))) is not None
    columns, objects = both(extract, setup, tmp_path)
    assert columns == objects
    assert len(columns["accounts"]) == accounts and columns["user_version"] == SCHEMA_VERSION


def test_the_example_extract_gives_the_same_store(setup, tmp_path):
    columns, objects = both(ROOT / "examples" / "extract", setup, tmp_path)
    assert columns == objects


def test_optional_columns_and_empty_tables_give_the_same_store(setup, tmp_path):
    extract = write_extract(tmp_path / "x", [acct("A2"), acct("A1", cc_postpone_date="2026-12-01",
                                                         do_not_refund="true")],
                            [sa("S2", "DEP-RES", account_id="A2", payoff="-10.00",
                                current="-10.00"),
                             sa("S1", "DEP-RES", status="stopped", stop_date="2026-01-01"),
                             sa("S3", "E-RES", account_id="A2")])
    assert rows_from_extract(load_extract(extract, extract_context(setup.config))) is not None
    columns, objects = both(extract, setup, tmp_path)
    assert columns == objects
    assert [r[0] for r in columns["accounts"]] == ["A1", "A2"]
    assert [r[0] for r in columns["service_agreements"]] == ["S1", "S2", "S3"]


def test_an_unsound_extract_is_refused_the_same_way(setup, tmp_path):
    extract = write_extract(tmp_path / "x", [acct("A1")],
                            [sa("S1", "DEP-RES", status="closed", stop_date="2026-01-01",
                                payoff="-20.00", current="-20.00")])
    messages = []
    for columns in (True, False):
        path = tmp_path / f"s-{columns}.db"
        with pytest.raises(InvariantError) as info:
            init_store(path, extract, setup, "test", columns=columns)
        messages.append(str(info.value))
        assert not path.exists() and not list(tmp_path.glob(f".s-{columns}.db*"))
    assert messages[0] == messages[1]
    assert "A1: cash deposit SA S1 is closed with payoff -20.00, current -20.00" in messages[0]
