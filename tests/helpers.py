"""Small extracts written from Python literals, and cycle runs over them."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

ACCOUNT_COLS = ["account_id", "customer_class", "credit_rating", "late_payments_12m",
                "do_not_refund", "cc_postpone_date"]
SA_COLS = ["sa_id", "account_id", "sa_type", "status", "start_date", "stop_date",
           "current_balance", "payoff_balance", "total_deposit_amount", "last_interest_date"]
NCD_COLS = ["ncd_id", "account_id", "deposit_class", "ncd_type", "amount", "start_date",
            "end_date"]
FT_COLS = ["ft_id", "sa_id", "date", "payoff_amount", "current_amount"]


def write_table(path: Path, cols: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in cols])


def write_extract(folder: Path, accounts, sas, ncds=(), fts=()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_table(folder / "accounts.csv", ACCOUNT_COLS, list(accounts))
    write_table(folder / "service_agreements.csv", SA_COLS, list(sas))
    if ncds:
        write_table(folder / "non_cash_deposits.csv", NCD_COLS, list(ncds))
    if fts:
        write_table(folder / "financial_transactions.csv", FT_COLS, list(fts))
    return folder


def acct(account_id="A1", customer_class="RES", credit_rating=500, **kw) -> dict:
    return dict(account_id=account_id, customer_class=customer_class,
                credit_rating=credit_rating, **kw)


def sa(sa_id, sa_type, status="active", start="2024-01-01", payoff="0.00", current="0.00",
       account_id="A1", **kw) -> dict:
    return dict(sa_id=sa_id, account_id=account_id, sa_type=sa_type, status=status,
                start_date=start, current_balance=current, payoff_balance=payoff, **kw)


def run_cycle(tmp_path: Path, setup, accounts, sas, on: date, ncds=(), fts=(), explain=False,
              backend="durable"):
    """Load a small extract and run the cycle for every account; returns {id: AccountRun}."""
    from deprules.runner import Runner
    from deprules.workspace import load_states

    folder = write_extract(tmp_path / "extract", accounts, sas, ncds, fts)
    states = load_states(folder, setup.config)
    runner = Runner(setup.book, backend=backend, run_id="test")
    return {aid: runner.run_cycle(st, on, explain=explain) for aid, st in sorted(states.items())}


def money(state, sa_id) -> tuple[str, str]:
    from deprules.money import format_money

    s = state.sas[sa_id]
    return format_money(s.payoff_balance), format_money(s.current_balance)


def adjustments(state) -> list[tuple[str, str, str]]:
    from deprules.money import format_money

    return [(a.sa_id, a.category, format_money(a.amount)) for a in state.adjustments]


def simple_state(aid: str):
    """An account with one of each entity (ids ``<aid>-D``, ``<aid>-ADJ001``, ...), for store
    tests that need rows, not a sound ledger."""
    from datetime import date

    from deprules.ledger.model import (FT, Account, AccountState, Adjustment, Bill, Cause,
                                       CheckRequest, GLLine, HistoryFT, JournalEntry,
                                       NonCashDeposit, ServiceAgreement, ToDo)

    d = date(2026, 11, 21)
    c = Cause("CSR", "r", "1.1", "g1", "h", "u", "why")
    s = AccountState(Account(aid, "RES", 700, 1, False, None, f"name {aid}"))
    s.sas[f"{aid}-D"] = ServiceAgreement(f"{aid}-D", aid, "DEP-RES", "active", date(2024, 1, 1),
                                         None, -10000, -10000, 10000, None, -10000, -10000)
    s.adjustments.append(Adjustment(f"{aid}-ADJ001", aid, f"{aid}-D", "DEPAPREF", "ap_refund",
                                    500, "frozen", "csr", d, c, ft_id=f"{aid}-FT001"))
    s.fts.append(FT(f"{aid}-FT001", aid, f"{aid}-D", d, 500, 500, "adjustment", f"{aid}-ADJ001", c))
    s.gl_lines.extend([GLLine(f"{aid}-FT001", aid, 1, "CASH", 500),
                       GLLine(f"{aid}-FT001", aid, 2, "DEP", -500)])
    s.bills.append(Bill(f"{aid}-BILL001", aid, f"{aid}-D", 0, "frozen", d, c, None, d))
    s.todos.append(ToDo(f"{aid}-TD001", aid, f"{aid}-D", "DEPREF", "CSR", "refund", "open", d, c))
    s.checks.append(CheckRequest(f"{aid}-CHK001", aid, f"{aid}-D", f"{aid}-ADJ001", aid, 500,
                                 "not_selected", "AP", d, c))
    s.ncds.append(NonCashDeposit(f"{aid}-N1", aid, "RES", "LOC", 1000, date(2025, 1, 1)))
    s.history.append(HistoryFT(f"{aid}-H1", aid, f"{aid}-D", date(2024, 1, 1), -10000, -10000))
    s.journal.append(JournalEntry(1, aid, f"{aid}-D", d, "adjustment", f"{aid}-ADJ001",
                                  {"amount": "5.00"}, c))
    return s


def assert_same_simulation(got, want, tmp_path: Path) -> None:
    """Two simulations give the same per-account table (exactly), the same impact JSON,
    and the same files written, byte for byte."""
    import pandas as pd

    pd.testing.assert_frame_equal(got.table, want.table, check_exact=True)
    assert got.json() == want.json()
    a, b = tmp_path / "want", tmp_path / "got"
    want.write(a)
    got.write(b)
    for name in ("impact.json", "accounts.csv", "accounts.parquet", "report.html"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def no_whole_load(monkeypatch) -> None:
    """``simulate`` must not load the extract whole (it reads partitions' rows)."""
    import deprules.extract as ex

    def refuse(*a, **k):
        raise AssertionError("the extract was loaded whole by the command")

    monkeypatch.setattr(ex, "load_extract", refuse)


def damaged_copy(extract: Path, folder: Path, damage: str) -> Path:
    """A copy of a Parquet extract with one bad cell (``bad-money``), an FT of an unknown
    SA (``unknown-sa``) or an SA id twice, far apart (``duplicate-sa``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir()
    for path in extract.glob("*.parquet"):
        (folder / path.name).write_bytes(path.read_bytes())
    if damage == "unknown-sa":
        path, column, row, value = folder / "financial_transactions.parquet", "sa_id", 30, "S9"
    elif damage == "duplicate-sa":
        path, column, row, value = folder / "service_agreements.parquet", "sa_id", 1500, "S0000007"
    else:
        path, column, row, value = (folder / "service_agreements.parquet", "payoff_balance",
                                    1700, "12.345")
    data = pq.read_table(path)
    values = data.column(column).to_pylist()
    values[row] = value
    data = data.set_column(data.schema.get_field_index(column), column,
                           pa.array(values, data.schema.field(column).type))
    pq.write_table(data, path, row_group_size=1024)
    return folder


def shuffled_copy(extract: Path, folder: Path) -> Path:
    """A copy of a Parquet extract with every table's rows in no particular order (an
    account's rows spread over row groups of 500)."""
    import numpy as np
    import pyarrow.parquet as pq

    folder.mkdir()
    rng = np.random.default_rng(3)
    for path in extract.glob("*.parquet"):
        data = pq.read_table(path)
        pq.write_table(data.take(rng.permutation(data.num_rows)), folder / path.name,
                       row_group_size=500)
    return folder
