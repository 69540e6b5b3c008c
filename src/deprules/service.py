"""The decision service: ``deprules serve`` (FastAPI on uvicorn). docs/service.md.

Everything it decides goes through :class:`deprules.api.Decider`; this module adds HTTP,
bearer tokens and roles, metrics, the decision log, hot reload of the configuration, and
what-if simulations run as background jobs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
import traceback
import uuid
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import orjson
from fastapi import Request  # a module-level name: FastAPI resolves the annotations

from .api import SCHEMA_VERSION, Decider, RequestError, check_request, digest, field_problem
from .errors import ConfigError, DeprulesError
from .service_jobs import JOB_STATES, Job, Jobs, utc_now  # noqa: F401  (jobs: service_jobs)
from .tokens import ROLES, Identity, TokenStore

log = logging.getLogger("deprules.serve")

HASH_HEADER = "X-Deprules-Config-Hash"
DECISION_HEADER = "X-Deprules-Decision-Id"

#: who may call what (docs/service.md, "Roles"); /health, /ready and /metrics need no token
ACCESS: dict[str, frozenset[str]] = {
    "evaluate": frozenset({"analyst", "csr", "approver", "operator"}),
    "evaluate-candidate": frozenset({"analyst", "operator"}),  # with whatif or set
    "evaluate-batch": frozenset({"analyst", "operator"}),
    "simulations": frozenset({"analyst", "operator"}),
    "config": frozenset(ROLES),
    "config-reload": frozenset({"operator"}),
}
from .service_ledger import LEDGER_ACCESS  # noqa: E402  (the /v1/ledger endpoints)

ACCESS.update(LEDGER_ACCESS)

ANONYMOUS = Identity("anonymous", frozenset(ROLES), "")


@dataclass
class ServiceSettings:
    config_dir: Path = Path("config")
    rules_dir: Path = Path("rules")
    tokens: Path | None = None
    decision_log: Path | None = None
    extracts: Path | None = None  # the folder simulation jobs may read extracts under
    jobs_dir: Path | None = None  # where simulation outputs go (default: a temporary folder)
    max_jobs: int = 1  # simulations running at once
    max_queued_jobs: int = 8
    max_body_bytes: int = 8 * 1024 * 1024
    max_batch_body_bytes: int = 64 * 1024 * 1024
    request_timeout: float = 30.0
    batch_timeout: float = 300.0
    engine: str = "python"
    reload_interval: float = 2.0  # seconds between looks at config/ and rules/; 0: never
    store: Path | None = None  # the ledger store of the /v1/ledger endpoints
    store_wait: float = 5.0  # seconds a ledger change waits for another writer
    # a decision request up to this size with the serving configuration is decided on the
    # event loop (no thread hand-over; --timeout does not apply to it); larger ones and
    # candidates in the thread pool, under --timeout
    inline_bytes: int = 64 * 1024
    instance: str = ""  # this start of the service (shared by its workers); "" : a new one
    workers: int = 1  # worker processes (--workers); >1: shared_dir holds what they share
    worker: int = 0  # this process's index among them
    shared_dir: Path | None = None
    ap_dir: Path | None = None  # where POST /v1/ledger/ap/export writes A/P files


# ---- metrics (Prometheus text format 0.0.4) -----------------------------------------------
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self.requests: Counter = Counter()  # (endpoint, method, status)
        self.latency: dict[str, list] = {}  # endpoint -> [bucket counts..., sum, count]
        self.decisions: Counter = Counter()  # outcome
        self.evaluations: Counter = Counter()  # result: ok, invalid, error
        self.reloads: Counter = Counter()  # result: ok, invalid
        self.ledger: Counter = Counter()  # /v1/ledger calls by result: ok, refused
        self.in_flight = 0

    def observe(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(endpoint, method, status)] += 1
            h = self.latency.get(endpoint)
            if h is None:
                h = self.latency[endpoint] = [0] * len(BUCKETS) + [0.0, 0]
            for i, b in enumerate(BUCKETS):
                if seconds <= b:
                    h[i] += 1
                    break
            h[-2] += seconds
            h[-1] += 1

    def decided(self, doc: dict) -> None:
        with self._lock:
            self.evaluations["ok"] += 1
            if not doc["trace"]:
                self.decisions["no_action"] += 1
            for t in doc["trace"]:
                self.decisions[t["outcome"]] += 1

    def count(self, counter: str, key: str) -> None:
        with self._lock:
            getattr(self, counter)[key] += 1

    # ---- several worker processes (--workers N) ------------------------------------------
    def snapshot(self) -> dict:
        """This process's counters as JSON (written beside the other workers')."""
        with self._lock:
            return {"requests": [[e, m, st, n] for (e, m, st), n in self.requests.items()],
                    "latency": {e: list(h) for e, h in self.latency.items()},
                    "decisions": dict(self.decisions), "evaluations": dict(self.evaluations),
                    "reloads": dict(self.reloads), "ledger": dict(self.ledger),
                    "in_flight": self.in_flight}

    def restore(self, snap: dict) -> None:
        """Start from an earlier snapshot of this worker (a restarted worker's counters go
        on from where they were, never backwards)."""
        with self._lock:
            self._add(snap)

    def _add(self, snap: dict) -> None:
        for e, m, st, n in snap.get("requests", ()):
            self.requests[(e, m, st)] += n
        for e, h in snap.get("latency", {}).items():
            mine = self.latency.setdefault(e, [0] * len(BUCKETS) + [0.0, 0])
            for i, v in enumerate(h):
                mine[i] += v
        for name in ("decisions", "evaluations", "reloads", "ledger"):
            getattr(self, name).update(snap.get(name, {}))

    def merged(self, others: list[dict]) -> "Metrics":
        """A copy of these counters plus other workers' snapshots (what /metrics shows)."""
        out = Metrics()
        out._add(self.snapshot())
        out.in_flight = self.in_flight
        for snap in others:
            out._add(snap)
            out.in_flight += snap.get("in_flight", 0)
        return out

    def render(self, service: "Service") -> str:
        others = service.peers.snapshots() if service.peers is not None else []
        source = self.merged(others) if others else self
        return source._render(service, others)

    def _render(self, service: "Service", others: list[dict]) -> str:
        def esc(v) -> str:
            return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

        out = []
        with self._lock:
            out += ["# HELP deprules_http_requests_total HTTP requests by endpoint, method "
                    "and status.", "# TYPE deprules_http_requests_total counter"]
            for (e, m, s), n in sorted(self.requests.items()):
                out.append(f'deprules_http_requests_total{{endpoint="{esc(e)}",method="{m}",'
                           f'status="{s}"}} {n}')
            out += ["# HELP deprules_http_request_duration_seconds Time from request to the "
                    "end of the response.", "# TYPE deprules_http_request_duration_seconds "
                    "histogram"]
            for e, h in sorted(self.latency.items()):
                cum = 0
                for i, b in enumerate(BUCKETS):
                    cum += h[i]
                    out.append(f'deprules_http_request_duration_seconds_bucket{{endpoint='
                               f'"{esc(e)}",le="{b}"}} {cum}')
                out.append(f'deprules_http_request_duration_seconds_bucket{{endpoint='
                           f'"{esc(e)}",le="+Inf"}} {h[-1]}')
                out.append(f'deprules_http_request_duration_seconds_sum{{endpoint="{esc(e)}"}}'
                           f' {h[-2]:.6f}')
                out.append(f'deprules_http_request_duration_seconds_count{{endpoint='
                           f'"{esc(e)}"}} {h[-1]}')
            out += ["# HELP deprules_http_requests_in_flight Requests being answered.",
                    "# TYPE deprules_http_requests_in_flight gauge",
                    f"deprules_http_requests_in_flight {self.in_flight}"]
            out += ["# HELP deprules_evaluations_total Accounts evaluated (evaluate and "
                    "batch) by result: ok, invalid (a 4xx answer), error.",
                    "# TYPE deprules_evaluations_total counter"]
            for k, n in sorted(self.evaluations.items()):
                out.append(f'deprules_evaluations_total{{result="{k}"}} {n}')
            out += ["# HELP deprules_decisions_total Rule firings of evaluated accounts by "
                    "outcome (no_action: an account where no rule fired).",
                    "# TYPE deprules_decisions_total counter"]
            for k, n in sorted(self.decisions.items()):
                out.append(f'deprules_decisions_total{{outcome="{esc(k)}"}} {n}')
            out += ["# HELP deprules_config_reloads_total Configuration reloads by result "
                    "(ok, invalid: the old configuration keeps serving).",
                    "# TYPE deprules_config_reloads_total counter"]
            for k in ("ok", "invalid"):
                out.append(f'deprules_config_reloads_total{{result="{k}"}} {self.reloads[k]}')
            out += ["# HELP deprules_ledger_calls_total /v1/ledger calls by result (ok, "
                    "refused: a 4xx or 503 answer).", "# TYPE deprules_ledger_calls_total counter"]
            for k in ("ok", "refused"):
                out.append(f'deprules_ledger_calls_total{{result="{k}"}} {self.ledger[k]}')
        serving = Counter([service.decider.hash])  # hash -> worker processes serving it
        reload_ok = not service.reload_problems
        for snap in others:
            if snap.get("config_hash"):
                serving[snap["config_hash"]] += 1
            reload_ok = reload_ok and snap.get("reload_ok", True)
        out += ["# HELP deprules_config_info The configuration serving (hash of configuration "
                "and rules); the value is the number of worker processes serving it.",
                "# TYPE deprules_config_info gauge"]
        out += [f'deprules_config_info{{config_hash="{h}"}} {n}'
                for h, n in sorted(serving.items())]
        out += ["# HELP deprules_config_reload_ok 1 when the last look at the configuration "
                "found it valid (in every worker).", "# TYPE deprules_config_reload_ok gauge",
                f"deprules_config_reload_ok {1 if reload_ok else 0}",
                "# HELP deprules_simulation_jobs Simulation jobs by status.",
                "# TYPE deprules_simulation_jobs gauge"]
        for k, n in sorted(service.jobs.counts().items()):
            out.append(f'deprules_simulation_jobs{{status="{k}"}} {n}')
        out += ["# HELP deprules_run_jobs Batch-run jobs (POST /v1/ledger/runs) by status.",
                "# TYPE deprules_run_jobs gauge"]
        for k, n in sorted(service.jobs.counts("run").items()):
            out.append(f'deprules_run_jobs{{status="{k}"}} {n}')
        return "\n".join(out) + "\n"


# ---- decision log ---------------------------------------------------------------------------
class DecisionLog:
    """JSON lines, one per decision (an evaluated account, a refused request, an error),
    appended as they happen: each line is one ``write`` on a file opened with O_APPEND,
    so the lines of several worker processes never interleave."""

    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._own = False
        if path is not None and str(path) == "-":  # standard output
            self._fd = 1
        elif path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT |
                               getattr(os, "O_CLOEXEC", 0), 0o644)
            self._own = True

    @property
    def enabled(self) -> bool:
        return self._fd is not None

    def write(self, entry: dict) -> None:
        if self._fd is None:
            return
        data = (json.dumps(entry, separators=(",", ":"), default=str) + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                return
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]

    def close(self) -> None:
        with self._lock:
            if self._fd is not None and self._own:
                os.close(self._fd)
            self._fd = None


def summary(doc: dict) -> dict:
    """What the decision log keeps of an evaluate document."""
    checks = [c for c in doc["checks"]]
    return {"account_id": doc["account_id"], "as_of": doc["as_of"],
            "outcomes": dict(Counter(t["outcome"] for t in doc["trace"])),
            "rules": sorted({t["rule"] for t in doc["trace"]}),
            "adjustments": len(doc["adjustments"]), "checks": len(checks),
            "check_amount": str(sum((Decimal(c["amount"]) for c in checks), Decimal(0))),
            "todos": [t["todo_type"] for t in doc["todos"]]}


# ---- the service ----------------------------------------------------------------------------
class Service:
    def __init__(self, settings: ServiceSettings, decider: Decider | None = None):
        self.settings = settings
        self.decider = decider or Decider(settings.config_dir, settings.rules_dir,
                                          engine=settings.engine)
        self.tokens = TokenStore(settings.tokens) if settings.tokens else None
        self.metrics = Metrics()
        self.decisions = DecisionLog(settings.decision_log)
        self.jobs = Jobs(settings)
        self.loaded_at = utc_now()
        self.reload_problems: list[dict] = []
        self.reload_checked_at: str | None = None
        self.stopping = False
        self._fingerprint = self._files_fingerprint()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._publisher: threading.Thread | None = None
        self._reload_lock = threading.Lock()
        self.peers = None  # the other worker processes (--workers N): service_workers.Peers
        if settings.shared_dir is not None:
            from .service_workers import Peers

            self.peers = Peers(settings.shared_dir, settings.worker)
            earlier = self.peers.own_snapshot()
            if earlier:
                self.metrics.restore(earlier)

    # ---- hot reload --------------------------------------------------------------------
    def _files_fingerprint(self) -> tuple:
        out = []
        for root in (self.settings.config_dir, self.settings.rules_dir):
            root = Path(root)
            try:
                for dirpath, _dirs, files in os.walk(root):
                    for name in files:
                        p = os.path.join(dirpath, name)
                        try:
                            st = os.stat(p)
                        except OSError:
                            continue
                        out.append((p, st.st_size, st.st_mtime_ns, st.st_ino))
            except OSError:
                pass
        return tuple(sorted(out))

    def check_reload(self, force: bool = False, broadcast: bool = True) -> dict:
        """Reload when config/ or rules/ changed (or ``force``): the new configuration
        serves only when valid; an invalid one is reported and the old keeps serving.
        A forced reload is asked of the other worker processes too (``broadcast``)."""
        if force and broadcast and self.peers is not None:
            self._asked = self.peers.request_reload()
        with self._reload_lock:
            fp = self._files_fingerprint()
            if fp == self._fingerprint and not force:
                return self.reload_status()
            self._fingerprint = fp
            old = self.decider.hash
            try:
                self.decider.reload()
            except ConfigError as exc:
                self.reload_problems = [
                    {**p.as_dict(), "location": f"{p.file}:{p.line}:{p.column}",
                     "text": p.render()} for p in exc.problems]
                self.metrics.count("reloads", "invalid")
                log.warning("configuration change refused (still serving %s):\n%s",
                            old[:12], exc.render())
            except DeprulesError as exc:
                self.reload_problems = [{"file": "", "line": 0, "column": 0, "path": "",
                                         "message": str(exc), "code": "reload-failed",
                                         "location": "", "text": str(exc)}]
                self.metrics.count("reloads", "invalid")
                log.warning("configuration change refused (still serving %s): %s",
                            old[:12], exc)
            else:
                self.reload_problems = []
                self.loaded_at = utc_now()
                self.metrics.count("reloads", "ok")
                log.info("configuration reloaded: %s -> %s", old[:12], self.decider.hash[:12])
            self.reload_checked_at = utc_now()
            return self.reload_status()

    def reload_status(self) -> dict:
        return {"ok": not self.reload_problems, "checked_at": self.reload_checked_at,
                "problems": self.reload_problems}

    def _watch(self) -> None:
        while not self._stop.wait(self.settings.reload_interval):
            try:
                self.check_reload()
            except Exception:  # never let the watcher die
                log.error("configuration watcher: %s", traceback.format_exc())

    def peer_snapshot(self) -> dict:
        return {**self.metrics.snapshot(), "worker": self.settings.worker, "pid": os.getpid(),
                "config_hash": self.decider.hash, "reload_ok": not self.reload_problems,
                "reload_problems": len(self.reload_problems),
                "reload_generation": self.peers.seen if self.peers is not None else 0}

    def workers_reloaded(self, wait: float = 5.0) -> list[dict]:
        """After a forced reload of this worker: every worker's result (``--workers N``),
        waiting up to ``wait`` seconds for the others to have done the reload asked
        (``reloaded`` false for one that has not: it is still serving ``config_hash``)."""
        own = {"worker": self.settings.worker, "pid": os.getpid(),
               "config_hash": self.decider.hash, "ok": not self.reload_problems,
               "problems": len(self.reload_problems), "reloaded": True}
        if self.peers is None:
            return [own]
        asked = getattr(self, "_asked", self.peers.seen)
        snaps = self.peers.reloaded(asked, self.settings.workers, wait)
        out = [own]
        for k in range(self.settings.workers):
            if k == self.settings.worker:
                continue
            snap = snaps.get(k)
            if snap is None:
                out.append({"worker": k, "pid": None, "config_hash": None, "ok": False,
                            "problems": 0, "reloaded": False})
                continue
            out.append({"worker": k, "pid": snap.get("pid"),
                        "config_hash": snap.get("config_hash"),
                        "ok": bool(snap.get("reload_ok", True)),
                        "problems": int(snap.get("reload_problems", 0)),
                        "reloaded": snap.get("reload_generation", -1) >= asked})
        return sorted(out, key=lambda w: w["worker"])

    def start(self) -> None:
        if self.settings.reload_interval > 0 and self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="deprules-reload",
                                             daemon=True)
            self._watcher.start()
        if self.peers is not None and self._publisher is None:
            from .service_workers import publisher

            self._publisher = threading.Thread(target=publisher, args=(self, self._stop),
                                               name="deprules-peers", daemon=True)
            self._publisher.start()

    def stop(self) -> None:
        self.stopping = True
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        if self._publisher is not None:
            self._publisher.join(timeout=5)
        self.jobs.close()
        self.decisions.close()
        self.decider.close()

    # ---- auth ----------------------------------------------------------------------------
    def identify(self, authorization: str | None) -> Identity | None:
        if self.tokens is None:
            return ANONYMOUS
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self.tokens.identify(token.strip())


# ---- the ASGI app ---------------------------------------------------------------------------
def _endpoint_label(path: str) -> str:
    if path.startswith("/v1/simulations/"):
        rest = path[len("/v1/simulations/"):]
        return "/v1/simulations/{id}/files/{name}" if "/files/" in rest else \
            "/v1/simulations/{id}"
    if path in ("/health", "/ready", "/metrics", "/v1/evaluate", "/v1/evaluate/batch",
                "/v1/simulations", "/v1/config", "/v1/config/reload", "/v1/schemas",
                "/openapi.json"):
        return path
    if path.startswith("/v1/schemas/"):
        return "/v1/schemas/{name}"
    return "other"


class _Edge:
    """Pure ASGI middleware: the body size limit (413), the configuration hash header on
    every response, and the request metrics."""

    def __init__(self, app, service: Service, fast: dict | None = None):
        self.app, self.service = app, service
        # POST path -> handler(authorization, raw body) -> (status, body, headers): the
        # decision endpoints, answered here without FastAPI's routing, dependency solving
        # and Response objects (a third of a small evaluation's time went there)
        self.fast = fast or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        service = self.service
        t0 = time.perf_counter()
        path = scope.get("path", "")
        limit = service.settings.max_batch_body_bytes if path == "/v1/evaluate/batch" \
            else service.settings.max_body_bytes
        status = {"code": 500}
        hash_header = HASH_HEADER.lower().encode()

        async def send_wrapped(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                if not any(k.lower() == hash_header for k, _ in headers):
                    headers.append((hash_header, service.decider.hash.encode()))
                message = {**message, "headers": headers}
            await send(message)

        service.metrics.in_flight += 1
        try:
            length = None
            for k, v in scope.get("headers", []):
                if k == b"content-length":
                    try:
                        length = int(v)
                    except ValueError:
                        length = -1
            if length is not None and (length < 0 or length > limit):
                await _send_json(send_wrapped, 413 if length > limit else 400, {
                    "schema_version": SCHEMA_VERSION, "ok": False, "problems": [field_problem(
                        "", f"the body is larger than {limit} bytes" if length > limit else
                        "bad Content-Length", "too-large" if length > limit else "bad-length")]})
                return
            received = {"n": 0}

            async def receive_limited():
                message = await receive()
                if message["type"] == "http.request":
                    received["n"] += len(message.get("body", b""))
                    if received["n"] > limit:
                        raise _TooLarge()
                return message

            try:
                handler = self.fast.get(path) if scope.get("method") == "POST" else None
                if handler is None:
                    await self.app(scope, receive_limited, send_wrapped)
                else:
                    await self._decision(scope, receive_limited, send_wrapped, handler)
            except _TooLarge:
                await _send_json(send_wrapped, 413, {
                    "schema_version": SCHEMA_VERSION, "ok": False, "problems": [field_problem(
                        "", f"the body is larger than {limit} bytes", "too-large")]})
        finally:
            service.metrics.in_flight -= 1
            service.metrics.observe(_endpoint_label(path), scope.get("method", ""),
                                    status["code"], time.perf_counter() - t0)


    @staticmethod
    async def _decision(scope, receive, send, handler) -> None:
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        auth = None
        for k, v in scope.get("headers", []):
            if k == b"authorization":
                auth = v.decode("latin-1")
        status, body, headers = await handler(auth, b"".join(chunks))
        data = answer_bytes(body)
        raw_headers = [(b"content-type", b"application/json"),
                       (b"content-length", str(len(data)).encode())]
        for k, v in (headers or {}).items():
            raw_headers.append((k.lower().encode("latin-1"), str(v).encode("latin-1")))
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": data})


class _TooLarge(Exception):
    pass


#: orjson: dates, datetimes and dataclasses go to ``default=str`` as with json (orjson's own
#: forms of them differ: "T" in a datetime, a dataclass as an object)
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def answer_bytes(body: Any) -> bytes:
    """A decision answer as compact JSON: the document ``json.dumps(body, separators=(",",
    ":"), default=str)`` gives (the same values; text as UTF-8 rather than escaped), by
    orjson, about ten times faster (json.dumps was some 70 µs of a 1.1 ms evaluation);
    json itself for what orjson refuses (integers beyond 64 bits, lone surrogates)."""
    try:
        return orjson.dumps(body, default=str, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(body, separators=(",", ":"), default=str).encode()


async def _send_json(send, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def create_app(service: Service):
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, PlainTextResponse, Response
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @asynccontextmanager
    async def lifespan(app):
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(title="deprules decision service", version="1", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    settings = service.settings

    def answer(status: int, body: Any, headers: dict | None = None) -> Response:
        return Response(json.dumps(body, separators=(",", ":"), default=str), status_code=status,
                        media_type="application/json", headers=headers)

    def refusal(status: int, message: str, code: str) -> tuple[int, dict, dict | None]:
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return status, {"schema_version": SCHEMA_VERSION, "ok": False, "error": message,
                        "code": code}, headers

    def refused(status: int, message: str, code: str) -> Response:
        return answer(*refusal(status, message, code))

    def access(authorization: str | None, action: str) -> Identity | tuple:
        """The caller's identity, or the refusal (401 without a valid token, 403 for a role
        that may not do ``action``) as :func:`refusal` gives it."""
        ident = service.identify(authorization)
        if ident is None:
            return refusal(401, "a valid bearer token is required (Authorization: Bearer "
                           "TOKEN; deprules token add)", "unauthorized")
        if not ident.roles & ACCESS[action]:
            return refusal(403, f"user {ident.user} (roles {', '.join(sorted(ident.roles))}) "
                           f"may not {action.replace('-', ' ')}; allowed roles: "
                           f"{', '.join(sorted(ACCESS[action]))}", "forbidden")
        return ident

    def authorize(request: Request, action: str) -> Identity | Response:
        ident = access(request.headers.get("authorization"), action)
        return answer(*ident) if isinstance(ident, tuple) else ident

    async def body_of(request: Request) -> Any:
        raw = await request.body()
        request.state.digest = digest(raw)
        return parse_body(raw)

    async def decide_raw(authorization: str | None, raw: bytes, endpoint: str, action: str,
                         work: Callable[[Any], dict], timeout: float,
                         log_ok: Callable[[dict, dict], None]) -> tuple[int, dict, dict | None]:
        """(status, body, headers) of a decision request: the one path of /v1/evaluate and
        /v1/evaluate/batch (called by the ASGI edge, without FastAPI's routing)."""
        decision_id = str(uuid.uuid4())
        ident = access(authorization, action)
        if isinstance(ident, tuple):
            return ident
        # what only the decision log keeps (its time and the body's SHA-256: a twentieth of
        # a small evaluation's CPU) is not made without one
        logged = service.decisions.enabled
        base = {"decision_id": decision_id, "time": utc_now() if logged else None,
                "user": ident.user, "endpoint": endpoint}
        input_digest = digest(raw) if logged else None
        try:
            body = parse_body(raw)
            candidate = isinstance(body, dict) and bool(body.get("whatif") or body.get("set"))
            if candidate and not ident.roles & ACCESS["evaluate-candidate"]:
                return refusal(403, f"user {ident.user} may not evaluate with a candidate "
                               "configuration (whatif, set); allowed roles: " +
                               ", ".join(sorted(ACCESS["evaluate-candidate"])), "forbidden")
            if len(raw) <= settings.inline_bytes and not candidate:
                # a small request with the serving configuration takes a few milliseconds:
                # decided on the event loop, without the hand-over to a thread (and the
                # GIL's to and fro) that would cost as much again
                doc = work(body)
            else:
                doc = await asyncio.wait_for(run_in_threadpool(work, body), timeout)
        except RequestError as exc:
            service.metrics.count("evaluations", "invalid")
            service.decisions.write({**base, "config_hash": service.decider.hash,
                                     "input_digest": input_digest, "status": exc.status,
                                     "result": {"problems": len(exc.problems)}})
            return exc.status, {**exc.as_dict(), "decision_id": decision_id,
                                "config_hash": service.decider.hash}, \
                {DECISION_HEADER: decision_id}
        except asyncio.TimeoutError:
            service.metrics.count("evaluations", "error")
            service.decisions.write({**base, "config_hash": service.decider.hash,
                                     "input_digest": input_digest, "status": 504,
                                     "result": {"error": "timeout"}})
            return 504, {"schema_version": SCHEMA_VERSION, "ok": False,
                         "error": f"not answered within {timeout:g} s",
                         "code": "timeout", "decision_id": decision_id}, \
                {DECISION_HEADER: decision_id}
        except (DeprulesError, OverflowError, RecursionError) as exc:
            # EngineError (a rule loop, an action failing) and the like: this input with
            # this configuration cannot be decided; said plainly, no traceback
            service.metrics.count("evaluations", "invalid")
            service.decisions.write({**base, "config_hash": service.decider.hash,
                                     "input_digest": input_digest, "status": 422,
                                     "result": {"error": type(exc).__name__}})
            return 422, {"schema_version": SCHEMA_VERSION, "ok": False,
                         "error": str(exc), "kind": type(exc).__name__,
                         "decision_id": decision_id, "config_hash": service.decider.hash}, \
                {DECISION_HEADER: decision_id}
        except Exception as exc:
            service.metrics.count("evaluations", "error")
            log.error("internal error, decision %s: %s\n%s", decision_id, exc,
                      traceback.format_exc())
            service.decisions.write({**base, "config_hash": service.decider.hash,
                                     "input_digest": input_digest, "status": 500,
                                     "result": {"error": "internal"}})
            return 500, {"schema_version": SCHEMA_VERSION, "ok": False,
                         "error": "internal error; the service log has its details "
                         "under this decision id", "code": "internal",
                         "decision_id": decision_id}, {DECISION_HEADER: decision_id}
        log_ok(doc, {**base, "input_digest": input_digest})
        return 200, doc, {DECISION_HEADER: decision_id, HASH_HEADER: doc["config_hash"]}

    async def decide(request: Request, endpoint: str, action: str,
                     work: Callable[[Any], dict], timeout: float,
                     log_ok: Callable[[dict, dict], None]) -> Response:
        raw = await request.body()
        status, body, headers = await decide_raw(request.headers.get("authorization"), raw,
                                                 endpoint, action, work, timeout, log_ok)
        return answer(status, body, headers)

    # ---- operations -----------------------------------------------------------------
    @app.get("/health")
    async def health():
        return answer(200, {"ok": True, "config_hash": service.decider.hash})

    @app.get("/ready")
    async def ready():
        body = {"ready": not service.stopping, "config_hash": service.decider.hash,
                "loaded_at": service.loaded_at, "reload": service.reload_status(),
                "worker": settings.worker, "pid": os.getpid()}
        return answer(503 if service.stopping else 200, body)

    @app.get("/metrics")
    async def metrics():
        return PlainTextResponse(service.metrics.render(service),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    # ---- schemas (no token: static documents, no data) ---------------------------------
    @app.get("/v1/schemas")
    async def schemas_list():
        from .http_schemas import http_schemas, url

        return answer(200, {"schema_version": SCHEMA_VERSION,
                            "schemas": {k: url(k) for k in sorted(http_schemas())},
                            "openapi": "/openapi.json"})

    @app.get("/v1/schemas/{name}")
    async def schema_one(name: str):
        from .http_schemas import http_schemas

        schema = http_schemas().get(name.removesuffix(".schema.json"))
        if schema is None:
            return refused(404, f"no schema {name}; GET /v1/schemas lists them", "not-found")
        return answer(200, schema)

    @app.get("/openapi.json")
    async def openapi_doc():
        from .http_schemas import openapi

        return answer(200, openapi())

    @app.get("/v1/config")
    async def config_status(request: Request):
        ident = authorize(request, "config")
        if isinstance(ident, Response):
            return ident
        return answer(200, {"schema_version": SCHEMA_VERSION,
                            "config_hash": service.decider.hash,
                            "loaded_at": service.loaded_at,
                            "config_dir": str(settings.config_dir),
                            "rules_dir": str(settings.rules_dir), "engine": settings.engine,
                            "reload": service.reload_status(), "user": ident.user,
                            "roles": sorted(ident.roles)})

    @app.post("/v1/config/reload")
    async def config_reload(request: Request):
        ident = authorize(request, "config-reload")
        if isinstance(ident, Response):
            return ident
        status = await run_in_threadpool(service.check_reload, True)
        workers = await run_in_threadpool(service.workers_reloaded)
        return answer(200 if status["ok"] else 422, {
            "schema_version": SCHEMA_VERSION, "config_hash": service.decider.hash,
            "loaded_at": service.loaded_at, "reload": status, "workers": workers})

    # ---- decisions -----------------------------------------------------------------------
    def log_one(doc: dict, base: dict) -> None:
        service.metrics.decided(doc)
        if service.decisions.enabled:
            service.decisions.write({**base, "config_hash": doc["config_hash"],
                                     "status": 200, "result": summary(doc)})

    def log_batch(doc: dict, base: dict) -> None:
        for d in doc["results"]:
            service.metrics.decided(d)
            if not service.decisions.enabled:
                continue
            service.decisions.write({**base, "decision_id": str(uuid.uuid4()),
                                     "request_decision_id": base["decision_id"],
                                     "config_hash": d["config_hash"], "status": 200,
                                     "result": summary(d)})

    def evaluate_one(body):
        return service.decider.evaluate(body)

    def evaluate_many(body):
        return service.decider.evaluate_batch(body)

    fast = {
        "/v1/evaluate": lambda auth, raw: decide_raw(
            auth, raw, "/v1/evaluate", "evaluate", evaluate_one, settings.request_timeout,
            log_one),
        "/v1/evaluate/batch": lambda auth, raw: decide_raw(
            auth, raw, "/v1/evaluate/batch", "evaluate-batch", evaluate_many,
            settings.batch_timeout, log_batch),
    }

    # the FastAPI routes of the two (what a test client without the edge calls); served,
    # the edge answers POSTs to these paths itself (_Edge._decision)
    @app.post("/v1/evaluate")
    async def evaluate(request: Request):
        return await decide(request, "/v1/evaluate", "evaluate", evaluate_one,
                            settings.request_timeout, log_one)

    @app.post("/v1/evaluate/batch")
    async def evaluate_batch(request: Request):
        return await decide(request, "/v1/evaluate/batch", "evaluate-batch", evaluate_many,
                            settings.batch_timeout, log_batch)

    # ---- simulations -----------------------------------------------------------------
    @app.post("/v1/simulations")
    async def simulation_create(request: Request):
        ident = authorize(request, "simulations")
        if isinstance(ident, Response):
            return ident
        try:
            if settings.extracts is None:
                raise RequestError([field_problem("extract", "simulations are not enabled: "
                                                  "start deprules serve with --extracts DIR",
                                                  "not-enabled")], status=404)
            body = await body_of(request)
            req = check_simulation(body, settings.extracts)
            job = service.jobs.submit(ident.user, req, body.get("whatif"))
        except RequestError as exc:
            return answer(exc.status, {**exc.as_dict(), "config_hash": service.decider.hash})
        url = f"/v1/simulations/{job.id}"
        return answer(202, job.as_dict(), {"Location": url})

    @app.get("/v1/simulations/{job_id}")
    async def simulation_get(job_id: str, request: Request):
        ident = authorize(request, "simulations")
        if isinstance(ident, Response):
            return ident
        job = service.jobs.get(job_id)
        if job is None or job.kind != "simulation":
            return refused(404, f"no simulation {job_id}", "not-found")
        return answer(200, job.as_dict())

    @app.get("/v1/simulations/{job_id}/files/{name}")
    async def simulation_file(job_id: str, name: str, request: Request):
        ident = authorize(request, "simulations")
        if isinstance(ident, Response):
            return ident
        path = service.jobs.file(job_id, name)
        if path is None or not path.is_file():
            return refused(404, f"no file {name} of simulation {job_id}", "not-found")
        return FileResponse(path, filename=name)

    from .service_ledger import register

    register(app, service, answer, refused, authorize, body_of)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc):
        return answer(exc.status_code, {"schema_version": SCHEMA_VERSION, "ok": False,
                                        "error": str(exc.detail), "code": "http"})

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc):
        return answer(422, {"schema_version": SCHEMA_VERSION, "ok": False, "problems": [
            field_problem(".".join(str(x) for x in e.get("loc", ())), e.get("msg", ""),
                          "bad-field") for e in exc.errors()]})

    @app.exception_handler(Exception)
    async def internal_error(request, exc):  # the last resort: no traceback to the client
        decision_id = str(uuid.uuid4())
        log.error("internal error %s: %s\n%s", decision_id, exc, traceback.format_exc())
        return answer(500, {"schema_version": SCHEMA_VERSION, "ok": False,
                            "error": "internal error", "code": "internal",
                            "decision_id": decision_id})

    return _Edge(app, service, fast)


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def parse_body(raw: bytes) -> Any:
    """A request body as JSON (RequestError 400 when it is not UTF-8 or not JSON)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError([field_problem("", f"the body is not UTF-8 (byte {exc.start})",
                                          "bad-json")], status=400) from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise RequestError([field_problem("", f"the body is not JSON: {exc.msg} at line "
                                          f"{exc.lineno} column {exc.colno}", "bad-json")],
                           status=400) from None
    except (ValueError, RecursionError) as exc:
        raise RequestError([field_problem("", f"the body is not usable JSON: {exc}",
                                          "bad-json")], status=400) from None


def check_simulation(body: Any, root: Path) -> dict:
    """The fields of POST /v1/simulations (RequestError naming the wrong ones)."""
    if not isinstance(body, dict):
        raise RequestError([field_problem("", "the body must be a JSON object",
                                          "not-an-object")], status=400)
    problems = []
    known = {"extract", "as_of", "whatif", "set", "horizon"}
    for k in body:
        if k not in known:
            problems.append(field_problem(k, f"unknown field {k!r} (expected "
                                          f"{', '.join(sorted(known))})", "unknown-field"))
    # as_of, whatif and set as /v1/evaluate checks them
    base = check_request({"as_of": body.get("as_of"), "whatif": body.get("whatif"),
                          "set": body.get("set"), "accounts": [], "service_agreements": []},
                         batch=True) if not problems else None
    extract = body.get("extract")
    path = None
    if not isinstance(extract, str) or not extract:
        problems.append(field_problem("extract", "extract is required: a folder name under "
                                      "the server's --extracts folder", "missing-field"))
    else:
        root_r = Path(root).resolve()
        path = (root_r / extract).resolve()
        if not path.is_relative_to(root_r) or not path.is_dir():
            problems.append(field_problem("extract", f"no extract folder {extract!r} under "
                                          "the server's --extracts folder", "unknown-extract"))
    horizon = body.get("horizon")
    if horizon is not None and (not isinstance(horizon, int) or isinstance(horizon, bool)
                                or not 1 <= horizon <= 120):
        problems.append(field_problem("horizon", "horizon is a number of months, 1 to 120",
                                      "bad-type"))
    if problems:
        raise RequestError(problems)
    return {"extract": extract, "extract_path": str(path), "as_of": base["as_of"].isoformat(),
            "set": base["set"], "horizon": horizon, "whatif": bool(base["whatif"])}


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
