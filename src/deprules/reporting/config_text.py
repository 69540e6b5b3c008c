"""The resolved configuration as an analyst reads it."""

from __future__ import annotations

from ..money import format_money


def _percent(value) -> str:
    """An exact rate as decimal text (never through a float)."""
    from decimal import Decimal

    text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def config_text(setup) -> str:
    c = setup.config
    mu = c.installation.minor_units
    m = lambda x: format_money(x, mu) if x is not None else "-"  # noqa: E731
    i = c.installation
    out = [f"configuration {setup.hash[:12]} from {c.source}",
           f"installation: {i.currency} ({mu} decimals), credit rating threshold "
           f"{i.credit_rating_threshold}, rounding {i.rounding}, day count {i.default_day_count}, "
           f"bill due days {i.bill_due_days}",
           f"customer classes: {', '.join(i.customer_classes)}", "", "deposit classes:"]
    for d in c.deposit_classes.values():
        crit = d.refund_criteria + (f" after {d.hold_months} months" if d.hold_months is not None
                                    else "")
        good = d.good_customer + (f" (max {d.max_late_payments} late payments)"
                                  if d.max_late_payments is not None else "")
        out.append(f"  {d.code}: {crit}; good customer {good}; refund method {d.refund_method}")
        if d.interest:
            rates = ", ".join(f"{_percent(r.annual_percent)}% from {r.effective}"
                              for r in d.interest.rates)
            out.append(f"      interest {d.interest.algorithm} {d.interest.day_count}, min days "
                       f"{d.interest.min_days_held}, {d.interest.rounding}: {rates}")
            if d.months_between_interest:
                out.append(f"      credited every {d.months_between_interest} months while "
                           "held (DEPINTRF)")
    out += ["", "SA types:"]
    for t in c.sa_types.values():
        out.append(f"  {t.code:<10} {t.special_role:<13} class {t.deposit_class:<5} priority "
                   f"{t.distribution_priority:>3}  {t.distribution_code}")
    out += ["", "adjustment types:"]
    for a in c.adjustment_types.values():
        extra = []
        if a.ap_request_type:
            extra.append(f"A/P {a.ap_request_type}")
        if a.approval_profile:
            extra.append(f"approval {a.approval_profile}")
        out.append(f"  {a.code:<10} {a.category:<17} {a.ft_algorithm:<8} "
                   f"{a.distribution_code or '-':<12} {', '.join(extra)}")
    out += ["", "write-off controls:"]
    for w in c.write_off_controls.values():
        out.append(f"  {w.customer_class} (grace {w.grace_days} days):")
        for k in w.criteria:
            params = []
            if k.lower is not None:
                params.append(f"{m(k.lower)} < balance < {m(k.upper)}")
            if k.min_refund is not None:
                params.append(f"credit >= {m(k.min_refund)}")
            if k.todo_type:
                params.append(f"To Do {k.todo_type}")
            out.append(f"    {k.position}. {k.algorithm:<13} {'; '.join(params)}")
    out += ["", "approval profiles:"]
    for p in c.approval_profiles.values():
        timeout = (f", To Do {p.timeout_todo_type} after {p.timeout_days} days waiting"
                   if p.timeout_days else "")
        out.append(f"  {p.code}: above {m(p.threshold)} needs {p.approver_role}{timeout}")
    if c.users is not None:
        out += ["", f"users ({c.users.source}):"]
        for name, roles in sorted(c.users.roles.items()):
            out.append(f"  {name}: {', '.join(sorted(roles))}")
    return "\n".join(out)
