"""Why-not, set-at-a-time: for each rule variant and SA of its class that it did not match
in a process's first round, the first failing condition and a readable detail, exactly as
``Runner._why_not`` / ``Runner._explain`` word them (a first condition that fails places
the rule at another stage and is not reported).

The detail text is built per (variant, condition) with Arrow string kernels, so a million
rows cost a fraction of a second.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..money import format_money_array
from ..rules.conditions import Cmp, Const, In, render
from ..rules.vocabulary import FIELDS
from .facts import Facts

WHY_NOT_COLUMNS = ["account_id", "sa_id", "process", "rule", "seed_step", "condition", "detail"]


def collect(facts: Facts, variants: list, matched_rules: dict[str, np.ndarray],
            minor_units: int) -> list[dict]:
    """Why-not chunks for the rows of ``facts``. ``variants``: every variant of the process
    (possible or not), in book order; ``matched_rules``: rule id -> mask of rows some
    variant of that rule matched."""
    out = []
    n = facts.n
    for vi, v in enumerate(variants):
        cand = np.ones(n, bool)
        for g in v.guard:
            cand &= facts.mask(g)
        hit = matched_rules.get(v.rule.id)
        if hit is not None:
            cand &= ~hit
        if not cand.any():
            continue
        for i, (cond, folded) in enumerate(zip(v.rule.when, v.folded)):
            ok = facts.mask(folded)
            fail = cand & ~ok
            if i > 0 and fail.any():
                pos = np.flatnonzero(fail)
                out.append(dict(pos=pos, vi=np.full(len(pos), vi, np.int32), variant=v,
                                cond=cond.text,
                                detail=_details(facts, v, cond.text, folded, pos, minor_units)))
            cand &= ok
            if not cand.any():
                break
    return out


def _const_detail(v, text: str, folded) -> str:
    if isinstance(folded, Const):
        vals = [f"{p} is {v.params.get(p)!r}" for p in sorted(v.rule.params) if p in text]
        return (f"{text} is false for this configuration "
                f"({'; '.join(vals) or 'parameter not set'})")
    return f"{render(folded)} is false"


def _shown(facts: Facts, name: str, pos: np.ndarray, mu: int, raw: bool) -> pa.Array:
    """repr() of the value as Runner._show (or, ``raw``, the fact value itself) shows it."""
    kind = FIELDS[name][0]
    col = facts.col(name)[pos]
    if kind == "str":
        vocab = facts._vocab.get(name)
        values = np.array([repr(x) for x in vocab], object)[col] if vocab is not None \
            else np.array([repr(x) for x in col], object)
        return pa.array(values, pa.string())
    ints = np.asarray(col).astype(np.int64)
    if raw or kind == "int":
        return pc.cast(pa.array(ints), pa.string())
    if kind == "bool":
        return pa.array(np.where(ints != 0, "True", "False"))
    if kind == "money":
        return pc.binary_join_element_wise("'", format_money_array(ints, mu), "'", "")
    if kind == "date":
        y, m, d = ints // 10000, ints // 100 % 100, ints % 100
        text = pc.binary_join_element_wise(
            pc.utf8_lpad(pc.cast(pa.array(y), pa.string()), 4, "0"),
            pc.utf8_lpad(pc.cast(pa.array(m), pa.string()), 2, "0"),
            pc.utf8_lpad(pc.cast(pa.array(d), pa.string()), 2, "0"), "-")
        quoted = pc.binary_join_element_wise("'", text, "'", "")
        return pc.if_else(pa.array(ints == 0), "None", quoted)
    return pc.cast(pa.array(ints), pa.string())


def _wanted(kind: str, value, mu: int) -> str:
    from ..money import format_money

    if isinstance(value, bool):
        return repr(value)
    if kind == "money":
        return repr(format_money(value, mu))
    if kind == "date" and isinstance(value, int):
        return repr(f"{value // 10000:04d}-{value // 100 % 100:02d}-{value % 100:02d}"
                    if value else None)
    return repr(value)


def _details(facts: Facts, v, text: str, folded, pos: np.ndarray, mu: int) -> pa.Array:
    n = len(pos)
    if isinstance(folded, Cmp):
        name = folded.left.name
        actual = _shown(facts, name, pos, mu, raw=False)
        tail = f", needs {folded.op} {_wanted(FIELDS[name][0], folded.right.value, mu)}"
        return pc.binary_join_element_wise(f"{name} is ", actual, tail, "")
    if isinstance(folded, In):
        name = folded.left.name
        actual = _shown(facts, name, pos, mu, raw=True)
        tail = (f", needs {'not ' if folded.negate else ''}one of "
                f"{[o.value for o in folded.options]}")
        return pc.binary_join_element_wise(f"{name} is ", actual, tail, "")
    return pa.array([_const_detail(v, text, folded)] * n, pa.string())


def frame(engine, chunks: list, exclude: np.ndarray, sa_rows: dict | None = None,
          ids: bool = True) -> pd.DataFrame:
    """The why-not rows as a frame, per account in (process, variant, SA) order
    (``sa_rows["why_not"]`` receives each row's SA position when given; ``ids=False``:
    without ``account_id`` and ``sa_id``)."""
    from .frames import _cat, _text, empty

    if sa_rows is None:
        sa_rows = {}
    if not chunks:
        sa_rows["why_not"] = np.zeros(0, np.int64)
        return empty(WHY_NOT_COLUMNS)
    s = engine.s
    rows = np.concatenate([c["rows"] for c in chunks])
    pidx = np.concatenate([np.full(len(c["rows"]), c["pidx"], np.int64) for c in chunks])
    vi = np.concatenate([c["vi"] for c in chunks]).astype(np.int64)
    gv = np.concatenate([np.full(len(c["rows"]), k, np.int64) for k, c in enumerate(chunks)])
    conds = [c["cond"] for c in chunks]
    cond_codes = sorted(set(conds))
    ci = np.concatenate([np.full(len(c["rows"]), cond_codes.index(c["cond"]), np.int32)
                         for c in chunks])
    detail = pa.concat_arrays([c["detail"] for c in chunks])
    acct = s.acct[rows]
    keep = ~exclude[acct]
    order = np.lexsort((s.rank[rows], vi, pidx, acct))
    order = order[keep[order]]
    rules = list(dict.fromkeys(r.id for r in engine.book.rules))
    seeds = sorted({r.seed_step for r in engine.book.rules})
    variants = [c["variant"] for c in chunks]
    vrule = np.array([rules.index(v.rule.id) for v in variants], np.int32)
    vseed = np.array([seeds.index(v.rule.seed_step) for v in variants], np.int32)
    from ..rules.vocabulary import PROCESSES

    take = pa.array(order)
    sa_rows["why_not"] = rows[order]
    id_cols = {"account_id": _text(s.account_ids.take(pa.array(acct[order]))),
               "sa_id": _text(s.sa_ids.take(pa.array(rows[order])))} if ids else {}
    return pd.DataFrame({
        **id_cols,
        "process": _cat(pidx[order], PROCESSES),
        "rule": _cat(vrule[gv[order]], rules),
        "seed_step": _cat(vseed[gv[order]], seeds),
        "condition": _cat(ci[order], cond_codes),
        "detail": _text(detail.take(take)),
    })
