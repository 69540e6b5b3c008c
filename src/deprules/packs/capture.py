"""``deprules pack capture``: real accounts -> scenarios that pin today's behaviour.

Each account of the extract becomes one scenario: given written inline from the
extract (or, with ``reference``, as ``from_extract:``), when = the cycle on the
process date, expect = what the cycle produces now (every SA's status and
balances, adjustments, checks, To Dos and the rules that fired).
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from ..errors import InputError
from ..ledger.model import AccountState
from ..money import format_money
from ..workspace import load_states
from .loader import display_path, load_pack
from .runner import run_scenarios
from .setup import SetupCache
from .update import plan_updates, scalar

SCHEMA = Path("schemas") / "pack.schema.json"


def _flow(item: dict) -> str:
    return "{" + ", ".join(f"{k}: {scalar(k, v)}" for k, v in item.items()
                           if v is not None) + "}"


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def given_lines(st: AccountState, mu: int, indent: str) -> list[str]:
    m = lambda x: format_money(x, mu)  # noqa: E731
    a = st.account
    acct = {"account_id": a.account_id, "customer_class": a.customer_class,
            "credit_rating": int(a.credit_rating),
            "late_payments_12m": int(a.late_payments_12m or 0),
            "do_not_refund": True if a.do_not_refund else None,
            "cc_postpone_date": _iso(a.cc_postpone_date)}
    lines = [f"{indent}given:", f"{indent}  account: {_flow(acct)}",
             f"{indent}  service_agreements:"]
    for sa in sorted(st.sas.values(), key=lambda s: s.sa_id):
        row = {"sa_id": sa.sa_id, "sa_type": sa.sa_type, "status": sa.status,
               "start_date": _iso(sa.start_date), "stop_date": _iso(sa.stop_date),
               "current_balance": m(sa.current_balance), "payoff_balance": m(sa.payoff_balance),
               "total_deposit_amount": m(sa.total_deposit_amount) if sa.total_deposit_amount
               else None,
               "last_interest_date": _iso(sa.last_interest_date)
               if sa.last_interest_date and sa.last_interest_date != sa.start_date else None}
        lines.append(f"{indent}    - {_flow(row)}")
    if st.ncds:
        lines.append(f"{indent}  non_cash_deposits:")
        for n in st.ncds:
            lines.append(f"{indent}    - " + _flow({
                "ncd_id": n.ncd_id, "deposit_class": n.deposit_class, "ncd_type": n.ncd_type,
                "amount": m(n.amount), "start_date": _iso(n.start_date),
                "end_date": _iso(n.end_date)}))
    if st.history:
        lines.append(f"{indent}  financial_transactions:")
        for f in st.history:
            lines.append(f"{indent}    - " + _flow({
                "ft_id": f.ft_id, "sa_id": f.sa_id, "date": _iso(f.date),
                "payoff_amount": m(f.payoff_amount), "current_amount": m(f.current_amount)}))
    return lines


def capture_text(account_ids: list[str], extract_dir: Path, as_of: date, cache: SetupCache,
                 out: Path, reference: bool = False, prefix: str = "capture") -> str:
    """The text of a pack file with one passing scenario per account."""
    setup = cache.base
    mu = setup.config.installation.minor_units
    states = load_states(extract_dir, setup.config, account_ids=account_ids)
    missing = [a for a in account_ids if a not in states]
    if missing:
        raise InputError(f"account(s) {', '.join(missing)} not in the extract {extract_dir}")
    out = Path(out)
    lines = []
    schema = Path.cwd() / SCHEMA
    if schema.exists() and Path.cwd() in out.resolve().parents:  # a file of this project
        rel = os.path.relpath(schema, out.resolve().parent)
        lines.append(f"# yaml-language-server: $schema={rel}")
    lines += [f"# Captured by `deprules pack capture` from {extract_dir} on {as_of.isoformat()}.",
              "# The expectations are what the rules did then: review them before relying "
              "on them.",
              f"pack: {scalar(None, out.stem)}",
              f"description: {scalar(None, 'Accounts captured from ' + str(extract_dir))}",
              "scenarios:"]
    rel_extract = os.path.relpath(Path(extract_dir).resolve(), out.resolve().parent)
    for aid in account_ids:
        lines.append(f"  - name: {scalar(None, f'{prefix}-{aid}-{as_of.isoformat()}')}")
        lines.append(f"    description: {scalar(None, f'Account {aid} as in the extract')}")
        if reference:
            lines.append("    given:")
            lines.append(f"      from_extract: {{dir: {scalar(None, rel_extract)}, "
                         f"accounts: [{scalar(None, aid)}]}}")
        else:
            lines += given_lines(states[aid], mu, "    ")
        lines.append(f"    when: {{date: {scalar(None, as_of.isoformat())}, run: cycle}}")
    text = "\n".join(lines) + "\n"
    # run the scenarios and write what they produce as their expectations
    pack = load_pack(out, rule_ids=cache.rule_ids(), display=display_path(out), text=text)
    results = run_scenarios(pack.scenarios, cache)
    errors = [r for r in results if r.status == "error"]
    if errors:
        raise InputError("capture failed: " + "; ".join(p.render() for r in errors
                                                        for p in r.problems))
    updates = plan_updates(results)
    return updates[0].new_text if updates else text
