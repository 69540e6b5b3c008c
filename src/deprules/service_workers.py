"""``deprules serve --workers N``: N worker processes on one listening socket.

One Python process decides on one core at a time (the GIL). With ``--workers N`` the
command binds the socket, then forks N workers; each loads the configuration and runs its
own uvicorn server on the shared socket (the kernel hands each new connection to one of
them). The parent only supervises: it restarts a worker that dies, forwards SIGTERM and
SIGINT (each worker then shuts down gracefully) and exits with the signal's status once
all have stopped.

What the workers share lives in a folder (:class:`Peers`, a temporary folder of the
parent, removed at exit):

- ``metrics-K.json``: worker K's counters, rewritten every half second; ``GET /metrics``
  answers the sum of its own live counters and the other workers' files (so a scrape may
  lag another worker by up to half a second). A restarted worker starts from its file:
  counters never go backwards.
- ``reload-requests``: ``POST /v1/config/reload`` reloads the worker that answers it and
  appends a byte here; every other worker sees the file grow within half a second, reloads
  too and publishes the file's size it has followed (``reload_generation``) with its
  configuration hash, so the answering worker reports every worker's result. Changed files
  are noticed by each worker's own watcher.

The decision log is opened by each worker in append mode and every line is one
``write``, so lines of different workers never interleave. Simulation jobs are files
(``service.Jobs``): any worker answers for any job.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path

log = logging.getLogger("deprules.serve")

PUBLISH_EVERY = 0.5  # seconds


class Peers:
    """This worker's view of the folder the workers share."""

    def __init__(self, folder: Path, index: int):
        self.folder, self.index = Path(folder), index
        self._requests = self.folder / "reload-requests"
        self.seen = self.reload_generation()

    def _metrics(self, k: int) -> Path:
        return self.folder / f"metrics-{k}.json"

    def own_snapshot(self) -> dict | None:
        try:
            return json.loads(self._metrics(self.index).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def publish(self, snapshot: dict) -> None:
        path = self._metrics(self.index)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(snapshot), encoding="utf-8")
        os.replace(tmp, path)

    def snapshots(self) -> list[dict]:
        out = []
        for path in sorted(self.folder.glob("metrics-*.json")):
            if path.name == self._metrics(self.index).name:
                continue
            try:
                out.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue  # being replaced: the next scrape has it
        return out

    def reload_generation(self) -> int:
        try:
            return self._requests.stat().st_size
        except OSError:
            return 0

    def request_reload(self) -> int:
        """Ask every other worker to reload; returns the request's generation (a worker
        whose snapshot's ``reload_generation`` is at least that has done it)."""
        fd = os.open(self._requests, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, b".")
        finally:
            os.close(fd)
        self.seen = self.reload_generation()
        return self.seen

    def reloaded(self, generation: int, workers: int, wait: float) -> dict[int, dict]:
        """worker index -> its last snapshot, once every other worker of ``workers`` has
        published one done with reload request ``generation``, or after ``wait`` seconds
        (then those still behind are as they were)."""
        deadline = time.monotonic() + wait
        while True:
            found = {}
            for snap in self.snapshots():
                if isinstance(snap.get("worker"), int):
                    found[snap["worker"]] = snap
            behind = [k for k in range(workers) if k != self.index and
                      found.get(k, {}).get("reload_generation", -1) < generation]
            if not behind or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)


def serve_workers(settings, sock, workers: int, uvicorn_options: dict) -> int:
    """Fork ``workers`` processes serving ``sock``; supervise them until a signal; return
    the exit status (or re-raise the signal, as uvicorn does)."""
    import uuid

    shared = Path(tempfile.mkdtemp(prefix="deprules-serve-"))
    jobs_dir = settings.jobs_dir
    own_jobs = jobs_dir is None
    if own_jobs:  # one folder for every worker's jobs, removed at exit like a worker's own
        jobs_dir = Path(tempfile.mkdtemp(prefix="deprules-jobs-"))
    base = replace(settings, shared_dir=shared, jobs_dir=jobs_dir, workers=workers,
                   instance=settings.instance or uuid.uuid4().hex)
    children: dict[int, tuple[int, float]] = {}  # pid -> (worker index, started)
    stopping: dict = {"signal": None}
    quick_deaths = [0]

    parent = os.getpid()

    def spawn(k: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _end_with(parent)
                _worker(replace(base, worker=k), sock, uvicorn_options)
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        children[pid] = (k, time.monotonic())

    def on_signal(signum, frame):
        stopping["signal"] = signum
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    try:
        for k in range(workers):
            spawn(k)
        while children:
            try:
                pid, wstatus = os.wait()
            except ChildProcessError:
                break
            if pid not in children:
                continue
            k, started = children.pop(pid)
            if stopping["signal"] is not None:
                continue
            code = os.waitstatus_to_exitcode(wstatus)
            quick_deaths[0] = quick_deaths[0] + 1 if time.monotonic() - started < 5 else 0
            if quick_deaths[0] >= 5:
                log.error("worker %d keeps dying at start (exit %s); stopping", k, code)
                on_signal(signal.SIGTERM, None)
                stopping["signal"] = None
                status = 1
                continue
            log.warning("worker %d (pid %d) ended with %s; starting it again", k, pid, code)
            spawn(k)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        shutil.rmtree(shared, ignore_errors=True)
        if own_jobs:
            shutil.rmtree(jobs_dir, ignore_errors=True)
    if stopping["signal"] is not None:
        signal.signal(stopping["signal"], signal.SIG_DFL)
        os.kill(os.getpid(), stopping["signal"])
    return status


def _end_with(parent: int) -> None:
    """A worker gets SIGTERM (a graceful shutdown) when its parent ends, however it ends:
    a parent killed with SIGKILL cannot pass a signal on, and its workers would otherwise
    go on serving the socket (Linux ``prctl(PR_SET_PDEATHSIG)``; elsewhere nothing)."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it ended before the call
        os.kill(os.getpid(), signal.SIGTERM)


_service = None  # this worker's Service (current_hash)


def current_hash() -> str:
    """The configuration hash this worker serves ('' before it has loaded one)."""
    return _service.decider.hash if _service is not None else ""


def _worker(settings, sock, uvicorn_options: dict) -> None:
    import uvicorn

    from .service import Service, create_app

    global _service
    service = _service = Service(settings)
    config = uvicorn.Config(create_app(service), **uvicorn_options)
    uvicorn.Server(config).run(sockets=[sock])


def publisher(service, stop: threading.Event) -> None:
    """A worker's thread: publish its counters, follow reloads asked of another worker."""
    peers = service.peers
    while not stop.wait(PUBLISH_EVERY):
        try:
            gen = peers.reload_generation()
            if gen != peers.seen:
                service.check_reload(force=True, broadcast=False)
                peers.seen = gen  # published below: the reload asked for is done here
            peers.publish(service.peer_snapshot())
        except Exception:  # never let it die
            log.error("worker %d: %s", peers.index, traceback.format_exc())
    try:
        peers.publish(service.peer_snapshot())
    except OSError:
        pass
