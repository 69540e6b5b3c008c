"""The index of a CSV extract (deprules.index): `evaluate` reads the same rows with it as
without it, never trusts it when a file changed, and says so when it cannot use it."""

from __future__ import annotations

import json
import os
import random
import shutil

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import test_hostile as hostile  # the corpus and its set-up, not its tests

from deprules.cli import cli
from deprules.errors import ExtractError, InputError
from deprules.extract import csvindex, generate_extract, single, write_extract
from deprules.extract.csvindex import INDEX_NAME
from deprules.extract.csvindex_build import build_index
from deprules.workspace import extract_context

ON = "2026-11-21"


def _one(folder, aid, ctx, config, use_index):
    notes: list[str] = []
    try:
        got = ("state", single.load_account(folder, aid, ctx, config, use_index=use_index,
                                            notes=notes))
    except ExtractError as err:
        got = ("problems", err.problems)
    except InputError as err:
        got = ("input", str(err))
    return got, notes


def _alike(folder, ids, setup, quiet=True):
    """Every id loads alike with the index and without; returns the notes seen."""
    ctx = extract_context(setup.config)
    seen = []
    for aid in ids:
        streamed, _ = _one(folder, aid, ctx, setup.config, False)
        indexed, notes = _one(folder, aid, ctx, setup.config, True)
        assert indexed == streamed, aid
        seen += notes
    if quiet:
        assert not seen, seen
    return seen


def _ids(folder) -> list[str]:
    lines = (folder / "accounts.csv").read_text().splitlines()[1:]
    return [line.split(",")[0] for line in lines if line]


def _modes(results) -> dict:
    return {r.table: (r.status, dict(r.modes)) for r in results}


@pytest.fixture()
def no_stream(monkeypatch):
    """Streaming a CSV table fails the test: every row must come by the index."""
    def refuse(self, *a, **k):
        raise AssertionError(f"{self.file} was streamed")

    monkeypatch.setattr(single._Table, "search", refuse)


# --------------------------------------------------------------------------- the same rows


def test_every_sample_account_loads_alike_by_the_index(root, setup, tmp_path, monkeypatch):
    folder = tmp_path / "x"
    shutil.copytree(root / "examples" / "extract", folder)
    path, results = build_index(folder)
    assert path == folder / INDEX_NAME
    assert all(r.status == "indexed" for r in results)
    ids = _ids(folder)
    expected = {aid: _one(folder, aid, extract_context(setup.config), setup.config, False)
                for aid in ids + ["A404", " ", ids[0] + " "]}
    monkeypatch.setattr(single._Table, "search",
                        lambda self, *a, **k: pytest.fail(f"{self.file} was streamed"))
    for aid, want in expected.items():
        assert _one(folder, aid, extract_context(setup.config), setup.config, True) == want


@pytest.mark.parametrize("shuffled", [False, True], ids=["in-order", "shuffled"])
def test_generated_extracts_load_alike_by_the_index(setup, tmp_path, shuffled):
    folder = tmp_path / "gen"
    write_extract(generate_extract(3000, 11), folder, "csv")
    rng = random.Random(5)
    if shuffled:  # a file in no order: one record per line
        for path in folder.glob("*.csv"):
            head, *rows = path.read_text().splitlines(keepends=True)
            rng.shuffle(rows)
            path.write_text(head + "".join(rows))
    _, results = build_index(folder)
    mode = "dense" if shuffled else "sorted"
    assert {t: m for t, (_, m) in _modes(results).items()} == {
        "accounts": {"account_id": mode}, "service_agreements": {"account_id": mode},
        "non_cash_deposits": {"account_id": mode}, "financial_transactions": {"sa_id": mode}}
    ids = _ids(folder)
    _alike(folder, rng.sample(ids, 150) + ids[:3] + ids[-3:] + ["A9999999", "A0"], setup)


# a row of each table, as CSV text cells; the test varies how they are written
_ACCOUNT = ["{a}", "RES", "500", "0", "false", ""]
_SA = ["{s}", "{a}", "DEP-RES", "active", "2024-01-01", "", "0.00", "-100.00", "100.00", ""]
_FT = ["{f}", "{s}", "2024-01-01", "-100.00", "-100.00"]
_NCD = ["{n}", "{a}", "RES", "surety_bond", "300.00", "2024-01-01", ""]
_HEADERS = {
    "accounts": "account_id,customer_class,credit_rating,late_payments_12m,do_not_refund,"
                "cc_postpone_date",
    "service_agreements": "sa_id,account_id,sa_type,status,start_date,stop_date,"
                          "current_balance,payoff_balance,total_deposit_amount,"
                          "last_interest_date",
    "financial_transactions": "ft_id,sa_id,date,payoff_amount,current_amount",
    "non_cash_deposits": "ncd_id,account_id,deposit_class,ncd_type,amount,start_date,end_date"}
_IDS = st.sampled_from(["A1", "A2", "A3", "A10", "a1", "A\u00e91", "A 1", "Ä2"])


@st.composite
def _extract(draw):
    """Four CSV tables with the quirks a reader must see through: CRLF/CR line ends, a
    byte order mark, quoted cells, spaces around ids, blank lines, repeated keys, lines of
    the wrong width, rows in any order, no final line end."""
    accounts = draw(st.lists(_IDS, min_size=1, max_size=6))
    rows = {"accounts": [[c.format(a=a) for c in _ACCOUNT] for a in accounts],
            "service_agreements": [], "financial_transactions": [], "non_cash_deposits": []}
    for k, a in enumerate(draw(st.lists(_IDS, max_size=12))):
        s = draw(st.sampled_from([f"S{k}", "S1", "S\u00e92"]))
        rows["service_agreements"].append([c.format(s=s, a=a) for c in _SA])
        for j in range(draw(st.integers(0, 2))):
            rows["financial_transactions"].append(
                [c.format(f=draw(st.sampled_from([f"F{k}-{j}", "F1"])), s=s) for c in _FT])
    for k, a in enumerate(draw(st.lists(_IDS, max_size=3))):
        rows["non_cash_deposits"].append([c.format(n=f"N{k}", a=a) for c in _NCD])
    files = {}
    for table, body in rows.items():
        if draw(st.booleans()):
            body = sorted(body, key=lambda r: r[1 if table != "accounts" else 0])
        lines = [_HEADERS[table]]
        for r in body:
            r = list(r)
            if draw(st.integers(0, 5)) == 0:
                r[0] = f" {r[0]} "
            if draw(st.integers(0, 5)) == 0:
                r[1] = f'"{r[1]}"'
            if draw(st.integers(0, 9)) == 0:
                r = r[:-1]  # the wrong number of fields
            lines.append(",".join(r))
            if draw(st.integers(0, 9)) == 0:
                lines.append(draw(st.sampled_from(["", " ", ",,", " , "])))
        end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
        text = end.join(lines) + draw(st.sampled_from([end, ""]))
        if draw(st.integers(0, 5)) == 0:
            text = "\ufeff" + text
        files[f"{table}.csv"] = text.encode("utf-8")
    return files


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=_extract())
def test_quirky_extracts_load_alike_by_the_index(setup, tmp_path_factory, files):
    folder = tmp_path_factory.mktemp("q")
    for name, data in files.items():
        (folder / name).write_bytes(data)
    build_index(folder)
    _alike(folder, ["A1", "A2", "A3", "A10", "a1", "A\u00e91", "A 1", "Ä2", "A4"], setup)


_CHECK_CASES = [c for c in hostile.CASES if c["args"][:2] == ["extract", "check"]
                and not c.get("env") and not c.get("requires")]


@pytest.mark.parametrize("case", _CHECK_CASES, ids=[c["id"] for c in _CHECK_CASES])
def test_hostile_extracts_load_alike_by_the_index(case, tmp_path, setup):
    """Whatever the hostile corpus does to an extract, an index written after it changes
    nothing that evaluate finds (tables with a problem are left unindexed)."""
    hostile._base(tmp_path)
    for rel, spec in (case.get("files") or {}).items():
        hostile._apply(tmp_path, hostile._fill(rel, tmp_path), spec)
    folder = tmp_path / "extract"
    if not folder.is_dir() or not any(folder.glob("*.csv")):
        pytest.skip("no CSV table")
    build_index(folder)
    _alike(folder, ["A1", "A2", "A3"], setup)


def test_a_table_with_a_problem_is_not_indexed_and_is_refused_alike(tmp_path, setup):
    folder = tmp_path / "x"
    write_extract(generate_extract(50, 3), folder, "csv")
    sas = folder / "service_agreements.csv"
    sas.write_text(sas.read_text().replace("\n", "\nS9,A0000001,DEP-RES\n", 1))
    fts = folder / "financial_transactions.csv"
    fts.write_bytes(fts.read_bytes() + b"F9,S1,2024-01-01,\xff,1\n")
    _, results = build_index(folder)
    status = {r.table: (r.status, r.reason) for r in results}
    assert status["service_agreements"][0] == "not-indexed"
    assert "3 fields, the header 10" in status["service_agreements"][1]
    assert status["financial_transactions"][0] == "not-indexed"
    assert "not UTF-8" in status["financial_transactions"][1]
    assert status["accounts"][0] == "indexed"
    assert _alike(folder, ["A0000001", "A0000002", "A0000050"], setup) == []
    ctx = extract_context(setup.config)
    got, _ = _one(folder, "A0000001", ctx, setup.config, True)
    assert got[0] == "problems"


# --------------------------------------------------------------------------- never trusted stale


@pytest.fixture()
def indexed(tmp_path):
    folder = tmp_path / "x"
    write_extract(generate_extract(400, 2), folder, "csv")
    build_index(folder)
    return folder


def test_a_file_changed_after_the_index_is_streamed_with_a_note(indexed, setup):
    sas = indexed / "service_agreements.csv"
    with sas.open("a") as f:  # a new SA of the first account, at the end
        f.write("S9999999,A0000001,DEP-RES,active,2024-01-01,,0.00,-10.00,10.00,\n")
    notes = _alike(indexed, ["A0000001", "A0000002"], setup, quiet=False)
    assert notes and all("service_agreements.csv changed after the index was written" in n
                         and "deprules extract index" in n for n in notes)
    ctx = extract_context(setup.config)
    (_, state), _ = _one(indexed, "A0000001", ctx, setup.config, True)
    assert "S9999999" in state.sas


def test_a_same_size_edit_with_its_time_put_back_is_still_noticed(indexed, setup):
    accounts = indexed / "accounts.csv"
    st_before = os.stat(accounts)
    text = accounts.read_text()
    line = text.splitlines()[5]
    accounts.write_text(text.replace(line, line.replace("RES,", "COM,", 1)
                                     if "RES," in line else line.replace("COM,", "RES,", 1)))
    os.utime(accounts, ns=(st_before.st_atime_ns, st_before.st_mtime_ns))
    assert os.stat(accounts).st_size == st_before.st_size
    notes = _alike(indexed, [line.split(",")[0]], setup, quiet=False)
    assert notes and "accounts.csv changed after the index was written" in notes[0]


def _damage(path, at, data):
    raw = bytearray(path.read_bytes())
    raw[at:at + len(data)] = data
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("how", ["garbage", "empty", "truncated", "version", "header",
                                 "records", "page-hashes"])
def test_a_damaged_index_is_not_used(indexed, setup, how):
    path = indexed / INDEX_NAME
    index = csvindex.CsvIndex(path)
    section = index.tables["service_agreements"]["sections"]["account_id"]
    records_at, pages_at = section["records_at"], section["pages_at"]
    index.close()
    if how == "garbage":
        path.write_bytes(b"not an index at all")
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:records_at + 10])
    elif how == "version":
        _damage(path, len(csvindex.MAGIC), b"\x09")
    elif how == "header":
        _damage(path, 40, b"X")
    elif how == "records":
        _damage(path, records_at + 3, b"\x00\x01")
    else:
        _damage(path, pages_at, b"\x00" * 4)
    notes = _alike(indexed, ["A0000001", "A0000200", "A0000400"], setup, quiet=False)
    assert notes and all(("cannot be used" in n or "damaged" in n) for n in notes), notes
    assert all("read in full" in n or "reading the tables in full" in n for n in notes)


@pytest.mark.parametrize("shuffled", [False, True], ids=["sorted", "dense"])
def test_an_index_that_lies_is_caught_by_the_lines_it_reads(indexed, setup, monkeypatch,
                                                            shuffled):
    """A file changed so that size, times and samples all look the same (faked here): the
    lines read do not hold what the index says, and the extract is streamed instead."""
    sas = indexed / "service_agreements.csv"
    if shuffled:
        head, *rows = sas.read_text().splitlines(keepends=True)
        random.Random(1).shuffle(rows)
        sas.write_text(head + "".join(rows))
        build_index(indexed)
    entry = csvindex.open_index(indexed).tables["service_agreements"]
    head, *rows = sas.read_text().splitlines(keepends=True)
    mine = [i for i, r in enumerate(rows) if r.split(",")[1] == "A0000007"]
    other = next(i for i, r in enumerate(rows) if len(r) == len(rows[mine[0]])
                 and r.split(",")[1] != "A0000007")
    rows[mine[0]], rows[other] = rows[other], rows[mine[0]]
    sas.write_text(head + "".join(rows))
    real_stat = csvindex.file_stat
    monkeypatch.setattr(csvindex, "file_stat", lambda p: (
        {k: entry[k] for k in ("size", "mtime_ns", "ctime_ns")}
        if p.name == "service_agreements.csv" else real_stat(p)))
    real_sample = csvindex.sample_hash
    monkeypatch.setattr(csvindex, "sample_hash", lambda f, size: (
        entry["sample"] if size == entry["size"] else real_sample(f, size)))
    notes = _alike(indexed, ["A0000007"], setup, quiet=False)
    assert notes and "reading the tables in full" in notes[0], notes


# --------------------------------------------------------------------------- the commands


def _run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def test_extract_index_command(tmp_path, root):
    folder = tmp_path / "x"
    shutil.copytree(root / "examples" / "extract", folder)
    r = _run("extract", "index", folder)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == f"wrote {folder / INDEX_NAME}"
    assert "  accounts.csv: " in r.output and "(sorted by account_id)" in r.output
    doc = json.loads(_run("extract", "index", folder, "--format", "json").stdout)
    assert doc["ok"] and {t["status"] for t in doc["tables"]} == {"indexed"}
    (folder / "accounts.csv").write_text("account_id,customer_class\nA1\n,x,y\n")
    r = _run("extract", "index", folder)
    assert r.exit_code == 0
    assert "accounts.csv: not indexed, " in r.output and "evaluate streams it" in r.output
    pq = tmp_path / "pq"
    assert _run("extract", "generate", "--accounts", "3", "--out", pq, "--file-format",
                "parquet").exit_code == 0
    r = _run("extract", "index", pq)
    assert r.exit_code == 2 and "no CSV table to index" in r.output
    r = _run("extract", "index", tmp_path / "nope")
    assert r.exit_code == 2 and "does not exist" in r.output


def test_generate_and_export_write_the_index_and_evaluate_uses_it(tmp_path, root, no_stream):
    folder = tmp_path / "gen"
    r = _run("extract", "generate", "--accounts", "30", "--out", folder)
    assert r.exit_code == 0 and "with its index deprules.index" in r.output
    assert (folder / INDEX_NAME).is_file()
    r = _run("evaluate", "A0000003", "--extract", folder, "--as-of", ON, "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["account_id"] == "A0000003"
    # Parquet written over it: the index goes with the CSV files
    assert _run("extract", "generate", "--accounts", "30", "--out", folder, "--file-format",
                "parquet").exit_code == 0
    assert not (folder / INDEX_NAME).exists()
    store = tmp_path / "store"
    assert _run("ledger", "init", "--extract", root / "examples" / "extract", "--store",
                store, "--by", "t").exit_code == 0
    assert _run("ledger", "export", "--store", store, "--out", tmp_path / "out").exit_code == 0
    assert (tmp_path / "out" / INDEX_NAME).is_file()
    assert _run("evaluate", "A0000001", "--extract", tmp_path / "out", "--as-of",
                ON).exit_code == 0


def test_evaluate_says_when_it_cannot_use_the_index(indexed):
    (indexed / INDEX_NAME).write_bytes(b"DEPRULES-INDEX\n\x01junk")
    args = ["evaluate", "A0000001", "--extract", indexed, "--as-of", ON]
    r = CliRunner().invoke(cli, [str(a) for a in args])
    assert r.exit_code == 0
    assert "note: the index " in r.stderr and "cannot be used" in r.stderr
    assert "note:" not in r.stdout
    quiet = CliRunner().invoke(cli, [str(a) for a in args + ["--no-index"]])
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout == r.stdout
