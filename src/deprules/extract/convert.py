"""Convert an extract to Parquet sorted by account, so one account is read in milliseconds.

``deprules evaluate`` reads a Parquet table by row group and skips every row group whose
statistics cannot hold the account's ids (``rowgroups.py``). That only pays when each
row group covers a narrow range of ids, so the tables are written sorted:

- ``accounts``, ``service_agreements`` and ``non_cash_deposits`` by ``account_id``;
- ``financial_transactions`` by ``sa_id`` (it has no account column; the account's FTs
  are found from its SA ids);

each sort stable (an account's rows keep their order), in row groups of
:data:`ROW_GROUP_ROWS` rows with min/max statistics. The extract is validated first,
exactly as ``deprules extract check`` does, and nothing is written when it has a
problem. Values are written as ``write_extract`` writes them (money as exact decimal
text); blank optional cells are written filled in as the reader reads them
(``total_deposit_amount`` derived, ``last_interest_date`` = ``start_date``, ...), and
unknown columns are not kept.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..errors import InputError
from .context import ExtractContext
from .reader import Extract, load_extract
from .writer import ROW_GROUP_ROWS, write_extract

SORT_KEYS = {
    "accounts": "account_id",
    "service_agreements": "account_id",
    "non_cash_deposits": "account_id",
    "financial_transactions": "sa_id",
}

__all__ = ["ROW_GROUP_ROWS", "SORT_KEYS", "convert_extract", "sort_by_account"]


def sort_by_account(extract: Extract) -> Extract:
    """The extract with every table stably sorted by its :data:`SORT_KEYS` column."""
    return replace(extract, **{
        table: frame.sort_values(SORT_KEYS[table], kind="stable").reset_index(drop=True)
        for table, frame in extract.tables().items()})


def convert_extract(source: str | Path, out_dir: str | Path, ctx: ExtractContext,
                    row_group_rows: int = ROW_GROUP_ROWS) -> Extract:
    """Validate the extract folder ``source`` (ExtractError lists every problem) and write
    it to ``out_dir`` as Parquet sorted by account; the extract written is returned."""
    source, out = Path(source), Path(out_dir)
    if out.exists() and source.exists() and out.resolve() == source.resolve():
        raise InputError(f"--out {out} is the extract folder itself; write the Parquet "
                         "extract to another folder")
    extract = sort_by_account(load_extract(source, ctx))
    write_extract(extract, out, "parquet", minor_units=ctx.minor_units,
                  row_group_rows=row_group_rows)
    return extract
