"""Effective-dated values in the configuration files (DOMAIN.md section 9).

A parameter listed in ``DATED_PATHS`` may be a plain value or a list: ``{value: V}`` first
(it holds from the start), then ``{effective: DATE, value: V}`` entries with strictly
increasing dates. On process date D the entry with the latest date <= D applies. This module
works on the loaded YAML (checks, what-if changes, ``config show --on``); the typed model is
``model.Dated``.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Iterator

from ..errors import Problem


def values_of(value) -> list[tuple[tuple, object]]:
    """``[(sub-path, value)]`` of a plain or effective-dated value (one entry per date)."""
    if isinstance(value, list):
        return [((i, "value"), e.get("value")) for i, e in enumerate(value)
                if isinstance(e, dict)]
    return [((), value)]


def entry_on(value, day: str | None) -> tuple[tuple, object]:
    """(sub-path, value) of the entry of a plain or dated value in effect on ``day`` (ISO
    text; None = before every effective date)."""
    if not isinstance(value, list):
        return (), value
    at = 0
    for i, e in enumerate(value):
        eff = e.get("effective") if isinstance(e, dict) else None
        if eff is not None and day is not None and str(eff) <= day:
            at = i
    return (at, "value"), value[at].get("value")


def dated_dates(*values) -> list[str | None]:
    """None (from the start) and every effective date of the given values, in order."""
    found = {str(e["effective"]) for v in values if isinstance(v, list) for e in v
             if isinstance(e, dict) and e.get("effective") is not None}
    return [None] + sorted(found)


# Where effective-dated values may be written (DOMAIN.md section 9): file stem -> paths,
# "*" standing for any key (a class code) or list index (a criterion)
DATED_PATHS = {
    "installation": (("credit_rating_threshold",),),
    "deposit_classes": (("deposit_classes", "*", "refund_criteria", "hold_months"),
                        ("deposit_classes", "*", "good_customer", "max_late_payments"),
                        ("deposit_classes", "*", "refund_method", "algorithm"),
                        ("deposit_classes", "*", "months_between_interest")),
    "write_off_controls": (("write_off_controls", "*", "criteria", "*", "lower"),
                           ("write_off_controls", "*", "criteria", "*", "upper"),
                           ("write_off_controls", "*", "criteria", "*", "min_refund")),
}


def is_dated_path(stem: str, path: tuple) -> bool:
    """Whether ``path`` (keys inside the file ``stem``) may hold an effective-dated value."""
    return any(len(q) == len(path) and all(a == "*" or a == str(b) for a, b in zip(q, path))
               for q in DATED_PATHS.get(stem, ()))


def dated_text(value) -> str:
    """A dated value in words: ``12, 18 from 2027-01-01``."""
    parts = []
    for e in value:
        if not isinstance(e, dict):
            return str(value)
        v = e.get("value")
        parts.append(str(v) if e.get("effective") is None else f"{v} from {e['effective']}")
    return ", ".join(parts)


def _dated_values(data, pattern: tuple, at: tuple = ()) -> Iterator[tuple[tuple, list]]:
    if not pattern:
        if isinstance(data, list):
            yield at, data
        return
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        items = data.items() if isinstance(data, dict) else enumerate(data) \
            if isinstance(data, list) else ()
        for k, v in items:
            yield from _dated_values(v, rest, at + (k,))
    elif isinstance(data, dict) and head in data:
        yield from _dated_values(data[head], rest, at + (head,))


def dated_problems(docs) -> Iterator[tuple[str, Problem]]:
    """Effective-dated values: the first entry holds from the start (no date), every later
    entry has a calendar date, and the dates strictly increase."""
    for stem, patterns in DATED_PATHS.items():
        if stem not in docs:
            continue
        doc = docs[stem]
        for pattern in patterns:
            for path, entries in _dated_values(doc.data, pattern):
                last = None
                for i, e in enumerate(entries):
                    if not isinstance(e, dict):
                        continue  # the schema reports the shape
                    eff = e.get("effective")
                    if i == 0:
                        if eff is not None:
                            yield stem, doc.problem(
                                path + (0, "effective"),
                                f"the first entry holds from the start and has no effective "
                                f"date; put the value that applies before {eff} first, as "
                                "`- value: ...`", "dated-first-has-date")
                        continue
                    if eff is None:
                        yield stem, doc.problem(
                            path + (i,), f"entry {i + 1} needs an effective date (only the "
                            "first entry, which holds from the start, has none)",
                            "dated-missing-date")
                        continue
                    try:
                        date.fromisoformat(str(eff))
                    except ValueError:
                        yield stem, doc.problem(path + (i, "effective"),
                                                f"{eff!r} is not a calendar date (YYYY-MM-DD)",
                                                "bad-format")
                        continue
                    if last is not None and str(eff) == last:
                        yield stem, doc.problem(path + (i, "effective"),
                                                f"effective date {eff} appears twice; one "
                                                "value per date", "dated-duplicate-date")
                    elif last is not None and str(eff) < last:
                        yield stem, doc.problem(path + (i, "effective"),
                                                f"effective date {eff} is before the previous "
                                                f"entry's {last}; list entries oldest first",
                                                "dated-out-of-order")
                    last = str(eff) if last is None or str(eff) > last else last


def resolve_raw(raw: dict, on: date) -> dict:
    """The canonical configuration (``Config.raw``: file stem -> content) with every
    effective-dated value replaced by the value in effect on ``on``."""
    import copy

    out = copy.deepcopy(raw)
    day = on.isoformat()
    for stem, patterns in DATED_PATHS.items():
        if stem not in out:
            continue
        for pattern in patterns:
            for path, entries in list(_dated_values(out[stem], pattern)):
                node = out[stem]
                for k in path[:-1]:
                    node = node[k]
                node[path[-1]] = entry_on(entries, day)[1]
    return out


def dated_in_raw(raw: dict) -> Iterator[tuple[str, tuple, list]]:
    """(file stem, path in the file, entries) of every effective-dated value written."""
    for stem, patterns in DATED_PATHS.items():
        for pattern in patterns:
            for path, entries in _dated_values(raw.get(stem) or {}, pattern):
                yield stem, path, entries
