"""Conditions: parsed from text, folded against configuration, evaluated.

A condition is a small Python-like expression (``sa.months_held >=
deposit_class.refund_criteria.hold_months``). It is parsed with :mod:`ast` into
our own nodes; parameters are replaced by the values of one deposit class /
customer class (a *variant*) and folded, so that what reaches an engine only
compares fact fields with constants.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Union

from .vocabulary import FIELDS, PARAMS


class ConditionSyntaxError(ValueError):
    def __init__(self, message: str, code: str = "bad-condition", offset: int = 0):
        super().__init__(message)
        self.code = code
        self.offset = offset


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Param:
    name: str
    negate: bool = False


@dataclass(frozen=True)
class Const:
    value: Any


@dataclass(frozen=True)
class Cmp:
    op: str  # == != < <= > >=
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class In:
    left: "Expr"
    options: tuple["Expr", ...]
    negate: bool = False


@dataclass(frozen=True)
class Not:
    expr: "Expr"


@dataclass(frozen=True)
class And:
    items: tuple["Expr", ...]


@dataclass(frozen=True)
class Or:
    items: tuple["Expr", ...]


Expr = Union[Field, Param, Const, Cmp, In, Not, And, Or]

_OPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
NEGATE = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _operand(node: ast.AST) -> Expr:
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, bool)):
        return Const(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _operand(node.operand)
        if isinstance(inner, Const) and isinstance(inner.value, int):
            return Const(-inner.value)
        if isinstance(inner, Param):
            return Param(inner.name, not inner.negate)
        raise ConditionSyntaxError("unary minus applies to numbers and parameters only",
                                   offset=node.col_offset)
    name = _dotted(node)
    if name is None:
        raise ConditionSyntaxError(f"cannot use {ast.unparse(node)!r} here: write a fact field, "
                                   "a parameter, a quoted string or an integer",
                                   offset=getattr(node, "col_offset", 0))
    if name in FIELDS:
        return Field(name)
    if name in PARAMS:
        return Param(name)
    root = name.split(".")[0]
    if root in ("sa", "account", "process_date"):
        raise ConditionSyntaxError(f"unknown fact field {name!r}; see `deprules rules "
                                   "vocabulary` for the fields", "unknown-field",
                                   getattr(node, "col_offset", 0))
    raise ConditionSyntaxError(f"unknown parameter {name!r}; see `deprules rules vocabulary`",
                               "unknown-parameter", getattr(node, "col_offset", 0))


def _convert(node: ast.AST) -> Expr:
    if isinstance(node, ast.BoolOp):
        items = tuple(_convert(v) for v in node.values)
        return And(items) if isinstance(node.op, ast.And) else Or(items)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return Not(_convert(node.operand))
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1:
            raise ConditionSyntaxError("chained comparisons: write two conditions instead",
                                       offset=node.col_offset)
        op, right = node.ops[0], node.comparators[0]
        left = _operand(node.left)
        if isinstance(op, (ast.In, ast.NotIn)):
            if not isinstance(right, (ast.List, ast.Tuple)):
                raise ConditionSyntaxError("`in` needs a list: x in [\"a\", \"b\"]",
                                           offset=right.col_offset)
            return In(left, tuple(_operand(e) for e in right.elts), isinstance(op, ast.NotIn))
        if type(op) not in _OPS:
            raise ConditionSyntaxError(f"unsupported operator {ast.unparse(node)!r}",
                                       offset=node.col_offset)
        return Cmp(_OPS[type(op)], left, _operand(right))
    operand = _operand(node)
    if isinstance(operand, (Field, Param)):
        kind = (FIELDS.get(operand.name) or PARAMS.get(operand.name))[0]
        if kind != "bool":
            raise ConditionSyntaxError(f"{operand.name} is a {kind}, not a yes/no value: compare "
                                       "it with something", offset=0)
        return Cmp("==", operand, Const(True))
    raise ConditionSyntaxError("a condition must be a comparison or a yes/no field")


def parse_condition(text: str) -> Expr:
    if len(text) > 2000:
        raise ConditionSyntaxError("a condition longer than 2,000 characters: split it into "
                                   "several conditions")
    try:
        tree = ast.parse(text.strip(), mode="eval")
        return _convert(tree.body)
    except SyntaxError as exc:
        raise ConditionSyntaxError(f"cannot parse condition: {exc.msg}",
                                   offset=(exc.offset or 1) - 1) from None
    except ConditionSyntaxError:
        raise
    except (RecursionError, MemoryError):
        raise ConditionSyntaxError("the condition is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer literal of thousands of digits
        raise ConditionSyntaxError(f"cannot read the condition: {exc}") from None


def referenced(expr: Expr) -> tuple[set[str], set[str]]:
    """(fields, params) an expression mentions."""
    fields: set[str] = set()
    params: set[str] = set()

    def walk(e):
        if isinstance(e, Field):
            fields.add(e.name)
        elif isinstance(e, Param):
            params.add(e.name)
        elif isinstance(e, Cmp):
            walk(e.left), walk(e.right)
        elif isinstance(e, In):
            walk(e.left)
            for o in e.options:
                walk(o)
        elif isinstance(e, Not):
            walk(e.expr)
        elif isinstance(e, (And, Or)):
            for i in e.items:
                walk(i)

    walk(expr)
    return fields, params


def guarded_values(expr: Expr, name: str, values) -> set | None:
    """The values of fact ``name`` a folded condition can hold with, from its top-level
    ``==``, ``!=``, ``in`` and ``not in`` comparisons of ``name`` (None: it does not limit
    them; an empty set: a condition folded to false holds with none)."""
    if isinstance(expr, Const) and not expr.value:
        return set()
    ok, limited = set(values), False
    for item in (expr.items if isinstance(expr, And) else (expr,)):
        if isinstance(item, Cmp) and item.left.name == name and item.op in ("==", "!="):
            hit = {v for v in values if v == item.right.value}
            ok &= hit if item.op == "==" else set(values) - hit
            limited = True
        elif isinstance(item, In) and item.left.name == name:
            opts = {o.value for o in item.options}
            ok &= (set(values) - opts) if item.negate else opts
            limited = True
    return ok if limited else None


# ---- folding ---------------------------------------------------------------------------
MISSING = object()


def _value(e: Expr, params: dict) -> Any:
    if isinstance(e, Const):
        return e.value
    if isinstance(e, Param):
        v = params.get(e.name, MISSING)
        if v is MISSING or v is None:
            return MISSING
        return -v if e.negate else v
    return e  # a Field stays symbolic


def _compare(op: str, a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        a, b = int(a), int(b)
    if type(a) is not type(b) and not (isinstance(a, int) and isinstance(b, int)):
        return False if op != "!=" else True
    return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def fold(e: Expr, params: dict, negate: bool = False) -> Expr:
    """Substitute parameters, fold constants, push negation down to comparisons.

    The result is Const(bool), Cmp(op, Field, Const), In(Field, consts) or And/Or of them.
    A comparison with a parameter the configuration does not have is false.
    """
    if isinstance(e, Not):
        return fold(e.expr, params, not negate)
    if isinstance(e, (And, Or)):
        is_and = isinstance(e, And) != negate
        items = [fold(i, params, negate) for i in e.items]
        out = []
        for i in items:
            if isinstance(i, Const):
                if i.value is (not is_and):
                    return Const(not is_and)
                continue
            out.append(i)
        if not out:
            return Const(is_and)
        if len(out) == 1:
            return out[0]
        return And(tuple(out)) if is_and else Or(tuple(out))
    if isinstance(e, In):
        left = _value(e.left, params)
        opts = [_value(o, params) for o in e.options]
        neg = e.negate != negate
        if left is MISSING:
            return Const(False)
        opts = [o for o in opts if o is not MISSING]
        if not isinstance(left, Field):
            hit = any(_compare("==", left, o) for o in opts)
            return Const(hit != neg)
        if not opts:
            return Const(neg)
        return In(left, tuple(Const(o) for o in opts), neg)
    if isinstance(e, Cmp):
        a, b = _value(e.left, params), _value(e.right, params)
        op = NEGATE[e.op] if negate else e.op
        if a is MISSING or b is MISSING:
            return Const(False)
        if not isinstance(a, Field) and not isinstance(b, Field):
            return Const(_compare(op, a, b))
        if not isinstance(a, Field):
            a, b, op = b, a, FLIP[op]
        if isinstance(b, Field):
            raise ConditionSyntaxError("compare a fact field with a constant or a parameter, "
                                       "not with another field")
        if isinstance(b, bool) and op == "!=":
            op, b = "==", not b  # say "is false" rather than "is not true"
        _check_types(a.name, b, op)
        return Cmp(op, a, Const(b))
    raise TypeError(f"cannot fold {e!r}")


def key(name: str) -> str:
    """The fact key of a field name (engines do not like dots in property names)."""
    return name.replace(".", "__")


_KIND_TYPES = {"str": str, "int": int, "money": int, "date": int, "bool": bool}


def _check_types(name: str, value: Any, op: str) -> None:
    kind = FIELDS[name][0]
    want = _KIND_TYPES[kind]
    ok = isinstance(value, bool) if want is bool else (
        isinstance(value, want) and not isinstance(value, bool))
    if not ok:
        raise ConditionSyntaxError(f"{name} is a {kind} field but is compared with "
                                   f"{value!r}", "type-mismatch")
    if kind in ("str", "bool") and op not in ("==", "!="):
        raise ConditionSyntaxError(f"{name} is a {kind} field: compare it with == or != only",
                                   "type-mismatch")


def compile_python(e: Expr):
    """A folded expression as a Python function of a fact (generated from our own AST only).

    Equivalent to :func:`evaluate` (folding has checked the types), several times faster.
    """
    def src(x: Expr) -> str:
        if isinstance(x, Const):
            return "True" if x.value else "False"
        if isinstance(x, Cmp):
            v = int(x.right.value) if isinstance(x.right.value, bool) else x.right.value
            return f"(f[{key(x.left.name)!r}] {x.op} {v!r})"
        if isinstance(x, In):
            vals = tuple(int(o.value) if isinstance(o.value, bool) else o.value
                         for o in x.options)
            return f"(f[{key(x.left.name)!r}] {'not in' if x.negate else 'in'} {vals!r})"
        if isinstance(x, And):
            return "(" + " and ".join(src(i) for i in x.items) + ")"
        if isinstance(x, Or):
            return "(" + " or ".join(src(i) for i in x.items) + ")"
        raise TypeError(f"cannot compile {x!r}")

    return eval(compile(f"lambda f: {src(e)}", "<rule>", "eval"), {"__builtins__": {}})


def evaluate(e: Expr, fact: dict) -> bool:
    """Evaluate a folded expression against a fact (keys from :func:`key`)."""
    if isinstance(e, Const):
        return bool(e.value)
    if isinstance(e, Cmp):
        return _compare(e.op, fact.get(key(e.left.name)), e.right.value)
    if isinstance(e, In):
        v = fact.get(key(e.left.name))
        return any(_compare("==", v, o.value) for o in e.options) != e.negate
    if isinstance(e, And):
        return all(evaluate(i, fact) for i in e.items)
    if isinstance(e, Or):
        return any(evaluate(i, fact) for i in e.items)
    raise TypeError(f"cannot evaluate {e!r}")


def render(e: Expr) -> str:
    if isinstance(e, Const):
        return repr(e.value) if not isinstance(e.value, bool) else str(e.value).lower()
    if isinstance(e, Field):
        return e.name
    if isinstance(e, Param):
        return ("-" if e.negate else "") + e.name
    if isinstance(e, Cmp):
        return f"{render(e.left)} {e.op} {render(e.right)}"
    if isinstance(e, In):
        return f"{render(e.left)} {'not in' if e.negate else 'in'} [{', '.join(render(o) for o in e.options)}]"
    if isinstance(e, Not):
        return f"not ({render(e.expr)})"
    if isinstance(e, And):
        return " and ".join(f"({render(i)})" for i in e.items)
    if isinstance(e, Or):
        return " or ".join(f"({render(i)})" for i in e.items)
    return repr(e)
