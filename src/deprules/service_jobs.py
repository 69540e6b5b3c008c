"""The service's jobs: what-if simulations (``POST /v1/simulations``) and batch runs
(``POST /v1/ledger/runs``) going on in background threads, each also a file
``JOBS_DIR/ID/job.json`` so that every worker process answers for every job and, with
``--jobs-dir``, jobs outlive a restart (an unfinished one is then reported ``interrupted``).
docs/service.md, "Simulations" and "Batch runs as jobs".
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
import traceback
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

from .api import SCHEMA_VERSION, RequestError, field_problem
from .errors import ConfigError, DeprulesError

log = logging.getLogger("deprules.serve")


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---- simulation jobs ------------------------------------------------------------------------
JOB_STATES = ("queued", "running", "done", "failed", "canceled", "interrupted")
_JOB_ID = re.compile(r"^[0-9a-f]{16}$")
INTERRUPTED = {"kind": "interrupted", "message": "the service stopped or was restarted while "
               "this job was queued or running; it did not finish: submit it again"}


@dataclass
class Job:
    id: str
    user: str
    request: dict
    created: str = field(default_factory=utc_now)
    status: str = "queued"  # JOB_STATES
    started: str | None = None
    finished: str | None = None
    total: int | None = None
    done: int = 0
    impact: dict | None = None
    files: list[str] = field(default_factory=list)
    error: dict | None = None
    instance: str = ""  # the service start that ran it (a restart is another)
    pid: int = 0  # the process running it
    kind: str = "simulation"  # or "run" (POST /v1/ledger/runs)
    result: dict | None = None  # a run's document when done

    def as_dict(self, base_url: str = "") -> dict:
        out = {"schema_version": SCHEMA_VERSION, "id": self.id, "kind": self.kind,
               "status": self.status,
               "user": self.user, "created": self.created, "started": self.started,
               "finished": self.finished,
               "progress": {"accounts_done": self.done, "accounts": self.total},
               "request": {k: v for k, v in self.request.items() if k != "extract_path"},
               "error": self.error}
        if self.kind == "simulation":
            out["files"] = {name: f"{base_url}/v1/simulations/{self.id}/files/{name}"
                            for name in self.files}
            if self.impact is not None:
                out["impact"] = self.impact
        else:
            out["result"] = self.result
        return out

    _FIELDS = ("id", "user", "request", "created", "status", "started", "finished", "total",
               "done", "impact", "files", "error", "instance", "pid", "kind", "result")

    def record(self) -> dict:
        """Everything of the job, as its job.json holds it."""
        return {"format": "deprules-job", "version": 1,
                **{k: getattr(self, k) for k in self._FIELDS}}

    @classmethod
    def from_record(cls, rec: dict) -> "Job":
        return cls(**{k: rec[k] for k in cls._FIELDS if k in rec})


def job_error(exc: Exception, job_id: str) -> dict:
    """What a failed job reports of its exception (a bug: only that it was one)."""
    from .service_ledger import LedgerCallError, status_of

    if isinstance(exc, LedgerCallError):
        out = {"kind": exc.code, "status": exc.status, "message": exc.message}
        if exc.problems:
            out["problems"] = exc.problems
        return out
    if isinstance(exc, DeprulesError):
        return {"kind": type(exc).__name__, "status": status_of(exc)[0], "message": str(exc)}
    log.error("job %s failed: %s\n%s", job_id, exc, traceback.format_exc())
    return {"kind": "internal", "status": 500,
            "message": f"internal error; see the service log for job {job_id}"}


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Jobs:
    """Simulation jobs. Each job is also a file, ``JOBS_DIR/ID/job.json``, rewritten at
    every change of status and, while running, at most every half second for progress:
    every worker process answers for every job, and with ``--jobs-dir`` jobs outlive the
    service. A job that was queued or running when its service stopped (another start of
    the service, or a process that is gone) is reported ``interrupted``, never lost."""

    PROGRESS_EVERY = 0.5  # seconds between job.json rewrites for progress
    SLOT_POLL = 0.2  # seconds between looks for a free --max-jobs slot

    def __init__(self, settings):  # service.ServiceSettings
        self.settings = settings
        self._own_dir = settings.jobs_dir is None
        if settings.jobs_dir is None:
            import tempfile

            self.dir = Path(tempfile.mkdtemp(prefix="deprules-jobs-"))
        else:
            self.dir = Path(settings.jobs_dir)
            self.dir.mkdir(parents=True, exist_ok=True)
        self.instance = settings.instance or uuid.uuid4().hex
        self._pool = ThreadPoolExecutor(max_workers=max(1, settings.max_jobs),
                                        thread_name_prefix="deprules-sim")
        # batch runs one at a time (each holds the store's write transaction anyway)
        self._runs = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deprules-run")
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.jobs: dict[str, Job] = {}  # the jobs of this process
        self._markers: dict = {}  # job id -> its open, locked queue marker (_waiting)
        self._finished: dict[str, tuple[str, str]] = {}  # job id -> (kind, status): counts
        self._recover()

    # ---- files -----------------------------------------------------------------------------
    def _path(self, job_id: str) -> Path:
        return self.dir / job_id / "job.json"

    def save(self, job: Job) -> None:
        path = self._path(job.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".job.json.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps(job.record(), default=str), encoding="utf-8")
        os.replace(tmp, path)

    def _read(self, job_id: str) -> Job | None:
        if not _JOB_ID.match(job_id):
            return None
        try:
            return Job.from_record(json.loads(self._path(job_id).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _stale(self, job: Job) -> bool:
        """Queued or running, but not by a live process of this start of the service."""
        return job.status in ("queued", "running") and (
            job.instance != self.instance or not _alive(job.pid))

    def _interrupt(self, job: Job) -> Job:
        job.status, job.error = "interrupted", dict(INTERRUPTED)
        job.finished = job.finished or utc_now()
        try:
            self.save(job)
        except OSError:
            pass
        return job

    def _recover(self) -> None:
        for path in self.dir.glob("*/job.json"):
            job = self._read(path.parent.name)
            if job is not None and self._stale(job):
                self._interrupt(job)

    def all(self) -> list[Job]:
        out = {}
        for path in self.dir.glob("*/job.json"):
            job = self._read(path.parent.name)
            if job is not None:
                out[job.id] = job
        with self._lock:
            out.update(self.jobs)
        return list(out.values())

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self.jobs.get(job_id)
        if job is not None:
            return job
        job = self._read(job_id)
        if job is not None and self._stale(job):
            job = self._interrupt(job)
        return job

    def counts(self, kind: str = "simulation") -> Counter:
        """Jobs of ``kind`` by status (the /metrics gauges). A finished job's file is read
        once: a job done, failed, canceled or interrupted never changes again, and the
        jobs folder keeps them all, so a scrape reads only the files of jobs still going."""
        kinds: dict[str, tuple[str, str]] = {}
        for path in self.dir.glob("*/job.json"):
            job_id = path.parent.name
            known = self._finished.get(job_id)
            if known is None:
                job = self._read(job_id)
                if job is None:
                    continue
                if self._stale(job):  # its process is gone: as GET reports it
                    job = self._interrupt(job)
                known = (job.kind, job.status)
                if job.status not in ("queued", "running"):
                    self._finished[job_id] = known
            kinds[job_id] = known
        with self._lock:
            kinds.update({j.id: (j.kind, j.status) for j in self.jobs.values()})
        c = Counter(status for k, status in kinds.values() if k == kind)
        for k in JOB_STATES:
            c.setdefault(k, 0)
        return c

    # ---- the --max-jobs slots, shared by every process of the jobs folder ---------------------
    def _lock_file(self, name: str, wait: bool):
        """The open file ``JOBS_DIR/.slots/NAME`` holding an exclusive ``flock``, or None
        when another holder has it and ``wait`` is False. The kernel releases it when the
        file is closed or its process ends, so a killed worker never keeps a slot."""
        import fcntl

        folder = self.dir / ".slots"
        folder.mkdir(exist_ok=True)
        f = open(folder / name, "a+b")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            f.close()
            return None
        except BaseException:
            f.close()
            raise
        return f

    def _take_slot(self, job: Job):
        """One of the ``--max-jobs`` slots (``.slots/slot-K``), waited for while ``job`` stays
        queued: with ``--workers N`` the limit holds for the service, not per worker. None
        when the job was canceled (the service is stopping) while it waited."""
        while True:
            for k in range(max(1, self.settings.max_jobs)):
                f = self._lock_file(f"slot-{k}", wait=False)
                if f is not None:
                    return f
            if job.status == "canceled" or self._closing.wait(self.SLOT_POLL):
                return None

    # ---- the queue's limit: one locked marker file per simulation queued or running -------
    def _active_dir(self) -> Path:
        return self.dir / ".slots" / "active"

    def _waiting(self) -> int:
        """Simulations queued or running in any process of the jobs folder: the markers
        ``.slots/active/ID`` whose ``flock`` is held. Each process holds its jobs' markers
        from submission to the end, and the kernel releases them when it ends, so a marker
        that can be locked was left by a process that is gone: removed, not counted. Reads
        no job.json (the folder keeps every finished job); called under ``.slots/submit``,
        which every marker is made under."""
        import fcntl

        folder = self._active_dir()
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            return 0
        n = 0
        for name in names:
            if not _JOB_ID.match(name):
                continue
            try:
                f = open(folder / name, "rb")
            except FileNotFoundError:  # its job ended since the listing
                continue
            with f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    n += 1  # held: a live process's job
                    continue
                try:  # nobody holds it: its process ended without removing it
                    os.unlink(folder / name)
                except FileNotFoundError:
                    pass
        return n

    def _hold_marker(self, job_id: str):
        """The open, locked marker of a new job (under ``.slots/submit``)."""
        import fcntl

        folder = self._active_dir()
        folder.mkdir(parents=True, exist_ok=True)
        f = open(folder / job_id, "xb")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            f.close()
            raise
        return f

    def _drop_marker(self, job: Job) -> None:
        """The job is no longer queued or running: its place in the queue is free."""
        with self._lock:
            f = self._markers.pop(job.id, None)
        if f is None:
            return
        try:
            os.unlink(self._active_dir() / job.id)
        except FileNotFoundError:
            pass
        finally:
            f.close()

    def submit(self, user: str, req: dict, overlays_doc: dict | None) -> Job:
        # counted and recorded under the jobs folder's lock: the queue's limit is the
        # service's, whichever worker takes the request
        gate = self._lock_file("submit", wait=True)
        try:
            waiting = self._waiting()
            if waiting >= self.settings.max_queued_jobs + self.settings.max_jobs:
                raise RequestError([field_problem("", f"{waiting} simulations are queued "
                                                  "or running; try again later", "busy")],
                                   status=429)
            job = Job(uuid.uuid4().hex[:16], user, req, instance=self.instance,
                      pid=os.getpid())
            marker = self._hold_marker(job.id)
            with self._lock:
                self.jobs[job.id] = job
                self._markers[job.id] = marker
            try:
                self.save(job)
            except BaseException:
                self._drop_marker(job)
                with self._lock:
                    self.jobs.pop(job.id, None)
                raise
        finally:
            gate.close()
        self._pool.submit(self._run, job, overlays_doc)
        return job

    def submit_work(self, kind: str, user: str, req: dict, work: Callable) -> Job:
        """A job running ``work(progress) -> dict`` (``progress(done, total)``) in the
        batch-run thread; the dict is the job's ``result``."""
        with self._lock:
            waiting = sum(1 for j in self.jobs.values()
                          if j.kind == kind and j.status in ("queued", "running"))
            if waiting >= self.settings.max_queued_jobs + 1:
                raise RequestError([field_problem("", f"{waiting} {kind}s are queued or "
                                                  "running; try again later", "busy")],
                                   status=429)
            job = Job(uuid.uuid4().hex[:16], user, req, instance=self.instance,
                      pid=os.getpid(), kind=kind)
            self.jobs[job.id] = job
        self.save(job)
        self._runs.submit(self._work, job, work)
        return job

    def _work(self, job: Job, work: Callable) -> None:
        if job.status == "canceled":
            return
        job.status, job.started = "running", utc_now()
        self.save(job)
        saved = self._saver(job)

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total
            saved()

        try:
            job.result = work(progress)
            job.status = "done"
        except Exception as exc:
            job.status = "failed"
            job.error = job_error(exc, job.id)
        finally:
            self._finish(job)

    def _saver(self, job: Job) -> Callable[[], None]:
        """Saves ``job`` when called, at most every PROGRESS_EVERY seconds (progress)."""
        last = [0.0]

        def save() -> None:
            now = time.monotonic()
            if now - last[0] >= self.PROGRESS_EVERY:
                last[0] = now
                self.save(job)

        return save

    def _finish(self, job: Job) -> None:
        job.finished = utc_now()
        try:
            self.save(job)
        except OSError as exc:
            log.error("%s job %s: cannot write its job.json: %s", job.kind, job.id, exc)

    def _run(self, job: Job, whatif: dict | None) -> None:
        try:
            self._run_in_slot(job, whatif)
        finally:
            self._drop_marker(job)

    def _run_in_slot(self, job: Job, whatif: dict | None) -> None:
        if job.status == "canceled":
            return
        try:
            slot = self._take_slot(job)
        except OSError as exc:  # the jobs folder's slot files cannot be made or locked
            log.error("simulation job %s: no --max-jobs slot: %s", job.id, exc)
            job.status = "failed"
            job.error = {"kind": "internal", "message": "internal error; see the service "
                         f"log for job {job.id}"}
            self._finish(job)
            return
        if slot is None:
            return
        if job.status == "canceled":  # while it took the slot
            slot.close()
            return
        try:
            self._simulate(job, whatif)
        finally:
            slot.close()

    def _simulate(self, job: Job, whatif: dict | None) -> None:
        from .simulate import simulate

        job.status, job.started = "running", utc_now()
        self.save(job)
        out = self.dir / job.id
        req = job.request
        saved = self._saver(job)
        try:
            overlays = []
            out.mkdir(parents=True, exist_ok=True)
            if whatif:
                import yaml

                path = out / "whatif.yaml"
                path.write_text(yaml.safe_dump(whatif, sort_keys=False), encoding="utf-8")
                overlays.append(path)

            def on_start(n):
                job.total = n
                self.save(job)

            def progress(k):
                job.done += k
                saved()

            result = simulate(req["extract_path"], date.fromisoformat(req["as_of"]),
                              config_dir=self.settings.config_dir,
                              rules_dir=self.settings.rules_dir, overlays=overlays,
                              sets=req.get("set") or (), horizon=req.get("horizon"),
                              progress=progress, on_start=on_start)
            written = result.write(out / "report")
            job.impact = result.impact
            job.files = sorted(p.name for p in written)
            job.status = "done"
        except ConfigError as exc:
            job.status = "failed"
            job.error = {"kind": "ConfigError", "problems": [p.as_dict() for p in exc.problems]}
        except DeprulesError as exc:
            job.status = "failed"
            problems = getattr(exc, "problems", None)
            job.error = {"kind": type(exc).__name__, "message": str(exc)}
            if problems:
                job.error["problems"] = [p.as_dict() for p in problems]
        except Exception as exc:  # a bug: logged with its traceback, not shown
            job.status = "failed"
            job.error = {"kind": "internal", "message": "internal error; see the service log "
                         f"for job {job.id}"}
            log.error("simulation job %s failed: %s\n%s", job.id, exc, traceback.format_exc())
        finally:
            self._finish(job)

    def file(self, job_id: str, name: str) -> Path | None:
        job = self.get(job_id)
        if job is None or job.kind != "simulation" or name not in job.files:
            return None
        return self.dir / job.id / "report" / name

    def close(self) -> None:
        with self._lock:
            queued = [j for j in self.jobs.values() if j.status == "queued"]
            for j in queued:
                j.status = "canceled"
        self._closing.set()  # a job waiting for a slot stops waiting
        for j in queued:
            try:
                self.save(j)
            except OSError:
                pass
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._runs.shutdown(wait=True, cancel_futures=True)
        for j in queued:  # their _run never started (cancel_futures)
            self._drop_marker(j)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
