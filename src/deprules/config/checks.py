"""Cross-reference checks: what a schema cannot see across files."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Iterator

from ..errors import Problem
from ..money import MoneyFormatError, parse_money
from ..users import ROLES
from .dated import dated_dates, dated_problems, entry_on, values_of
from .model import TODO_PLACEHOLDERS

# categories the automated cycle posts, so each needs a batch adjustment type
BATCH_CATEGORIES = ("deposit_interest", "sync_up", "transfer", "ap_refund", "current_only",
                    "write_down")

# Bounds the schemas leave open but the ledger needs: a due date must stay a date the
# ledger can store (years up to 2261), and a rate above 100 % a year is a typo (it would
# also let interest outgrow 64-bit money).
MAX_BILL_DUE_DAYS = 3660
MAX_ANNUAL_PERCENT = Decimal(100)


def cross_reference_problems(docs) -> Iterator[tuple[str, Problem]]:
    get = lambda stem, key=None: (  # noqa: E731
        (docs[stem].data or {}).get(key, {}) if key else (docs[stem].data or {})
    ) if stem in docs else {}
    inst = get("installation")
    mu_raw = inst.get("minor_units", 2)
    minor_units = mu_raw if isinstance(mu_raw, int) and not isinstance(mu_raw, bool) else 2
    customer_classes = set(inst.get("customer_classes") or {})
    dist_codes = set(inst.get("distribution_codes") or {})
    deposit_classes = get("deposit_classes", "deposit_classes")
    sa_types = get("sa_types", "sa_types")
    adj_types = get("adjustment_types", "adjustment_types")
    batch_types = get("adjustment_types", "batch_types")
    controls = get("write_off_controls", "write_off_controls")
    todo_types = set(get("todo_types", "todo_types"))
    profiles = set(get("approval_profiles", "approval_profiles"))

    def p(stem, path, message, code, key=False):
        return stem, docs[stem].problem(path, message, code, key=key)

    yield from _todo_message_problems(docs, get("todo_types", "todo_types"))
    yield from dated_problems(docs)

    def bad_money(stem, path, value):
        try:
            parse_money(value, minor_units)
        except (MoneyFormatError, TypeError) as exc:
            return p(stem, path, f"{exc}", "bad-format")
        return None

    def unknown(what, value, known):
        hint = f"; known: {', '.join(sorted(known))}" if known else " (none are configured)"
        return f"unknown {what} {value!r}{hint}"

    due = inst.get("bill_due_days")
    if isinstance(due, int) and not isinstance(due, bool) and due > MAX_BILL_DUE_DAYS:
        yield p("installation", ("bill_due_days",),
                f"{due} days is more than the {MAX_BILL_DUE_DAYS} (ten years) a bill may take "
                "to fall due", "out-of-range")
    # SA types
    for code, t in sa_types.items():
        dc = t.get("deposit_class")
        if dc not in deposit_classes:
            yield p("sa_types", ("sa_types", code, "deposit_class"),
                    unknown("deposit class", dc, deposit_classes), "unknown-reference")
        dcode = t.get("distribution_code")
        if dcode not in dist_codes:
            yield p("sa_types", ("sa_types", code, "distribution_code"),
                    unknown("distribution code", dcode, dist_codes), "unknown-reference")
    # each deposit class needs a cash deposit SA type
    with_deposit = {t.get("deposit_class") for t in sa_types.values()
                    if t.get("special_role") == "cash_deposit"}
    for code in deposit_classes:
        if code not in with_deposit:
            yield p("deposit_classes", ("deposit_classes", code),
                    f"deposit class {code!r} has no SA type with special_role cash_deposit, "
                    "so it can never hold a deposit", "no-deposit-sa-type", key=True)
    # interest rates in order
    for code, d in deposit_classes.items():
        rates = ((d.get("interest") or {}).get("rates")) or []
        for i, r in enumerate(rates):
            try:
                percent = Decimal(str(r.get("annual_percent")))
            except ArithmeticError:
                percent = None  # the schema reports the form
            if percent is not None and percent.is_finite() and percent > MAX_ANNUAL_PERCENT:
                yield p("deposit_classes", ("deposit_classes", code, "interest", "rates", i,
                                            "annual_percent"),
                        f"an annual rate of {r.get('annual_percent')} % is above "
                        f"{MAX_ANNUAL_PERCENT} %; rates are in percent (0.11 means 0.11 %)",
                        "out-of-range")
            try:
                date.fromisoformat(str(r.get("effective")))
            except ValueError:
                yield p("deposit_classes", ("deposit_classes", code, "interest", "rates", i,
                                            "effective"),
                        f"{r.get('effective')!r} is not a calendar date (YYYY-MM-DD)",
                        "bad-format")
        for i in range(1, len(rates)):
            if str(rates[i].get("effective")) <= str(rates[i - 1].get("effective")):
                yield p("deposit_classes", ("deposit_classes", code, "interest", "rates", i,
                                            "effective"),
                        f"effective date {rates[i].get('effective')} is not after the previous "
                        f"rate's {rates[i - 1].get('effective')}; list rates oldest first, one "
                        "per date", "rates-out-of-order")
    # adjustment types
    for code, t in adj_types.items():
        dcode = t.get("distribution_code")
        if dcode is not None and dcode not in dist_codes:
            yield p("adjustment_types", ("adjustment_types", code, "distribution_code"),
                    unknown("distribution code", dcode, dist_codes), "unknown-reference")
        if t.get("ft_algorithm") in ("ADJT-NM", "ADJT-TA", "ADJT-GL") and dcode is None:
            yield p("adjustment_types", ("adjustment_types", code),
                    f"adjustment type {code!r} posts to the GL ({t.get('ft_algorithm')}) and "
                    "needs a distribution_code", "missing-reference", key=True)
        prof = t.get("approval_profile")
        if prof is not None and prof not in profiles:
            yield p("adjustment_types", ("adjustment_types", code, "approval_profile"),
                    unknown("approval profile", prof, profiles), "unknown-reference")
    for category, code in batch_types.items():
        if code not in adj_types:
            yield p("adjustment_types", ("batch_types", category),
                    unknown("adjustment type", code, adj_types), "unknown-reference")
        elif adj_types[code].get("category") != category:
            yield p("adjustment_types", ("batch_types", category),
                    f"adjustment type {code!r} has category "
                    f"{adj_types[code].get('category')!r}, not {category!r}", "unknown-reference")
    if "adjustment_types" in docs:
        for category in BATCH_CATEGORIES:
            if category not in batch_types:
                yield p("adjustment_types", ("batch_types",) if batch_types else (),
                        f"no batch adjustment type for category {category!r}; add "
                        f"batch_types.{category}", "missing-reference")
    for code, prof in get("approval_profiles", "approval_profiles").items():
        found = bad_money("approval_profiles", ("approval_profiles", code, "threshold"),
                          prof.get("threshold"))
        if found:
            yield found
        role = prof.get("approver_role")
        if isinstance(role, str) and role not in ROLES:
            yield p("approval_profiles", ("approval_profiles", code, "approver_role"),
                    unknown("role", role, ROLES), "unknown-reference")
        if prof.get("timeout_days") is not None:
            tt = prof.get("timeout_todo_type", "ADJ-TIMEOUT")
            if tt not in todo_types:
                yield p("approval_profiles",
                        ("approval_profiles", code, "timeout_todo_type")
                        if "timeout_todo_type" in prof else ("approval_profiles", code,
                                                             "timeout_days"),
                        unknown("To Do type", tt, todo_types) + " (the To Do of a timed-out "
                        "approval; set timeout_todo_type or add it to todo_types.yaml)",
                        "unknown-reference")
    # users: each role one of ROLES
    for name, u in (get("users", "users") or {}).items():
        for i, role in enumerate((u or {}).get("roles") or []):
            if isinstance(role, str) and role not in ROLES:
                yield p("users", ("users", name, "roles", i), unknown("role", role, ROLES),
                        "unknown-reference")
    # write-off controls
    for cls in customer_classes:
        if cls not in controls and "write_off_controls" in docs:
            yield p("write_off_controls", ("write_off_controls",),
                    f"customer class {cls!r} has no write-off control", "missing-reference")
    for cls, control in controls.items():
        if cls not in customer_classes:
            yield p("write_off_controls", ("write_off_controls", cls),
                    unknown("customer class", cls, customer_classes), "unknown-reference",
                    key=True)
        criteria = control.get("criteria") or []
        seen: dict[str, int] = {}
        for i, crit in enumerate(criteria):
            alg = crit.get("algorithm")
            if alg in seen:
                yield p("write_off_controls", ("write_off_controls", cls, "criteria", i,
                                               "algorithm"),
                        f"{alg} appears twice (first as criterion {seen[alg] + 1}); "
                        "only the first could ever decide", "duplicate-criterion")
            seen.setdefault(alg, i)
            todo = crit.get("todo_type")
            if todo is not None and todo not in todo_types:
                yield p("write_off_controls", ("write_off_controls", cls, "criteria", i,
                                               "todo_type"),
                        unknown("To Do type", todo, todo_types), "unknown-reference")
        if not criteria or criteria[-1].get("algorithm") != "WO-CRIT-DFLT":
            at = ("write_off_controls", cls, "criteria") + ((len(criteria) - 1,) if criteria else ())
            yield p("write_off_controls", at,
                    "the last criterion must be WO-CRIT-DFLT so every balance has an outcome",
                    "default-not-last")
        wd = next((c for c in criteria if c.get("algorithm") == "WO-WRITEDOWN"), None)
        ap = next((c for c in criteria if c.get("algorithm") == "WO-AP-ADJ"), None)
        amounts_ok = True
        for crit, names in ((wd, ("lower", "upper")), (ap, ("min_refund",))):
            if crit is None:
                continue
            for name in names:
                at = ("write_off_controls", cls, "criteria", criteria.index(crit), name)
                for sub, value in values_of(crit.get(name)):
                    found = bad_money("write_off_controls", at + sub, value)
                    if found:
                        amounts_ok = False
                        yield found
        if not amounts_ok:
            continue
        yield from _band_problems(p, cls, criteria, wd, ap, minor_units)


def _band_problems(p, cls, criteria, wd, ap, minor_units) -> Iterator[tuple[str, Problem]]:
    """The write-down band and the A/P range on every date any of their amounts changes:
    lower < upper, and min_refund == -lower so the two ranges neither overlap nor leave a
    gap. A problem points at the entry in effect on the first date it holds."""
    seen: set[tuple] = set()
    frm = lambda day: f" (from {day})" if day else ""  # noqa: E731
    amounts = [c.get(n) for c, names in ((wd, ("lower", "upper")), (ap, ("min_refund",)))
               if c for n in names]
    for day in dated_dates(*amounts):
        problems = []
        if wd:
            i = criteria.index(wd)
            (ls, lo), (us, up) = entry_on(wd.get("lower"), day), entry_on(wd.get("upper"), day)
            lower, upper = parse_money(lo, minor_units), parse_money(up, minor_units)
            if lower >= upper:
                # at the upper entry when it is the one that starts on this date
                name, sub = ("upper", us) if day and us and \
                    wd["upper"][us[0]].get("effective") == day else ("lower", ls)
                problems.append((("write_off_controls", cls, "criteria", i, name) + sub,
                                 f"lower {lo} must be below upper {up}{frm(day)}", "bad-band"))
        if wd and ap:
            (ms, mr) = entry_on(ap.get("min_refund"), day)
            min_refund = parse_money(mr, minor_units)
            where = ("write_off_controls", cls, "criteria", criteria.index(ap), "min_refund") + ms
            fix = str(Decimal(str(lo)).copy_negate())
            if min_refund < -lower:
                problems.append((where, f"credits from -{mr} down to {lo} (exclusive) would "
                                 f"be both refunded and written down{frm(day)}; set min_refund "
                                 f"to {fix} so the ranges meet", "band-overlap"))
            elif min_refund > -lower:
                problems.append((where, f"credits between -{mr} and {lo} are neither "
                                 f"written down nor refunded{frm(day)}; set min_refund to "
                                 f"{fix} so the ranges meet", "band-gap"))
        for path, message, code in problems:
            if (path, code) not in seen:
                seen.add((path, code))
                yield p("write_off_controls", path, message, code)


def _todo_message_problems(docs, todo_types) -> Iterator[tuple[str, Problem]]:
    """A To Do message may only name the placeholders the executor fills in; anything else
    would reach a CSR as the literal text "{customer_name}"."""
    import string

    if not isinstance(todo_types, dict):
        return
    doc = docs["todo_types"]
    for code, t in todo_types.items():
        message = t.get("message") if isinstance(t, dict) else None
        if not isinstance(message, str):
            continue
        path = ("todo_types", code, "message")
        try:
            fields = list(string.Formatter().parse(message))
        except ValueError as exc:
            yield "todo_types", doc.problem(path, f"the message is not a valid template ({exc}); "
                                            "write a literal brace twice: {{ or }}", "bad-format")
            continue
        offset = 0
        for literal, field, spec, conversion in fields:
            offset += len(literal)
            if field is None:
                continue
            if field not in TODO_PLACEHOLDERS:
                problem = doc.problem(path, f"unknown placeholder {{{field}}} in the message; "
                                      "a To Do message may use "
                                      + ", ".join(f"{{{n}}}" for n in TODO_PLACEHOLDERS),
                                      "unknown-placeholder")
                yield "todo_types", _at_placeholder(doc, problem, message, offset)
            offset += 2 + len(field) + (len(spec) + 1 if spec else 0) + \
                (len(conversion) + 1 if conversion else 0)


def _at_placeholder(doc, problem: Problem, message: str, offset: int) -> Problem:
    """Point the problem at the placeholder itself when the message is written on one line
    (plain or quoted) where the value starts; otherwise at the value."""
    from dataclasses import replace

    lines = doc.text.splitlines()
    if not 0 < problem.line <= len(lines):
        return problem
    rest = lines[problem.line - 1][problem.column - 1:]
    quote = 1 if rest[:1] in ("'", '"') else 0
    if rest[quote:quote + len(message)] != message:
        return problem
    return replace(problem, column=problem.column + quote + offset)
