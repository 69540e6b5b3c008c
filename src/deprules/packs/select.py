"""``-k EXPRESSION``: pick scenarios as pytest does.

Words match case-insensitively as substrings of the scenario's name, its pack
file's path or one of its seed steps; ``and``, ``or``, ``not`` and parentheses
combine them (``-k "seizure or 2.4"``, ``-k "ohio and not interest"``).
"""

from __future__ import annotations

import re

from ..errors import InputError

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


def _tokens(expr: str) -> list[str]:
    out, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            break
        out.append(m.group(1))
        pos = m.end()
    return out


def compile_keyword(expr: str):
    """A predicate over a set of haystack strings; InputError for a malformed expression."""
    toks = _tokens(expr)
    if not toks:
        raise InputError("-k: the expression is empty")
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else None

    def take():
        nonlocal pos
        pos += 1
        return toks[pos - 1]

    def parse_or():
        left = parse_and()
        while peek() == "or":
            take()
            right = parse_and()
            left = (lambda a, b: lambda h: a(h) or b(h))(left, right)
        return left

    def parse_and():
        left = parse_not()
        while peek() == "and":
            take()
            right = parse_not()
            left = (lambda a, b: lambda h: a(h) and b(h))(left, right)
        return left

    def parse_not():
        if peek() == "not":
            take()
            inner = parse_not()
            return lambda h: not inner(h)
        return parse_atom()

    def parse_atom():
        tok = peek()
        if tok is None or tok in ("and", "or", ")"):
            raise InputError(f"-k {expr!r}: expected a word at position {pos + 1}")
        take()
        if tok == "(":
            inner = parse_or()
            if peek() != ")":
                raise InputError(f"-k {expr!r}: missing )")
            take()
            return inner
        word = tok.lower()
        return lambda h: any(word in s for s in h)

    pred = parse_or()
    if pos != len(toks):
        raise InputError(f"-k {expr!r}: unexpected {toks[pos]!r}")
    return pred


def haystack(sc) -> list[str]:
    return [sc.name.lower(), sc.file.lower()] + [s.lower() for s in sc.seed_steps]


def matches_keyword(expr: str, sc) -> bool:
    return compile_keyword(expr)(haystack(sc))
