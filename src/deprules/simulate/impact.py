"""Merge account rows into the impact: counts, money, transitions, classes, months, examples.

The impact is a plain dict (``impact.json``, ``--format json``) built only from sorted
rows and integer sums, so it is the same whatever the workers, engine or partitions.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from ..money import format_money, parse_total
from .outcomes import CATEGORIES, CATEGORY_LABELS, outcome_rank
from .partition import MonthTotals
from .table import money_matrix

SCHEMA_VERSION = 1
# examples: the first accounts (by id) of each transition, customer class and deposit class
# (so a filter of the report on a class still finds examples of every transition it has)
EXAMPLES_PER_TRANSITION = 5
# distribution bins, in major units (scaled by the minor units): refund amounts per account,
# and the change of an account's refund checks (candidate - baseline) among changed accounts
REFUND_EDGES = (0, 25, 50, 100, 250, 500, 1000, 2500, 5000)
CHANGE_EDGES = (-1000, -250, -100, -25, 0, None, 25, 100, 250, 1000)  # None: the zero bin's end


def rule_changes(book_b, book_c) -> list[dict]:
    """Rules the candidate adds, removes or words differently (conditions, actions, salience
    or seed step), by id: ``{"rule", "change", "file"}``."""
    def shape(r):
        return ([c.text for c in r.when], [(a.verb, a.args) for a in r.then], r.seed_step,
                r.process, r.applies_to, repr(r.rank))

    b = {r.id: r for r in book_b.rules}
    c = {r.id: r for r in book_c.rules}
    out = []
    for rid in sorted(set(b) | set(c)):
        if rid not in c:
            out.append({"rule": rid, "change": "removed", "file": f"{b[rid].file}:{b[rid].line}"})
        elif rid not in b:
            out.append({"rule": rid, "change": "added", "file": f"{c[rid].file}:{c[rid].line}"})
        elif shape(b[rid]) != shape(c[rid]):
            out.append({"rule": rid, "change": "changed", "file": f"{c[rid].file}:{c[rid].line}"})
    return out


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
    from ..config.dated import dated_text, is_dated_path

    out: dict[str, Any] = {}
    stem = ""

    def walk(prefix: tuple, value: Any) -> None:
        if isinstance(value, list) and is_dated_path(stem, prefix[1:] if stem ==
                                                     "installation" else prefix):
            # an effective-dated value is one change: "12 -> 12, 18 from 2027-01-01"
            out[".".join(prefix)] = dated_text(value)
        elif isinstance(value, dict) and value:
            for k, v in value.items():
                walk(prefix + (str(k),), v)
        elif isinstance(value, list) and value:
            for i, v in enumerate(value):
                walk(prefix + (str(i),), v)
        else:
            out[".".join(prefix)] = value

    for stem, doc in sorted(raw.items()):  # walk reads stem
        # installation.yaml is the installation section itself; every other file holds
        # named sections (deposit_classes, batch_types, ...), as in overlays and --set
        walk((stem,) if stem == "installation" else (), doc)
    return out


def _money(values: list[int] | tuple[int, ...], mu: int) -> dict[str, str]:
    return {c: format_money(v, mu) for c, v in zip(CATEGORIES, values)}


def column_sums(money) -> list[int]:
    """Column sums of (n, 4) minor units, exact: int64 in numpy when the sums provably cannot
    overflow (no sum exceeds rows x the largest figure), else Python integers."""
    width = len(CATEGORIES)
    if not len(money):
        return [0] * width
    if money.dtype == np.int64:
        biggest = max(abs(int(money.max())), abs(int(money.min())))
        if biggest * len(money) < 2**63:
            return [int(v) for v in money.sum(axis=0)]
    return [sum(int(v) for v in money[:, i].tolist()) for i in range(width)]


def _counts(values: np.ndarray) -> dict[str, int]:
    codes, names = pd.factorize(values)
    return dict(zip(names.tolist(), np.bincount(codes, minlength=len(names)).tolist()))


def _side_by_side(counts_b: dict, counts_c: dict | None) -> dict[str, dict]:
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


def build_impact(table: pd.DataFrame, months: list[dict[str, MonthTotals]], *,
                 as_of: date, dates: tuple[date, ...], horizon: int | None, currency: str,
                 minor_units: int, baseline: dict, candidate: dict | None) -> dict:
    """The whole impact as JSON-ready data (money as decimal strings), from the
    per-account table (``table.COLUMNS``, sorted by account id)."""
    mu = minor_units
    has_c = candidate is not None
    ob = table["outcome_baseline"].to_numpy(dtype=object)
    oc = table["outcome_candidate"].to_numpy(dtype=object) if has_c else None
    mb = money_matrix(table, "baseline")
    mc = money_matrix(table, "candidate") if has_c else None
    changed = table["changed"].to_numpy(dtype=bool)
    from .. import __version__

    impact: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "deprules_version": __version__,
        "as_of": as_of.isoformat(),
        "process_dates": [d.isoformat() for d in dates],
        "horizon_months": horizon,
        "currency": currency,
        "minor_units": mu,
        "baseline": baseline,
        "candidate": candidate,
        "accounts": len(table),
        "changed_accounts": int(changed.sum()),
        "outcomes": _side_by_side(_counts(ob), _counts(oc) if has_c else None),
        "money": _money_side_by_side(column_sums(mb), column_sums(mc) if has_c else None, mu),
    }
    classes = _by_group(table["customer_class"].to_numpy(dtype=object), ob, oc, mb, mc,
                        changed, mu)
    impact["by_customer_class"] = classes
    impact["by_deposit_class"] = _by_group(table["deposit_class"].to_numpy(dtype=object), ob, oc,
                                           mb, mc, changed, mu)
    if has_c:
        # what changed for the customer: money (any category), or only the outcome's name
        # (e.g. not_eligible_credit_rating -> not_eligible_months_held, the same money)
        moved = (mb != mc).any(axis=1) if len(table) else np.zeros(0, bool)
        impact["changed_money_accounts"] = int((changed & moved).sum())
        impact["changed_label_only_accounts"] = int((changed & ~moved).sum())
        impact["transitions"] = _transitions(ob, oc)
        impact["examples"] = _examples(table, ob, oc, mb, mc, changed, mu, moved)
    impact["distributions"] = _distributions(mb, mc, changed, mu)
    if horizon:
        impact["monthly"] = []
        total = [0] * len(CATEGORIES)
        for k, (d, m) in enumerate(zip(dates, months)):
            entry = {"month": k + 1, "process_date": d.isoformat(),
                     **{side: {"outcomes": {o: n for o, n in sorted(
                         m[side].outcomes.items(), key=lambda x: outcome_rank(x[0]))},
                         "money": _money(m[side].money, mu)}
                        for side in (("baseline", "candidate") if has_c else ("baseline",))}}
            if has_c:
                delta = [c - b for b, c in zip(m["baseline"].money, m["candidate"].money)]
                total = [t + x for t, x in zip(total, delta)]
                entry["delta"] = _money(delta, mu)
                entry["cumulative_delta"] = _money(total, mu)
            impact["monthly"].append(entry)
    return impact


def _by_group(groups: np.ndarray, ob, oc, mb, mc, changed, mu: int) -> dict[str, dict]:
    """Accounts, changed accounts, outcomes and money of each value of ``groups`` (a class
    column), the values sorted."""
    out = {}
    codes, names = pd.factorize(groups)
    for k in sorted(range(len(names)), key=lambda k: names[k]):
        mine = codes == k
        out[names[k]] = {
            "accounts": int(mine.sum()),
            "changed_accounts": int((changed & mine).sum()),
            "outcomes": _side_by_side(_counts(ob[mine]),
                                      _counts(oc[mine]) if oc is not None else None),
            "money": _money_side_by_side(column_sums(mb[mine]),
                                         column_sums(mc[mine]) if mc is not None else None,
                                         mu),
        }
    return out


def _bins(edges: list[int]) -> list[tuple[int | None, int | None]]:
    """Half-open [lower, upper) bins over the integers: below the first edge, between each
    two, and from the last on (None: unbounded)."""
    bounds: list[int | None] = [None, *edges, None]
    return list(zip(bounds[:-1], bounds[1:]))


def _histogram(values: np.ndarray, edges: list[int]) -> list[int]:
    if values.dtype == np.int64:
        pos = np.searchsorted(np.array(edges, np.int64), values, side="right")
        return np.bincount(pos, minlength=len(edges) + 1).tolist()
    out = [0] * (len(edges) + 1)
    for v in values.tolist():
        out[sum(1 for e in edges if v >= e)] += 1
    return out


def _distributions(mb, mc, changed, mu: int) -> dict:
    """Refund checks per refunded account (baseline and candidate), and per changed account
    the change of its refund checks, counted in bins of money."""
    unit = 10 ** mu

    def fmt(v):
        return None if v is None else format_money(v, mu)

    edges = [e * unit for e in REFUND_EDGES[1:]]
    out: dict[str, Any] = {}
    sides = [("baseline", mb)] + ([("candidate", mc)] if mc is not None else [])
    counts = {}
    for side, m in sides:
        col = m[:, 0]
        counts[side] = _histogram(col[col > 0], edges)
    out["refund_amounts"] = [
        {"lower": fmt(lo if lo is not None else 1), "upper": fmt(hi),
         **{side: counts[side][k] for side, _ in sides}}
        for k, (lo, hi) in enumerate(_bins(edges))]
    if mc is not None:
        cedges = [unit * e if e is not None else 1 for e in CHANGE_EDGES]
        idx = np.flatnonzero(changed)
        d = mc[idx, 0] - mb[idx, 0]
        n = _histogram(d, cedges)
        out["refund_changes"] = [{"lower": fmt(lo), "upper": fmt(hi), "accounts": n[k]}
                                 for k, (lo, hi) in enumerate(_bins(cedges))]
    return out


def _pairs(ob: np.ndarray, oc: np.ndarray) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """A code per account for its (baseline, candidate) outcome pair, and the pairs."""
    codes_b, names_b = pd.factorize(ob)
    codes_c, names_c = pd.factorize(oc)
    width = max(len(names_c), 1)
    codes, uniq = pd.factorize(codes_b.astype(np.int64) * width + codes_c)
    pairs = [(names_b[u // width], names_c[u % width]) for u in uniq.tolist()]
    return codes, pairs


def _transitions(ob: np.ndarray, oc: np.ndarray) -> dict[str, dict[str, int]]:
    codes, pairs = _pairs(ob, oc)
    counts = np.bincount(codes, minlength=len(pairs)).tolist()
    matrix: dict[str, dict[str, int]] = {}
    for (a, b), n in sorted(zip(pairs, counts), key=lambda x: (outcome_rank(x[0][0]),
                                                              outcome_rank(x[0][1]))):
        matrix.setdefault(a, {})[b] = n
    return matrix


def first_of_each(codes: np.ndarray, k: int) -> np.ndarray:
    """Positions of the first ``k`` rows of each code, in row order."""
    if not len(codes):
        return np.zeros(0, np.int64)
    order = np.argsort(codes, kind="stable")
    sc = codes[order]
    start = np.r_[True, sc[1:] != sc[:-1]]
    begin = np.maximum.accumulate(np.where(start, np.arange(len(sc)), 0))
    return np.sort(order[(np.arange(len(sc)) - begin) < k])


def group_codes(*columns) -> np.ndarray:
    """One code per row for the combination of its values in ``columns``."""
    n = len(columns[0])
    key = np.zeros(n, np.int64)
    for col in columns:
        codes, names = pd.factorize(np.asarray(col))
        key, _ = pd.factorize(key * max(len(names), 1) + codes)
        key = key.astype(np.int64)
    return key


def example_positions(ob, oc, customer_class, deposit_class, changed) -> np.ndarray:
    """Row positions (in row order) of the accounts impact.json shows: among the changed
    accounts, the first ``EXAMPLES_PER_TRANSITION`` of each transition, customer class and
    deposit class (outcomes as names or as codes, either)."""
    idx = np.flatnonzero(changed)
    if not len(idx):
        return idx
    key = group_codes(ob[idx], oc[idx], customer_class[idx], deposit_class[idx])
    return idx[first_of_each(key, EXAMPLES_PER_TRANSITION)]


def _examples(table, ob, oc, mb, mc, changed, mu, moved) -> list[dict]:
    """Every transition of changed accounts, the most accounts first, each with how many of
    its accounts saw their money change and how many only the name of their outcome, its
    changed accounts per customer class and per deposit class, and its example accounts
    (``example_positions``, by account id)."""
    idx = np.flatnonzero(changed)
    codes, pairs = _pairs(ob[idx], oc[idx])
    counts = np.bincount(codes, minlength=len(pairs)).tolist()
    money_counts = np.bincount(codes[moved[idx]], minlength=len(pairs)).tolist()
    examples: dict[int, list[dict]] = {k: [] for k in range(len(pairs))}
    ids = table["account_id"].to_numpy(dtype=object)
    cls = table["customer_class"].to_numpy(dtype=object)
    dcls = table["deposit_class"].to_numpy(dtype=object)
    rb = table["rule_baseline"].to_numpy(dtype=object)
    rc = table["rule_candidate"].to_numpy(dtype=object)
    reason = table["reason"].to_numpy(dtype=object)
    by_class = [_counts_by(codes, cls[idx], len(pairs)),
                _counts_by(codes, dcls[idx], len(pairs))]
    # both classes at once ("\x1f" is in neither: class codes are printable; not NUL,
    # which pandas' string hashing cuts at)
    both = [_nested(m) for m in _counts_by(codes, cls[idx] + "\x1f" + dcls[idx], len(pairs))]
    code_at = np.full(len(ob), -1, np.int64)
    code_at[idx] = codes
    for i in example_positions(ob, oc, cls, dcls, changed).tolist():
        a_money, b_money = mb[i].tolist(), mc[i].tolist()
        examples[int(code_at[i])].append({
            "account_id": ids[i], "customer_class": cls[i], "deposit_class": dcls[i],
            "rule_baseline": rb[i], "rule_candidate": rc[i],
            "money_delta": {c: format_money(b - a, mu) for c, a, b in
                            zip(CATEGORIES, a_money, b_money) if a != b},
            "money_baseline": _money(a_money, mu), "money_candidate": _money(b_money, mu),
            "reason": reason[i]})
    order = sorted(range(len(pairs)), key=lambda k: (-counts[k], outcome_rank(pairs[k][0]),
                                                     outcome_rank(pairs[k][1])))
    return [{"from": pairs[k][0], "to": pairs[k][1], "accounts": counts[k],
             "money_changed_accounts": money_counts[k],
             "label_only_accounts": counts[k] - money_counts[k],
             "by_customer_class": by_class[0][k], "by_deposit_class": by_class[1][k],
             "by_class": both[k],
             "examples": examples[k]} for k in order]


def _nested(counts: dict[str, int]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for key, n in counts.items():
        a, b = key.split("\x1f")
        out.setdefault(a, {})[b] = n
    return out


def _counts_by(codes: np.ndarray, groups: np.ndarray, n: int) -> list[dict[str, int]]:
    """Per code 0..n-1: how many rows of each value of ``groups``, the values sorted."""
    out: list[dict[str, int]] = [{} for _ in range(n)]
    if not len(codes):
        return out
    g, names = pd.factorize(groups)
    width = len(names)
    both = np.bincount(codes.astype(np.int64) * width + g, minlength=n * width).reshape(n, width)
    order = sorted(range(width), key=lambda k: names[k])
    for k in range(n):
        out[k] = {names[j]: int(both[k, j]) for j in order if both[k, j]}
    return out


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
        rc = impact["candidate"].get("rule_changes")
        if rc is not None:
            lines.append(f"    rules from {impact['candidate']['rules']}: "
                         + (", ".join(f"{r['rule']} {r['change']}" for r in rc[:8])
                            if rc else "the same rules"))
            if len(rc) > 8:
                lines.append(f"    ... {len(rc) - 8} more rule changes")
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
            label_only = impact["changed_label_only_accounts"]
            lines.append(f"What changes ({impact['changed_accounts']:,} accounts: "
                         f"{impact['changed_money_accounts']:,} with money changed, "
                         f"{label_only:,} only the outcome's name)")
            for t in impact["examples"][:8]:
                ex = t["examples"][0]
                note = ("  (only the name: the same money)" if not t["money_changed_accounts"]
                        else f"  ({t['label_only_accounts']:,} of them only the name)"
                        if t["label_only_accounts"] else "")
                lines.append(f"  {t['accounts']:>6,}  {t['from']} → {t['to']}{note}")
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
                f" {grouped(money[c]):>16}" for c in CATEGORIES)
            if has_c:
                d = parse_total(money["refund_checks"], impact["minor_units"]) - parse_total(
                    m["baseline"]["money"]["refund_checks"], impact["minor_units"])
                line += f" {_signed_money(format_money(d, impact['minor_units'])):>17}"
            lines.append(line)
    return "\n".join(lines)
