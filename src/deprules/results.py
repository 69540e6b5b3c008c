"""Plain result objects for commands, and their JSON form (DESIGN.md section 1.5)."""

from __future__ import annotations

from datetime import date

from .ledger.model import AccountState
from .money import format_money
from .runner import AccountRun


def account_json(state: AccountState, mu: int, config) -> dict:
    m = lambda x: format_money(x, mu)  # noqa: E731
    return {
        "service_agreements": [
            {"sa_id": sa.sa_id, "sa_type": sa.sa_type, "status": sa.status,
             "current_balance": m(sa.current_balance), "payoff_balance": m(sa.payoff_balance),
             "stop_date": sa.stop_date.isoformat() if sa.stop_date else None,
             "total_deposit_amount": m(sa.total_deposit_amount)
             if config.sa_types[sa.sa_type].is_cash_deposit else None,
             "last_interest_date": sa.last_interest_date.isoformat()
             if sa.last_interest_date else None}
            for sa in sorted(state.sas.values(), key=lambda s: s.sa_id)],
        "adjustments": [
            {"adjustment_id": a.adjustment_id, "sa_id": a.sa_id,
             "adjustment_type": a.adjustment_type, "category": a.category, "amount": m(a.amount),
             "status": a.status, "created_by": a.created_by, "rule": a.cause.rule,
             "seed_step": a.cause.seed_step, "process": a.cause.process,
             "twin_id": a.twin_id or None}
            for a in state.adjustments],
        "bills": [
            {"bill_id": b.bill_id, "sa_id": b.sa_id, "amount": m(b.amount), "status": b.status,
             "due_date": b.due_date.isoformat() if b.due_date else None}
            for b in state.bills],
        "checks": [
            {"check_id": c.check_id, "sa_id": c.sa_id, "payee_account_id": c.payee_account_id,
             "amount": m(c.amount), "status": c.status, "adjustment_id": c.adjustment_id}
            for c in state.checks],
        "todos": [
            {"todo_id": t.todo_id, "todo_type": t.todo_type, "sa_id": t.sa_id, "role": t.role,
             "status": t.status, "message": t.message}
            for t in state.todos],
    }


def evaluate_json(run: AccountRun, as_of: date, config_hash: str, mu: int, config,
                  explain: bool) -> dict:
    out = {"account_id": run.state.account_id, "as_of": as_of.isoformat(),
           "config_hash": config_hash}
    out.update(account_json(run.state, mu, config))
    out["trace"] = [t.as_dict() for t in run.trace]
    if explain:
        out["why_not"] = [w.as_dict() for w in run.why_not]
    return out


def evaluate_text(run: AccountRun, before: dict, as_of: date, config_hash: str, mu: int, config,
                  explain: bool) -> str:
    st = run.state
    m = lambda x: format_money(x, mu)  # noqa: E731
    acct = st.account
    lines = [f"Account {acct.account_id} ({acct.customer_class}, credit rating "
             f"{acct.credit_rating}, late payments {acct.late_payments_12m}"
             f"{', do not refund' if acct.do_not_refund else ''}) on {as_of.isoformat()}",
             f"configuration {config_hash[:12]}", ""]
    lines.append("Before:")
    for sa_id, (status, payoff, current) in sorted(before.items()):
        sa = st.sas[sa_id]
        lines.append(f"  {sa_id:<12} {sa.sa_type:<8} {status:<13} payoff {m(payoff):>10}  "
                     f"current {m(current):>10}")
    lines.append("")
    if not run.trace:
        lines.append("Nothing happened: no rule fired.")
    else:
        lines.append("What happened:")
        for t in run.trace:
            lines.append(f"  [{t.process} {t.seed_step}] {t.sa_id}: {t.outcome}  ({t.rule})")
            seen_inputs = ", ".join(f"{k}={v}" for k, v in t.inputs.items())
            lines.append(f"      saw: {seen_inputs}")
            for c in t.changes:
                text = describe_change(c)
                if text:
                    lines.append(f"      -> {text}")
    lines.append("")
    lines.append("After:")
    for sa in sorted(st.sas.values(), key=lambda s: s.sa_id):
        lines.append(f"  {sa.sa_id:<12} {sa.sa_type:<8} {sa.status:<13} payoff "
                     f"{m(sa.payoff_balance):>10}  current {m(sa.current_balance):>10}")
    for c in st.checks:
        lines.append(f"  check {c.check_id}: {m(c.amount)} to {c.payee_account_id} ({c.status})")
    for t in st.todos:
        if t.status != "complete":
            lines.append(f"  To Do {t.todo_id} {t.todo_type} for {t.role} ({t.status})")
    if explain:
        lines.append("")
        lines.append("Why not:")
        if not run.why_not:
            lines.append("  every rule that applies fired")
        for w in run.why_not:
            lines.append(f"  [{w.process}] {w.rule} on {w.sa_id}: {w.detail}")
            lines.append(f"      condition: {w.condition}")
    return "\n".join(lines)


def describe_change(c: dict) -> str:
    """One journal entry as a phrase."""
    k, e = c["kind"], c["entity_id"]
    if k == "status":
        extra = f" (stop date {c['stop_date']})" if c.get("stop_date") and c["to_status"] in (
            "pending_stop", "stopped") else ""
        return f"{e}: {c['from_status']} -> {c['to_status']}{extra}"
    if k == "adjustment":
        on = f" on {c['sa_id']}" if c.get("sa_id") else ""
        return f"{c['category']} adjustment {e} ({c['type']}) for {c['amount']}{on}"
    if k == "freeze":  # indented under its adjustment
        who = f"{e} " if c.get("sa_id") else ""
        return f"  {who}frozen, FT {c['ft_id']}: payoff {c['payoff']}, current {c['current']}"
    if k == "check":
        return f"check request {e} for {c['amount']}"
    if k == "todo":
        return f"To Do {c['todo_type']} {e}"
    if k == "bill":
        return f"final bill {e} for {c['amount']} ({c['status']})"
    if k == "bill_complete":
        return f"bill {e} completed, due {c['due_date']}"
    if k == "interest_settled":
        note = " (held below the minimum days)" if c.get("below_minimum") else ""
        return f"interest {c['from_date']} to {c['to_date']}: {c['amount']}{note}"
    if k == "refund_method":
        return f"refund method {c.get('method')} done"
    if k == "pending_approval":
        return f"adjustment {e} waits for approval (above {c['threshold']})"
    # what only the manual operations write
    if k in ("todo_status", "check_status"):
        what = "To Do" if k == "todo_status" else "check request"
        by = f" ({c['by']})" if c.get("by") else ""
        return f"{what} {e}: {c.get('from_status') or '?'} -> {c['to_status']}{by}"
    if k == "total_deposit":
        return f"total deposit amount of {e}: {c['from_amount']} -> {c['to_amount']}"
    if k in ("approve", "reject"):
        return f"adjustment {e} {'approved' if k == 'approve' else 'rejected'} by {c['by']}"
    if k == "cancel":
        return f"adjustment {e} canceled"
    if k == "stop_date":
        return f"{e}: stop date {c['from_date']} -> {c['to_date']}"
    if k == "partial_refund":
        wait = ", waiting for approval" if c.get("waits_for_approval") else ""
        return (f"partial refund {e} of {c['amount']}: {c['to_debt']} to debt, "
                f"{c['ap_refund']} by check{wait}")
    if k == "approval_timeout":
        return (f"adjustment {e} has waited {c['waited_days']} days for approval (more than "
                f"{c['timeout_days']}): To Do {c['todo_id']}")
    if k == "check_reversal":
        return (f"check request {e} {c['to_status']}: {c['amount']} back on SA {c['sa_id']} "
                f"by adjustment {c['adjustment_id']}")
    return f"{k} {e}"
