"""deprules refund / sa / bill / todo / adjust / ap / deposit: the manual paths on a store.

Each changing command locks the store, makes its change through deprules.desk (the
executor, with --by and --reason in the cause of every change), checks every invariant and
commits; a refused move or any error leaves the store as it was (exit 2).
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date

import click

from .common import (
    FILE_OR_DASH,
    PROCESS_DATE,
    binary_stdout,
    emit_json,
    format_option,
    is_dash,
    load,
    one_document_on_stdout,
    report_errors,
    setup_options,
    store_option,
    store_wait,
    who_options,
)
from .main import cli


def date_option(f=None, *, required: bool = False, help: str = "Date of the operation."):
    def deco(g):
        return click.option("--date", "on", type=PROCESS_DATE, required=required,
                            default=None if required else date.today,
                            show_default=None if required else "today", help=help)(g)
    return deco(f) if f is not None else deco


def engine_option(f):
    return click.option("--engine", "backend", type=click.Choice(["durable", "python"]),
                        default="durable", show_default=True,
                        help="Rule matching back end for the rules this command runs.")(f)


class _Unchanged(Exception):
    """Raised inside a session whose command changed nothing: no new generation."""

    def __init__(self, result):
        self.result = result


@contextmanager
def _change(store_dir, setup, who, reason, command, process="CSR", scope=None, on=None):
    """A store session on the accounts of ``scope`` and the base cause of the manual
    operation done in it."""
    from ..desk import manual_cause
    from ..storeops import store_session

    with store_session(store_dir, setup, who, command, reason, scope=scope, process_date=on,
                       wait=store_wait()) as s:
        yield s, manual_cause(setup, s.run_id, who, reason, process)


def _apply(store_dir, setup, who, reason, command, fn, fmt, process="CSR", scope=None, on=None):
    """Run ``fn(ledger, cause) -> Result`` in a session on the accounts of ``scope``, commit if
    it changed something, print (deprules.desk.perform, which the service runs too)."""
    from ..desk import perform

    result = perform(store_dir, setup, who, reason, command, fn, process, scope, on,
                     store_wait())
    _emit(result, fmt)
    return result


def _sa(*sa_ids):
    from ..storeops import by_sa

    return by_sa(*sa_ids)


def _id(kind, *ids):
    from ..storeops import by_id

    return by_id(kind, *ids)


def _emit(result, fmt):
    if fmt == "json":
        emit_json(result.as_dict())
    else:
        click.echo(result.render())


def _amount(text, setup, what="--amount"):
    from ..desk import parse_amount

    return parse_amount(text, setup, what)


# ---- refund ----------------------------------------------------------------------------------
@cli.group("refund")
def refund_group():
    """Refund a cash deposit by hand (the full refund is sa stop, bill final, bill complete)."""


@refund_group.command("partial")
@click.argument("sa_id")
@click.option("--amount", required=True, help="Amount to refund, e.g. 120.00.")
@click.option("--apply-to-debt", is_flag=True,
              help="Pay the account's same-class debt first (APPLYDEPOSIT order).")
@date_option
@store_option
@who_options
@setup_options
@format_option
@report_errors
def refund_partial(sa_id, amount, apply_to_debt, on, store_dir, who, reason, config_dir,
                   rules_dir, fmt):
    """Refund part of an active cash deposit SA (seed 1.1 - 1.9); the SA stays active.

    With --apply-to-debt the amount first pays the account's debt on SAs of the same deposit
    class by transfer adjustments; the rest goes out by an A/P refund adjustment and its check
    request. One current-only adjustment puts the deposit's current balance back, and the
    total deposit amount drops by AMOUNT. When the A/P part is above the approval threshold
    the whole refund waits for approval (deprules adjust approve) and nothing posts until then.
    """
    from .. import desk

    setup = load(config_dir, rules_dir)
    minor = _amount(amount, setup)
    _apply(store_dir, setup, who, reason, f"refund partial {sa_id} {amount}",
           lambda ledger, cause: desk.partial_refund(ledger, setup, sa_id, minor, on, cause,
                                                       apply_to_debt), fmt,
           scope=_sa(sa_id), on=on)


# ---- sa -------------------------------------------------------------------------------------
@cli.group("sa")
def sa_group():
    """Stop and close service agreements by hand."""


@sa_group.command("pending-stop")
@click.argument("sa_id")
@date_option(required=True, help="Stop date (SAACT stops the SA on that date).")
@store_option
@who_options
@setup_options
@format_option
@report_errors
def sa_pending_stop(sa_id, on, store_dir, who, reason, config_dir, rules_dir, fmt):
    """Set an active SA to pending stop with a stop date (seed 2.0); SAACT (or sa stop)
    stops it. On a pending-stop SA, changes its stop date."""
    from .. import desk

    setup = load(config_dir, rules_dir)
    today = date.today()  # the operation date, journaled; --date is the stop date
    _apply(store_dir, setup, who, reason, f"sa pending-stop {sa_id} {on}",
           lambda ledger, cause: desk.set_pending_stop(ledger, setup, sa_id, on, today,
                                                         cause), fmt, scope=_sa(sa_id), on=today)


@sa_group.command("stop")
@click.argument("sa_id")
@date_option(required=True, help="Stop date and process date of the stop processing.")
@engine_option
@store_option
@who_options
@setup_options
@format_option
@report_errors
def sa_stop(sa_id, on, backend, store_dir, who, reason, config_dir, rules_dir, fmt):
    """Stop an SA now (seed 2.6) and run its stop processing (STOP rules: interest, sync-up).

    An active or pending-stop SA becomes stopped (a pending stop date later than --date moves
    to --date); an SA already stopped only gets its stop processing.
    """
    from .. import desk

    setup = load(config_dir, rules_dir)
    _apply(store_dir, setup, who, reason, f"sa stop {sa_id} {on}",
           lambda ledger, cause: desk.manual_stop(ledger, setup, sa_id, on, cause, backend),
           fmt, scope=_sa(sa_id), on=on)


@sa_group.command("close")
@click.argument("sa_id")
@date_option
@store_option
@who_options
@setup_options
@format_option
@report_errors
def sa_close(sa_id, on, store_dir, who, reason, config_dir, rules_dir, fmt):
    """Close a stopped cash deposit SA whose final bill is complete and whose payoff and
    current balances are both 0.00 (seed 3.0.2.6, 3.1.2.8)."""
    from .. import desk

    setup = load(config_dir, rules_dir)
    _apply(store_dir, setup, who, reason, f"sa close {sa_id}",
           lambda ledger, cause: desk.close_sa(ledger, setup, sa_id, on, cause), fmt,
           scope=_sa(sa_id), on=on)


# ---- bill -------------------------------------------------------------------------------------
@cli.group("bill")
def bill_group():
    """Final bill of a stopped cash deposit SA, and its completion."""


@bill_group.command("final")
@click.argument("sa_id")
@date_option
@store_option
@who_options
@setup_options
@format_option
@report_errors
def bill_final(sa_id, on, store_dir, who, reason, config_dir, rules_dir, fmt):
    """Generate and freeze the final bill segment of a stopped deposit SA (seed 2.7, 2.8).

    The SA must be stopped with its stop processing done (interest settled, current balance
    synced to payoff).
    """
    from .. import desk

    setup = load(config_dir, rules_dir)
    _apply(store_dir, setup, who, reason, f"bill final {sa_id}",
           lambda ledger, cause: desk.final_bill(ledger, setup, sa_id, on, cause), fmt,
           scope=_sa(sa_id), on=on)


@bill_group.command("complete")
@click.argument("bill_id")
@date_option
@engine_option
@store_option
@who_options
@setup_options
@format_option
@report_errors
def bill_complete(bill_id, on, backend, store_dir, who, reason, config_dir, rules_dir, fmt):
    """Complete a frozen final bill (seed 2.9): the BILLING rules run the deposit class's
    refund method (APPLYDEPOSIT transfers, or a DEPREF To Do) and complete it."""
    from .. import desk

    setup = load(config_dir, rules_dir)
    _apply(store_dir, setup, who, reason, f"bill complete {bill_id}",
           lambda ledger, cause: desk.complete_bill(ledger, setup, bill_id, on, cause,
                                                      backend), fmt,
           scope=_id("bill", bill_id), on=on)


# ---- todo -----------------------------------------------------------------------------------
TODO_STATUSES = ["open", "being_worked", "complete"]


@cli.group("todo")
def todo_group():
    """List and work To Do entries (DEPREF, NCD-REDEEM, WO-MANUAL, ADJ-APPROVAL)."""


@todo_group.command("list")
@click.option("--type", "todo_type", help="Only this To Do type, e.g. DEPREF.")
@click.option("--status", type=click.Choice(TODO_STATUSES), help="Only this status.")
@click.option("--account", "account_id", help="Only this account.")
@store_option
@setup_options
@format_option
@report_errors
def todo_list(todo_type, status, account_id, store_dir, config_dir, rules_dir, fmt):
    """To Do entries of the store, most urgent first: by the priority of their To Do type
    (todo_types.yaml, 1 first), then oldest first."""
    from ..desk import list_todos
    from ..storeops import open_ledger, todo_scope

    setup = load(config_dir, rules_dir)
    ledger, _ = open_ledger(store_dir, setup, todo_scope(todo_type, status, account_id))
    rows = list_todos(ledger, todo_type, status, account_id, setup)
    if fmt == "json":
        emit_json({"todos": rows})
        return
    for t in rows:
        who = f" ({t['worked_by']})" if t["worked_by"] and t["status"] == "being_worked" else ""
        prio = f"P{t['priority']}" if t["priority"] is not None else "P-"
        click.echo(f"{t['todo_id']:<18} {t['todo_type']:<13} {prio:<3} {t['status']:<13} "
                   f"{t['sa_id']:<10} {t['role']}{who}: {t['message']}")
    click.echo(f"{len(rows)} To Do(s)")


@todo_group.command("show")
@click.argument("todo_id")
@store_option
@setup_options
@format_option
@report_errors
def todo_show(todo_id, store_dir, config_dir, rules_dir, fmt):
    """One To Do with its account's SAs (and the adjustment it asks about)."""
    from ..desk import show_todo
    from ..storeops import open_ledger

    setup = load(config_dir, rules_dir)
    ledger, _ = open_ledger(store_dir, setup, _id("todo", todo_id))
    t = show_todo(ledger, setup, todo_id)
    if fmt == "json":
        emit_json(t)
        return
    click.echo(f"To Do {t['todo_id']} {t['todo_type']} for {t['role']}: {t['status']}"
               + (f" (worked by {t['worked_by']})" if t["worked_by"] else ""))
    click.echo(f"  {t['message']}")
    click.echo(f"  account {t['account_id']}, SA {t['sa_id']}, created {t['created_on']}")
    adj = t.get("adjustment")
    if adj:
        click.echo(f"  adjustment {adj['adjustment_id']} {adj['category']} {adj['amount']} "
                   f"{adj['status']}, created by {adj['user']}")
    for sa in t["service_agreements"]:
        total = f"  total {sa['total_deposit_amount']}" if sa["total_deposit_amount"] else ""
        click.echo(f"  {sa['sa_id']:<12} {sa['sa_type']:<8} {sa['status']:<13} payoff "
                   f"{sa['payoff_balance']:>10}  current {sa['current_balance']:>10}{total}")


@todo_group.command("work")
@click.argument("todo_id")
@date_option
@store_option
@who_options
@setup_options
@format_option
@report_errors
def todo_work(todo_id, on, store_dir, who, reason, config_dir, rules_dir, fmt):
    """Take an open To Do: it becomes being_worked by --by (seed 3.0.2.1)."""
    from .. import desk

    setup = load(config_dir, rules_dir)
    _apply(store_dir, setup, who, reason, f"todo work {todo_id}",
           lambda ledger, cause: desk.work_todo(ledger, setup, todo_id, on, cause), fmt,
           scope=_id("todo", todo_id), on=on)


@todo_group.command("complete")
@click.argument("todo_id")
@date_option
@store_option
@who_options
@setup_options
@format_option
@report_errors
def todo_complete(todo_id, on, store_dir, who, reason, config_dir, rules_dir, fmt):
    """Complete a To Do (an ADJ-APPROVAL To Do completes by adjust approve or reject)."""
    from .. import desk

    setup = load(config_dir, rules_dir)
    _apply(store_dir, setup, who, reason, f"todo complete {todo_id}",
           lambda ledger, cause: desk.complete_todo(ledger, setup, todo_id, on, cause), fmt,
           scope=_id("todo", todo_id), on=on)


# ---- adjust -----------------------------------------------------------------------------------
@cli.group("adjust")
def adjust_group():
    """Adjustments by hand: transfer, create, freeze, cancel, approve, reject."""


@adjust_group.command("transfer")
@click.argument("from_sa")
@click.argument("to_sa")
@click.option("--amount", required=True, help="Credit to move, e.g. 50.00.")
@click.option("--overpay", is_flag=True,
              help="Allow more than TO_SA owes: the excess stays on TO_SA as a credit.")
@date_option
@store_option
@who_options
@setup_options
@format_option
@report_errors
def adjust_transfer(from_sa, to_sa, amount, overpay, on, store_dir, who, reason, config_dir,
                    rules_dir, fmt):
    """Move credit from FROM_SA to pay TO_SA: a frozen transfer pair summing to zero (seed
    3.0.2.2, 3.0.2.3).

    Both SAs must be on one account and in one deposit class, and the amount at most what
    TO_SA owes; with --overpay a larger amount leaves the excess on TO_SA as a credit (the
    result says how much)."""
    from .. import desk

    setup = load(config_dir, rules_dir)
    minor = _amount(amount, setup)
    command = f"adjust transfer {from_sa} {to_sa} {amount}" + (" --overpay" if overpay else "")
    _apply(store_dir, setup, who, reason, command,
           lambda ledger, cause: desk.transfer(ledger, setup, from_sa, to_sa, minor, on, cause,
                                                 overpay=overpay),
           fmt, scope=_sa(from_sa, to_sa), on=on)


@adjust_group.command("create")
@click.argument("sa_id")
@click.option("--type", "adjustment_type", required=True,
              help="Adjustment type code (config/adjustment_types.yaml), e.g. DEPAPREF.")
@click.option("--amount", required=True,
              help="Amount; positive is a charge. An A/P refund is positive (the check).")
@click.option("--no-freeze", is_flag=True, help="Leave it incomplete (adjust freeze later).")
@date_option
@store_option
@who_options
@setup_options
@format_option
@report_errors
def adjust_create(sa_id, adjustment_type, amount, no_freeze, on, store_dir, who, reason,
                  config_dir, rules_dir, fmt):
    """Create an adjustment on an SA (seed 3.0.2.4, 3.0.2.5) and freeze it.

    An A/P refund type makes its check request when it freezes. Above its approval
    profile's threshold it waits for approval instead (an ADJ-APPROVAL To Do).
    """
    from .. import desk

    setup = load(config_dir, rules_dir)
    minor = _amount(amount, setup)
    _apply(store_dir, setup, who, reason, f"adjust create {sa_id} {adjustment_type} {amount}",
           lambda ledger, cause: desk.create_adjustment(ledger, setup, sa_id, adjustment_type,
                                                          minor, on, cause, not no_freeze), fmt,
           scope=_sa(sa_id), on=on)


def _adjust_simple(name: str, fn_name: str, doc: str):
    @adjust_group.command(name, help=doc)
    @click.argument("adjustment_id")
    @date_option
    @store_option
    @who_options
    @setup_options
    @format_option
    @report_errors
    def command(adjustment_id, on, store_dir, who, reason, config_dir, rules_dir, fmt):
        from .. import desk

        setup = load(config_dir, rules_dir)
        fn = getattr(desk, fn_name)
        _apply(store_dir, setup, who, reason, f"adjust {name} {adjustment_id}",
               lambda ledger, cause: fn(ledger, setup, adjustment_id, on, cause), fmt,
               scope=_id("adjustment", adjustment_id), on=on)

    return command


_adjust_simple("freeze", "freeze_adjustment",
               "Freeze an incomplete adjustment (posting its FT; an A/P refund makes its check "
               "request). Above its approval threshold it waits for approval instead.")
_adjust_simple("cancel", "cancel_adjustment",
               "Cancel an adjustment: a frozen one is reversed by an FT. A transfer cancels with "
               "its twin, a partial refund as a whole; an A/P refund only while its check request "
               "is not_selected.")
_adjust_simple("approve", "approve_adjustment",
               "Approve an adjustment waiting for approval, as --by (never its creator): it "
               "freezes (an A/P refund makes its check request) and its ADJ-APPROVAL To Do "
               "completes.")
_adjust_simple("reject", "reject_adjustment",
               "Reject an adjustment waiting for approval, as --by (never its creator): it is "
               "canceled without posting and its ADJ-APPROVAL To Do completes.")


# ---- deposit ------------------------------------------------------------------------------------
@cli.group("deposit")
def deposit_group():
    """Cash deposit amounts."""


@deposit_group.command("set-total")
@click.argument("sa_id")
@click.option("--amount", required=True, help="Total deposit amount to hold, e.g. 80.00.")
@date_option
@store_option
@who_options
@setup_options
@format_option
@report_errors
def deposit_set_total(sa_id, amount, on, store_dir, who, reason, config_dir, rules_dir, fmt):
    """Set the total deposit amount (the amount the utility wants to hold) of a cash deposit SA
    (seed 1.3)."""
    from .. import desk

    setup = load(config_dir, rules_dir)
    minor = _amount(amount, setup)
    _apply(store_dir, setup, who, reason, f"deposit set-total {sa_id} {amount}",
           lambda ledger, cause: desk.set_total_deposit(ledger, setup, sa_id, minor, on, cause),
           fmt, scope=_sa(sa_id), on=on)


# ---- ap ---------------------------------------------------------------------------------------
CHECK_STATUSES = ["not_selected", "requested", "paid", "canceled", "hold", "void", "returned"]


@cli.group("ap")
def ap_group():
    """The A/P interface: check requests out (export), payments back in (paid)."""


@ap_group.command("list")
@click.option("--status", type=click.Choice(CHECK_STATUSES), help="Only this status.")
@store_option
@setup_options
@format_option
@report_errors
def ap_list(status, store_dir, config_dir, rules_dir, fmt):
    """Check requests of the store."""
    from ..desk import list_checks
    from ..storeops import checks_scope, open_ledger

    setup = load(config_dir, rules_dir)
    ledger, _ = open_ledger(store_dir, setup, checks_scope(status))
    rows = list_checks(ledger, setup, status)
    if fmt == "json":
        emit_json({"check_requests": rows})
        return
    for r in rows:
        click.echo(f"{r['request_id']:<18} {r['status']:<13} {r['amount']:>10} to "
                   f"{r['payee_account_id']:<10} {r['date']} adjustment {r['adjustment_id']}")
    click.echo(f"{len(rows)} check request(s)")


@ap_group.command("export")
@click.option("--out", "out_file", type=FILE_OR_DASH, required=True, metavar="FILE",
              help="CSV file to write (must not exist); - writes it to standard output.")
@date_option
@store_option
@who_options
@setup_options
@format_option
@report_errors
def ap_export(out_file, on, store_dir, who, reason, config_dir, rules_dir, fmt):
    """Write every not_selected check request to a CSV file for A/P and mark them requested
    (seed 1.7). Columns: request_id, payee_account_id, payee_name, amount, date (of the
    request), adjustment_id, sa_id. From then on their adjustments cannot be canceled.

    With --out - the file goes to standard output (and the summary to standard error); the
    requests are marked requested only once it is all written and flushed: when standard
    output fails (a closed pipe, a full disk) nothing is marked and the command exits 2.
    """
    from .. import apfiles, desk
    from ..errors import InputError, StoreError
    from ..ledger.sqlstore import Store

    setup = load(config_dir, rules_dir)
    to_stdout = is_dash(out_file)
    if to_stdout:
        one_document_on_stdout(fmt, "--out")
        target = "standard output"
    else:
        target = str(out_file)
    store = Store.open(store_dir)
    for note in apfiles.deliver_pending(store, store_wait()):
        click.echo(note, err=True)
    if not to_stdout:
        if out_file.exists():
            raise InputError(f"{out_file} exists; A/P files are never overwritten")
        tmp = apfiles.tmp_name(out_file)
        tmp.unlink(missing_ok=True)  # debris of an export killed before its commit
    scope = lambda r: r.accounts_where("checks", "status = 'not_selected'")  # noqa: E731
    batch = None
    try:
        with _change(store_dir, setup, who, reason,
                     f"ap export {'-' if to_stdout else out_file}", "AP", scope, on) as (s, cause):
            rows, summary = desk.ap_export(s.ledger, setup, on, cause)
            text = apfiles.csv_text(rows)
            if to_stdout:
                # all of it written and flushed before the commit marks anything requested;
                # nothing is left to deliver afterwards
                _write_stdout(text)
                sha = apfiles.sha256(text)
            else:
                sha = apfiles.write_synced(tmp, text)  # the whole file on disk before the commit
            if not rows:
                raise _Unchanged(None)
            total = sum(c.amount for st in s.ledger.states.values() for c in st.checks
                        if c.check_id in {r["request_id"] for r in rows})
            batch = s.run_id
            apfiles.record(s.writer.conn, batch, s.generation + 1,
                           None if to_stdout else out_file, len(rows), total, sha, text)
            s.summary.update(summary, batch=batch)
    except _Unchanged:
        pass
    except BaseException:
        if not to_stdout:
            tmp.unlink(missing_ok=True)
        raise
    if not to_stdout:
        try:
            apfiles.publish(tmp, out_file)
            if batch:
                apfiles.mark_delivered(store, batch, store_wait())
        except OSError as e:
            if not batch:
                raise
            raise StoreError(f"the check requests are marked requested (A/P batch {batch}) but "
                             f"{out_file} could not be made from {tmp}: {e}; fix that and run "
                             "ap export again: it delivers the batch first") from e
    data = {"ok": True, "action": "ap_export", "file": "-" if to_stdout else str(out_file),
            **summary, "request_ids": [r["request_id"] for r in rows]}
    if fmt == "json":
        emit_json(data)
    else:
        click.echo(f"exported {summary['requests']} check request(s) for {summary['amount']} to "
                   f"{target}; now requested", err=to_stdout)


def _write_stdout(text: str) -> None:
    """Write ``text`` to standard output and flush it; a failure is an input/output error."""
    from ..errors import InputError

    try:
        out = binary_stdout()
        out.write(text.encode("utf-8"))
        out.flush()
    except (BrokenPipeError, OSError) as exc:
        raise InputError(f"standard output failed before the A/P file was all written "
                         f"({exc.strerror or exc}); no check request was marked "
                         "requested") from None


def _hold(check_id, hold, on, store_dir, who, reason, config_dir, rules_dir, fmt):
    from .. import desk

    setup = load(config_dir, rules_dir)
    _apply(store_dir, setup, who, reason, f"ap {'hold' if hold else 'release'} {check_id}",
           lambda ledger, cause: desk.hold_check(ledger, setup, check_id, on, cause, hold),
           fmt, process="AP", scope=_id("check", check_id), on=on)


@ap_group.command("hold")
@click.argument("check_id")
@date_option
@store_option
@who_options
@setup_options
@format_option
@report_errors
def ap_hold(check_id, on, store_dir, who, reason, config_dir, rules_dir, fmt):
    """Hold CHECK_ID out of the A/P export (status hold; seed 1.7), e.g. while an address is
    checked. Only a not_selected request can be held; `ap release` gives it back."""
    _hold(check_id, True, on, store_dir, who, reason, config_dir, rules_dir, fmt)


@ap_group.command("release")
@click.argument("check_id")
@date_option
@store_option
@who_options
@setup_options
@format_option
@report_errors
def ap_release(check_id, on, store_dir, who, reason, config_dir, rules_dir, fmt):
    """Release a held CHECK_ID: back to not_selected, so the next `ap export` takes it."""
    _hold(check_id, False, on, store_dir, who, reason, config_dir, rules_dir, fmt)


@ap_group.command("paid")
@click.argument("file", type=FILE_OR_DASH)
@date_option
@store_option
@who_options
@setup_options
@format_option
@report_errors
def ap_paid(file, on, store_dir, who, reason, config_dir, rules_dir, fmt):
    """Mark the check requests listed in FILE (a CSV with a request_id column, such as an
    export; an amount column is checked too) paid (seed 1.8, 1.9). Every line is checked
    first: an unknown request or one not in requested status refuses the whole file.
    FILE - reads standard input (named <stdin> in messages)."""
    from .. import desk

    setup = load(config_dir, rules_dir)
    source = "<stdin>" if is_dash(file) else str(file)
    rows = desk.read_ap_csv("-" if is_dash(file) else file)
    ids = [(row.get("request_id") or "").strip() for _, row in rows]
    with _change(store_dir, setup, who, reason, f"ap paid {'-' if is_dash(file) else file}",
                 "AP", _id("check", *ids), on) as (s, cause):
        summary = desk.ap_paid(s.ledger, setup, rows, on, cause, source=source)
        s.summary.update({"paid": summary["paid"], "amount": summary["amount"]})
    if fmt == "json":
        emit_json({"ok": True, "action": "ap_paid", "file": "-" if is_dash(file) else str(file),
                   **summary})
    else:
        click.echo(f"marked {summary['paid']} check request(s) paid for {summary['amount']}")
