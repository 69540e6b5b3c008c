"""Merge account rows into the impact: counts, money, transitions, classes, months, examples.

The impact is a plain dict (``impact.json``, ``--format json``) built only from sorted
rows and integer sums, so it is the same whatever the workers, engine or partitions.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from typing import Any, Iterable

from ..money import format_money, parse_money
from .outcomes import CATEGORIES, CATEGORY_LABELS, outcome_rank
from .partition import AccountRow, MonthTotals

SCHEMA_VERSION = 1
EXAMPLES_PER_TRANSITION = 5


def config_changes(raw_b: dict, raw_c: dict) -> list[dict]:
    """Every configuration value that differs, as ``--set`` style paths."""
    flat_b, flat_c = _flatten(raw_b), _flatten(raw_c)
    out = []
    for path in sorted(set(flat_b) | set(flat_c)):
        a, b = flat_b.get(path), flat_c.get(path)
        if a != b:
            out.append({"path": path, "baseline": a, "candidate": b})
    return out


def _flatten(raw: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def walk(prefix: tuple, value: Any) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(prefix + (str(k),), v)
        elif isinstance(value, list) and value:
            for i, v in enumerate(value):
                walk(prefix + (str(i),), v)
        else:
            out[".".join(prefix)] = value

    for stem, doc in sorted(raw.items()):
        # installation.yaml is the installation section itself; every other file holds
        # named sections (deposit_classes, batch_types, ...), as in overlays and --set
        walk((stem,) if stem == "installation" else (), doc)
    return out


def _money(values: list[int] | tuple[int, ...], mu: int) -> dict[str, str]:
    return {c: format_money(v, mu) for c, v in zip(CATEGORIES, values)}


def _sum(money: Iterable[tuple[int, ...]]) -> list[int]:
    """Column sums of (n, 4) minor units, exact.

    int64 in numpy when the sums provably cannot overflow (every figure is bounded by
    the largest one), else Python integers: a million rows take milliseconds, not seconds.
    """
    import itertools

    import numpy as np

    width = len(CATEGORIES)
    money = list(money)
    try:
        table = np.fromiter(itertools.chain.from_iterable(money), dtype=np.int64)
    except OverflowError:  # a figure beyond int64: add Python integers
        table = None
    if table is not None:
        if not len(table):
            return [0] * width
        table = table.reshape(-1, width)
        biggest = max(abs(int(table.max())), abs(int(table.min())))
        if biggest * len(table) < 2**63:
            return [int(v) for v in table.sum(axis=0)]
    return [sum(m[i] for m in money) for i in range(width)]


def _side_by_side(counts_b: Counter, counts_c: Counter | None) -> dict[str, dict]:
    names = sorted(set(counts_b) | set(counts_c or ()), key=outcome_rank)
    out = {}
    for n in names:
        entry = {"baseline": counts_b.get(n, 0)}
        if counts_c is not None:
            entry["candidate"] = counts_c.get(n, 0)
            entry["delta"] = entry["candidate"] - entry["baseline"]
        out[n] = entry
    return out


def _money_side_by_side(mb: list[int], mc: list[int] | None, mu: int) -> dict[str, dict]:
    out = {}
    for i, c in enumerate(CATEGORIES):
        entry = {"baseline": format_money(mb[i], mu)}
        if mc is not None:
            entry["candidate"] = format_money(mc[i], mu)
            entry["delta"] = format_money(mc[i] - mb[i], mu)
        out[c] = entry
    return out


def build_impact(rows: list[AccountRow], months: list[dict[str, MonthTotals]], *,
                 as_of: date, dates: tuple[date, ...], horizon: int | None, currency: str,
                 minor_units: int, baseline: dict, candidate: dict | None) -> dict:
    """The whole impact as JSON-ready data (money as decimal strings)."""
    mu = minor_units
    has_c = candidate is not None
    cb = Counter(r.outcome_baseline for r in rows)
    cc = Counter(r.outcome_candidate for r in rows) if has_c else None
    mb = _sum(r.money_baseline for r in rows)
    mc = _sum(r.money_candidate for r in rows) if has_c else None  # type: ignore[misc]
    impact: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "as_of": as_of.isoformat(),
        "process_dates": [d.isoformat() for d in dates],
        "horizon_months": horizon,
        "currency": currency,
        "minor_units": mu,
        "baseline": baseline,
        "candidate": candidate,
        "accounts": len(rows),
        "changed_accounts": sum(1 for r in rows if r.changed),
        "outcomes": _side_by_side(cb, cc),
        "money": _money_side_by_side(mb, mc, mu),
    }
    classes = {}
    for cls in sorted({r.customer_class for r in rows}):
        mine = [r for r in rows if r.customer_class == cls]
        classes[cls] = {
            "accounts": len(mine),
            "changed_accounts": sum(1 for r in mine if r.changed),
            "outcomes": _side_by_side(Counter(r.outcome_baseline for r in mine),
                                      Counter(r.outcome_candidate for r in mine) if has_c else None),
            "money": _money_side_by_side(_sum(r.money_baseline for r in mine),
                                         _sum(r.money_candidate for r in mine) if has_c else None,
                                         mu),
        }
    impact["by_customer_class"] = classes
    if has_c:
        pairs = Counter((r.outcome_baseline, r.outcome_candidate) for r in rows)
        matrix: dict[str, dict[str, int]] = {}
        for (a, b), n in sorted(pairs.items(), key=lambda x: (outcome_rank(x[0][0]),
                                                              outcome_rank(x[0][1]))):
            matrix.setdefault(a, {})[b] = n
        impact["transitions"] = matrix
        examples: dict[tuple[str, str], list[dict]] = {}
        counts: Counter = Counter()
        for r in rows:  # sorted by account id: the first few of each transition
            if not r.changed:
                continue
            k = (r.outcome_baseline, r.outcome_candidate)
            counts[k] += 1
            if len(examples.setdefault(k, [])) < EXAMPLES_PER_TRANSITION:
                examples[k].append({
                    "account_id": r.account_id, "customer_class": r.customer_class,
                    "rule_baseline": r.rule_baseline, "rule_candidate": r.rule_candidate,
                    "money_delta": {c: format_money(b - a, mu) for c, a, b in
                                    zip(CATEGORIES, r.money_baseline, r.money_candidate)
                                    if a != b},
                    "reason": r.reason})
        impact["examples"] = [
            {"from": a, "to": b, "accounts": counts[(a, b)], "examples": examples[(a, b)]}
            for a, b in sorted(examples, key=lambda k: (-counts[k], outcome_rank(k[0]),
                                                        outcome_rank(k[1])))]
    if horizon:
        impact["monthly"] = [
            {"month": k + 1, "process_date": d.isoformat(),
             **{side: {"outcomes": {o: n for o, n in sorted(
                        m[side].outcomes.items(), key=lambda x: outcome_rank(x[0]))},
                       "money": _money(m[side].money, mu)}
                for side in (("baseline", "candidate") if has_c else ("baseline",))}}
            for k, (d, m) in enumerate(zip(dates, months))]
    return impact


def impact_json(impact: dict) -> str:
    return json.dumps(impact, indent=2, ensure_ascii=False) + "\n"


# ---- the ten-second terminal summary ------------------------------------------------------
def grouped(text: str) -> str:
    """``-12345.60`` -> ``-12,345.60`` (display only)."""
    sign = "-" if text.startswith("-") else ""
    body = text.lstrip("-")
    whole, _, frac = body.partition(".")
    return f"{sign}{int(whole):,}" + (f".{frac}" if frac else "")


def _signed(n: int) -> str:
    return f"{n:+,}" if n else "0"


def _signed_money(text: str) -> str:
    g = grouped(text)
    return g if g.startswith("-") or set(g) <= set("0.,") else "+" + g


def render_text(impact: dict, source: str = "") -> str:
    has_c = impact["candidate"] is not None
    lines = [f"What-if impact on {impact['as_of']}: {impact['accounts']:,} accounts"
             + (f" ({source})" if source else "")
             + (f", {impact['horizon_months']} monthly runs to "
                f"{impact['process_dates'][-1]}" if impact["horizon_months"] else "")]
    lines.append(f"  baseline  {impact['baseline']['config_hash'][:12]}")
    if has_c:
        ch = impact["candidate"]["changes"]
        lines.append(f"  candidate {impact['candidate']['config_hash'][:12]}  "
                     f"({len(ch)} change{'s' if len(ch) != 1 else ''})")
        for c in ch[:8]:
            lines.append(f"    {c['path']}: {c['baseline']} → {c['candidate']}")
        if len(ch) > 8:
            lines.append(f"    ... {len(ch) - 8} more")
    lines.append("")
    head = f"{'Accounts by outcome':<36}{'baseline':>10}"
    if has_c:
        head += f"{'candidate':>11}{'delta':>9}"
    lines.append(head)
    for o, e in impact["outcomes"].items():
        line = f"  {o:<34}{e['baseline']:>10,}"
        if has_c:
            line += f"{e['candidate']:>11,}{_signed(e['delta']):>9}"
        lines.append(line)
    lines.append("")
    cur = impact["currency"]
    head = f"{'Money (' + cur + ')':<24}{'baseline':>16}"
    if has_c:
        head += f"{'candidate':>16}{'delta':>16}"
    lines.append(head)
    for c, e in impact["money"].items():
        line = f"  {CATEGORY_LABELS[c]:<22}{grouped(e['baseline']):>16}"
        if has_c:
            line += f"{grouped(e['candidate']):>16}{_signed_money(e['delta']):>16}"
        lines.append(line)
    lines.append("")
    lines.append("By customer class")
    for cls, d in impact["by_customer_class"].items():
        lines.append(f"  {cls}: {d['accounts']:,} accounts"
                     + (f", {d['changed_accounts']:,} changed" if has_c else ""))
        moved = []
        for c, e in d["money"].items():
            if has_c and e["delta"].strip("-0.") == "" and e["baseline"].strip("-0.") == "":
                continue
            moved.append(f"{CATEGORY_LABELS[c]} {grouped(e['baseline'])}"
                         + (f" → {grouped(e['candidate'])}" if has_c and
                            e["delta"].strip("-0.") else ""))
        if moved:
            lines.append("    " + "; ".join(moved))
        if has_c:
            shifts = [f"{o} {_signed(e['delta'])}" for o, e in d["outcomes"].items()
                      if e["delta"]]
            if shifts:
                lines.append("    " + ", ".join(shifts))
    if has_c:
        lines.append("")
        if impact["examples"]:
            lines.append(f"What changes ({impact['changed_accounts']:,} accounts)")
            for t in impact["examples"][:8]:
                ex = t["examples"][0]
                lines.append(f"  {t['accounts']:>6,}  {t['from']} → {t['to']}")
                lines.append(f"          e.g. {ex['account_id']}: {ex['reason']}")
            if len(impact["examples"]) > 8:
                lines.append(f"  ... {len(impact['examples']) - 8} more transitions "
                             "(see report.html)")
        else:
            lines.append("No account changes.")
    if impact.get("monthly"):
        lines.append("")
        side = "candidate" if has_c else "baseline"
        lines.append(f"Monthly projection ({side}): money moved on each process date")
        lines.append(f"{'month':>7}  {'date':<10}" + "".join(
            f"{CATEGORY_LABELS[c]:>17}" for c in CATEGORIES)
            + (f"{'refund checks Δ':>18}" if has_c else ""))
        for m in impact["monthly"]:
            money = m[side]["money"]
            line = f"{m['month']:>7}  {m['process_date']:<10}" + "".join(
                f"{grouped(money[c]):>17}" for c in CATEGORIES)
            if has_c:
                d = parse_money(money["refund_checks"], impact["minor_units"]) - parse_money(
                    m["baseline"]["money"]["refund_checks"], impact["minor_units"])
                line += f"{_signed_money(format_money(d, impact['minor_units'])):>18}"
            lines.append(line)
    return "\n".join(lines)
