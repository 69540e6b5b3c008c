"""deprules extract: check and generate customer extracts."""

from __future__ import annotations

from pathlib import Path

import click

from .common import PROCESS_DATE, emit_json, format_option, load, report_errors, setup_options
from .main import cli


@cli.group("extract")
def extract_group():
    """Check and generate customer extracts (DESIGN.md section 1.3)."""


@extract_group.command("check")
@click.argument("extract_dir", type=click.Path(path_type=Path))
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
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder to write.")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv",
              show_default=True)
@click.option("--as-of", "as_of", type=PROCESS_DATE, default="2026-11-21", show_default=True,
              help="Date the extract is taken (deposit ages are relative to it).")
@report_errors
def extract_generate(accounts, seed, out_dir, fmt, as_of):
    """Write a realistic synthetic extract for demos and benchmarks."""
    from ..extract import generate_extract, write_extract

    extract = generate_extract(accounts, seed, as_of=as_of)
    write_extract(extract, out_dir, fmt)
    click.echo(f"wrote {len(extract.accounts)} accounts, {len(extract.service_agreements)} SAs, "
               f"{len(extract.non_cash_deposits)} non-cash deposits, "
               f"{len(extract.financial_transactions)} FTs to {out_dir} ({fmt})")
