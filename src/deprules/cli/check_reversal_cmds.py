"""deprules ap void / ap returned: a check that did not reach the customer (seed 1.9)."""

from __future__ import annotations

import click

from .common import format_option, load, report_errors, setup_options, store_option, who_options
from .manual_cmds import _apply, _id, ap_group, date_option


def _reverse(check_id, to, on, store_dir, who, reason, config_dir, rules_dir, fmt):
    from ..check_reversal import reverse_check

    setup = load(config_dir, rules_dir)
    _apply(store_dir, setup, who, reason, f"ap {'void' if to == 'void' else 'returned'} {check_id}",
           lambda ledger, cause: reverse_check(ledger, setup, check_id, to, on, cause),
           fmt, process="AP", scope=_id("check", check_id), on=on)


@ap_group.command("void")
@click.argument("check_id")
@date_option
@store_option
@who_options
@setup_options
@format_option
@report_errors
def ap_void(check_id, on, store_dir, who, reason, config_dir, rules_dir, fmt):
    """A/P voids CHECK_ID (requested or paid): the refund goes back on its SA.

    A new adjustment of the refund's type for minus its amount reverses the refund's FT (no
    check request, no approval); a closed SA is reactivated; the check request becomes void.
    --reason is required and kept in the journal (docs/csr.md, "Void and returned checks")."""
    _reverse(check_id, "void", on, store_dir, who, reason, config_dir, rules_dir, fmt)


@ap_group.command("returned")
@click.argument("check_id")
@date_option
@store_option
@who_options
@setup_options
@format_option
@report_errors
def ap_returned(check_id, on, store_dir, who, reason, config_dir, rules_dir, fmt):
    """A paid CHECK_ID came back (undeliverable, not cashed): the refund goes back on its SA.

    As `ap void`, for a paid check; the check request becomes returned. --reason is
    required and kept in the journal."""
    _reverse(check_id, "returned", on, store_dir, who, reason, config_dir, rules_dir, fmt)
