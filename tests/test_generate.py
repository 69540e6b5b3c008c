"""The synthetic extract generator: deterministic, realistic, loadable."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from deprules.extract import (
    TABLES, ExtractContext, SaTypeInfo, check_extract, generate_extract, write_extract,
)

AS_OF = pd.Timestamp("2026-11-21")


def default_context() -> ExtractContext:
    """The vocabulary of the shipped configuration, which the generator uses."""
    types = {f"{kind}-{cls}": SaTypeInfo(f"{kind}-{cls}", kind == "DEP", cls)
             for kind in ("DEP", "E", "G") for cls in ("RES", "COM")}
    classes = frozenset({"RES", "COM"})
    return ExtractContext(minor_units=2, customer_classes=classes, deposit_classes=classes,
                          sa_types=types)


@pytest.fixture(scope="module")
def extract():
    return generate_extract(5000, seed=11)


def test_same_seed_same_extract_and_other_seed_other_extract():
    a, b, c = generate_extract(500, seed=3), generate_extract(500, seed=3), generate_extract(500, 4)
    for name in TABLES:
        pd.testing.assert_frame_equal(a.tables()[name], b.tables()[name], check_exact=True)
    assert not a.accounts.equals(c.accounts)
    assert not a.service_agreements.equals(c.service_agreements)


def test_columns_and_dtypes_match_a_loaded_extract(extract):
    for name, columns in TABLES.items():
        frame = extract.tables()[name]
        assert list(frame.columns) == [c.name for c in columns]
    sa = extract.service_agreements
    for money in ("current_balance", "payoff_balance", "total_deposit_amount"):
        assert sa[money].dtype == np.int64
    assert extract.non_cash_deposits["amount"].dtype == np.int64
    assert extract.financial_transactions["payoff_amount"].dtype == np.int64
    assert sa["start_date"].dtype == "datetime64[ns]"
    assert sa["sa_id"].dtype == object and extract.accounts["do_not_refund"].dtype == bool


def test_ids_are_zero_padded_and_unique(extract):
    assert extract.accounts["account_id"].iloc[0] == "A0000001"
    assert extract.service_agreements["sa_id"].iloc[0] == "S0000001"
    for name, columns in TABLES.items():
        ids = extract.tables()[name][columns[0].name]
        assert ids.is_unique


def test_mix_of_classes_ratings_and_switches(extract):
    acc = extract.accounts
    assert 0.75 < (acc["customer_class"] == "RES").mean() < 0.85
    assert 0.65 < (acc["credit_rating"] >= 300).mean() < 0.75
    assert acc["credit_rating"].between(0, 999).all()
    assert set(acc["late_payments_12m"]) <= {0, 1, 2, 3, 5}
    assert 0.01 < acc["do_not_refund"].mean() < 0.05
    postponed = acc["cc_postpone_date"].dropna()
    assert 0.01 < len(postponed) / len(acc) < 0.03 and (postponed > AS_OF).all()


def test_service_agreements_look_like_an_installation(extract):
    sa, acc = extract.service_agreements, extract.accounts
    assert 2.2 < len(sa) / len(acc) < 2.7
    assert set(sa["sa_type"]) == {"DEP-RES", "E-RES", "G-RES", "DEP-COM", "E-COM", "G-COM"}
    # an SA's type is of its account's class
    cls = sa["account_id"].map(acc.set_index("account_id")["customer_class"])
    assert (sa["sa_type"].str.split("-").str[1] == cls).all()
    deposits = sa[sa["sa_type"].str.startswith("DEP")]
    per_account = deposits.groupby("account_id").size().reindex(acc["account_id"], fill_value=0)
    assert 0.01 < (per_account == 0).mean() < 0.06 and (per_account == 2).any()
    assert {"active", "pending_stop", "stopped"} <= set(deposits["status"])
    services = sa[~sa["sa_type"].str.startswith("DEP")]
    assert 0.05 < (services["status"] == "stopped").mean() < 0.2
    # deposits are held as a negative payoff
    assert (deposits["payoff_balance"] < 0).all()
    assert (deposits["total_deposit_amount"] >= -deposits["payoff_balance"]).all()
    res = deposits[deposits["sa_type"] == "DEP-RES"]["payoff_balance"]
    assert res.between(-40099, -10000).all()
    assert (services["payoff_balance"] > 0).mean() > 0.2
    assert (services["payoff_balance"] < 0).any()


def test_months_held_straddle_one_and_two_years(extract):
    deposits = extract.service_agreements
    deposits = deposits[deposits["sa_type"].str.startswith("DEP")]
    days = (AS_OF - deposits["start_date"]).dt.days
    assert (days < 365).mean() > 0.05
    assert ((days > 400) & (days < 700)).mean() > 0.1
    assert (days > 800).mean() > 0.3


def test_dates_are_consistent(extract):
    sa = extract.service_agreements
    needs_stop = sa["status"].isin(["pending_stop", "stopped"])
    assert sa.loc[needs_stop, "stop_date"].notna().all()
    has_stop = sa["stop_date"].notna()
    assert (sa.loc[has_stop, "stop_date"] >= sa.loc[has_stop, "start_date"]).all()
    services = sa[~sa["sa_type"].str.startswith("DEP") & (sa["status"] == "pending_stop")]
    assert (services["stop_date"] <= AS_OF).all()
    assert (sa["last_interest_date"] >= sa["start_date"]).all()


def test_non_cash_deposits_active_and_expired(extract):
    ncd, acc = extract.non_cash_deposits, extract.accounts
    active = ncd["end_date"].isna() | (ncd["end_date"] > AS_OF)
    assert 0.03 < active.sum() / len(acc) < 0.07
    assert (~active).any()
    cls = ncd["account_id"].map(acc.set_index("account_id")["customer_class"])
    assert (ncd["deposit_class"] == cls).all()


def test_ft_history_sums_to_the_payoff_balance(extract):
    ft, sa = extract.financial_transactions, extract.service_agreements.set_index("sa_id")
    sums = ft.groupby("sa_id")[["payoff_amount", "current_amount"]].sum()
    assert (sums["payoff_amount"] == sa.loc[sums.index, "payoff_balance"]).all()
    assert (sums["current_amount"] == sa.loc[sums.index, "current_balance"]).all()
    deposits = sa.index[sa["sa_type"].str.startswith("DEP")]
    assert 0.25 < len(sums) / len(deposits) < 0.35
    assert (ft.groupby("sa_id").size() == 3).any()  # some paid in two instalments
    assert (ft["date"] <= AS_OF).all()


def test_generated_extract_is_valid_in_both_formats(tmp_path):
    ex = generate_extract(400, seed=5, as_of=date(2025, 6, 30))
    for fmt in ("csv", "parquet"):
        assert check_extract(write_extract(ex, tmp_path / fmt, fmt=fmt), default_context()) == []


def test_zero_accounts_is_an_empty_extract():
    ex = generate_extract(0, seed=1)
    assert all(frame.empty for frame in ex.tables().values())


def _digest(folder, fmt: str) -> str:
    import hashlib

    h = hashlib.sha256()
    for path in sorted(folder.glob(f"*.{fmt}")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


# the files of the whole-array generator (before it was generated in chunks, main at
# c63cb19), written by write_extract(..., row_group_rows=1000)
FORMER = {(1, 7): ("4985b32e870942f2", "57759889a01ff0a9"),
          (57, 3): ("bd5b1a1b4be4f10a", "d649e8800d3b27de"),
          (2000, 7): ("64b20a0c99fe76b6", "19d6d36ca869c972"),
          (20011, 11): ("8268cff70fa4c76a", "ae4c961236dd7b7b")}


@pytest.mark.parametrize("accounts,seed", sorted(FORMER))
def test_chunks_write_the_files_of_the_whole_array_generator(tmp_path, accounts, seed):
    """Issue 18: generated and written in chunks of accounts (any size: the last one
    short, one account), the files are byte for byte those of the former generator."""
    from deprules.extract.generate import generate_chunks
    from deprules.extract.writer import write_extract_chunks

    for k, fmt in enumerate(("csv", "parquet")):
        write_extract(generate_extract(accounts, seed), tmp_path / f"whole-{fmt}", fmt,
                      row_group_rows=1000)
        assert _digest(tmp_path / f"whole-{fmt}", fmt) == FORMER[accounts, seed][k]
        for chunk in sorted({1, max(1, accounts // 7 + 1), 999}):
            if accounts > 100 and chunk == 1:
                continue  # thousands of chunks of one account: slow, nothing more to learn
            out = tmp_path / f"{fmt}-{chunk}"
            rows = write_extract_chunks(
                lambda: generate_chunks(accounts, seed, chunk_accounts=chunk), out, fmt,
                row_group_rows=1000)
            assert _digest(out, fmt) == FORMER[accounts, seed][k], (fmt, chunk)
            assert rows["accounts"] == accounts


def test_a_csv_value_that_needs_quoting_quotes_the_table_as_one_write_does(tmp_path):
    from dataclasses import replace

    from deprules.extract.writer import write_extract_chunks

    a, b = generate_extract(30, seed=1), generate_extract(30, seed=2)
    accounts = b.accounts.copy()
    accounts.loc[3, "customer_class"] = 'R,"ES'
    b = replace(b, accounts=accounts)
    whole = replace(a, **{t: pd.concat([a.tables()[t], b.tables()[t]], ignore_index=True)
                          for t in TABLES})
    write_extract(whole, tmp_path / "one", "csv")
    write_extract_chunks(lambda: iter([a, b]), tmp_path / "two", "csv")
    for name in TABLES:
        assert ((tmp_path / "one" / f"{name}.csv").read_bytes()
                == (tmp_path / "two" / f"{name}.csv").read_bytes()), name
    assert '"R,""ES"' in (tmp_path / "two" / "accounts.csv").read_text()
