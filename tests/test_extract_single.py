"""The streaming one-account reader (used by `deprules evaluate`) agrees with the full reader."""

from helpers import acct, sa, write_extract

import pytest

from deprules.errors import ExtractError
from deprules.extract.single import load_account
from deprules.workspace import extract_context, load_states


def test_every_example_account_loads_the_same_both_ways(root, setup):
    full = load_states(root / "examples" / "extract", setup.config)
    ctx = extract_context(setup.config)
    for aid, state in full.items():
        assert load_account(root / "examples" / "extract", aid, ctx, setup.config) == state, aid


def test_problems_of_the_account_are_located(tmp_path, setup):
    folder = write_extract(tmp_path / "x", [acct("A1")],
                           [sa("S1", "DEP-RES", payoff="1.234"),
                            sa("S2", "DEP-RES", status="stopped"),
                            sa("S3", "NOPE", status="99")])
    with pytest.raises(ExtractError) as err:
        load_account(folder, "A1", extract_context(setup.config), setup.config)
    got = {(p.file, p.line, p.code) for p in err.value.problems}
    assert ("service_agreements.csv", 2, "bad-money") in got
    assert ("service_agreements.csv", 3, "missing-stop-date") in got
    assert ("service_agreements.csv", 4, "unknown-sa-type") in got
    assert ("service_agreements.csv", 4, "unknown-status") in got


def test_unknown_account_is_none(tmp_path, setup):
    folder = write_extract(tmp_path / "x", [acct("A1")], [sa("S1", "DEP-RES")])
    assert load_account(folder, "ZZ", extract_context(setup.config), setup.config) is None


# --------------------------------------------------------------------------- against the full reader

import re  # noqa: E402

import test_hostile as hostile  # noqa: E402  (the corpus and its set-up, not its tests)

from deprules.extract import check_extract  # noqa: E402
from deprules.extract.scan import split_line  # noqa: E402


def _split(line: str) -> list[str]:
    try:
        return split_line(line)
    except AttributeError:  # a line the scan refuses: no quoting rule holds
        return line.split(",")

_CHECK_CASES = [c for c in hostile.CASES if c["args"][:2] == ["extract", "check"]
                and not c.get("env") and not c.get("requires")]


def _lines(path) -> list[str]:
    text = path.read_bytes().removeprefix(b"\xef\xbb\xbf").decode("utf-8", "replace")
    return re.split(r"\r\n|\r|\n", text)


def _cell(value) -> str:
    return "" if value is None else str(value).strip()


def _table_rows(folder, table) -> tuple[list[str], dict[int, list[str]]]:
    """The header of a table file and its rows by line (CSV line, or Parquet row + 1)."""
    for path in (folder / f"{table}.csv", folder / f"{table}.parquet"):
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            data = pq.read_table(path)
            columns = []
            for i in range(data.num_columns):
                try:
                    columns.append(data.column(i).cast(pa.string()).to_pylist())
                except (pa.ArrowException, OverflowError):
                    columns.append([None] * data.num_rows)
            return data.column_names, {i + 1: [_cell(c[i]) for c in columns]
                                       for i in range(data.num_rows)}
        lines = _lines(path)
        return ([h.strip() for h in _split(lines[0])],
                {n: [c.strip() for c in _split(line)] for n, line in enumerate(lines[1:], 2)})
    return [], {}


def _accounts_of(folder, problem) -> set[str] | None:
    """The accounts a located data-row problem belongs to (None: the file or its header,
    so every account; an empty set: no account, like an FT of an unknown SA)."""
    table = problem.file.rsplit(".", 1)[0]
    first_row = 1 if problem.file.endswith(".parquet") else 2
    if problem.line < first_row:
        return None
    header, rows = _table_rows(folder, table)
    fields = rows[problem.line]
    row = dict(zip(header, fields)) if len(fields) == len(header) else {}
    if table == "financial_transactions":
        sa_header, sa_rows = _table_rows(folder, "service_agreements")
        owners = {}
        for cells in sa_rows.values():
            cells = dict(zip(sa_header, cells))
            owners.setdefault(cells.get("sa_id"), set()).add(cells.get("account_id"))
        wanted = {row["sa_id"]} if row else set(fields)
        return set().union(*(owners.get(s, set()) for s in wanted))
    if row:
        return {row["account_id"]}
    # a row of the wrong width: the accounts whose id it holds
    ids = set()
    for name in ("accounts", "service_agreements", "non_cash_deposits"):
        head, table_rows = _table_rows(folder, name)
        if "account_id" in head:
            i = head.index("account_id")
            ids |= {f[i] for f in table_rows.values() if len(f) > i}
    return (ids & set(fields)) - {""}


# cases whose only problems are in rows of no account: evaluate cannot be asked about them
BELONG_TO_NO_ACCOUNT = {"extract/dangling-sa-reference-in-fts"}


@pytest.mark.parametrize("case", _CHECK_CASES, ids=[c["id"] for c in _CHECK_CASES])
def test_what_the_full_reader_refuses_evaluate_refuses_alike(case, tmp_path, setup):
    """CSV and Parquet tables: every problem extract check finds in a row of an account is found by the one-account
    reader for that account, word for word, and the problems of a file or its header for
    every account; an extract check accepts, every account loads alike both ways."""
    hostile._base(tmp_path)
    for rel, spec in (case.get("files") or {}).items():
        hostile._apply(tmp_path, hostile._fill(rel, tmp_path), spec)
    folder = tmp_path / "extract"
    if not folder.is_dir():
        pytest.skip("not a folder")
    ctx = extract_context(setup.config)
    try:
        problems = check_extract(folder, ctx)
    except Exception as exc:  # an InputError (no such table, ...): evaluate raises it too
        with pytest.raises(type(exc)):
            load_account(folder, "A1", ctx, setup.config)
        return
    if not problems:
        full = load_states(folder, setup.config)
        for aid, state in full.items():
            assert load_account(folder, aid, ctx, setup.config) == state, aid
        return
    every = {"A1", "A2"}
    wanted: dict[str, set] = {}
    for p in problems:
        if p.message.endswith("not shown"):
            continue
        owners = _accounts_of(folder, p)
        if owners == set() and (p.code in ("too-long", "too-many-rows") or (
                p.code == "bad-file" and not p.message.startswith("the line has"))):
            owners = None  # the byte scan refuses the whole file, for every account
        for aid in (every if owners is None else owners):
            wanted.setdefault(aid, set()).add(p)
    if not wanted:  # e.g. an FT of an SA the extract does not hold: it has no account
        assert case["id"] in BELONG_TO_NO_ACCOUNT, "no problem could be given an account"
        return
    assert case["id"] not in BELONG_TO_NO_ACCOUNT
    for aid, expected in sorted(wanted.items()):
        with pytest.raises(ExtractError) as err:
            load_account(folder, aid, ctx, setup.config)
        missing = expected - set(err.value.problems)
        assert not missing, (aid, sorted(missing), err.value.problems)


# a tricky value for each kind of cell: both readers must accept it or refuse it alike
TRICKY = {
    "payoff_balance": ["1", "+1.5", "-0.00", ".5", "5.", "1e3", "\u0661\u0662", "1,5",
                       "00000000000000001.00", "9999999999999999.99", "10000000000000000.00",
                       "0x10", "1_000", "- 5", "NaN", "12.345", "\uff15"],
    "start_date": ["2024-02-29", "2023-02-29", "2024-1-01", "20240101", "2024-01-01T00:00",
                   "0000-01-01", "1699-12-31", "1700-01-01", "2261-12-31", "2262-01-01",
                   "+2024-01-01", "\uff12024-01-01", "2024-13-01", "2024-00-10", "2024-01-00"],
    "status": ["ACTIVE", "Active", "10", "70", "80", "act\u0130ve", "\u212aactive", "stopped",
               "010", " 20"],
}
TRICKY_ACCOUNT = {
    "credit_rating": ["-5", "+7", "007", "1.0", "1e2", "999999999999999999",
                      "1000000000000000000", "\u0661", "--1"],
    "late_payments_12m": ["-1", "+1", "0", "1000000000000000000", "x"],
    "do_not_refund": ["TRUE", "Yes", "y", "t", "1", "0", "2", "\uff54rue", "FALSE", "No"],
    "customer_class": ["res", "RES", "R\u0116S"],
}


def test_tricky_cells_are_judged_alike_by_both_readers(tmp_path, setup):
    accounts, sas = [], []
    n = 0
    for column, values in TRICKY.items():
        for v in values:
            n += 1
            accounts.append(acct(f"A{n}"))
            row = sa(f"S{n}", "E-RES", account_id=f"A{n}")
            row[{"payoff_balance": "payoff_balance", "start_date": "start_date",
                 "status": "status"}[column]] = v
            if column == "status" and v.strip().lower() in ("stopped", "70"):
                row["stop_date"] = "2025-01-01"
            sas.append(row)
    for column, values in TRICKY_ACCOUNT.items():
        for v in values:
            n += 1
            accounts.append(acct(f"A{n}", **{column: v}))
            sas.append(sa(f"S{n}", "E-RES", account_id=f"A{n}"))
    folder = write_extract(tmp_path / "x", accounts, sas)
    ctx = extract_context(setup.config)
    full = {(p.file, p.line): p for p in check_extract(folder, ctx)}
    assert 20 < len({line for _, line in full}) < n - 20  # many refused, many accepted
    accepted = []
    for i in range(1, n + 1):
        try:
            load_account(folder, f"A{i}", ctx, setup.config)
            got = set()
        except ExtractError as err:
            got = set(err.problems)
        line = i + 1  # account Ai is on line i + 1 of both files
        want = {p for (f, ln), p in full.items() if ln == line}
        assert got == want, (i, got, want)
        if not want:
            accepted.append(i - 1)
    # what both accept, both read as the same values
    folder = write_extract(tmp_path / "ok", [accounts[i] for i in accepted],
                           [sas[i] for i in accepted])
    states = load_states(folder, setup.config)
    for i in accepted:
        aid = accounts[i]["account_id"]
        assert load_account(folder, aid, ctx, setup.config) == states[aid], aid
