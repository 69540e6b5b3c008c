"""One account from a Parquet extract by row group (`deprules evaluate`), against the full
reader: same states, same evaluate documents, same located problems; and `extract convert`."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deprules.errors import ExtractError
from deprules.extract import check_extract, generate_extract, write_extract
from deprules.extract.convert import convert_extract, sort_by_account
from deprules.extract.rowgroups import WHITESPACE, may_hold
from deprules.extract.single import load_account
from deprules.results import evaluate_json
from deprules.runner import Runner
from deprules.workspace import extract_context, load_states

from test_extract_single import _accounts_of

ON_TEXT = "2026-11-21"


@pytest.fixture()
def run(root, monkeypatch):
    from click.testing import CliRunner

    from deprules.cli import cli

    monkeypatch.chdir(root)
    runner = CliRunner()

    def invoke(*args, code=0):
        result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
        assert result.exit_code == code, (result.stdout, result.stderr)
        return result

    return invoke


def test_the_whitespace_is_what_arrow_trims():
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    trimmed = pc.utf8_trim_whitespace(pa.array(chars)).to_pylist()
    assert {c for c, t in zip(chars, trimmed) if t == ""} == set(WHITESPACE)


_TEXT = st.text(alphabet=st.sampled_from("AB01 \t\u00a0\u3000\x1c"), max_size=5)


@settings(max_examples=400, deadline=None)
@given(st.lists(_TEXT, min_size=1, max_size=8), st.lists(_TEXT.map(str.strip).filter(bool),
                                                          min_size=1, max_size=3))
def test_a_row_group_is_skipped_only_when_it_cannot_hold_the_ids(values, wanted):
    if any(v.strip() in wanted for v in values):
        assert may_hold(min(values), max(values), sorted(wanted))


def test_a_sorted_row_group_of_other_ids_is_skipped():
    assert not may_hold("A0000001", "A0026858", ["A0500000"])
    assert may_hold("A0000001", "A0026858", ["A0000009"])
    assert may_hold("A0500000 ", "A0500001", ["A0500000"])  # padded: starts with the id
    assert may_hold(" A9", "A0000002", ["A0500000"])  # a cell with leading whitespace


# ---------------------------------------------------------------------- generated extracts


@pytest.fixture(scope="module")
def generated(tmp_path_factory, setup):
    """A generated extract as CSV, as Parquet from `extract convert` in row groups of 64
    rows, and as Parquet shuffled (no order: statistics prune nothing)."""
    ctx = extract_context(setup.config)
    base = tmp_path_factory.mktemp("rowgroups")
    ex = generate_extract(400, seed=11)
    csv = write_extract(ex, base / "csv", "csv")
    convert_extract(csv, base / "sorted", ctx, row_group_rows=64)
    rng = random.Random(3)
    shuffled = {t: f.iloc[rng.sample(range(len(f)), len(f))].reset_index(drop=True)
                for t, f in ex.tables().items()}
    from dataclasses import replace

    write_extract(replace(ex, **shuffled), base / "shuffled", "parquet", row_group_rows=50)
    return {"csv": csv, "sorted": base / "sorted", "shuffled": base / "shuffled",
            "ids": list(ex.accounts["account_id"])}


def test_converted_tables_are_sorted_in_row_groups(generated):
    pf = pq.ParquetFile(generated["sorted"] / "service_agreements.parquet")
    assert pf.metadata.num_row_groups > 10
    ranges = [(pf.metadata.row_group(g).column(1).statistics.min,
               pf.metadata.row_group(g).column(1).statistics.max)
              for g in range(pf.metadata.num_row_groups)]
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))


@pytest.mark.parametrize("layout", ["sorted", "shuffled"])
def test_every_account_loads_as_the_full_reader_loads_it(generated, setup, layout):
    folder = generated[layout]
    ctx = extract_context(setup.config)
    full = load_states(folder, setup.config)
    csv = load_states(generated["csv"], setup.config)
    assert set(full) == set(generated["ids"])
    for aid in generated["ids"]:
        state = load_account(folder, aid, ctx, setup.config)
        assert state == full[aid], aid
        # the same account from the CSV the Parquet was made from (FT history: per SA)
        other = csv[aid]
        assert (state.account, state.sas, state.ncds) == (other.account, other.sas, other.ncds)
        assert sorted(state.history, key=lambda h: h.ft_id) == \
            sorted(other.history, key=lambda h: h.ft_id)


def test_evaluate_documents_fast_path_equal_full_path(generated, setup):
    """The differential test of issue 18: every account of the generated extract,
    evaluated from the rows the row-group reader finds and from the full reader's tables,
    gives the same JSON document (and the same as from the CSV it was converted from)."""
    ctx = extract_context(setup.config)
    runner = Runner(setup.book, backend="python", run_id=f"evaluate-{ON_TEXT}")
    from datetime import date

    on = date.fromisoformat(ON_TEXT)
    mu = setup.config.installation.minor_units

    def doc(state):
        run = runner.run_cycle(state, on, explain=True)
        return json.dumps(evaluate_json(run, on, setup.hash, mu, setup.config, True),
                          sort_keys=True, default=str)

    full = load_states(generated["sorted"], setup.config)
    csv = load_states(generated["csv"], setup.config)
    changed = 0
    for aid in generated["ids"]:
        fast = doc(load_account(generated["sorted"], aid, ctx, setup.config))
        assert fast == doc(full[aid]) == doc(csv[aid]), aid
        changed += '"adjustments": []' not in fast
    assert changed > 50  # the accounts do things: refunds, interest, transfers


def test_evaluate_command_reads_a_converted_extract(run, generated):
    docs = {}
    for layout in ("csv", "sorted"):
        out = run("evaluate", generated["ids"][7], "--extract", generated[layout],
                  "--as-of", ON_TEXT, "--format", "json")
        docs[layout] = json.loads(out.stdout)
    assert docs["csv"] == docs["sorted"]


# ---------------------------------------------------------------------- problems


def _hostile(folder):
    """A Parquet extract over many row groups, unsorted, with problems in some accounts'
    rows, ids padded with whitespace, and duplicates and references across row groups."""
    folder.mkdir()
    n = 60
    acc = {"account_id": [f"A{i:03d}" for i in range(n)],
           "customer_class": ["RES"] * n, "credit_rating": [500] * n}
    acc["account_id"][5] = " A005"  # padded: still account A005
    acc["account_id"][9] = "A009\u3000"
    acc["customer_class"][12] = "NOPE"
    acc["account_id"][40] = "A041"  # A041 twice (row 41 and 42)
    sas = {"sa_id": [], "account_id": [], "sa_type": [], "status": [], "start_date": [],
           "stop_date": [], "current_balance": [], "payoff_balance": []}
    for i in range(n):
        for k, kind in enumerate(("DEP-RES", "E-RES")):
            sas["sa_id"].append(f"S{i:03d}{k}")
            sas["account_id"].append(f"A{i:03d}")
            sas["sa_type"].append(kind)
            sas["status"].append("active")
            sas["start_date"].append("2024-01-01")
            sas["stop_date"].append(None)
            sas["current_balance"].append("0.00")
            sas["payoff_balance"].append("-100.00" if kind == "DEP-RES" else "0.00")
    sas["payoff_balance"][20] = "1.234"  # A010's deposit
    sas["sa_id"][33] = "S0010"  # A016's electric SA has A001's deposit id
    sas["account_id"][50] = "A999"  # an SA of no account
    sas["status"][60] = "stopped"  # A030: stopped without a stop date
    sas["start_date"][70] = "2024-02-30"
    order = list(range(len(sas["sa_id"])))
    random.Random(5).shuffle(order)
    sas = {k: [v[i] for i in order] for k, v in sas.items()}
    fts = {"ft_id": ["F1", "F2", "F3", "F2"], "sa_id": ["S0070", " S0200", "S0440", "S0500"],
           "date": ["2024-01-01"] * 4, "payoff_amount": ["-100.00", "5", "x", "1.00"],
           "current_amount": ["0.00"] * 4}
    for name, data, groups in (("accounts", acc, 7), ("service_agreements", sas, 9),
                               ("financial_transactions", fts, 2)):
        table = pa.table({k: pa.array(v, pa.int64() if k == "credit_rating" else pa.string())
                          for k, v in data.items()})
        pq.write_table(table, folder / f"{name}.parquet", row_group_size=groups)
    return folder


def test_problems_of_an_account_are_found_in_its_row_groups(tmp_path, setup):
    folder = _hostile(tmp_path / "x")
    ctx = extract_context(setup.config)
    problems = check_extract(folder, ctx)
    assert len(problems) >= 8
    wanted: dict[str, set] = {}
    for p in problems:
        for aid in _accounts_of(folder, p) or ():
            wanted.setdefault(aid.strip(), set()).add(p)
    assert {"A001", "A010", "A012", "A030", "A035", "A040", "A041", "A044", "A050"} <= set(wanted)
    refused = set()
    for aid in [f"A{i:03d}" for i in range(60)]:
        try:
            state = load_account(folder, aid, ctx, setup.config)
        except ExtractError as err:
            got = set(err.problems)
            assert wanted.get(aid, set()) <= got, aid
            assert got <= set(problems), aid  # never a problem the full reader does not see
            refused.add(aid)
        else:
            assert aid not in wanted, aid
            assert len(state.sas) == (1 if aid == "A025" else 2), aid  # one SA is A999's
    # A016 holds the other S0010, A020 the other F2 (padded " S0200"): refused too
    assert refused == set(wanted) - {"A999"} | {"A016", "A020"}


def test_padded_ids_are_found(tmp_path, setup):
    folder = _hostile(tmp_path / "x")
    ctx = extract_context(setup.config)
    assert load_account(folder, "A005", ctx, setup.config).account.account_id == "A005"
    assert load_account(folder, "A009", ctx, setup.config) is not None


# ---------------------------------------------------------------------- extract convert


def test_convert_command_writes_sorted_parquet(run, tmp_path, root):
    out = tmp_path / "pq"
    res = run("extract", "convert", "--extract", root / "examples" / "extract", "--out", out,
              "--format", "json")
    doc = json.loads(res.stdout)
    assert doc["ok"] and doc["rows"]["accounts"] == 202 and doc["file_format"] == "parquet"
    assert sorted(p.name for p in out.iterdir()) == [
        "accounts.parquet", "financial_transactions.parquet", "non_cash_deposits.parquet",
        "service_agreements.parquet"]
    ids = pq.read_table(out / "service_agreements.parquet").column("account_id").to_pylist()
    assert ids == sorted(ids)
    for aid in ("A0000004", "A0000150"):
        docs = [json.loads(run("evaluate", aid, "--extract", folder, "--as-of", ON_TEXT,
                               "--format", "json").stdout)
                for folder in (root / "examples" / "extract", out)]
        assert docs[0] == docs[1]


def test_convert_refuses_a_bad_extract_and_writes_nothing(run, tmp_path):
    from helpers import acct, sa
    from helpers import write_extract as write_csv

    folder = write_csv(tmp_path / "bad", [acct("A1")], [sa("S1", "DEP-RES", payoff="1.234")])
    res = run("extract", "convert", "--extract", folder, "--out", tmp_path / "out", code=1)
    assert "service_agreements.csv:2:8" in res.stderr and "[bad-money]" in res.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_convert_refuses_its_own_folder(run, tmp_path, root):
    import shutil

    folder = tmp_path / "x"
    shutil.copytree(root / "examples" / "extract", folder)
    res = run("extract", "convert", "--extract", folder, "--out", folder, code=2)
    assert "is the extract folder itself" in res.stderr
    assert (folder / "accounts.csv").exists()


def test_sort_by_account_is_stable():
    ex = generate_extract(30, seed=2)
    sorted_ex = sort_by_account(ex)
    sas = sorted_ex.service_agreements
    assert list(sas["account_id"]) == sorted(sas["account_id"])
    for aid, group in ex.service_agreements.groupby("account_id", sort=False):
        assert list(sas[sas["account_id"] == aid]["sa_id"]) == list(group["sa_id"])
