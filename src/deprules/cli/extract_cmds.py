"""deprules extract: check and generate customer extracts."""

from __future__ import annotations

import click

from .common import (
    FOLDER,
    PROCESS_DATE,
    emit_json,
    file_format_option,
    format_option,
    load,
    report_errors,
    setup_options,
)
from .main import cli


@cli.group("extract")
def extract_group():
    """Check and generate customer extracts (the format: docs/extract-format.md)."""


@extract_group.command("check")
@click.argument("extract_dir", type=FOLDER)
@setup_options
@format_option
@report_errors
def extract_check(extract_dir, config_dir, rules_dir, fmt):
    """Validate an extract folder: every problem, with table, row (CSV line) and column.

    Exit 0 when clean, 1 with problems.
    """
    from ..extract import check_extract
    from ..workspace import extract_context

    setup = load(config_dir, rules_dir)
    problems = check_extract(extract_dir, extract_context(setup.config))
    if fmt == "json":
        emit_json({"ok": not problems, "problems": [p.as_dict() for p in problems]})
    else:
        for p in problems:
            click.echo(p.render())
        click.echo(f"{len(problems)} problem(s) in {extract_dir}" if problems else
                   f"{extract_dir}: no problems")
    if problems:
        raise SystemExit(1)


@extract_group.command("generate")
@click.option("--accounts", type=click.IntRange(1, 50_000_000), required=True,
              help="How many accounts.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same files.")
@click.option("--out", "out_dir", type=FOLDER, required=True, help="Folder to write.")
@file_format_option
@click.option("--as-of", "as_of", type=PROCESS_DATE, default="2026-11-21", show_default=True,
              help="Date the extract is taken (deposit ages are relative to it).")
@format_option(file_format="--file-format")
@report_errors
def extract_generate(accounts, seed, out_dir, file_format, as_of, fmt):
    """Write a realistic synthetic extract for demos and benchmarks (its SA types and
    classes are the sample configuration's; it does not read --config). It is generated
    and written in chunks of accounts (bounded memory, the same files whatever the size
    of a chunk); Parquet tables are sorted by account, in row groups."""
    from ..extract.generate import generate_chunks
    from ..extract.writer import write_extract_chunks

    counts = write_extract_chunks(lambda: generate_chunks(accounts, seed, as_of), out_dir,
                                  file_format)
    index = _write_index(out_dir) if file_format == "csv" else None
    if fmt == "json":
        emit_json({"ok": True, "out_dir": str(out_dir), "file_format": file_format,
                   "seed": seed, "as_of": as_of.isoformat(), "rows": counts,
                   "index": None if index is None else str(index)})
        return
    click.echo(f"wrote {counts['accounts']} accounts, {counts['service_agreements']} SAs, "
               f"{counts['non_cash_deposits']} non-cash deposits, "
               f"{counts['financial_transactions']} FTs to {out_dir} ({file_format}"
               + (", with its index deprules.index)" if index is not None else ")"))


def _write_index(folder):
    """Write the index of a CSV extract just written; return its path."""
    from ..extract.csvindex_build import build_index

    return build_index(folder)[0]


@extract_group.command("convert")
@click.option("--extract", "extract_dir", type=FOLDER, required=True,
              help="Extract folder to read (CSV or Parquet tables).")
@click.option("--out", "out_dir", type=FOLDER, required=True,
              help="Folder to write the Parquet tables to (another folder).")
@click.option("--row-group-rows", type=click.IntRange(1024, 10_000_000), default=16_384,
              show_default=True, help="Rows per Parquet row group.")
@setup_options
@format_option
@report_errors
def extract_convert(extract_dir, out_dir, row_group_rows, config_dir, rules_dir, fmt):
    """Write an extract as Parquet sorted by account, so that `deprules evaluate` reads one
    account without reading the whole extract (docs/extract-format.md, "Parquet sorted by
    account").

    The extract is checked first as `extract check` does; with a problem nothing is
    written (exit 1). Accounts, SAs and non-cash deposits are sorted by account_id, FTs by
    sa_id; unknown columns are left out.
    """
    from ..extract.convert import convert_extract
    from ..workspace import extract_context

    setup = load(config_dir, rules_dir)
    extract = convert_extract(extract_dir, out_dir, extract_context(setup.config),
                              row_group_rows=row_group_rows)
    counts = {t: len(f) for t, f in extract.tables().items()}
    if fmt == "json":
        emit_json({"ok": True, "extract": str(extract_dir), "out_dir": str(out_dir),
                   "file_format": "parquet", "row_group_rows": row_group_rows, "rows": counts})
        return
    click.echo(f"wrote {counts['accounts']} accounts, {counts['service_agreements']} SAs, "
               f"{counts['non_cash_deposits']} non-cash deposits, "
               f"{counts['financial_transactions']} FTs to {out_dir} (Parquet sorted by account, "
               f"{row_group_rows:,} rows per row group)")


@extract_group.command("index")
@click.argument("extract_dir", type=FOLDER)
@format_option
@report_errors
def extract_index(extract_dir, fmt):
    """Write (or refresh) EXTRACT_DIR/deprules.index: where each account's lines are in the
    CSV tables, so that `deprules evaluate` reads a few lines instead of streaming every
    table (docs/extract-format.md, "The index of a CSV extract").

    `extract generate` and `ledger export` write it with a CSV extract; run this after
    changing, copying or writing the CSV files any other way (evaluate ignores an index
    that is out of date for a file, with a note). A table with a problem in its bytes,
    its header or a line's number of fields is not indexed (evaluate streams it and
    reports the problem as usual; `extract check` lists them). Exit 0 when written, 2
    when the folder has no CSV table.
    """
    from pathlib import Path

    from ..errors import InputError
    from ..extract.cells import Report
    from ..extract.csvindex_build import build_index, describe
    from ..extract.files import locate_tables

    folder = Path(extract_dir)
    if not folder.is_dir():
        raise InputError(f"extract folder {folder} does not exist" if not folder.exists()
                         else f"{folder} is not a folder; an extract is a folder of tables")
    if not any(tf.fmt == "csv" for tf in locate_tables(folder, Report()).values()):
        raise InputError(f"{folder} has no CSV table to index (a Parquet table is read by row "
                         "group and needs no index)")
    try:
        path, results = build_index(folder)
    except OSError as exc:
        raise InputError(f"cannot write the index in {folder}: {exc.strerror or exc}") from None
    tables = describe(results)
    if fmt == "json":
        emit_json({"ok": True, "extract": str(folder), "index": str(path), "tables": tables})
        return
    click.echo(f"wrote {path}")
    for t in tables:
        if t["status"] == "indexed":
            how = ", ".join(f"{mode} by {col}" for col, mode in t.get("columns", {}).items())
            rows = f"{t['rows']:,} row{'' if t['rows'] == 1 else 's'}"
            click.echo(f"  {t['file']}: {rows}" + (f" ({how})" if how else ""))
        else:
            click.echo(f"  {t['file']}: not indexed, {t['reason']}; evaluate streams it")
