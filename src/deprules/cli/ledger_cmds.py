"""deprules ledger / run: the persisted ledger store and batch processes on it."""

from __future__ import annotations

import sys
from contextlib import contextmanager

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
    store_option,
    store_wait,
    who_options,
)
from .main import cli


@cli.group("ledger")
def ledger_group():
    """Create, inspect, check and export a persisted ledger store."""


@ledger_group.command("init")
@click.option("--extract", "extract_dir", type=FOLDER, required=True,
              help="Extract folder to load.")
@store_option
@who_options
@setup_options
@format_option
@report_errors
def ledger_init(extract_dir, store_dir, who, reason, config_dir, rules_dir, fmt):
    """Create a store from an extract (validated first; nothing is written on a problem)."""
    from ..storeops import init_store

    setup = load(config_dir, rules_dir)
    _, counts = init_store(store_dir, extract_dir, setup, who, reason)
    n, n_sa = counts["accounts"], counts["service_agreements"]
    if fmt == "json":
        emit_json({"ok": True, "store": str(store_dir), "accounts": n,
                   "service_agreements": n_sa, "config_hash": setup.hash})
        return
    click.echo(f"created store {store_dir}: {n} accounts, {n_sa} SAs")


@ledger_group.command("show")
@click.argument("account_id")
@store_option
@setup_options
@format_option
@report_errors
def ledger_show(account_id, store_dir, config_dir, rules_dir, fmt):
    """Show one account: SAs, adjustments, bills, checks, To Dos and its journal."""
    from ..desk import account_and_document

    setup = load(config_dir, rules_dir)
    st, data = account_and_document(store_dir, setup, account_id)
    if fmt == "json":
        emit_json(data)
        return
    a = st.account
    click.echo(f"Account {a.account_id} ({a.customer_class}, credit rating {a.credit_rating})")
    for sa in data["service_agreements"]:
        click.echo(f"  SA {sa['sa_id']:<12} {sa['sa_type']:<8} {sa['status']:<13} payoff "
                   f"{sa['payoff_balance']:>10} current {sa['current_balance']:>10}")
    for adj in data["adjustments"]:
        click.echo(f"  adjustment {adj['adjustment_id']} {adj['sa_id']} {adj['category']:<16} "
                   f"{adj['amount']:>10} {adj['status']}")
    for b in data["bills"]:
        click.echo(f"  bill {b['bill_id']} {b['sa_id']} {b['amount']:>10} {b['status']} "
                   f"due {b['due_date']}")
    for c in data["checks"]:
        click.echo(f"  check {c['check_id']} {c['amount']:>10} to {c['payee_account_id']} "
                   f"{c['status']}")
    for t in data["todos"]:
        click.echo(f"  To Do {t['todo_id']} {t['todo_type']} {t['status']}: {t['message']}")
    if data["journal"]:
        click.echo("  journal:")
    for e in data["journal"]:
        who = e["rule"] or e["user"]
        detail = ", ".join(f"{k}={v}" for k, v in e["detail"].items())
        click.echo(f"    {e['seq']:>3} {e['on']} {e['kind']:<16} {e['entity_id']:<16} "
                   f"{e['process']:<8} {who}  {detail}")


@ledger_group.command("check")
@store_option
@setup_options
@format_option
@report_errors
def ledger_check(store_dir, config_dir, rules_dir, fmt):
    """Check every invariant of the store (listed in docs/invariants.md). Exit 1 on a finding."""
    from ..storeops import check_whole_store

    setup = load(config_dir, rules_dir)
    problems, accounts, meta = check_whole_store(store_dir, setup)
    if fmt == "json":
        emit_json({"ok": not problems, "generation": meta.get("generation"),
                   "accounts": accounts, "problems": problems})
    else:
        for p in problems:
            click.echo(p)
        click.echo(f"{len(problems)} problem(s)" if problems else
                   f"ledger sound: {accounts} accounts, generation "
                   f"{meta.get('generation')}")
    if problems:
        raise SystemExit(1)


@ledger_group.command("export")
@store_option
@click.option("--out", "out_dir", type=FOLDER, required=True,
              help="Extract folder to write (a folder of tables: it cannot be -).")
@file_format_option
@setup_options
@format_option(file_format="--file-format")
@report_errors
def ledger_export(store_dir, out_dir, file_format, config_dir, rules_dir, fmt):
    """Write the store's current state as an extract folder (loads back with ledger init)."""
    from ..extract import Extract, write_extract
    from ..storeops import open_ledger

    setup = load(config_dir, rules_dir)
    ledger, meta = open_ledger(store_dir, setup)
    t = ledger.extract_tables()
    extract = Extract(accounts=t["accounts"], service_agreements=t["service_agreements"],
                      non_cash_deposits=t["non_cash_deposits"],
                      financial_transactions=t["financial_transactions"], source=str(store_dir))
    write_extract(extract, out_dir, file_format,
                  minor_units=setup.config.installation.minor_units)
    if file_format == "csv":  # where each account's lines are, for deprules evaluate
        from ..extract.csvindex_build import build_index

        build_index(out_dir)
    if fmt == "json":
        emit_json({"ok": True, "store": str(store_dir), "generation": meta.get("generation"),
                   "out_dir": str(out_dir), "file_format": file_format,
                   "rows": {name: len(t[name]) for name in (
                       "accounts", "service_agreements", "non_cash_deposits",
                       "financial_transactions")}})
        return
    click.echo(f"exported {len(t['accounts'])} accounts to {out_dir}")


@ledger_group.command("journal")
@store_option
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@format_option
@report_errors
def ledger_journal(store_dir, limit, fmt):
    """The store's commit journal: who ran what, when, why."""
    from ..ledger.sqlstore import Store

    entries = Store.open(store_dir).journal(limit)
    if fmt == "json":
        emit_json({"store": str(store_dir), "entries": entries})
        return
    for e in entries:
        click.echo(_journal_line(e))


_AUDIT_KEYS = ("seq", "utc", "process_date", "user", "command", "kind", "run_id",
               "config_hash", "reason", "host", "pid")


def _journal_line(e: dict) -> str:
    """One commit: number, UTC time, who, the command (and its process date), why, then its
    summary; the full entry (host, pid, whole hash) is in --format json."""
    head = (f"#{e['seq']} {e['utc'][:19].replace('T', ' ')}Z {e['user']}: {e['command']}"
            f" (run {e['run_id']}, configuration {str(e.get('config_hash') or '-')[:12]}")
    if e.get("process_date") and e["process_date"] not in e["command"]:
        head += f", process date {e['process_date']}"
    head += ")"
    if e.get("reason"):
        head += f" because {e['reason']!r}"
    rest = []
    for k, v in e.items():
        if k in _AUDIT_KEYS:
            continue
        if isinstance(v, dict):
            v = ", ".join(f"{a} {b}" for a, b in v.items())
            rest.append(f"\n      {k}: {v}")
        else:
            rest.append(f" {k}={v}")
    return head + "".join(r for r in rest if not r.startswith("\n")) + "".join(
        r for r in rest if r.startswith("\n"))


@contextmanager
def _progress(label: str):
    """A progress bar on standard error while the changed accounts are applied, when it is a
    terminal (nothing otherwise: logs and pipes stay clean): one bar for the accounts
    written from the engine's columns, then one for the accounts replayed."""
    if not sys.stderr.isatty():
        yield None
        return
    state: dict = {}

    def progress(done: int, total: int) -> None:
        bar = state.get("bar")
        if bar is not None and bar.length != total:  # the next part of the batch
            bar.__exit__(None, None, None)
            bar = None
        if bar is None:
            bar = state["bar"] = click.progressbar(length=total, label=f"{label}: applying",
                                                   file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        yield progress
    finally:
        if "bar" in state:
            state["bar"].__exit__(None, None, None)


PROCESS_CHOICES = ["DEPINTRF", "DEPRFND", "SAACT", "STOP", "BILLING", "WPM", "cycle",
                   "ADTIMEOUT"]


@cli.command("run")
@click.argument("process", type=click.Choice(PROCESS_CHOICES, case_sensitive=False))
@store_option
@click.option("--date", "on", type=PROCESS_DATE, required=True, help="Process date.")
@click.option("--engine", "backend", type=click.Choice(["vector", "durable", "python"]),
              default="vector", show_default=True,
              help="vector decides for every account at once over the store's columns and "
                   "reads only the accounts that change; durable (durable-rules) and python "
                   "(the compiled per-account matcher) read and evaluate every account. All "
                   "three write the same rows.")
@click.option("--allow-backdate", is_flag=True,
              help="Accept a process date earlier than the store's last run.")
@click.option("--workers", type=click.IntRange(min=1), envvar="DEPRULES_WORKERS",
              show_envvar=True, default=None,
              help="Worker processes that apply a vector batch's changed accounts while "
                   "this one writes (the rows are the same with any number). Default: the "
                   "cores this process may use; 1 applies them here. Workers start only for "
                   "a batch that changes at least 8,000 accounts (two chunks of "
                   "$DEPRULES_WORKER_CHUNK, default 4,000).")
@who_options
@setup_options
@format_option
@report_errors
def run_process(process, store_dir, on, backend, allow_backdate, workers, who, reason,
                config_dir, rules_dir, fmt):
    """Run a batch process (or the whole cycle) on a store, committing atomically.

    PROCESS is DEPINTRF (periodic deposit interest, for deposit classes with
    months_between_interest), DEPRFND, SAACT, STOP (stop processing: interest and sync-up),
    BILLING (final bill, refund method, completion), WPM, or cycle (all six in order); or
    ADTIMEOUT (not part of the cycle): a To Do for each adjustment that has waited for
    approval longer than its approval profile's timeout_days.
    Running it again on the same date changes nothing (only its journal entry is written).
    A date earlier than the store's last run is refused unless --allow-backdate.
    """
    from ..batchpool import default_workers, pool_chunk
    from ..processes import column_rows, run_approval_timeouts, run_batch, run_store_batch
    from ..storeops import store_session

    setup = load(config_dir, rules_dir)
    process = process.upper() if process.lower() != "cycle" else "cycle"
    # ADTIMEOUT reads only the accounts with an adjustment waiting for approval; a batch
    # on the vector back end reads the accounts it changes once it knows them
    vector = backend == "vector" and process != "ADTIMEOUT"
    if vector:
        from ..mallocopt import keep_freed_memory

        pool_chunk()  # a bad $DEPRULES_WORKER_CHUNK is refused before the store is opened
        column_rows()  # and a bad $DEPRULES_STORE_ROWS
        # the batch's column arrays reused, not faulted in again: a first cycle over a
        # million accounts 103 s -> 80 to 95 s (docs/performance.md)
        keep_freed_memory()
    scope = (lambda r: r.accounts_where("adjustments", "status = 'pending_approval'")) \
        if process == "ADTIMEOUT" else () if vector else None
    with store_session(store_dir, setup, who, f"run {process} {on.isoformat()}", reason,
                       kind="run", process_date=on, wait=store_wait(),
                       allow_backdate=allow_backdate, scope=scope) as s:
        if process == "ADTIMEOUT":
            summary = run_approval_timeouts(s.ledger, setup, on, s.run_id)
        elif vector:
            with _progress(f"{process} {on.isoformat()}") as progress:
                summary = run_store_batch(s, setup, process, on, s.run_id, progress,
                                          workers=workers or default_workers())
        else:
            summary = run_batch(s.ledger, setup, process, on, backend, s.run_id, who)
        s.summary.update(summary.as_journal())
        if process != "ADTIMEOUT":
            s.summary["engine"] = backend
        if summary.workers > 1:
            s.summary["workers"] = summary.workers
    if fmt == "json":
        emit_json(summary.as_dict())
    else:
        click.echo(summary.render())
