"""Matching back ends behind one narrow interface.

``DurableMatcher`` compiles a process's variants into a durable-rules ruleset and
contains the library's sharp edges (measured limits: docs/architecture.md): rulesets
are global and immutable, so they are named by content hash and registered once
per process; evaluation is made synchronous with a host whose timers never
start; every session is deleted when its account is done; every fact carries
an explicit unique id; unmatched facts are expected; errors inside actions are
captured and re-raised naming rule and account.

``PythonMatcher`` evaluates the same folded conditions directly. The two must
agree exactly (tests/test_engine_differential.py).
"""

from __future__ import annotations

import itertools
import threading
import warnings
from typing import Protocol

from ..errors import EngineError
from .book import RuleBook, Variant
from .conditions import And, Cmp, Const, Expr, In, Or, compile_python, key

Match = tuple[Variant, str]  # (variant, fact id = sa_id)


class Matcher(Protocol):
    name: str

    def match(self, process: str, facts: list[dict], account_id: str) -> list[Match]: ...


class PythonMatcher:
    name = "python"

    def __init__(self, book: RuleBook):
        self.book = book
        self._compiled: dict[str, list] = {}

    def _tests(self, process: str) -> list:
        if process not in self._compiled:
            self._compiled[process] = [(v, compile_python(v.expr))
                                       for v in self.book.variants(process) if v.possible]
        return self._compiled[process]

    def match(self, process: str, facts: list[dict], account_id: str) -> list[Match]:
        out = []
        for v, test in self._tests(process):
            for f in facts:
                if test(f):
                    out.append((v, f["id"]))
        return out


# Every fact carries SINK_FIELD and every ruleset has a no-op rule on it, so no fact is
# ever "not handled": deleting a session whose only fact was unhandled segfaults
# durable-rules 2.0.28 (measured; see docs/architecture.md).
SINK_FIELD = "deprules_fact"
SINK_RULE = "zz_sink"

_OPS = {"!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}


def _plain(v):
    return int(v) if isinstance(v, bool) else v


def to_durable(e: Expr) -> dict:
    """A folded expression as a durable-rules JSON condition on one fact."""
    if isinstance(e, Cmp):
        k, v = key(e.left.name), _plain(e.right.value)
        return {k: v} if e.op == "==" else {_OPS[e.op]: {k: v}}
    if isinstance(e, In):
        k = key(e.left.name)
        if e.negate:
            items = [{"$neq": {k: _plain(o.value)}} for o in e.options]
            return items[0] if len(items) == 1 else {"$and": items}
        items = [{k: _plain(o.value)} for o in e.options]
        return items[0] if len(items) == 1 else {"$or": items}
    if isinstance(e, And):
        return {"$and": [to_durable(i) for i in e.items]}
    if isinstance(e, Or):
        return {"$or": [to_durable(i) for i in e.items]}
    if isinstance(e, Const):
        # only reached for an always-true rule ($ex tests hang the engine: measured)
        return {SINK_FIELD: 1}
    raise TypeError(f"cannot compile {e!r}")


class _SyncHost:
    """A durable host whose background dispatch timers never start."""

    _lock = threading.Lock()
    _host = None

    @classmethod
    def get(cls):
        with cls._lock:
            if cls._host is None:
                # durable-rules 2.0.28 (its last release) calls datetime.utcfromtimestamp on
                # every action; Python 3.12 deprecates it. Nothing deprules can change: keep
                # it out of users' and the suite's output (it would fail a -W error run).
                warnings.filterwarnings("ignore", message=r"datetime\.datetime\.utcfromtimestamp",
                                        category=DeprecationWarning, module=r"durable\.")
                from durable.engine import Host

                class SyncHost(Host):
                    def _run(self):  # no timer threads: actions run inside assert_fact
                        return None

                cls._host = SyncHost()
            return cls._host


_registered: set[str] = set()
_reg_lock = threading.Lock()
# a ruleset's match buffer (_BUFFERS) is shared by every call on it: one call at a time,
# whatever the thread (the decision service evaluates on a thread pool)
_match_lock = threading.Lock()
_sid = itertools.count(1)


class DurableMatcher:
    name = "durable"

    def __init__(self, book: RuleBook):
        self.book = book
        self._names: dict[str, str | None] = {}
        self._index: dict[str, dict[str, Variant]] = {}

    def _ruleset(self, process: str) -> str | None:
        if process in self._names:
            return self._names[process]
        variants = [v for v in self.book.variants(process) if v.possible]
        if not variants:
            self._names[process] = None
            return None
        # the view names which effective-dated entries were folded in: same hash, other values
        name = f"deprules-{process}-{self.book.hash[:20]}{self.book.view}"
        index = {f"r{i}": v for i, v in enumerate(variants)}
        host = _SyncHost.get()
        with _reg_lock:
            if name not in _registered:
                # same content hash -> same variants in the same order, so a ruleset
                # registered by another matcher serves this one too
                definition = {rname: {"all": [{"m": to_durable(v.expr)}],
                                      "run": _action(name, rname)}
                              for rname, v in index.items()}
                definition[SINK_RULE] = {"all": [{"m": {SINK_FIELD: 1}}], "run": _sink}
                _BUFFERS[name] = ([], [])
                # register_rulesets pops "run" from the dicts it is given; this one is ours
                host.register_rulesets({name: definition})
                _registered.add(name)
        self._names[process] = name
        self._index[name] = index
        return name

    def match(self, process: str, facts: list[dict], account_id: str) -> list[Match]:
        name = self._ruleset(process)
        if name is None or not facts:
            return []
        host = _SyncHost.get()
        with _match_lock:
            return self._match(name, host, process, facts, account_id)

    def _match(self, name, host, process, facts, account_id) -> list[Match]:
        from durable.engine import MessageObservedException

        sid = f"{account_id}#{next(_sid)}"
        buffer, errors = _BUFFERS[name]
        buffer.clear()
        errors.clear()
        try:
            for f in facts:
                fact = dict(f)
                fact["sid"] = sid
                fact[SINK_FIELD] = 1
                try:
                    host.assert_fact(name, fact)
                except MessageObservedException:
                    raise EngineError(f"account {account_id}: the engine saw fact {f['id']} twice "
                                      "(duplicate SA id?)", account_id=account_id) from None
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError(f"rules engine failed on account {account_id} in {process}: "
                              f"{exc}", account_id=account_id) from None
        finally:
            # all actions have run (synchronous host), so deleting the session is safe
            try:
                host.delete_state(name, sid)
            except Exception:
                pass
        if errors:
            rname, exc = errors[0]
            rule = self._index[name][rname].name
            raise EngineError(f"rule {rule} failed on account {account_id}: {exc}", rule=rule,
                              account_id=account_id)
        seen = set()
        out = []
        index = self._index[name]
        for rname, fid in buffer:  # $or may fire once per branch: de-duplicate
            if rname == SINK_RULE or (rname, fid) in seen:
                continue
            seen.add((rname, fid))
            out.append((index[rname], fid))
        return out


# ruleset name -> (matches, errors) of the call in progress; evaluation is synchronous
_BUFFERS: dict[str, tuple[list, list]] = {}


def _sink(c):
    return None


def _action(name: str, rname: str):
    def run(c):
        buffer, errors = _BUFFERS[name]
        try:
            buffer.append((rname, c.m["id"]))
        except BaseException as exc:  # durable would swallow it
            errors.append((rname, exc))
    return run


def make_matcher(book: RuleBook, backend: str = "durable") -> Matcher:
    if backend == "durable":
        return DurableMatcher(book)
    if backend == "python":
        return PythonMatcher(book)
    raise ValueError(f"unknown engine back end {backend!r} (durable or python)")

