"""Ledger operations on a persisted store: read, change atomically, commit with a journal."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .errors import InvariantError, StoreError
from .ledger import Ledger
from .ledger.store import Store
from .workspace import Setup


from .users import default_user  # noqa: E402,F401  (re-exported)


def init_store(store_dir: Path | str, extract_dir: Path | str, setup: Setup,
               who: str) -> tuple[Store, Ledger]:
    from .extract import load_extract
    from .workspace import extract_context

    extract = load_extract(extract_dir, extract_context(setup.config))
    ledger = Ledger.from_extract(extract, setup.config)
    problems = ledger.check()
    if problems:
        raise InvariantError("the extract does not load into a sound ledger:\n" +
                             "\n".join(problems[:20]))
    meta = {"config_hash": setup.hash, "extract": str(extract_dir),
            "minor_units": setup.config.installation.minor_units}
    store = Store.create(store_dir, ledger.tables(), meta, who=who,
                         journal_entries=[{"command": "ledger init", "who": who,
                                           "extract": str(extract_dir),
                                           "config_hash": setup.hash}])
    return store, ledger


def open_ledger(store_dir: Path | str, setup: Setup) -> tuple[Ledger, dict]:
    store = Store.open(store_dir)
    tables, meta = store.read()
    return Ledger.from_tables(tables, setup.config), meta


@dataclass
class Session:
    ledger: Ledger
    run_id: str
    generation: int
    summary: dict


@contextmanager
def store_session(store_dir: Path | str, setup: Setup, who: str, command: str,
                  reason: str = "") -> Iterator[Session]:
    """Lock, read, let the caller change the ledger, check every invariant, commit.

    Any exception (a refused move, a broken invariant) leaves the store as it was.
    """
    store = Store.open(store_dir)
    with store.writer(who=who) as writer:
        tables, meta = writer.read()
        generation = int(meta.get("generation", 0))
        ledger = Ledger.from_tables(tables, setup.config)
        session = Session(ledger, f"g{generation + 1}-{command.split()[0]}", generation, {})
        yield session
        problems = ledger.check()
        if problems:
            raise InvariantError(f"{command}: refusing to commit, ledger invariants broken:\n" +
                                 "\n".join(problems[:20]))
        new_meta = dict(meta)
        new_meta["config_hash"] = setup.hash
        entry = {"command": command, "who": who, "reason": reason, "run_id": session.run_id,
                 "config_hash": setup.hash}
        entry.update(session.summary)
        try:
            writer.commit(ledger.tables(), new_meta, [entry])
        except StoreError:
            raise
