"""One piece of work in a forked child process, while this process does another.

``simulate`` runs the baseline and the candidate cycles over columns it has just built
(``vector.prepare``): both only read them. On a machine with two or more cores the
candidate runs in a child forked after ``prepare``, which sees the columns without copying
them (copy-on-write) and sends back only its small per-account result (pickled through a
pipe); the baseline runs here meanwhile.

    child = Forked(lambda: work(columns))   # starts now
    mine = other_work(columns)
    theirs = child.result()                 # its return value, or its exception raised

Nothing is forked where ``os.fork`` does not exist, outside the main thread (a server's
job thread), on one core, or with ``DEPRULES_SIMULATE_PROCESSES=1``; ``Forked`` then runs the work when ``result()`` is
called, in this process (the same values either way).
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
from typing import Callable, Generic, TypeVar

from .partition import SimulationError

T = TypeVar("T")
PROCESSES_ENV = "DEPRULES_SIMULATE_PROCESSES"


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether a second process would run beside this one: fork exists, this is the main
    thread (the command line; a server's job thread does not fork a process that holds
    other threads), there is a second core, and ``DEPRULES_SIMULATE_PROCESSES`` does not
    say 1."""
    if not hasattr(os, "fork") or threading.current_thread() is not threading.main_thread():
        return False
    want = os.environ.get(PROCESSES_ENV, "").strip()
    if want:
        return want != "1"
    return cores() >= 2


class Forked(Generic[T]):
    """``fn()`` in a forked child (``fork=True``), or in this process at ``result()``."""

    def __init__(self, fn: Callable[[], T], fork: bool = True,
                 what: str = "the candidate's process"):
        self.fn, self.what = fn, what
        self.pid = 0
        self._data: list[bytes] = []
        if not fork:
            return
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(r)
            _child(fn, w, what)
        os.close(w)
        self.pid = pid
        # read while the child writes, so it exits (and frees its memory) as soon as done
        self._reader = threading.Thread(target=self._read, args=(r,), daemon=True)
        self._reader.start()

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as f:
            self._data.append(f.read())

    def result(self) -> T:
        if not self.pid:
            return self.fn()
        self._reader.join()
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        data = b"".join(self._data)
        if not data:
            code = os.waitstatus_to_exitcode(status)
            raise SimulationError(f"{self.what} died (exit status {code}); try "
                                  f"{PROCESSES_ENV}=1 (one process)")
        ok, value = pickle.loads(data)
        if not ok:
            raise value
        return value

    def cancel(self) -> None:
        """Stop the child (this process failed first)."""
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:  # pragma: no cover - already gone
                pass
            self.pid = 0


def _child(fn: Callable, fd: int, what: str) -> None:  # pragma: no cover - in the child
    code = 0
    try:
        try:
            out = (True, fn())
        except BaseException as exc:  # sent back and raised in the parent
            out = (False, exc)
        try:
            data = pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            data = pickle.dumps((False, SimulationError(f"{what}: {exc!r}")))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except BaseException:
        code = 1
    finally:
        os._exit(code)
