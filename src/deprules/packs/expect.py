"""Expected vs actual: what a scenario's run produced, compared with what it says.

Only what is written is checked: an SA's fields that are named, list items on
the fields they name. A list is either the whole list in order, or
``{include, exclude, count}``. Every difference is one :class:`Mismatch` with a
field path (``service_agreements.DEP1.status``), the expected and the actual value.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..ledger.model import AccountState
from ..money import MoneyFormatError, format_money, parse_money
from ..results import account_json
from .model import ITEM_FIELDS, MONEY_FIELDS, SA_FIELDS


@dataclass
class Mismatch:
    field: str
    expected: Any
    actual: Any
    detail: list[str] | None = None  # extra lines (both lists, when their lengths differ)

    def as_dict(self) -> dict:
        out = {"field": self.field, "expected": self.expected, "actual": self.actual}
        if self.detail:
            out["detail"] = self.detail
        return out

    def render(self, indent: str = "    ") -> list[str]:
        lines = [f"{indent}{self.field}",
                 f"{indent}  expected: {_show(self.expected)}",
                 f"{indent}  actual:   {_show(self.actual)}"]
        lines.extend(f"{indent}  {d}" for d in self.detail or ())
        return lines


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if value is None:
        return "(none)"
    return str(value)


def snapshot(states: dict[str, AccountState], fired: list[str], config) -> dict:
    """The results a scenario can expect things of, as text (money with minor units)."""
    mu = config.installation.minor_units
    out: dict[str, Any] = {"service_agreements": {}, "adjustments": [], "bills": [],
                           "checks": [], "todos": []}
    for aid in sorted(states):
        st = states[aid]
        data = account_json(st, mu, config)
        for sa in data["service_agreements"]:
            live = st.sas[sa["sa_id"]]
            sa["account_id"] = aid
            sa["last_interest_date"] = (live.last_interest_date.isoformat()
                                        if live.last_interest_date else None)
            out["service_agreements"][sa["sa_id"]] = sa
        for name in ITEM_FIELDS:
            for item in data[name]:
                item["account_id"] = aid
                out[name].append(item)
    out["rules_fired"] = list(dict.fromkeys(fired))
    return out


def normal(field: str, value: Any, mu: int) -> Any:
    """One comparable form: money as formatted text, numbers and dates as text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if field in MONEY_FIELDS:
        try:
            return format_money(parse_money(value, mu), mu)
        except (MoneyFormatError, TypeError):
            return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _matches(expected: dict, actual: dict, mu: int) -> bool:
    return all(normal(k, v, mu) == normal(k, actual.get(k), mu) for k, v in expected.items())


def _project(item: dict, keys: list[str], mu: int) -> dict:
    return {k: normal(k, item.get(k), mu) for k in keys}


def compare(expect: dict | None, actual: dict, mu: int) -> list[Mismatch]:
    if not expect:
        return []
    out: list[Mismatch] = []
    for sa_id, fields in (expect.get("service_agreements") or {}).items():
        got = actual["service_agreements"].get(sa_id)
        if got is None:
            out.append(Mismatch(f"service_agreements.{sa_id}", "an SA with this id",
                                "no such SA", [f"SAs: {', '.join(actual['service_agreements'])}"]))
            continue
        for k in SA_FIELDS:
            if k in (fields or {}):
                want, have = normal(k, fields[k], mu), normal(k, got.get(k), mu)
                if want != have:
                    out.append(Mismatch(f"service_agreements.{sa_id}.{k}", want, have))
    for name in ITEM_FIELDS:
        if name in expect and expect[name] is not None:
            out.extend(_compare_list(name, expect[name], actual[name], mu))
    fired = set(actual["rules_fired"])
    for rid in expect.get("rules_fired") or ():
        if rid not in fired:
            out.append(Mismatch("rules_fired", f"{rid} fires", "it did not fire"))
    for rid in expect.get("rules_not_fired") or ():
        if rid in fired:
            out.append(Mismatch("rules_not_fired", f"{rid} does not fire", "it fired"))
    return out


def _compare_list(name: str, want: Any, have: list[dict], mu: int) -> list[Mismatch]:
    out: list[Mismatch] = []
    if isinstance(want, list):
        if len(want) != len(have):
            keys = list(dict.fromkeys(k for item in want for k in item)) or \
                list(ITEM_FIELDS[name][:4])
            detail = ["expected:"] + [f"  - {_show(_project(i, list(i), mu))}" for i in want]
            detail += ["actual:"] + [f"  - {_show(_project(i, keys, mu))}" for i in have]
            return [Mismatch(name, f"{len(want)} item(s)", f"{len(have)} item(s)", detail)]
        for j, (w, h) in enumerate(zip(want, have)):
            for k, v in w.items():
                a, b = normal(k, v, mu), normal(k, h.get(k), mu)
                if a != b:
                    out.append(Mismatch(f"{name}[{j}].{k}", a, b))
        return out
    used: set[int] = set()
    keys_all: list[str] = []
    for j, w in enumerate(want.get("include") or ()):
        keys_all.extend(k for k in w if k not in keys_all)
        hit = next((i for i, h in enumerate(have) if i not in used and _matches(w, h, mu)), None)
        if hit is None:
            out.append(Mismatch(f"{name}.include[{j}]", _project(w, list(w), mu),
                                "no such item"))
        else:
            used.add(hit)
    for j, w in enumerate(want.get("exclude") or ()):
        keys_all.extend(k for k in w if k not in keys_all)
        hit = next((h for h in have if _matches(w, h, mu)), None)
        if hit is not None:
            out.append(Mismatch(f"{name}.exclude[{j}]", f"no item like {_show(w)}",
                                _project(hit, list(w), mu)))
    if "count" in want and want["count"] != len(have):
        out.append(Mismatch(f"{name}.count", want["count"], len(have)))
    if out:
        keys = keys_all or list(ITEM_FIELDS[name][:4])
        out[-1].detail = ["actual:"] + [f"  - {_show(_project(h, keys, mu))}" for h in have]
    return out
