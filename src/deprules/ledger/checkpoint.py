"""A large write's WAL folded into the store file by a background process.

SQLite in WAL mode appends a transaction's pages to ``PATH-wal``; a *checkpoint* later
copies them into the store file. By default the connection that commits does it at once
when the WAL has grown past 1,000 pages, and the last connection to close does it too. For
a first cycle over a million accounts that is about 4 GB copied and synced after the
transaction is already durable: 15 of the command's 20 seconds of commit
(docs/performance.md, "The checkpoint in the background, freed memory kept").

A commit whose WAL is at least :data:`BACKGROUND_BYTES` therefore leaves the checkpoint to
a detached ``python -I .../deprules/ledger/checkpoint.py PATH`` (:func:`fold_later`): the writer
turns its own automatic checkpoint off just before ``COMMIT``, starts the process, and
waits until it has the store open (so that its own close is not the last one and does not
checkpoint) before it returns. The process runs a ``PASSIVE`` checkpoint, which never
blocks a reader or a writer (a CSR command meanwhile commits as usual, and its pages wait
in the WAL for the next checkpoint), then tries to truncate the WAL.

Nothing depends on the checkpoint for correctness: a committed transaction is in the WAL,
fsynced, and every reader sees it. If the process cannot start or dies, the WAL stays and
the next commit's automatic checkpoint or the last connection's close folds it, as SQLite
does by default.
"""

from __future__ import annotations

import contextlib
import os
import select
import sqlite3
import subprocess
import sys
from pathlib import Path

# a WAL at least this big when a transaction commits is folded in the background; below it
# the commit checkpoints as SQLite does by default (1,000 pages, 16 MB with 16 KiB pages)
BACKGROUND_BYTES = 256 * 1024 * 1024
READY = b"ready\n"
# how long a writer waits for the process to have the store open before it gives up on it
# (it then closes as usual: its close folds the WAL itself)
START_TIMEOUT = 10.0


def wal_bytes(store_path: Path) -> int:
    """The size of the store's WAL file (0 when there is none)."""
    try:
        return os.stat(f"{store_path}-wal").st_size
    except OSError:
        return 0


def hand_over(conn: sqlite3.Connection, store_path: Path) -> bool:
    """Before ``COMMIT``: whether this transaction's WAL is large enough to be folded in
    the background; if so, the connection's automatic checkpoint is turned off."""
    if wal_bytes(store_path) < BACKGROUND_BYTES:
        return False
    conn.execute("PRAGMA wal_autocheckpoint=0")
    return True


def fold_later(store_path: Path) -> subprocess.Popen | None:
    """Start the detached checkpoint of ``store_path`` and wait until it has the store open;
    the process, or None when it did not start in time (the caller's close then folds the
    WAL as SQLite does by default)."""
    try:
        # this file run as a script, isolated (-I: not its folder on the path, no
        # PYTHON* variables): it needs the standard library only, so it is ready in
        # milliseconds (importing the package would take half a second)
        proc = subprocess.Popen(
            [sys.executable, "-I", str(Path(__file__).resolve()), str(store_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True)
    except OSError:
        return None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
        line = proc.stdout.readline() if ready else b""
    finally:
        proc.stdout.close()
    if line != READY:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(1.0)
        return None
    return proc


def fold(store_path: Path, ready=None) -> None:
    """Open the store, call ``ready()``, checkpoint its WAL (``PASSIVE``, then an attempt to
    truncate it)."""
    # the URI as sqlstore._connect makes it: this script imports nothing of the package
    uri = "file:" + str(Path(store_path).resolve()).replace("?", "%3f").replace("#", "%23")
    conn = sqlite3.connect(uri + "?mode=rw", uri=True, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=0")
        # the first read opens the WAL and holds the store open in WAL mode: from here the
        # writer's close is not the last connection's
        conn.execute("SELECT COUNT(*) FROM sqlite_schema").fetchone()
        if ready is not None:
            ready()
        _, frames, folded = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames >= 0 and folded == frames:
            # every frame is in the store file: empty the WAL if no one is reading it now
            # (a few milliseconds; if someone is, the next writer restarts it from the top)
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.close()


def main() -> None:  # pragma: no cover - the background process
    path = Path(sys.argv[1])

    def ready() -> None:
        os.write(1, READY)
        os.close(1)

    with contextlib.suppress(sqlite3.Error, OSError):
        fold(path, ready)  # on an error the WAL stays: the next checkpoint folds it


if __name__ == "__main__":  # pragma: no cover
    main()
