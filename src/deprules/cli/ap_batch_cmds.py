"""deprules ap batches / ap resend: the A/P files already exported, and sending one again."""

from __future__ import annotations

import click

from .common import (FILE_OR_DASH, emit_json, format_option, is_dash, load, one_document_on_stdout,
                     report_errors, setup_options, store_option, store_wait, who_options)
from .manual_cmds import _write_stdout, ap_group


def _batches(store_dir, mu: int) -> list[dict]:
    from ..ledger.sqlstore import Store
    from ..money import format_money

    store = Store.open(store_dir)
    with store.reader() as r:
        rows = r.conn.execute("SELECT batch_id, seq, file, requests, amount, sha256, delivered "
                              "FROM ap_exports ORDER BY seq").fetchall()
    return [{"batch_id": b, "generation": seq, "file": f, "requests": n,
             "amount": format_money(a, mu), "sha256": sha, "delivered": bool(d)}
            for b, seq, f, n, a, sha, d in rows]


@ap_group.command("batches")
@store_option
@setup_options
@format_option
@report_errors
def ap_batches(store_dir, config_dir, rules_dir, fmt):
    """The A/P files exported so far (ap export): batch id, file, requests, amount, SHA-256
    of the content, and whether it was delivered. The store keeps each file's content, so
    `ap resend BATCH` can write it again."""
    setup = load(config_dir, rules_dir)
    rows = _batches(store_dir, setup.config.installation.minor_units)
    if fmt == "json":
        emit_json({"batches": rows})
        return
    for b in rows:
        state = "delivered" if b["delivered"] else "NOT DELIVERED (ap export delivers it)"
        click.echo(f"{b['batch_id']:<14} {b['requests']:>6} request(s) {b['amount']:>14}  "
                   f"{b['file']}  {state}")
    click.echo(f"{len(rows)} A/P batch(es)")


@ap_group.command("resend")
@click.argument("batch_id")
@click.option("--out", "out_file", type=FILE_OR_DASH, required=True, metavar="FILE",
              help="CSV file to write (must not exist); - writes it to standard output.")
@store_option
@who_options
@setup_options
@format_option
@report_errors
def ap_resend(batch_id, out_file, store_dir, who, reason, config_dir, rules_dir, fmt):
    """Write an exported A/P file again, byte for byte (when A/P lost it): the content the
    store kept when BATCH_ID was exported, checked against its SHA-256. Nothing about the
    check requests changes; the resend is journaled (who, when, why)."""
    from .. import apfiles
    from ..errors import InputError, StoreError
    from ..storeops import store_session

    setup = load(config_dir, rules_dir)
    to_stdout = is_dash(out_file)
    if to_stdout:
        one_document_on_stdout(fmt, "--out")
    elif out_file.exists():
        raise InputError(f"{out_file} exists; A/P files are never overwritten")
    with store_session(store_dir, setup, who, f"ap resend {batch_id} "
                       f"{'-' if to_stdout else out_file}", reason, scope=(), kind="manual",
                       wait=store_wait()) as s:
        row = s.writer.conn.execute("SELECT content, sha256, requests FROM ap_exports WHERE "
                                    "batch_id = ?", (batch_id,)).fetchone()
        if row is None:
            known = [r[0] for r in s.writer.conn.execute(
                "SELECT batch_id FROM ap_exports ORDER BY seq")]
            raise InputError(f"no A/P batch {batch_id!r} in store {store_dir}; exported: "
                             f"{', '.join(known) or 'none'} (deprules ap batches)")
        content, sha, requests = row
        if apfiles.sha256(content) != sha:
            raise StoreError(f"A/P batch {batch_id}: the stored content does not match its "
                             "SHA-256; the store is damaged (run deprules ledger check)")
        if to_stdout:
            _write_stdout(content)
        else:
            apfiles.write_synced(out_file, content)
        s.summary.update({"batch": batch_id, "requests": requests, "sha256": sha})
    message = (f"resent A/P batch {batch_id} ({requests} request(s), sha256 {sha[:12]}) to "
               f"{'standard output' if to_stdout else out_file}")
    if fmt == "json":
        emit_json({"ok": True, "action": "ap_resend", "batch_id": batch_id,
                   "requests": requests, "sha256": sha,
                   "file": "-" if to_stdout else str(out_file)})
    else:
        click.echo(message, err=to_stdout)
