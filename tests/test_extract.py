"""Loading, checking and writing extract folders (DESIGN.md section 1.3)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
import tempfile
from pathlib import Path
from textwrap import dedent

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deprules.errors import ExtractError, InputError
from deprules.extract import (
    STATUS_CODES, ExtractContext, SaTypeInfo, check_extract, generate_extract, load_extract,
    write_extract,
)
from deprules.money import MoneyFormatError, parse_money


def default_context(minor_units: int = 2) -> ExtractContext:
    """The vocabulary of the shipped configuration."""
    types = {}
    for cls in ("RES", "COM"):
        types[f"DEP-{cls}"] = SaTypeInfo(f"DEP-{cls}", True, cls)
        types[f"E-{cls}"] = SaTypeInfo(f"E-{cls}", False, cls)
        types[f"G-{cls}"] = SaTypeInfo(f"G-{cls}", False, cls)
    return ExtractContext(
        minor_units=minor_units,
        customer_classes=frozenset({"RES", "COM"}),
        deposit_classes=frozenset({"RES", "COM"}),
        sa_types=types,
    )


CTX = default_context()

ACCOUNTS = """\
account_id,customer_class,credit_rating,late_payments_12m,do_not_refund,cc_postpone_date
A1,RES,650,0,false,
A2,COM,200,3,true,2026-12-31
"""
SAS = """\
sa_id,account_id,sa_type,status,start_date,stop_date,current_balance,payoff_balance
S1,A1,DEP-RES,active,2024-01-15,,0.00,-200.00
S2,A1,E-RES,stopped,2024-01-15,2026-10-01,35.10,35.10
S3,A2,DEP-COM,30,2023-05-01,2026-11-30,0,-1500
"""
NCDS = """\
ncd_id,account_id,deposit_class,ncd_type,amount,start_date,end_date
N1,A2,COM,surety_bond,5000.00,2023-05-01,
"""
FTS = """\
ft_id,sa_id,date,payoff_amount,current_amount
F1,S1,2024-01-15,0.00,200.00
F2,S1,2024-01-20,-200.00,-200.00
"""
BASE = {
    "accounts.csv": ACCOUNTS,
    "service_agreements.csv": SAS,
    "non_cash_deposits.csv": NCDS,
    "financial_transactions.csv": FTS,
}


def make_folder(tmp_path: Path, **files: str | bytes | None) -> Path:
    """The valid BASE extract, with files replaced (``name_csv="..."``) or removed (None)."""
    folder = tmp_path / "extract"
    folder.mkdir(parents=True, exist_ok=True)
    contents = dict(BASE)
    contents.update({k.replace("_csv", ".csv").replace("_parquet", ".parquet"): v
                     for k, v in files.items()})
    for name, text in contents.items():
        if text is None:
            continue
        data = text if isinstance(text, bytes) else dedent(text).encode("utf-8")
        (folder / name).write_bytes(data)
    return folder


def located(folder: Path) -> list[tuple]:
    return [(p.file, p.line, p.column, p.path, p.code) for p in check_extract(folder, CTX)]


# --------------------------------------------------------------------------- loading


def test_valid_extract_loads_with_exact_types(tmp_path):
    ex = load_extract(make_folder(tmp_path), CTX)
    acc, sa = ex.accounts, ex.service_agreements
    assert list(acc.dtypes.astype(str)) == ["object", "object", "int64", "int64", "bool",
                                             "datetime64[ns]"]
    assert list(sa.dtypes.astype(str)) == ["object", "object", "object", "object",
                                            "datetime64[ns]", "datetime64[ns]", "int64", "int64",
                                            "int64", "datetime64[ns]"]
    assert ex.non_cash_deposits["amount"].dtype == np.int64
    assert ex.financial_transactions["payoff_amount"].dtype == np.int64
    assert ex.financial_transactions["date"].dtype == "datetime64[ns]"
    assert sa["payoff_balance"].tolist() == [-20000, 3510, -150000]
    assert sa["status"].tolist() == ["active", "stopped", "pending_stop"]
    assert acc["do_not_refund"].tolist() == [False, True]
    assert pd.isna(acc["cc_postpone_date"][0])
    assert acc["cc_postpone_date"][1] == pd.Timestamp("2026-12-31")
    assert ex.source == str(tmp_path / "extract")


def test_optional_columns_get_their_defaults(tmp_path):
    folder = make_folder(tmp_path, accounts_csv="account_id,customer_class,credit_rating\n"
                         "A1,RES,650\nA2,COM,200\n")
    ex = load_extract(folder, CTX)
    assert ex.accounts["late_payments_12m"].tolist() == [0, 0]
    assert ex.accounts["do_not_refund"].tolist() == [False, False]
    assert ex.accounts["cc_postpone_date"].isna().all()
    sa = ex.service_agreements
    # a cash deposit's total is what it holds (-payoff, not below 0); other SAs have none
    assert sa["total_deposit_amount"].tolist() == [20000, 0, 150000]
    assert (sa["last_interest_date"] == sa["start_date"]).all()


def test_blank_optional_cells_get_defaults_and_given_ones_are_kept(tmp_path):
    folder = make_folder(tmp_path, service_agreements_csv="""\
        sa_id,account_id,sa_type,status,start_date,stop_date,current_balance,payoff_balance,total_deposit_amount,last_interest_date
        S1,A1,DEP-RES,active,2024-01-15,,0,-200.00,,
        S2,A1,DEP-RES,active,2024-01-15,,0,-200.00,250.00,2025-01-15
        S3,A1,DEP-RES,active,2024-01-15,,0,35.00,,
        """, financial_transactions_csv=None)
    sa = load_extract(folder, CTX).service_agreements
    assert sa["total_deposit_amount"].tolist() == [20000, 25000, 0]
    assert sa["last_interest_date"].tolist() == [pd.Timestamp("2024-01-15"),
                                                pd.Timestamp("2025-01-15"),
                                                pd.Timestamp("2024-01-15")]


def test_optional_tables_may_be_absent_and_are_then_empty_but_typed(tmp_path):
    folder = make_folder(tmp_path, non_cash_deposits_csv=None, financial_transactions_csv=None)
    ex = load_extract(folder, CTX)
    assert ex.non_cash_deposits.empty and ex.financial_transactions.empty
    assert ex.non_cash_deposits["amount"].dtype == np.int64
    assert ex.financial_transactions["date"].dtype == "datetime64[ns]"
    assert list(ex.financial_transactions.columns) == ["ft_id", "sa_id", "date",
                                                       "payoff_amount", "current_amount"]


def test_utf8_bom_and_crlf_and_extra_columns_and_padding_are_fine(tmp_path):
    text = ("account_id, customer_class ,credit_rating,notes\r\n"
            " A1 ,RES, 650 ,anything\r\nA2,COM,200,x\r\n")
    folder = make_folder(tmp_path, accounts_csv=b"\xef\xbb\xbf" + text.encode())
    acc = load_extract(folder, CTX).accounts
    assert acc["account_id"].tolist() == ["A1", "A2"]
    assert acc["credit_rating"].tolist() == [650, 200]
    assert "notes" not in acc.columns


@pytest.mark.parametrize("code,name", sorted(STATUS_CODES.items()))
def test_status_codes_and_names_are_both_accepted(tmp_path, code, name):
    rows = (f"S1,A1,E-RES,{code},2024-01-15,2024-02-01,0,0\n"
            f"S2,A1,E-RES,{name.upper()},2024-01-15,2024-02-01,0,0\n")
    folder = make_folder(tmp_path, service_agreements_csv=SAS.splitlines()[0] + "\n" + rows,
                         financial_transactions_csv=None)
    assert load_extract(folder, CTX).service_agreements["status"].tolist() == [name, name]


def test_money_is_exact_minor_units(tmp_path):
    folder = make_folder(tmp_path, financial_transactions_csv="""\
        ft_id,sa_id,date,payoff_amount,current_amount
        F1,S1,2024-01-15,0.1,-0.07
        F2,S1,2024-01-15,12345678901234.56,+5
        F3,S1,2024-01-15,-0,007.5
        """)
    ft = load_extract(folder, CTX).financial_transactions
    assert ft["payoff_amount"].tolist() == [10, 1234567890123456, 0]
    assert ft["current_amount"].tolist() == [-7, 500, 750]


def test_zero_minor_units(tmp_path):
    folder = make_folder(tmp_path, service_agreements_csv=SAS.replace("35.10", "35").replace(
        "-200.00", "-200").replace("0.00", "0"), financial_transactions_csv=None,
        non_cash_deposits_csv=NCDS.replace("5000.00", "5000"))
    sa = load_extract(folder, default_context(minor_units=0)).service_agreements
    assert sa["payoff_balance"].tolist() == [-200, 35, -1500]
    bad = make_folder(tmp_path / "b", financial_transactions_csv=None)
    assert {p.code for p in check_extract(bad, default_context(minor_units=0))} == {"bad-money"}


def test_blank_lines_are_skipped_and_line_numbers_stay_true(tmp_path):
    folder = make_folder(tmp_path, accounts_csv="account_id,customer_class,credit_rating\n"
                         "A1,RES,650\n\n\nA2,XYZ,200\n\n")
    assert located(folder) == [("accounts.csv", 5, 2, "customer_class", "unknown-customer-class")]


# --------------------------------------------------------------------------- every problem code

SA_HEAD = SAS.splitlines()[0] + "\n"


@pytest.mark.parametrize("files,expected", [
    pytest.param({"accounts_csv": "account_id,customer_class\nA1,RES\n"},
                 ("accounts.csv", 1, 0, "credit_rating", "missing-column"), id="missing-column"),
    pytest.param({"service_agreements_csv": SA_HEAD + "S1,A1,E-RES,active,2024-02-30,,0,0\n"},
                 ("service_agreements.csv", 2, 5, "start_date", "bad-date"), id="bad-date"),
    pytest.param({"service_agreements_csv": SA_HEAD + "S1,A1,E-RES,active,15/01/2024,,0,0\n"},
                 ("service_agreements.csv", 2, 5, "start_date", "bad-date"), id="bad-date-format"),
    pytest.param({"service_agreements_csv": SA_HEAD + "S1,A1,E-RES,active,2024-01-15,,0,1.234\n"},
                 ("service_agreements.csv", 2, 8, "payoff_balance", "bad-money"), id="bad-money"),
    pytest.param({"service_agreements_csv": SA_HEAD + "S1,A1,E-RES,active,2024-01-15,,1e3,0\n"},
                 ("service_agreements.csv", 2, 7, "current_balance", "bad-money"),
                 id="bad-money-exponent"),
    pytest.param({"accounts_csv": "account_id,customer_class,credit_rating\nA1,RES,6x\n"},
                 ("accounts.csv", 2, 3, "credit_rating", "bad-integer"), id="bad-integer"),
    pytest.param({"accounts_csv": "account_id,customer_class,credit_rating,late_payments_12m\n"
                                  "A1,RES,650,-1\n"},
                 ("accounts.csv", 2, 4, "late_payments_12m", "bad-integer"), id="negative-count"),
    pytest.param({"accounts_csv": "account_id,customer_class,credit_rating,do_not_refund\n"
                                  "A1,RES,650,maybe\n"},
                 ("accounts.csv", 2, 4, "do_not_refund", "bad-boolean"), id="bad-boolean"),
    pytest.param({"service_agreements_csv": SA_HEAD + "S1,A1,E-RES,running,2024-01-15,,0,0\n"},
                 ("service_agreements.csv", 2, 4, "status", "unknown-status"), id="unknown-status"),
    pytest.param({"service_agreements_csv": SA_HEAD + "S1,A1,W-RES,active,2024-01-15,,0,0\n"},
                 ("service_agreements.csv", 2, 3, "sa_type", "unknown-sa-type"),
                 id="unknown-sa-type"),
    pytest.param({"accounts_csv": "account_id,customer_class,credit_rating\nA1,IND,650\n"},
                 ("accounts.csv", 2, 2, "customer_class", "unknown-customer-class"),
                 id="unknown-customer-class"),
    pytest.param({"non_cash_deposits_csv": NCDS.replace(",COM,", ",IND,")},
                 ("non_cash_deposits.csv", 2, 3, "deposit_class", "unknown-deposit-class"),
                 id="unknown-deposit-class"),
    pytest.param({"non_cash_deposits_csv": NCDS.replace("surety_bond", "cash")},
                 ("non_cash_deposits.csv", 2, 4, "ncd_type", "unknown-ncd-type"),
                 id="unknown-ncd-type"),
    pytest.param({"non_cash_deposits_csv": NCDS.replace(",A2,", ",A7,")},
                 ("non_cash_deposits.csv", 2, 2, "account_id", "unknown-account"),
                 id="unknown-account-ncd"),
    pytest.param({"service_agreements_csv": SAS + "S4,A7,E-RES,active,2024-01-15,,0,0\n"},
                 ("service_agreements.csv", 5, 2, "account_id", "unknown-account"),
                 id="unknown-account"),
    pytest.param({"financial_transactions_csv": FTS + "F3,S9,2024-01-15,1,1\n"},
                 ("financial_transactions.csv", 4, 2, "sa_id", "unknown-sa"), id="unknown-sa"),
    pytest.param({"accounts_csv": "account_id,customer_class,credit_rating\nA1,,650\nA2,RES,1\n"},
                 ("accounts.csv", 2, 2, "customer_class", "missing-value"), id="missing-value"),
    pytest.param({"service_agreements_csv": SA_HEAD + "S1,A1,E-RES,40,2024-01-15,,0,0\n"},
                 ("service_agreements.csv", 2, 6, "stop_date", "missing-stop-date"),
                 id="missing-stop-date"),
    pytest.param({"service_agreements_csv": SA_HEAD + "S1,A1,E-RES,40,2024-01-15,2024-01-14,0,0\n"},
                 ("service_agreements.csv", 2, 6, "stop_date", "stop-before-start"),
                 id="stop-before-start"),
    pytest.param({"non_cash_deposits_csv": NCDS.replace("2023-05-01,", "2023-05-01,2023-04-30")},
                 ("non_cash_deposits.csv", 2, 7, "end_date", "stop-before-start"),
                 id="ncd-end-before-start"),
    pytest.param({"accounts_csv": ""}, ("accounts.csv", 1, 0, "", "empty-table"), id="empty-table"),
    pytest.param({"service_agreements_csv": SA_HEAD + "S1,A1,E-RES,active,2024-01-15,,0,0,9\n"},
                 ("service_agreements.csv", 2, 0, "", "bad-file"), id="bad-file-fields"),
])
def test_each_problem_is_located(tmp_path, files, expected):
    files.setdefault("financial_transactions_csv", None)
    found = located(make_folder(tmp_path, **files))
    assert expected in found, found


def test_duplicate_id_names_the_first_line(tmp_path):
    folder = make_folder(tmp_path, accounts_csv="account_id,customer_class,credit_rating\n"
                         "A1,RES,650\nA2,COM,200\nA1,COM,300\n")
    (problem,) = check_extract(folder, CTX)
    assert (problem.file, problem.line, problem.column, problem.code) == (
        "accounts.csv", 4, 1, "duplicate-id")
    assert "'A1'" in problem.message and "line 2" in problem.message


@pytest.mark.parametrize("rows,line", [
    ("A1,RES,650\nA2,COM,200\nA2,COM,300\nA3,RES,1\n", 4),  # sorted, repeat adjacent
    ("A1,RES,650\nA2,COM,200\nA3,COM,300\nA2,RES,1\n", 5),  # sorted until the repeat
    (",RES,650\nA1,COM,200\n,COM,300\n", None),  # blank keys: missing values, not repeats
])
def test_duplicates_found_whatever_the_order(tmp_path, rows, line):
    """Sorted keys take a fast path (no hashing); a repeat anywhere is still reported."""
    folder = make_folder(tmp_path, accounts_csv="account_id,customer_class,credit_rating\n"
                         + rows)
    found = [(p.line, p.code) for p in check_extract(folder, CTX)
             if p.file == "accounts.csv"]
    if line is None:
        assert {c for _, c in found} == {"missing-value"}
    else:
        assert (line, "duplicate-id") in found


def test_references_checked_against_sorted_unique_keys(tmp_path):
    folder = make_folder(tmp_path, accounts_csv="account_id,customer_class,credit_rating\n"
                         "A1,RES,650\nA2,COM,200\n",
                         service_agreements_csv=SA_HEAD + "S1,A2,E-RES,active,2024-01-15,,0,0\n"
                         "S2,A3,E-RES,active,2024-01-15,,0,0\n")
    codes = [(p.file, p.line, p.code) for p in check_extract(folder, CTX)]
    assert ("service_agreements.csv", 3, "unknown-account") in codes
    assert not any(c == "unknown-account" and line == 2 for _, line, c in codes)


def test_duplicate_table(tmp_path):
    folder = make_folder(tmp_path)
    (folder / "non_cash_deposits.parquet").write_bytes(b"x")
    problems = check_extract(folder, CTX)
    assert [p.code for p in problems] == ["duplicate-table"]
    assert "non_cash_deposits.parquet" in problems[0].message


def test_not_utf8_is_a_located_bad_file(tmp_path):
    folder = make_folder(tmp_path, accounts_csv=(
        "account_id,customer_class,credit_rating\nA1,RES,650\nA\xe92,COM,200\n").encode("latin-1"))
    assert located(folder) == [("accounts.csv", 3, 1, "account_id", "bad-file")]


def test_not_parquet_is_a_bad_file(tmp_path):
    folder = make_folder(tmp_path, financial_transactions_csv=None,
                         financial_transactions_parquet=b"this is not parquet")
    assert located(folder) == [("financial_transactions.parquet", 0, 0, "", "bad-file")]


def test_every_problem_is_reported_at_once(tmp_path):
    folder = make_folder(
        tmp_path,
        accounts_csv="account_id,customer_class,credit_rating\nA1,IND,x\nA1,RES,1\n",
        service_agreements_csv=SA_HEAD + "S1,A9,W-RES,99,2024-13-01,,1.001,abc\n",
        financial_transactions_csv=FTS.replace("F2,S1", "F2,S5"),
        non_cash_deposits_csv=None,
    )
    with pytest.raises(ExtractError) as info:
        load_extract(folder, CTX)
    codes = sorted(p.code for p in info.value.problems)
    assert codes == sorted(["unknown-customer-class", "bad-integer", "duplicate-id",
                            "unknown-account", "unknown-sa-type", "unknown-status", "bad-date",
                            "bad-money", "bad-money", "unknown-sa"])
    assert info.value.exit_code == 1
    text = str(info.value)
    assert "service_agreements.csv:2:8: payoff_balance:" in text
    assert "10 problem(s) in" in text and str(folder) in text


def test_problems_are_capped_per_code_with_a_summary(tmp_path):
    rows = "".join(f"A{i},RES,bad\n" for i in range(130))
    folder = make_folder(tmp_path, accounts_csv="account_id,customer_class,credit_rating\n" + rows,
                         service_agreements_csv=SA_HEAD, non_cash_deposits_csv=None,
                         financial_transactions_csv=None)
    problems = check_extract(folder, CTX)
    assert len(problems) == 51
    summary = [p for p in problems if p.line == 0]
    assert len(summary) == 1 and "80 more" in summary[0].message
    assert summary[0].code == "bad-integer"


def test_a_missing_column_stops_nothing_else(tmp_path):
    folder = make_folder(tmp_path, service_agreements_csv="""\
        sa_id,account_id,sa_type,status,start_date,current_balance,payoff_balance
        S1,A1,E-RES,active,2024-01-15,0,zz
        """, financial_transactions_csv=None)
    assert sorted(located(folder)) == [
        ("service_agreements.csv", 1, 0, "stop_date", "missing-column"),
        ("service_agreements.csv", 2, 7, "payoff_balance", "bad-money"),
    ]


@pytest.mark.parametrize("setup,needle", [
    ("missing", "does not exist"),
    ("file", "not a folder"),
    ("no-accounts", "accounts.csv"),
    ("no-sas", "service_agreements.csv"),
])
def test_unusable_folders_are_input_errors(tmp_path, setup, needle):
    target = tmp_path / "x"
    if setup == "file":
        target.write_text("x")
    elif setup == "no-accounts":
        target = make_folder(tmp_path, accounts_csv=None)
    elif setup == "no-sas":
        target = make_folder(tmp_path, service_agreements_csv=None)
    with pytest.raises(InputError, match=needle):
        load_extract(target, CTX)
    with pytest.raises(InputError):
        check_extract(target, CTX)


# --------------------------------------------------------------------------- parquet


def parquet_folder(tmp_path: Path, table: str, data: pa.Table) -> Path:
    folder = make_folder(tmp_path, **{f"{table}_csv": None})
    pq.write_table(data, folder / f"{table}.parquet")
    return folder


def ft_table(payoff: pa.Array, dates: pa.Array | None = None) -> pa.Table:
    dates = dates if dates is not None else pa.array(["2024-01-15"] * len(payoff))
    return pa.table({
        "ft_id": [f"F{i}" for i in range(len(payoff))],
        "sa_id": ["S1"] * len(payoff),
        "date": dates,
        "payoff_amount": payoff,
        "current_amount": pa.array(["1.00"] * len(payoff)),
    })


def test_parquet_float_money_is_refused_with_its_column(tmp_path):
    folder = parquet_folder(tmp_path, "financial_transactions", ft_table(pa.array([1.5, 2.25])))
    (problem,) = check_extract(folder, CTX)
    assert (problem.file, problem.line, problem.column, problem.path, problem.code) == (
        "financial_transactions.parquet", 0, 4, "payoff_amount", "bad-money")
    assert "floating point" in problem.message and "decimal" in problem.message


def test_parquet_integer_money_is_refused(tmp_path):
    folder = parquet_folder(tmp_path, "financial_transactions", ft_table(pa.array([150, 2])))
    (problem,) = check_extract(folder, CTX)
    assert problem.code == "bad-money" and "decimal" in problem.message


def test_parquet_decimal_money_and_native_dates(tmp_path):
    payoff = pa.array([Decimal("-200.0000"), Decimal("0.1000"), Decimal("1.2345")],
                      pa.decimal128(12, 4))
    dates = pa.array(np.array(["2024-01-15", "2024-01-16T13:00", "2024-01-17"],
                              dtype="datetime64[ms]"))
    folder = parquet_folder(tmp_path, "financial_transactions", ft_table(payoff, dates))
    # 1.2345 cannot be held in cents; the other two can, trailing zeros and all
    assert located(folder) == [("financial_transactions.parquet", 3, 4, "payoff_amount",
                                "bad-money")]
    ft_ok = ft_table(payoff[:2], pa.array([date(2024, 1, 15), date(2024, 2, 29)], pa.date32()))
    folder = parquet_folder(tmp_path / "ok", "financial_transactions", ft_ok)
    ft = load_extract(folder, CTX).financial_transactions
    assert ft["payoff_amount"].tolist() == [-20000, 10]
    assert ft["payoff_amount"].dtype == np.int64
    assert ft["date"].tolist() == [pd.Timestamp("2024-01-15"), pd.Timestamp("2024-02-29")]


def test_parquet_rows_are_located_by_row_number(tmp_path):
    folder = parquet_folder(tmp_path, "financial_transactions",
                            ft_table(pa.array(["1.00", "x", "2.00"])))
    assert located(folder) == [("financial_transactions.parquet", 2, 4, "payoff_amount",
                                "bad-money")]


# --------------------------------------------------------------------------- writing


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip_of_a_loaded_extract(tmp_path, fmt):
    original = load_extract(make_folder(tmp_path), CTX)
    out = write_extract(original, tmp_path / "out", fmt=fmt)
    again = load_extract(out, CTX)
    for name, frame in original.tables().items():
        pd.testing.assert_frame_equal(frame, again.tables()[name], check_exact=True)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip_of_a_generated_extract(tmp_path, fmt):
    original = generate_extract(300, seed=7)
    out = write_extract(original, tmp_path / "out", fmt=fmt)
    assert check_extract(out, CTX) == []
    again = load_extract(out, CTX)
    for name, frame in original.tables().items():
        pd.testing.assert_frame_equal(frame, again.tables()[name], check_exact=True)


def test_written_csv_is_plain_decimal_text(tmp_path):
    out = write_extract(load_extract(make_folder(tmp_path), CTX), tmp_path / "out")
    lines = (out / "service_agreements.csv").read_text().splitlines()
    assert lines[0] == ("sa_id,account_id,sa_type,status,start_date,stop_date,current_balance,"
                        "payoff_balance,total_deposit_amount,last_interest_date")
    assert lines[1] == "S1,A1,DEP-RES,active,2024-01-15,,0.00,-200.00,200.00,2024-01-15"
    assert lines[3].startswith("S3,A2,DEP-COM,pending_stop,2023-05-01,2026-11-30,0.00,-1500.00")


def test_written_parquet_money_is_text_and_dates_are_dates(tmp_path):
    out = write_extract(load_extract(make_folder(tmp_path), CTX), tmp_path / "out", fmt="parquet")
    schema = pq.read_schema(out / "service_agreements.parquet")
    assert schema.field("payoff_balance").type == pa.string()
    assert schema.field("start_date").type == pa.date32()
    assert pq.read_table(out / "service_agreements.parquet").column("payoff_balance").to_pylist() \
        == ["-200.00", "35.10", "-1500.00"]


def test_switching_format_leaves_no_duplicate_tables(tmp_path):
    ex = load_extract(make_folder(tmp_path), CTX)
    out = tmp_path / "out"
    write_extract(ex, out, fmt="csv")
    write_extract(ex, out, fmt="parquet")
    assert sorted(p.name for p in out.iterdir()) == [
        "accounts.parquet", "financial_transactions.parquet", "non_cash_deposits.parquet",
        "service_agreements.parquet"]
    assert check_extract(out, CTX) == []


def test_unknown_format_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="csv or parquet"):
        write_extract(load_extract(make_folder(tmp_path), CTX), tmp_path / "o", fmt="xlsx")


# --------------------------------------------------------------------------- money parser property

_AMOUNTS = st.from_regex(r"[+-]?[0-9]{1,19}(\.[0-9]{0,3})?", fullmatch=True) | st.text(
    alphabet="0123456789.-+e x", max_size=8)


@settings(max_examples=40, deadline=None)
@given(st.lists(_AMOUNTS, min_size=1, max_size=30))
def test_vectorised_money_parsing_agrees_with_parse_money(amounts):
    expected_bad, expected = set(), []
    for line, text in enumerate(amounts, start=2):
        try:
            value = parse_money(text, 2)
            whole = text.strip().lstrip("+-").split(".")[0]
            if len(whole) > 16:  # beyond int64 cents: refused as too large
                raise MoneyFormatError(text)
            expected.append(value)
        except MoneyFormatError:
            expected_bad.add(line)
    rows = "".join(f"F{i},S1,2024-01-15,{t},0\n" for i, t in enumerate(amounts))
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_folder(Path(tmp), financial_transactions_csv=FTS.splitlines()[0] + "\n" + rows)
        problems = check_extract(folder, CTX)
        assert {p.line for p in problems if p.column == 4} == expected_bad
        if not problems:
            ft = load_extract(folder, CTX).financial_transactions
            assert ft["payoff_amount"].tolist() == expected
