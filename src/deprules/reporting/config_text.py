"""The resolved configuration as an analyst reads it."""

from __future__ import annotations

from datetime import date

from ..money import format_money


def _percent(value) -> str:
    """An exact rate as decimal text (never through a float)."""
    from decimal import Decimal

    text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _late(n) -> str:
    return f"{n} late payment" + ("" if n == 1 else "s")


def config_json(setup, on: date | None = None) -> dict:
    """``config show --format json``: the raw configuration (with ``on``: each dated value
    resolved to the entry in effect) and every effective-dated value with its entries."""
    from ..config.dated import dated_in_raw, entry_on, resolve_raw

    raw = setup.config.raw
    dated = []
    for stem, path, entries in dated_in_raw(raw):
        where = (stem,) + path if stem == "installation" else path
        item = {"path": ".".join(map(str, where)),
                "entries": [{"effective": e.get("effective"), "value": e.get("value")}
                            for e in entries]}
        if on is not None:
            (at, _), value = entry_on(entries, on.isoformat())
            later = [e.get("effective") for e in entries[at + 1:]]
            item.update(value=value, since=entries[at].get("effective"),
                        until=later[0] if later else None)
        dated.append(item)
    return {"config_hash": setup.hash, "on": on.isoformat() if on else None,
            "config": resolve_raw(raw, on) if on is not None else raw, "dated": dated}


def config_text(setup, on: date | None = None) -> str:
    """The configuration in words. Without ``on`` an effective-dated value shows all its
    entries (``12, 18 from 2027-01-01``); with ``on`` the one in effect on that date."""
    base = setup.config
    c = base.on(on) if on is not None else base
    mu = c.installation.minor_units
    m = lambda x: format_money(x, mu) if x is not None else "-"  # noqa: E731
    schedules = {d.target: d for d in base.dated}

    def v(target: tuple, value, fmt=str) -> str:
        """A parameter's value, or without ``on`` its entries when it is effective-dated."""
        d = schedules.get(target)
        if d is None or on is not None:
            return fmt(value)
        return ", ".join(fmt(x) if eff is None else f"{fmt(x)} from {eff}"
                         for eff, x in d.entries)

    i = c.installation
    when = f", as it applies on {on.isoformat()}" if on is not None else ""
    out = [f"configuration {setup.hash[:12]} from {c.source}{when}",
           f"installation: {i.currency} ({mu} decimals), credit rating threshold "
           f"{v(('installation', 'credit_rating_threshold'), i.credit_rating_threshold)}, "
           f"rounding {i.rounding}, day count {i.default_day_count}, "
           f"bill due days {i.bill_due_days}",
           f"customer classes: {', '.join(i.customer_classes)}", "", "deposit classes:"]
    for d in c.deposit_classes.values():
        at = lambda attr: ("deposit_class", d.code, attr)  # noqa: E731
        crit = d.refund_criteria + (
            f" after {v(at('hold_months'), d.hold_months, lambda x: f'{x} months')}"
            if d.hold_months is not None else "")
        good = d.good_customer + (
            f" (max {v(at('max_late_payments'), d.max_late_payments, _late)})"
            if d.max_late_payments is not None else "")
        out.append(f"  {d.code}: {crit}; good customer {good}; refund method "
                   f"{v(at('refund_method'), d.refund_method)}")
        if d.interest:
            rates = ", ".join(f"{_percent(r.annual_percent)}% from {r.effective}"
                              for r in d.interest.rates)
            out.append(f"      interest {d.interest.algorithm} {d.interest.day_count}, min days "
                       f"{d.interest.min_days_held}, {d.interest.rounding}: {rates}")
            if d.months_between_interest or at("months_between_interest") in schedules:
                every = v(at("months_between_interest"), d.months_between_interest,
                          lambda x: f"{x} months" if x else "0 months (only at the stop)")
                out.append(f"      credited every {every} while held (DEPINTRF)")
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
            at = lambda attr: ("write_off", w.customer_class, k.position, attr)  # noqa: E731
            if k.lower is not None:
                params.append(f"{v(at('lower'), k.lower, m)} < balance < "
                              f"{v(at('upper'), k.upper, m)}")
            if k.min_refund is not None:
                params.append(f"credit >= {v(at('min_refund'), k.min_refund, m)}")
            if k.todo_type:
                params.append(f"To Do {k.todo_type}")
            out.append(f"    {k.position}. {k.algorithm:<13} {'; '.join(params)}")
    out += ["", "approval profiles:"]
    for p in c.approval_profiles.values():
        timeout = (f", To Do {p.timeout_todo_type} after {p.timeout_days} days waiting"
                   if p.timeout_days else "")
        out.append(f"  {p.code}: above {m(p.threshold)} needs {p.approver_role}{timeout}")
    if base.dated:
        out += ["", "effective-dated values" + (f" (in effect on {on.isoformat()})" if on
                                                else "") + ":"]
        for d in base.dated:
            fmt = m if d.target[-1] in ("lower", "upper", "min_refund") else str
            entries = ", ".join(fmt(x) if eff is None else f"{fmt(x)} from {eff}"
                                for eff, x in d.entries)
            line = f"  {d.path}: {entries}"
            if on is not None:
                k = d.index_on(on)
                since = d.entries[k][0]
                nxt = d.entries[k + 1][0] if k + 1 < len(d.entries) else None
                line += (f"; on {on.isoformat()}: {fmt(d.entries[k][1])}"
                         + (f" (since {since})" if since else " (the first entry)")
                         + (f", until {nxt}" if nxt else ""))
            out.append(line)
    if c.users is not None:
        out += ["", f"users ({c.users.source}):"]
        for name, roles in sorted(c.users.roles.items()):
            out.append(f"  {name}: {', '.join(sorted(roles))}")
    return "\n".join(out)
