"""The in-process Python API: load the configuration once, evaluate accounts given as dicts.

    from deprules.api import Decider, RequestError

    decider = Decider("config", "rules")          # validated once (ConfigError if invalid)
    doc = decider.evaluate({
        "account_id": "A1", "as_of": "2026-11-21",
        "accounts": [{"account_id": "A1", "customer_class": "RES", "credit_rating": "700"}],
        "service_agreements": [{"sa_id": "S1", "account_id": "A1", "sa_type": "DEP-RES", ...}],
    })
    # doc is exactly what `deprules evaluate A1 --extract DIR --as-of 2026-11-21
    # --format json` prints for the same rows (schema_version first)

A request's rows are objects with the extract's column names and text values as in a CSV
(docs/extract-format.md; money as decimal text). They are checked by the extract readers
themselves, not by a second validator: each table is written as the CSV file an extract
would hold (in a private temporary folder) and read by the same reader as ``deprules
evaluate`` (``extract.single.load_account``; ``evaluate_batch``: the full reader of
``deprules extract check``). Problems come back located by table, row index (0-based, in
the request's list) and column (:class:`RequestError`).

``decider.reload()`` loads the configuration again and swaps it in only when valid; the
decision service (``deprules serve``, docs/service.md) is built on this class.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from .errors import ConfigError, DeprulesError, ExtractError, InputError, Problem
from .extract.context import TABLES
from .workspace import Setup, extract_context, load_setup

SCHEMA_VERSION = 1
ROW_TABLES = tuple(TABLES)  # accounts, service_agreements, non_cash_deposits, financial_transactions
#: most rows of one table in one request (a batch: of all its accounts)
MAX_ROWS = 100_000
ENGINES = ("durable", "python")
_KNOWN_KEYS = {"account_id", "as_of", "explain", "whatif", "set", *ROW_TABLES}
_BATCH_KEYS = {"as_of", "explain", "whatif", "set", "account_ids", "engine", *ROW_TABLES}
BATCH_ENGINES = ("vector", "python")


class RequestError(DeprulesError):
    """A request that cannot be evaluated. ``status`` is the HTTP status the service
    answers (400 not JSON or not an object, 422 a field or a row is wrong); ``problems``
    lists every problem found, each a dict with ``message`` and ``code`` and either
    ``field`` (a request field, e.g. ``as_of`` or ``accounts[3]``) or ``table``, ``row``
    (index in the request's list; None for the table as a whole) and ``column``."""

    def __init__(self, problems: list[dict], status: int = 422):
        self.problems = problems
        self.status = status
        super().__init__("; ".join(_describe(p) for p in problems))

    def as_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, "ok": False, "problems": self.problems}


def _describe(p: dict) -> str:
    if "table" in p:
        where = p["table"] + (f"[{p['row']}]" if p.get("row") is not None else "")
        where += f".{p['column']}" if p.get("column") else ""
    else:
        where = p.get("field") or "request"
    return f"{where}: {p['message']}"


def field_problem(field: str, message: str, code: str = "bad-field") -> dict:
    return {"field": field, "message": message, "code": code}


@dataclass(frozen=True)
class Loaded:
    """One loaded configuration and what evaluates with it."""

    setup: Setup
    runner: Any  # Runner (evaluate)
    ctx: Any  # ExtractContext
    batch_runner: Any  # Runner (evaluate_batch)

    @property
    def hash(self) -> str:
        return self.setup.hash


def _load(config_dir, rules_dir, engine: str, overlays=(), sets=()) -> Loaded:
    from .runner import Runner

    setup = load_setup(config_dir, rules_dir, overlays, sets)
    # run_id and user as `deprules evaluate` gives them (user "batch" is in the document:
    # created_by); the service's own user goes to the decision log. Batches always use the
    # python matcher: the same decisions (tests/test_engine_differential.py), no engine lock
    runner = Runner(setup.book, backend=engine)
    batch = runner if engine == "python" else Runner(setup.book, backend="python")
    return Loaded(setup, runner, extract_context(setup.config), batch)


class Decider:
    """Configuration + rules loaded once; ``evaluate`` and ``evaluate_batch`` take request
    dicts. Thread-safe: the service calls it from a thread pool.

    ``direct=False`` always writes the rows as files for the extract reader (the answer is
    the same; tests compare the two ways)."""

    direct = True

    def __init__(self, config_dir: Path | str = "config", rules_dir: Path | str = "rules",
                 engine: str = "python", candidates: int = 16, direct: bool = True):
        if engine not in ENGINES:
            raise InputError(f"unknown engine {engine!r}; expected durable or python")
        self.config_dir, self.rules_dir, self.engine = Path(config_dir), Path(rules_dir), engine
        self.direct = direct
        self._current = _load(self.config_dir, self.rules_dir, engine)
        self._candidates: OrderedDict[tuple, Loaded] = OrderedDict()
        self._max_candidates = candidates
        self._lock = threading.Lock()
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
        self._tmp = tempfile.mkdtemp(prefix="deprules-api-", dir=base)
        self._local = threading.local()

    # ---- configuration -----------------------------------------------------------------
    @property
    def current(self) -> Loaded:
        return self._current

    @property
    def hash(self) -> str:
        return self._current.hash

    def reload(self) -> Loaded:
        """Load configuration and rules again; swap them in only when valid (ConfigError
        otherwise, and the old configuration keeps serving)."""
        new = _load(self.config_dir, self.rules_dir, self.engine)
        with self._lock:
            self._current = new
            self._candidates.clear()
        return new

    def candidate(self, whatif: dict | None, sets: list[str] | None) -> Loaded:
        """The serving configuration with an overlay of sections and PATH=VALUE changes
        (as ``--whatif FILE --set PATH=VALUE``); cached by content."""
        if not whatif and not sets:
            return self._current
        base = self._current
        key = (base.hash, json.dumps(whatif or {}, sort_keys=True, default=str),
               tuple(sets or ()))
        with self._lock:
            hit = self._candidates.get(key)
            if hit is not None:
                self._candidates.move_to_end(key)
                return hit
        import yaml

        overlays = []
        folder = Path(tempfile.mkdtemp(prefix="whatif-", dir=self._tmp))
        try:
            if whatif:
                path = folder / "whatif.yaml"
                path.write_text(yaml.safe_dump(whatif, sort_keys=False), encoding="utf-8")
                overlays.append(path)
            try:
                loaded = _load(self.config_dir, self.rules_dir, self.engine, overlays,
                               list(sets or ()))
            except ConfigError as exc:
                raise RequestError([_config_problem(p, folder) for p in exc.problems]) from None
            except InputError as exc:
                raise RequestError([field_problem("whatif", str(exc))]) from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        with self._lock:
            self._candidates[key] = loaded
            while len(self._candidates) > self._max_candidates:
                self._candidates.popitem(last=False)
        return loaded

    # ---- evaluation ----------------------------------------------------------------------
    def evaluate(self, request: dict) -> dict:
        """The ``deprules evaluate --format json`` document of one account (DESIGN.md 1.5).
        Raises RequestError (bad fields or rows) or EngineError."""
        from .api_rows import direct_state
        from .extract.single import load_account
        from .results import evaluate_json

        req = check_request(request, batch=False)
        loaded = self.candidate(req["whatif"], req["set"])
        # the rows as the extract reader takes them, without files when nothing in them
        # could meet a byte-level check (api_rows); otherwise, and for every refusal,
        # written as an extract's CSV files and read by the reader itself
        taken, state = direct_state(req["account_id"], req["tables"], loaded.ctx) \
            if self.direct else (False, None)
        if not taken:
            folder = self._folder()
            files = write_tables(folder, req["tables"])
            try:
                state = load_account(folder, req["account_id"], loaded.ctx,
                                     loaded.setup.config)
            except ExtractError as exc:
                raise RequestError(locate(exc.problems, files)) from None
        if state is None:
            raise RequestError([field_problem(
                "account_id", f"account {req['account_id']!r} is not in the accounts rows",
                "unknown-account")])
        run = loaded.runner.run_cycle(state, req["as_of"], explain=req["explain"])
        doc = evaluate_json(run, req["as_of"], loaded.hash,
                            loaded.setup.config.installation.minor_units, loaded.setup.config,
                            req["explain"])
        return {"schema_version": SCHEMA_VERSION, **doc}

    def evaluate_batch(self, request: dict) -> dict:
        """Many accounts at once: every table is read and checked once by the full extract
        reader, then each account (all of them, or ``account_ids``) is evaluated; each
        document of ``results`` equals what ``evaluate`` gives for that account."""
        from .ledger.tables import states_from_extract
        from .extract import load_extract
        from .results import evaluate_json
        from .workspace import _subset

        req = check_request(request, batch=True)
        loaded = self.candidate(req["whatif"], req["set"])
        folder = self._folder()
        files = write_tables(folder, req["tables"])
        try:
            extract = load_extract(folder, loaded.ctx)
        except ExtractError as exc:
            raise RequestError(locate(exc.problems, files)) from None
        wanted = req["account_ids"]
        if wanted is not None:
            known = set(extract.accounts["account_id"].tolist())
            missing = [a for a in wanted if a not in known]
            if missing:
                raise RequestError([field_problem(
                    "account_ids", f"not in the accounts rows: {', '.join(missing[:20])}",
                    "unknown-account")])
            extract = _subset(extract, set(wanted))
        states = states_from_extract(extract, loaded.setup.config)
        mu = loaded.setup.config.installation.minor_units
        engine = req["engine"] or ("python" if req["explain"] else "vector")
        if engine == "vector" and req["explain"]:
            raise RequestError([field_problem(
                "engine", "explain is answered by the per-account runner (engine python, the "
                "default with explain): the vector back end keeps no why-not of its own "
                "that equals the runner's", "bad-value")])
        if engine == "vector" and states:
            from .api_vector import vector_runs

            runs = vector_runs(extract, loaded.setup.book, loaded.batch_runner, states,
                               req["as_of"])
        else:
            runs = {a: loaded.batch_runner.run_cycle(states[a], req["as_of"],
                                                     explain=req["explain"])
                    for a in sorted(states)}
        results = [{"schema_version": SCHEMA_VERSION,
                    **evaluate_json(runs[a], req["as_of"], loaded.hash, mu,
                                    loaded.setup.config, req["explain"])}
                   for a in sorted(runs)]
        return {"schema_version": SCHEMA_VERSION, "config_hash": loaded.hash,
                "as_of": req["as_of"].isoformat(), "engine": engine,
                "accounts": len(results), "results": results}

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _folder(self) -> Path:
        """This thread's scratch extract folder (reused: its files are rewritten)."""
        folder = getattr(self._local, "folder", None)
        if folder is None or not folder.is_dir():
            folder = Path(tempfile.mkdtemp(prefix="rows-", dir=self._tmp))
            self._local.folder = folder
        return folder


# ---- the request -------------------------------------------------------------------------
def check_request(body: Any, batch: bool) -> dict:
    """The request's fields, checked for shape and type (not the rows' values: the
    extract reader checks those). Raises RequestError naming every wrong field."""
    from .cli.common import PROCESS_DATE_MAX, PROCESS_DATE_MIN

    if not isinstance(body, dict):
        raise RequestError([field_problem("", "the body must be a JSON object", "not-an-object")],
                           status=400)
    problems: list[dict] = []
    known = _BATCH_KEYS if batch else _KNOWN_KEYS
    for k in body:
        if k not in known:
            problems.append(field_problem(str(k), f"unknown field {k!r} (expected "
                                          f"{', '.join(sorted(known))})", "unknown-field"))
    out: dict = {}
    if not batch:
        a = body.get("account_id")
        if not isinstance(a, str) or not a:
            problems.append(field_problem("account_id", "account_id is required, a non-empty "
                                          "string", "missing-field" if a is None else "bad-type"))
        out["account_id"] = a
    as_of = body.get("as_of")
    out["as_of"] = None
    if not isinstance(as_of, str):
        problems.append(field_problem("as_of", "as_of is required, a date YYYY-MM-DD",
                                      "missing-field" if as_of is None else "bad-type"))
    else:
        try:
            if len(as_of) != 10:
                raise ValueError
            d = date.fromisoformat(as_of)
            if not PROCESS_DATE_MIN <= d <= PROCESS_DATE_MAX:
                problems.append(field_problem(
                    "as_of", f"{as_of} is outside the process dates deprules accepts "
                    f"({PROCESS_DATE_MIN.isoformat()} to {PROCESS_DATE_MAX.isoformat()})",
                    "bad-date"))
            out["as_of"] = d
        except ValueError:
            problems.append(field_problem("as_of", f"{as_of!r} is not a date YYYY-MM-DD",
                                          "bad-date"))
    explain = body.get("explain", False)
    if not isinstance(explain, bool):
        problems.append(field_problem("explain", "explain must be true or false", "bad-type"))
    out["explain"] = explain is True
    whatif = body.get("whatif")
    if whatif is not None and not isinstance(whatif, dict):
        problems.append(field_problem("whatif", "whatif must be an object of configuration "
                                      "sections (as an overlay YAML file holds)", "bad-type"))
    out["whatif"] = whatif if isinstance(whatif, dict) else None
    sets = body.get("set")
    if sets is not None and not (isinstance(sets, list) and all(isinstance(s, str) for s in sets)):
        problems.append(field_problem("set", 'set must be a list of "PATH=VALUE" strings',
                                      "bad-type"))
        sets = None
    out["set"] = sets or None
    if batch:
        ids = body.get("account_ids")
        if ids is not None and not (isinstance(ids, list) and ids and
                                    all(isinstance(a, str) and a for a in ids)):
            problems.append(field_problem("account_ids", "account_ids must be a non-empty list "
                                          "of account ids", "bad-type"))
            ids = None
        out["account_ids"] = ids
        engine = body.get("engine")
        if engine is not None and engine not in BATCH_ENGINES:
            problems.append(field_problem("engine", "engine is vector (the default) or python "
                                          "(the per-account runner)", "bad-value"))
            engine = None
        out["engine"] = engine
    tables: dict[str, list[dict]] = {}
    for t in ROW_TABLES:
        rows = body.get(t)
        if rows is None:
            if t in ("accounts", "service_agreements"):
                problems.append(field_problem(t, f"{t} is required, a list of row objects",
                                              "missing-field"))
            continue
        if not isinstance(rows, list):
            problems.append(field_problem(t, f"{t} must be a list of row objects", "bad-type"))
            continue
        if len(rows) > MAX_ROWS:
            problems.append(field_problem(t, f"{len(rows)} rows; at most {MAX_ROWS} in one "
                                          "request", "too-many-rows"))
            continue
        tables[t] = [_row(t, i, r, problems) for i, r in enumerate(rows)]
    out["tables"] = tables
    if problems:
        raise RequestError(problems[:200])
    return out


def _row(table: str, i: int, row: Any, problems: list) -> dict:
    where = f"{table}[{i}]"
    if not isinstance(row, dict):
        problems.append(field_problem(where, "a row must be an object of column: text",
                                      "bad-type"))
        return {}
    out = {}
    for k, v in row.items():
        if v is None:
            v = ""
        elif isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, int):
            v = str(v)
        elif not isinstance(v, str):
            kind = "a number with a fraction (money is decimal text, e.g. \"102.42\")" \
                if isinstance(v, float) else f"a {type(v).__name__}"
            problems.append(field_problem(f"{where}.{k}", f"{k} is {kind}; values are text "
                                          "as in a CSV extract", "bad-type"))
            continue
        if "\n" in v or "\r" in v or "\x00" in v:
            problems.append(field_problem(f"{where}.{k}", f"{k} holds a line break or NUL; a "
                                          "value is one line of text", "bad-value"))
            continue
        if "\n" in k or "\r" in k or "," in k or '"' in k:
            problems.append(field_problem(f"{where}.{k}", "a column name cannot hold a comma, "
                                          "quote or line break", "bad-column"))
            continue
        out[k] = v
    return out


def write_tables(folder: Path, tables: dict[str, list[dict]]) -> dict[str, list[str]]:
    """Each table as ``NAME.csv`` in ``folder`` (header: the columns of its rows in order of
    first appearance, or every column of the format when there are no rows; row i on line
    i + 2); tables not given are removed. Returns each file's header."""
    headers = {}
    for t in ROW_TABLES:
        path = folder / f"{t}.csv"
        rows = tables.get(t)
        if rows is None and t not in ("accounts", "service_agreements"):
            if path.exists():
                path.unlink()
            continue
        rows = rows or []
        header: dict[str, None] = {}
        for r in rows:
            for k in r:
                header.setdefault(k, None)
        if not rows:
            header = dict.fromkeys(c.name for c in TABLES[t])
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        cols = list(header)
        for r in rows:
            w.writerow([r.get(c, "") for c in cols])
        path.write_text(buf.getvalue(), encoding="utf-8")
        headers[t] = cols
    return headers


def locate(problems: list[Problem], headers: dict[str, list[str]]) -> list[dict]:
    """Extract problems (``accounts.csv:LINE:COL``) as request locations: table, row index in
    the request's list (None: the table as a whole, e.g. a missing column), column."""
    out = []
    for p in problems:
        table = p.file[:-4] if p.file.endswith(".csv") else p.file
        cols = headers.get(table, [])
        column = p.path or (cols[p.column - 1] if 0 < p.column <= len(cols) else None)
        row = p.line - 2 if p.line >= 2 else None
        out.append({"table": table, "row": row, "column": column, "message": p.message,
                    "code": p.code})
    return out


def _config_problem(p: Problem, folder: Path) -> dict:
    file = p.file
    if str(folder) in file:
        file = "whatif"
    return {"field": "set" if file.startswith("--set") else "whatif", "file": file,
            "line": p.line, "column": p.column, "path": p.path, "message": p.message,
            "code": p.code}


def digest(body: bytes | str) -> str:
    """sha256 of a request body as received, for the decision log."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    return "sha256:" + hashlib.sha256(body).hexdigest()


__all__ = ["Decider", "RequestError", "check_request", "write_tables", "locate", "digest"]
