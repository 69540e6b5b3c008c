"""Store batches on every core: worker processes read, replay and turn into rows the accounts
a batch changes, while the parent, the store's only writer, writes the chunk before.

A store batch on the vector back end (:func:`deprules.processes.run_store_batch`) decides for
every account at once and then applies the changed accounts' firings through the executor
(:meth:`deprules.runner.Runner.replay`), chunk by chunk. That part is pure Python per account
and costs most of a first run; here it runs in ``workers`` processes:

- each worker opens its own read connection and reads its chunk of accounts as they were
  committed (the parent holds the write transaction, so nothing can commit meanwhile, and
  the chunks hold disjoint accounts, so what the parent has already written does not matter);
- it replays the chunk, checks the chunk's invariants and returns the rows to write, with
  the cause ids the parent had interned when it sent the chunk (a cause not among them gets
  a temporary negative id that the parent interns and replaces, in the chunk's order, so the
  ids are the ones one process gives);
- the parent writes the chunks in order, so the store gets the very rows, in the very order,
  of the one-process path; any error in a worker is raised in the parent, which rolls back.

The workers are started (``spawn``: fresh interpreters, never a fork of a process that holds
a SQLite connection) only when a batch changes enough accounts to pay for them, and each is
given the command's Setup (configuration and rules, pickled: about 30 kB).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from datetime import date

from .errors import InvariantError
from .ledger import Ledger
from .rules.vocabulary import PROCESSES

# accounts a worker reads, replays and turns into rows at a time ($DEPRULES_WORKER_CHUNK)
POOL_CHUNK = 4_000


def pool_chunk() -> int:
    """Accounts a worker applies at a time: ``$DEPRULES_WORKER_CHUNK`` or POOL_CHUNK. A batch
    that changes fewer than two chunks' worth is applied in the parent alone."""
    from .errors import InputError

    text = os.environ.get("DEPRULES_WORKER_CHUNK", "").strip()
    if not text:
        return POOL_CHUNK
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise InputError(f"DEPRULES_WORKER_CHUNK is {text!r}; it must be a whole number of "
                         f"accounts, 1 or more (default {POOL_CHUNK})")
    return n


_SETUP = None  # a worker's Setup (from the parent, _init)
_RUNNERS: dict = {}


def _init(setup_bytes: bytes) -> None:
    import pickle
    import signal

    global _SETUP
    # Ctrl-C is the parent's to handle: it rolls back and stops the workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _SETUP = pickle.loads(setup_bytes)


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def possible_variants(book) -> list:
    """The variants a vector batch's log numbers (``Engine.variants_all``), rebuilt from the
    rule book alone so a worker can turn numbers back into variants."""
    return [v for p in PROCESSES for v in book.variants(p) if v.possible]


class BatchPool:
    """``workers`` worker processes for :func:`deprules.processes.run_store_batch`; use it
    as a context manager (the workers are stopped at the end, also when the batch fails)."""

    def __init__(self, setup, workers: int):
        import pickle

        self.setup = setup
        self.workers = workers
        self.pool = multiprocessing.get_context("spawn").Pool(
            workers, initializer=_init, initargs=(pickle.dumps(setup),))

    def __enter__(self) -> "BatchPool":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.pool.terminate()
        self.pool.join()
        if exc_type is not None:
            # a command that fails ends with os._exit, before the exit-time finalizers that
            # unlink the pool's semaphores: run them now, or the resource tracker warns of
            # "leaked semaphore objects" on the user's terminal
            from multiprocessing import util

            util._run_finalizers(0)

    def apply(self, session, store_path, processes, on: date, run_id: str, todo: list[int],
              ids: list[str], firings: dict, fallback: set[int], summary, progress=None,
              chunk: int | None = None) -> None:
        """Apply the batch's changed accounts (``todo``, their ids ``ids``; ``firings`` per
        account as ``(process index, round, variant number, sa_id)``; ``fallback`` the
        accounts the per-account runner runs) through the workers, writing each chunk's rows
        through ``session``'s writer in order, adding to ``summary``.

        A chunk is sent with the causes the parent has interned so far; a cause it does not
        know gets a temporary id, and the parent interns those in the chunk's order, so
        causes get the ids they get in one process (interned where first written)."""
        writer = session.writer
        chunk = chunk or pool_chunk()
        pending: deque = deque()
        starts = iter(range(0, len(todo), chunk))

        def submit() -> None:
            start = next(starts, None)
            if start is None:
                return
            # an account's firings, or None: the per-account runner runs it
            items = [(ids[i], None if todo[i] in fallback else firings.pop(todo[i]))
                     for i in range(start, min(start + chunk, len(todo)))]
            job = (str(store_path), tuple(processes), on, run_id, dict(writer.cause_ids.known))
            pending.append((start + len(items),
                            self.pool.apply_async(_replay_chunk, (job, items))))

        for _ in range(self.workers + 1):
            submit()
        try:
            while pending:
                done, result = pending.popleft()
                changed, deletes, inserts, new_causes, problems, part = result.get()
                submit()
                if problems:
                    raise InvariantError(f"{session.command}: refusing to commit, ledger "
                                         "invariants broken:\n" + "\n".join(problems[:20]))
                if new_causes:
                    _intern(writer, inserts, new_causes)
                writer.apply_changes(deletes, inserts)
                session.flushed.extend(changed)
                summary.merge(part)
                if progress is not None:
                    progress(done, len(todo))
        finally:
            # an exception's traceback keeps this frame: let go of the pool's results
            pending.clear()
            result = None  # noqa: F841


class _LocalCauses:
    """The cause ids a worker writes: the parent's map, and temporary negative ids for any
    cause not in it (interned by the parent, :func:`_intern`)."""

    def __init__(self, known: dict):
        self.known = known
        self.new: list[tuple] = []

    def id(self, cause: tuple) -> int:
        got = self.known.get(cause)
        if got is None:
            self.new.append(cause)
            got = self.known[cause] = -len(self.new)
        return got


def _intern(writer, inserts: dict, new_causes: list[tuple]) -> None:
    from .ledger.sqlrows import LAYOUTS

    real = [writer.cause_ids.id(c) for c in new_causes]
    for name, rows in inserts.items():
        k = LAYOUTS[name].cause_at
        if k is None:
            continue
        for i, row in enumerate(rows):
            if row[k] < 0:
                rows[i] = row[:k] + (real[-row[k] - 1],) + row[k + 1:]


def _replay_chunk(job, items):
    """In a worker: read ``items``' accounts, apply their firings, and return what the
    parent writes (see :meth:`BatchPool.apply`)."""
    from .ledger.sqlstore import Store, plan_changes
    from .processes import BatchSummary, apply_account
    from .runner import Runner

    store_path, processes, on, run_id, causes = job
    setup = _SETUP
    if run_id not in _RUNNERS:  # one batch (one run, one date) at a time
        _RUNNERS.clear()
        # the variants of the book of the batch's date (effective-dated values folded in)
        _RUNNERS[run_id] = (Runner(setup.book, backend="python", run_id=run_id, user="batch"),
                            possible_variants(setup.book.on(on)))
    runner, variants = _RUNNERS[run_id]
    snapshot: dict = {}
    with Store.open(store_path).reader() as r:
        states = r.load_selected([aid for aid, _ in items], snapshot)
    part = BatchSummary("", on, run_id, minor_units=setup.config.installation.minor_units)
    for aid, fired in items:
        apply_account(part, runner, states[aid], on, processes, fired, variants)
    local = _LocalCauses(causes)
    changed, deletes, inserts = plan_changes(states, snapshot, local)
    problems = Ledger(states, setup.config).check(changed)
    return changed, deletes, inserts, local.new, problems, part
