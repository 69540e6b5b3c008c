"""Why one account ends differently under the candidate: which threshold or rule made the
difference, and the account's data it was compared with.

Both configurations start from the same state, so up to the first rule that fires
differently for a deposit SA the facts are the same. At that point the values the firing
rule saw (its trace inputs) are evaluated against the rule's conditions folded with each
configuration; a condition whose result flips names the parameters that changed it, e.g.
``RES hold_months 12 → 18: months_held 14 < 18``.
"""

from __future__ import annotations

from datetime import date

from ..dates import as_int
from ..money import MoneyFormatError, format_money, parse_total
from ..rules.book import RuleBook, Variant
from ..rules.conditions import evaluate, key, referenced
from ..rules.vocabulary import FIELDS, PARAMS
from .outcomes import CATEGORIES, CATEGORY_LABELS, Outcome, readable

Step = tuple[int, str, dict]  # (month index, rule id, inputs the rule saw)


def explain_difference(base: Outcome, cand: Outcome, book_b: RuleBook, book_c: RuleBook,
                       customer_class: str, deposit_classes: dict[str, str],
                       minor_units: int, dates: tuple[date, ...] = ()) -> str:
    """One line for a changed account. ``deposit_classes``: SA id -> its deposit class;
    ``dates``: the process dates (a step of month k is judged with the values in effect
    on ``dates[k]``; without them, the books as given)."""
    ctx = _Context(book_b, book_c, customer_class, minor_units, dates)
    for sid in sorted(set(base.paths) | set(cand.paths)):
        pb, pc = base.paths.get(sid, []), cand.paths.get(sid, [])
        if [s[:2] for s in pb] == [s[:2] for s in pc]:
            continue
        i = next((j for j in range(min(len(pb), len(pc))) if pb[j][:2] != pc[j][:2]),
                 min(len(pb), len(pc)))
        sb = pb[i] if i < len(pb) else None
        sc = pc[i] if i < len(pc) else None
        return ctx.diverging(sb, sc, base, cand, sid, deposit_classes.get(sid))
    if base.outcome != cand.outcome:
        # the same rules fired (often none): the deposit now fails another condition first
        sid = cand.sa_id or base.sa_id
        rules = sorted({r for r in (base.rule, cand.rule) if r})
        ctx.month = len(dates) - 1  # the outcome is the last date's
        changes = ctx.changed(rules, deposit_classes.get(sid), None)
        evidence = cand.detail or cand.rule or cand.outcome
        if base.detail and base.detail != cand.detail:
            evidence += f" (baseline: {base.detail})"
        return f"{', '.join(changes)}: {evidence}" if changes else evidence
    diffs = [f"{CATEGORY_LABELS[c]} {format_money(b, minor_units)} → "
             f"{format_money(x, minor_units)}"
             for c, b, x in zip(CATEGORIES, base.money, cand.money) if b != x]
    return "same rules, different amounts: " + ", ".join(diffs) if diffs else ""


class _Context:
    def __init__(self, book_b: RuleBook, book_c: RuleBook, cc: str, mu: int,
                 dates: tuple[date, ...] = ()):
        self.books = (book_b, book_c)
        self.cc = cc
        self.mu = mu
        self.dates = dates
        self.month = -1  # the step being judged (effective-dated values); -1: the books

    def variant(self, side: int, rule_id: str, dc: str | None) -> Variant | None:
        book = self.books[side]
        if self.dates and self.month >= 0:
            book = book.on(self.dates[self.month])
        rule = next((r for r in book.rules if r.id == rule_id), None)
        if rule is None:
            return None
        return next((v for v in book.variants(rule.process) if v.rule.id == rule_id
                     and v.deposit_class in (None, dc) and v.customer_class in (None, self.cc)),
                    None)

    def fact(self, inputs: dict, variant: Variant) -> dict:
        """The rule's fact fields back from the values its trace shows."""
        out = {}
        for name in variant.rule.fields:
            leaf = name.split(".")[-1]
            value = inputs.get(leaf, inputs.get(".".join(name.split(".")[-2:])))
            kind = FIELDS[name][0]
            if value is None and kind != "date":
                continue
            try:
                if kind == "money" and isinstance(value, str):
                    value = parse_total(value, self.mu)
                elif kind == "date":
                    value = as_int(date.fromisoformat(value)) if value else 0
                elif kind == "bool":
                    value = int(bool(value))
            except (MoneyFormatError, ValueError):
                continue
            out[key(name)] = value
        return out

    def flipped(self, rule_id: str, dc: str | None, inputs: dict) -> tuple[set, set]:
        """(params, fields) of the rule's conditions that evaluate differently."""
        vb, vc = self.variant(0, rule_id, dc), self.variant(1, rule_id, dc)
        params, fields = set(), set()
        if vb is None or vc is None:
            return params, fields
        fact = self.fact(inputs, vb)
        for cond, fb, fc in zip(vb.rule.when, vb.folded, vc.folded):
            f_names, p_names = referenced(cond.expr)
            if not p_names or any(key(n) not in fact for n in f_names):
                continue
            if evaluate(fb, fact) != evaluate(fc, fact):
                params |= p_names
                fields |= f_names
        return params, fields

    def changed(self, rules: list[str], dc: str | None, only: set | None) -> list[str]:
        out, seen = [], set()
        for rid in rules:
            vb, vc = self.variant(0, rid, dc), self.variant(1, rid, dc)
            if vb is None or vc is None:
                continue
            for p in sorted(vb.rule.params):
                if p in seen or (only is not None and p not in only):
                    continue
                a, b = vb.params.get(p), vc.params.get(p)
                if a != b:
                    seen.add(p)
                    who = self.cc if p.startswith("write_off.") else (dc or "")
                    out.append(f"{who} {_short(p)} {self.show(p, a)} → {self.show(p, b)}".strip())
        return out

    def show(self, name: str, value) -> str:
        if value is None:
            return "none"
        if PARAMS.get(name, ("",))[0] == "money" and isinstance(value, int):
            return format_money(value, self.mu)
        return str(value)

    def diverging(self, sb: Step | None, sc: Step | None, base: Outcome, cand: Outcome,
                  sid: str, dc: str | None) -> str:
        rules = list(dict.fromkeys(s[1] for s in (sc, sb) if s is not None))  # candidate's first
        # the month the two first differ (the same on both sides up to there)
        self.month = min(s[0] for s in (sb, sc) if s is not None)
        params: set = set()
        fields: set = set()
        for s in (sb, sc):
            if s is not None:
                for rid in rules:  # the same facts were true on both sides at this point
                    p, f = self.flipped(rid, dc, s[2])
                    params |= p
                    fields |= f
        changes = self.changed(rules, dc, params or None)
        if sb is not None and sc is None:  # the candidate no longer does what the baseline did
            evidence = _why(cand, sid, sb[1]) or _values(sb[2], fields) or \
                f"{sb[1]} no longer fires"
        elif sc is not None and sb is None:
            evidence = (_why(base, sid, sc[1]) or _values(sc[2], fields))
            evidence = f"now {sc[1]}" + (f" (baseline: {evidence})" if evidence else "")
        elif sb[1] == sc[1]:  # type: ignore[index]
            evidence = f"{sc[1]} in month {sc[0] + 1} instead of month {sb[0] + 1}"  # type: ignore
        else:
            values = _values(sc[2], fields)  # type: ignore[index]
            evidence = f"{values + ' → ' if values else ''}{sc[1]} instead of {sb[1]}"  # type: ignore
        return f"{', '.join(changes)}: {evidence}" if changes else evidence


def _short(name: str) -> str:
    parts = name.split(".")
    if parts[0] == "write_off" and len(parts) > 2:
        return ".".join(parts[1:])
    return parts[-1]


def _values(inputs: dict, fields: set) -> str:
    out = []
    for name in sorted(fields):
        leaf = name.split(".")[-1]
        v = inputs.get(leaf, inputs.get(".".join(name.split(".")[-2:])))
        if v is not None:
            out.append(f"{leaf} {v}")
    return ", ".join(out)


def _why(o: Outcome, sid: str, rule: str) -> str:
    for w in o.why_not.get(sid, []):
        if w.rule == rule:
            return readable(w.detail)
    return ""
