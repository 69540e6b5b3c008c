"""Ledger operations on a persisted store: read what a command needs, change it, check the
accounts it touched, commit the changed rows with an audited journal entry."""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, Iterable, Iterator, Union

from .errors import InputError, InvariantError, StoreError
from .ledger import Ledger
from .ledger.sqlstore import DEFAULT_WAIT, Reader, Store, Writer
from .workspace import Setup

from .users import default_user, require_user  # noqa: E402,F401  (default_user re-exported)

# which accounts a command reads: None (all), ids, or a function of the store's reader
Scope = Union[None, Iterable[str], Callable[[Reader], Iterable[str]]]


def init_store(store_path: Path | str, extract_dir: Path | str, setup: Setup,
               who: str, reason: str = "", *, columns: bool = True) -> tuple[Store, dict]:
    """A new store from an extract; returns it and its counts (accounts, service_agreements).

    The extract's columns go straight into the tables (``tables.rows_from_extract``) and the
    new file is checked set at a time (``sqlcheck``) before it is published; an extract the
    column path does not take (or ``columns=False``) is built as account objects, checked per
    account and stored from them. Both give the same rows (``tests/test_init_columns.py``)."""
    from .extract import load_extract
    from .workspace import extract_context

    require_user(setup.config.users, who)
    extract = load_extract(extract_dir, extract_context(setup.config))
    meta = {"config_hash": setup.hash, "extract": str(extract_dir),
            "minor_units": setup.config.installation.minor_units}
    entry = {"command": "ledger init", "kind": "init", "user": who, "reason": reason,
             "run_id": "g1-ledger", "config_hash": setup.hash, "extract": str(extract_dir),
             "accounts": len(extract.accounts)}
    rows = None
    if columns:
        from .ledger.tables import rows_from_extract

        rows = rows_from_extract(extract)
    if rows is not None:
        from .ledger.sqlcheck import check_store

        def verify(conn) -> None:
            problems = check_store(conn, setup.config, store_path)
            if problems:
                raise InvariantError("the extract does not load into a sound ledger:\n" +
                                     "\n".join(problems[:20]))

        del extract
        store = Store.create(store_path, None, meta, entry, rows=rows, verify=verify)
        return store, {"accounts": len(rows["accounts"]),
                       "service_agreements": len(rows["service_agreements"])}
    ledger = Ledger.from_extract(extract, setup.config)
    problems = ledger.check()
    if problems:
        raise InvariantError("the extract does not load into a sound ledger:\n" +
                             "\n".join(problems[:20]))
    entry["accounts"] = len(ledger.states)
    store = Store.create(store_path, ledger.states, meta, entry)
    return store, {"accounts": len(ledger.states),
                   "service_agreements": sum(len(s.sas) for s in ledger.states.values())}


def _resolve(reader: Reader, scope: Scope) -> list[str] | None:
    if scope is None:
        return None
    ids = scope(reader) if callable(scope) else scope
    return [a for a in dict.fromkeys(ids) if a]


def open_ledger(store_path: Path | str, setup: Setup, scope: Scope = None
                ) -> tuple[Ledger, dict]:
    """The accounts of ``scope`` (every account when None) as read in one snapshot."""
    store = Store.open(store_path)
    with store.reader() as r:
        meta = r.meta()
        try:
            states = r.load(_resolve(r, scope))
        except KeyError as e:
            raise StoreError(f"store {store_path} is damaged: rows of account {e} "
                             "which is not in its accounts table") from None
    return Ledger(states, setup.config), meta


# processes `ledger check` queries in at once (this one and child processes), from
# CHECK_CHILDREN_FROM accounts: starting a child costs about 0.1 s, the whole check at 50,000
# accounts about 2.5 s of CPU
CHECK_WORKERS = max(1, min(4, os.cpu_count() or 1))
CHECK_CHILDREN_FROM = 50_000


def check_whole_store(store_path: Path | str, setup: Setup) -> tuple[list[str], int, dict]:
    """Every invariant of every account, set at a time in one snapshot (``ledger check``):
    the findings of ``Ledger.check()`` without building the accounts as objects."""
    from .ledger.sqlcheck import check_store

    store = Store.open(store_path)
    with store.reader() as r:
        meta = r.meta()
        accounts = r.count()
        problems = check_store(r.conn, setup.config, store.path, workers=CHECK_WORKERS
                               if accounts >= CHECK_CHILDREN_FROM else 1)
        return problems, accounts, meta


def by_sa(*sa_ids: str) -> Callable[[Reader], list[str]]:
    return lambda r: [r.account_of("sa", s) for s in sa_ids]


def by_id(kind: str, *ids: str) -> Callable[[Reader], list[str]]:
    return lambda r: [r.account_of(kind, i) for i in ids]


def by_account(account_id: str) -> Callable[[Reader], list[str]]:
    return lambda r: [account_id] if r.has_account(account_id) else []


def todo_scope(todo_type: str | None = None, status: str | None = None,
               account_id: str | None = None) -> Callable[[Reader], list[str]]:
    """The accounts a To Do listing reads: one account, or those with a matching To Do."""
    if account_id is not None:
        return by_account(account_id)
    where, params = ["1"], []
    for col, value in (("todo_type", todo_type), ("status", status)):
        if value is not None:
            where.append(f"{col} = ?")
            params.append(value)
    return lambda r: r.accounts_where("todos", " AND ".join(where), tuple(params))


def checks_scope(status: str | None = None) -> Callable[[Reader], list[str]]:
    """The accounts a check request listing reads: those with a check (of ``status``)."""
    if status is None:
        return lambda r: r.accounts_where("checks", "1")
    return lambda r: r.accounts_where("checks", "status = ?", (status,))


@dataclass
class Session:
    ledger: Ledger
    run_id: str
    generation: int
    summary: dict
    writer: Writer
    touched: list[str] = field(default_factory=list)
    rows_written: int = 0
    new_generation: int = 0
    snapshot: dict = field(default_factory=dict)
    command: str = ""
    flushed: list[str] = field(default_factory=list)

    def add_accounts(self, account_ids: Iterable[str]) -> None:
        """Read more accounts into the session (a batch reads the ones it changes once it
        knows them); their journal rows stay unread (see ``Reader.load_selected``)."""
        wanted = [a for a in account_ids if a not in self.ledger.states]
        self.ledger.states.update(self.writer.load_selected(wanted, self.snapshot))

    def flush(self) -> None:
        """Write the accounts read so far that changed, check their invariants (refusing the
        whole command when one breaks) and forget them: a batch applies its changed accounts
        in chunks, so its memory does not grow with the store. Everything stays inside the
        one transaction: a later failure still leaves the store as it was."""
        changed = self.writer.write_changed(self.ledger.states, self.snapshot)
        problems = self.ledger.check(changed)
        if problems:
            raise InvariantError(f"{self.command}: refusing to commit, ledger invariants "
                                 "broken:\n" + "\n".join(problems[:20]))
        self.flushed.extend(changed)
        self.ledger.states.clear()
        self.snapshot.clear()


@contextmanager
def store_session(store_path: Path | str, setup: Setup, who: str, command: str,
                  reason: str = "", *, scope: Scope = None, kind: str = "manual",
                  process_date: date | None = None, wait: float = DEFAULT_WAIT,
                  allow_backdate: bool = False) -> Iterator[Session]:
    """Take the write transaction, read the accounts of ``scope``, let the caller change them,
    check every invariant of the accounts that changed, write only those and commit.

    Any exception (a refused move, a broken invariant, a full disk) rolls everything back:
    the store is left exactly as it was. A session that changed nothing still commits its
    journal entry (a batch run is journaled even when it is a no-op). With a users file in
    the configuration, ``who`` must be one of its users (InputError before anything is read).
    """
    require_user(setup.config.users, who)
    store = Store.open(store_path)
    with store.writer(who=who, wait=wait) as w:
        try:
            if kind == "run" and process_date is not None and not allow_backdate:
                last = w.last_run_date()
                if last and process_date.isoformat() < last:
                    raise InputError(
                        f"process date {process_date.isoformat()} is earlier than the store's "
                        f"last run ({last}); pass --allow-backdate if that is really meant")
            meta = w.meta()
            generation = int(meta["generation"])
            snapshot: dict = {}
            try:
                states = w.load(_resolve(w, scope), snapshot)
            except KeyError as e:
                raise StoreError(f"store {store_path} is damaged: rows of account {e} "
                                 "which is not in its accounts table") from None
            ledger = Ledger(states, setup.config)
            session = Session(ledger, f"g{generation + 1}-{command.split()[0]}", generation, {},
                              w, snapshot=snapshot, command=command)
            yield session
            session.flush()
            changed = sorted(session.flushed)
            if meta.get("config_hash") != setup.hash:
                w.set_meta({"config_hash": setup.hash})
            session.touched, session.rows_written = changed, w.rows_written
            entry = {"command": command, "kind": kind, "user": who, "reason": reason,
                     "run_id": session.run_id, "config_hash": setup.hash,
                     "process_date": process_date.isoformat() if process_date else None,
                     "accounts_written": len(changed)}
            entry.update(session.summary)
            session.new_generation = w.commit(entry)
        except sqlite3.Error as e:
            from .ledger.sqlstore import _hint

            raise StoreError(f"cannot write to store {store_path}: {e}{_hint(e)}; the store is "
                             f"unchanged") from e
