"""A/P check-request files, delivered exactly once whatever is killed when.

``ap export`` writes the whole file under a temporary name next to it (``.NAME.tmp``) and
fsyncs it *before* the transaction that marks its check requests ``requested`` commits; that
transaction also records the batch (file, request count, amount, SHA-256, content) in
``ap_exports`` as not yet delivered. After the commit the file is linked to its real name
(never replacing a file), the directory fsynced, the temporary name removed and the batch
marked delivered. A kill before the commit leaves the store as it was (and at most a
temporary file); a kill after it leaves a batch that the next ``ap export`` delivers first:
its temporary file still there means it was never linked, so it is linked now; gone means
the real file was made (A/P may since have taken it), so it is only marked delivered.
"""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
from pathlib import Path

from .errors import StoreError
from .ledger.sqlstore import Store, fsync_dir


def csv_text(rows: list[dict]) -> str:
    import csv

    from .desk import AP_COLUMNS

    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=AP_COLUMNS)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def tmp_name(out_file: Path) -> Path:
    return out_file.with_name(f".{out_file.name}.tmp")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_synced(path: Path, text: str) -> str:
    """Write ``text`` to a new file and fsync it; returns its SHA-256."""
    data = text.encode("utf-8")
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return hashlib.sha256(data).hexdigest()


def publish(tmp: Path, out_file: Path) -> None:
    """Give the synced temporary file its real name (never replacing one) durably."""
    os.link(tmp, out_file)
    fsync_dir(out_file.parent)
    tmp.unlink()
    fsync_dir(out_file.parent)


STDOUT = "<stdout>"  # the file of a batch written to standard output (delivered as committed)


def record(conn: sqlite3.Connection, batch_id: str, seq: int, out_file: Path | None,
           requests: int, amount: int, sha: str, content: str) -> None:
    """Record a batch in the export's transaction. ``out_file`` None: it went to standard
    output, all of it flushed before the commit, so it is delivered when it commits."""
    conn.execute("INSERT INTO ap_exports VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (batch_id, seq, STDOUT if out_file is None else str(out_file.resolve()),
                  requests, amount, sha, content, int(out_file is None)))


def mark_delivered(store: Store, batch_id: str, wait: float) -> None:
    with store._conn(timeout=wait) as conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE ap_exports SET delivered = 1 WHERE batch_id = ?", (batch_id,))
        conn.execute("COMMIT")


def deliver_pending(store: Store, wait: float) -> list[str]:
    """Finish the batches a killed ``ap export`` committed but did not deliver; returns
    messages saying what was done."""
    with store.reader() as r:
        pending = r.conn.execute("SELECT batch_id, file, sha256 FROM ap_exports "
                                 "WHERE delivered = 0 ORDER BY seq").fetchall()
    notes = []
    for batch_id, file, sha in pending:
        out_file = Path(file)
        tmp = tmp_name(out_file)
        if tmp.exists():
            if hashlib.sha256(tmp.read_bytes()).hexdigest() != sha:
                raise StoreError(f"A/P batch {batch_id}: {tmp} is not the file that was "
                                 "exported; compare it with the store (ap list) before going on")
            if out_file.exists():
                raise StoreError(f"A/P batch {batch_id} was committed but not delivered, and "
                                 f"{out_file} now holds another file; move it away and rerun")
            publish(tmp, out_file)
            notes.append(f"delivered A/P batch {batch_id} to {out_file} (its export was "
                         "interrupted after the commit)")
        mark_delivered(store, batch_id, wait)
    return notes
