"""deprules: deposit refund rules (CC&B 3.3.3.1 Refund Deposit) driven by YAML."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from .. import __version__
from .common import (
    FOLDER,
    PROCESS_DATE,
    emit_json,
    format_option,
    load,
    report_errors,
    setup_options,
    whatif_option,
)


class _Group(click.Group):
    def main(self, *args, **kwargs):
        try:
            return super().main(*args, **kwargs)
        except Exception as exc:  # a bug, not a user mistake: say so plainly
            if os.environ.get("DEPRULES_DEBUG"):
                raise
            click.echo(f"internal error: {type(exc).__name__}: {exc}\n"
                       "This is a bug in deprules; set DEPRULES_DEBUG=1 to see the traceback.",
                       err=True)
            sys.exit(3)


EPILOG = """\b
Conventions (docs/cli.md):
  -            a file argument or option of "-" is standard input or output
               (deprules test -, --whatif -, --junit -, pack capture --out -,
               ap export --out -, ap paid -); a folder cannot be "-".
  --format     text (default) or json: one JSON document on stdout with a
               "schema_version"; the schemas are in deprules/schemas/output/
               (deprules schema export DIR writes them).
  Exit codes   0 success; 1 a finding (invalid configuration, failed scenario,
               broken invariant, extract problems); 2 a usage or input error;
               3 an internal error (a bug: DEPRULES_DEBUG=1 shows the traceback).

\b
Environment:
  DEPRULES_CONFIG            --config of every command that takes it
  DEPRULES_RULES             --rules of every command that takes it
  DEPRULES_STORE             --store of the ledger and CSR commands
  DEPRULES_USER              --by (who is acting; default: the login name)
  DEPRULES_WAIT              --wait: seconds a writer waits for another (default 5)
  DEPRULES_WORKERS           --workers of run: processes applying a batch (default: cores)
  DEPRULES_WORKER_CHUNK      accounts a run worker applies at a time (default 4000)
  DEPRULES_STORE_READER      how run reads a store's columns: auto, arrow or python
  DEPRULES_STORE_ROWS        how run writes a store's new rows: auto (from columns) or replay
  DEPRULES_DEBUG             set (e.g. 1): show the traceback of an internal error
  DEPRULES_YAML_MAX_BYTES    largest YAML file read (default 5242880)
  DEPRULES_YAML_MAX_DEPTH    deepest YAML nesting (default 50, at most 500)
  DEPRULES_YAML_MAX_NODES    most YAML nodes after aliases (default 200000)
  DEPRULES_EXTRACT_MAX_ROWS  most rows of an extract table (default 50000000)
  DEPRULES_EXTRACT_MAX_BYTES largest extract table file (default 8 GiB)
  DEPRULES_SIMULATE_PROCESSES 1: simulate runs baseline and candidate in one process
  DEPRULES_SIMULATE_TIMINGS  1: simulate prints each step's seconds to stderr

\b
Shell completion (click; docs/cli.md):
  bash  eval "$(_DEPRULES_COMPLETE=bash_source deprules)"    in ~/.bashrc
  zsh   eval "$(_DEPRULES_COMPLETE=zsh_source deprules)"     in ~/.zshrc
  fish  _DEPRULES_COMPLETE=fish_source deprules | source     in
        ~/.config/fish/completions/deprules.fish
"""


@click.group(cls=_Group, epilog=EPILOG,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="deprules")
def cli():
    """Deposit refund rules: validate configuration, evaluate accounts, run the refund
    cycle on a ledger, simulate what-ifs and run regression packs.

    Configuration lives in config/ and rules in rules/: every command that reads them
    takes --config DIR and --rules DIR (schema export, rules vocabulary, extract generate
    and ledger journal do not read them, and do not take them).
    """


def main():
    """The console entry point (``deprules``, ``python cli.py``).

    After an error the process ends with ``os._exit`` once its output is flushed. An error
    can abandon pyarrow work still running on Arrow's thread pools (a read whose other
    blocks are being parsed, a Python callback of the reader); letting the interpreter
    finalize under those threads intermittently aborted the process after the message had
    been printed ("terminate called without an active exception", exit 134). The user must
    get the exit code the message was printed with, always. A success exits normally.
    """
    try:
        cli(prog_name="deprules")
        code = 0
    except SystemExit as exc:
        code = exc.code
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"), as Python itself reports it
        print(code, file=sys.stderr)
        code = 1
    if code:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe or stream: nothing more to say
                pass
        os._exit(code)
    sys.exit(0)


# ---- validate / config / schema / rules -------------------------------------------------
@cli.command()
@setup_options
@format_option
@report_errors
def validate(config_dir, rules_dir, fmt):
    """Validate the configuration and the rules.

    Every problem of every file is reported, as FILE:LINE:COL: $.json.path: message [code].
    Exit 0 when valid, 1 when not.
    """
    setup = load(config_dir, rules_dir)
    if fmt == "json":
        emit_json({"ok": True, "config_hash": setup.hash, "rules": len(setup.book.rules)})
    else:
        c = setup.config
        click.echo(f"valid: {len(c.deposit_classes)} deposit classes, {len(c.sa_types)} SA types, "
                   f"{len(c.adjustment_types)} adjustment types, {len(c.write_off_controls)} "
                   f"write-off controls, {len(setup.book.rules)} rules "
                   f"(configuration hash {setup.hash[:12]})")


@cli.group("config")
def config_group():
    """Inspect the configuration."""


@config_group.command("show")
@setup_options
@format_option
@whatif_option("Overlay YAML or configuration folder applied on top (repeatable); - reads "
               "an overlay YAML from standard input.")
@click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
              help="Change one value, e.g. deposit_classes.RES.refund_criteria.hold_months=18.")
@click.option("--on", "on", type=PROCESS_DATE, metavar="YYYY-MM-DD",
              help="Show the configuration as it applies on this process date: each "
                   "effective-dated value as the entry in effect then.")
@report_errors
def config_show(config_dir, rules_dir, fmt, overlays, sets, on):
    """Show the resolved configuration (after overlays and --set).

    Effective-dated values are listed with all their entries; with --on DATE every one
    shows the value a run on that process date uses (and since when, until when).
    """
    from ..reporting.config_text import config_json, config_text

    setup = load(config_dir, rules_dir, overlays, sets)
    if fmt == "json":
        emit_json(config_json(setup, on))
    else:
        click.echo(config_text(setup, on))


@cli.group("schema")
def schema_group():
    """JSON Schemas of the configuration, rule and pack files, and of the JSON output."""


@schema_group.command("export")
@click.argument("out_dir", type=FOLDER)
@format_option
@report_errors
def schema_export(out_dir, fmt):
    """Write every JSON Schema to OUT_DIR (for editors and other tools): the configuration,
    rule and pack files' schemas, those of the JSON documents deprules prints, in
    OUT_DIR/output/ (docs/json-output.md), and those of the decision service's requests and
    answers, in OUT_DIR/http/, with its OpenAPI document, OUT_DIR/http/openapi.json (what
    deprules serve answers at /v1/schemas/NAME and /openapi.json; docs/service.md)."""
    from ..config.schema import export_schemas

    written = export_schemas(out_dir)
    if fmt == "json":
        emit_json({"ok": True, "out_dir": str(out_dir), "written": [str(p) for p in written]})
        return
    for path in written:
        click.echo(str(path))


@cli.group("rules")
def rules_group():
    """List the rules and the vocabulary they are written in."""


@rules_group.command("list")
@setup_options
@format_option
@report_errors
def rules_list(config_dir, rules_dir, fmt):
    """Every rule, by process, with its seed step and description."""
    setup = load(config_dir, rules_dir)
    rows = [{"process": r.process, "id": r.id, "seed_step": r.seed_step,
             "description": r.description, "file": f"{r.file}:{r.line}",
             "when": [c.text for c in r.when],
             "then": [a.verb if not a.args else {a.verb: a.args} for a in r.then]}
            for r in setup.book.rules]
    if fmt == "json":
        emit_json({"config_hash": setup.hash, "rules": rows})
        return
    for r in rows:
        click.echo(f"{r['process']:<8} {r['seed_step']:<8} {r['id']}")
        click.echo(f"         {r['description']}")


@rules_group.command("vocabulary")
@format_option
def rules_vocabulary(fmt):
    """Fields, parameters and actions a rule may use."""
    from ..rules.vocabulary import ACTIONS, FIELDS, PARAMS

    if fmt == "json":
        emit_json({"fields": {k: {"type": t, "description": d} for k, (t, d) in FIELDS.items()},
                   "parameters": {k: {"type": t, "description": d}
                                  for k, (t, d) in PARAMS.items()},
                   "actions": {k: {"arguments": sorted(a), "description": d}
                               for k, (a, d) in ACTIONS.items()}})
        return
    click.echo("Fact fields:")
    for k, (t, d) in FIELDS.items():
        click.echo(f"  {k:<34} {t:<6} {d}")
    click.echo("\nConfiguration parameters:")
    for k, (t, d) in PARAMS.items():
        click.echo(f"  {k:<46} {t:<6} {d}")
    click.echo("\nActions:")
    for k, (a, d) in ACTIONS.items():
        click.echo(f"  {k:<28} {', '.join(sorted(a)) or '-':<18} {d}")


# ---- evaluate -------------------------------------------------------------------------------
@cli.command()
@click.argument("account_id")
@click.option("--extract", "extract_dir", type=FOLDER, required=True,
              help="Extract folder holding the account.")
@click.option("--as-of", "as_of", type=PROCESS_DATE, required=True, help="Process date.")
@click.option("--explain", is_flag=True, help="Also say why each rule that did not fire did not.")
@click.option("--engine", "backend", type=click.Choice(["durable", "python"]), default="durable",
              show_default=True, help="Rule matching back end.")
@click.option("--no-index", "no_index", is_flag=True,
              help="Stream the CSV tables even when the extract has an up-to-date index.")
@setup_options
@format_option
@report_errors
def evaluate(account_id, extract_dir, as_of, explain, backend, no_index, config_dir, rules_dir,
             fmt):
    """Run the automated cycle (DEPINTRF, DEPRFND, SAACT, stop processing, BILLING, WPM)
    for one account on a process date, in memory, and show what happened and why.

    Only the account's rows are read and checked (as `extract check` checks them). A CSV
    table is streamed, unless the extract's index (deprules.index, written by `extract
    generate`, `ledger export` and `extract index`) is up to date for it: then only the
    account's lines are read. An index that is out of date or damaged is not used (a note
    on stderr says so). Parquet tables are read by row group, so a Parquet extract sorted
    by account (`deprules extract convert`) answers quickly whatever its size. The answer
    is the same either way; the extract is never modified.
    """
    from ..errors import InputError
    from ..extract.single import load_account
    from ..results import evaluate_json, evaluate_text
    from ..runner import Runner
    from ..workspace import extract_context

    setup = load(config_dir, rules_dir)
    # only the account's rows are read and checked: no pandas, no full load (CSV tables
    # are streamed or read by the index, Parquet tables by row group;
    # docs/extract-format.md)
    notes: list[str] = []
    try:
        state = load_account(extract_dir, account_id, extract_context(setup.config), setup.config,
                             use_index=not no_index, notes=notes)
    finally:
        for note in notes:
            click.echo(f"note: {note}", err=True)
    if state is None:
        raise InputError(f"account {account_id!r} is not in the extract {extract_dir}")
    before = {s.sa_id: (s.status, s.payoff_balance, s.current_balance) for s in state.sas.values()}
    runner = Runner(setup.book, backend=backend, run_id=f"evaluate-{as_of.isoformat()}")
    run = runner.run_cycle(state, as_of, explain=explain)
    mu = setup.config.installation.minor_units
    if fmt == "json":
        emit_json(evaluate_json(run, as_of, setup.hash, mu, setup.config, explain))
    else:
        click.echo(evaluate_text(run, before, as_of, setup.hash, mu, setup.config, explain))


def _register_commands() -> None:
    """Import every cli/*_cmds.py module: each adds its commands to ``cli``."""
    import importlib
    import pkgutil

    for mod in sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])):
        if mod.endswith("_cmds"):
            importlib.import_module(f"{__package__}.{mod}")


_register_commands()
