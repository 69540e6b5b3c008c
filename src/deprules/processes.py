"""Batch processes over a whole ledger: DEPINTRF, DEPRFND, SAACT, STOP, BILLING, WPM, or the cycle."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from .ledger import Ledger
from .money import format_money
from .runner import Runner
from .rules.vocabulary import PROCESSES
from .workspace import Setup


@dataclass
class BatchSummary:
    process: str
    on: date
    run_id: str
    accounts: int = 0
    accounts_changed: int = 0
    rules: Counter = field(default_factory=Counter)
    money: Counter = field(default_factory=Counter)  # category -> minor units
    checks: int = 0
    todos: Counter = field(default_factory=Counter)
    minor_units: int = 2
    workers: int = 1  # processes that applied the changed accounts (deprules.batchpool)

    def as_dict(self) -> dict:
        m = lambda x: format_money(x, self.minor_units)  # noqa: E731
        return {"process": self.process, "date": self.on.isoformat(), "run_id": self.run_id,
                "accounts": self.accounts, "accounts_changed": self.accounts_changed,
                "rules_fired": dict(sorted(self.rules.items())),
                "money_by_category": {k: m(v) for k, v in sorted(self.money.items())},
                "checks_requested": self.checks, "todos_created": dict(sorted(self.todos.items()))}

    def count(self, st, run, before: tuple[int, int, int], counted: bool = False) -> None:
        """Add what ``run`` did to account ``st`` (``before``: its adjustments, checks and
        To Dos before the run; ``counted``: the account is already in ``accounts``)."""
        n_adj, n_chk, n_todo = before
        if not counted:
            self.accounts += 1
        if run.trace:
            self.accounts_changed += 1
        for t in run.trace:
            self.rules[t.rule] += 1
        for a in st.adjustments[n_adj:]:
            if a.category == "transfer":
                if a.amount > 0:  # count each pair once: the leg on the deposit SA
                    self.money["transfer"] += a.amount
            else:
                self.money[a.category] += a.amount
        self.checks += len(st.checks) - n_chk
        for t in st.todos[n_todo:]:
            self.todos[t.todo_type] += 1

    def merge(self, other: "BatchSummary") -> None:
        """Add what another part of the same batch did (its ``accounts`` aside)."""
        self.accounts_changed += other.accounts_changed
        self.rules.update(other.rules)
        self.money.update(other.money)
        self.checks += other.checks
        self.todos.update(other.todos)

    def as_journal(self) -> dict:
        d = self.as_dict()
        return {"accounts_changed": d["accounts_changed"], "rules_fired": d["rules_fired"],
                "money_by_category": d["money_by_category"]}

    def render(self) -> str:
        d = self.as_dict()
        lines = [f"{self.process} on {d['date']} (run {self.run_id}): {self.accounts_changed} of "
                 f"{self.accounts} accounts changed"]
        for rule, n in d["rules_fired"].items():
            lines.append(f"  {n:>8}  {rule}")
        labels = {"deposit_interest": "interest posted", "sync_up": "synced (current only)",
                  "transfer": "applied to debt", "ap_refund": "refunded by check",
                  "write_down": "written down"}
        for cat, amount in d["money_by_category"].items():
            lines.append(f"  {labels.get(cat, cat):<22} {amount:>14}")
        if self.checks:
            lines.append(f"  {'check requests':<22} {self.checks:>14}")
        for t, n in d["todos_created"].items():
            lines.append(f"  {'To Do ' + t:<22} {n:>14}")
        return "\n".join(lines)


def run_batch(ledger: Ledger, setup: Setup, process: str, on: date, backend: str = "durable",
              run_id: str = "run", who: str = "batch", runner: Runner | None = None,
              account_ids=None) -> BatchSummary:
    """Run ``process`` (or ``cycle``) for every account; raises on the first engine error."""
    processes = PROCESSES if process == "cycle" else (process,)
    runner = runner or Runner(setup.book, backend=backend, run_id=run_id, user="batch")
    summary = BatchSummary(process, on, run_id,
                           minor_units=setup.config.installation.minor_units)
    ids = sorted(ledger.states) if account_ids is None else account_ids
    for aid in ids:
        st = ledger.states[aid]
        before = len(st.adjustments), len(st.checks), len(st.todos)
        summary.count(st, runner.run_cycle(st, on, processes), before)
    return summary


# changed accounts a store batch reads, changes and writes at a time
BATCH_CHUNK = 20_000


def apply_account(summary: BatchSummary, runner: Runner, st, on: date, processes,
                  fired, variants: list) -> None:
    """Apply one account of a store batch and count it in ``summary``: its ``fired``
    firings (``(process index, round, variant number, sa_id)``, numbers of ``variants``)
    replayed, or, when ``fired`` is None (an account the vector engine hands back), the
    per-account runner's cycle."""
    before = len(st.adjustments), len(st.checks), len(st.todos)
    run = runner.run_cycle(st, on, processes) if fired is None else \
        runner.replay(st, on, [(PROCESSES[p], r, variants[v], sa_id) for p, r, v, sa_id in fired])
    summary.count(st, run, before, counted=True)


def scope_sql(book, config, processes) -> str | None:
    """SQL selecting the accounts a batch of ``processes`` can change, or None when any
    account can (a rule variant that limits neither the SA's status nor its final bill).

    An account can change only through an SA some rule variant may fire on: one in a status
    the variant accepts and whose last bill is in a state it accepts (cash deposit SAs only,
    for processes that look at nothing else). Accounts with no such SA are not read at all,
    so a batch costs what the store's open deposits cost, not what its history does."""
    from .rules.conditions import guarded_values
    from .rules.vocabulary import STATUSES
    from .vector.state import BILL_STATES

    cash = sorted(c for c, t in config.sa_types.items() if t.is_cash_deposit)
    q = lambda xs: ", ".join("'" + x.replace("'", "''") + "'" for x in sorted(xs))  # noqa
    last_bill = ("COALESCE((SELECT b.status FROM bills b WHERE b.account_id = s.account_id "
                 "AND b.sa_id = s.sa_id ORDER BY b.rowid DESC LIMIT 1), 'none')")
    parts: set[str] = set()
    on_sas: set[str] = set()  # conditions on an SA (and its last bill)
    for p in processes:
        cash_only = book.cash_deposit_only(p)
        for v in book.variants(p):
            if not v.possible:
                continue
            statuses = guarded_values(v.expr, "sa.status", STATUSES)
            bills = guarded_values(v.expr, "sa.final_bill", BILL_STATES)
            if statuses is not None and bills is not None and not (statuses and bills):
                continue  # can never match
            if statuses is None and (bills is None or "none" in bills):
                return None
            is_cash = guarded_values(v.expr, "sa.is_cash_deposit", (True, False))
            if is_cash == set():
                continue
            types = f" AND s.sa_type IN ({q(cash)})" if cash_only or is_cash == {True} else ""
            if statuses is None:  # by the last bill alone: start from the bills in that state
                parts.add("SELECT b.account_id FROM bills b JOIN service_agreements s ON "
                          "s.account_id = b.account_id AND s.sa_id = b.sa_id WHERE b.status "
                          f"IN ({q(bills)}){types} AND b.rowid = (SELECT MAX(b2.rowid) FROM "
                          "bills b2 WHERE b2.account_id = b.account_id AND b2.sa_id = b.sa_id)")
            else:
                bill = f" AND {last_bill} IN ({q(bills)})" if bills is not None else ""
                on_sas.add(f"s.status IN ({q(statuses)}){types}{bill}")
    if on_sas:  # one scan of the SAs for every variant that starts from them
        parts.add("SELECT s.account_id FROM service_agreements s WHERE "
                  + " OR ".join(f"({c})" for c in sorted(on_sas)))
    return " UNION ".join(sorted(parts)) if parts else "SELECT NULL WHERE 0"


def run_store_batch(session, setup: Setup, process: str, on: date, run_id: str = "run",
                    progress=None, chunk: int | None = None, workers: int = 1) -> BatchSummary:
    """Run ``process`` (or ``cycle``) over a whole store on the vector back end.

    The decisions are made set-at-a-time over the store's columns
    (:func:`deprules.vector.fromstore.store_state`, no account objects); only the accounts
    where a rule changes something are then read and their firings applied through the
    executor in the runner's order (:meth:`Runner.replay`), so the rows written are the ones
    ``--engine python`` writes. The few accounts whose order of firings inside a round the
    vector engine does not reproduce run through the per-account runner instead. A run that
    changes nothing reads no account. The changed accounts are read, changed and written
    ``chunk`` at a time inside the one transaction (memory does not grow with the store).
    ``progress(done, total)`` is called after each chunk. With ``workers`` above 1, a batch
    that changes many accounts is applied by that many worker processes
    (:mod:`deprules.batchpool`) while this one writes: the rows are the same.
    """
    import numpy as np

    from .batchpool import BatchPool, pool_chunk, possible_variants
    from .vector.engine import Engine
    from .vector import storerows
    from .vector.fromstore import batch_state

    processes = PROCESSES if process == "cycle" else (process,)
    chunk = chunk or BATCH_CHUNK
    conn = session.writer.conn
    n_accounts = conn.execute("SELECT COUNT(*) FROM accounts").fetchone()[0]
    # accounts no rule can fire on are not read at all
    scope = scope_sql(setup.book.on(on), setup.config, processes)  # the values of the date
    static, mut = batch_state(session.writer.store, conn, setup.config, scope, n_accounts)
    columns = column_rows()
    engine = Engine(setup.book, static, mut)
    engine.record = columns
    before = storerows.balances_before(mut) if columns else None
    log = engine.run(on, processes)
    summary = BatchSummary(process, on, run_id,
                           minor_units=setup.config.installation.minor_units)
    summary.accounts = n_accounts
    fallback = engine.flagged | engine.fb
    runner = Runner(setup.book, backend="python", run_id=run_id, user="batch")
    written = np.zeros(static.n_acct, bool)
    if columns:
        # changed accounts are written from the engine's columns, not replayed
        written = _write_columns(session, engine, log, fallback, before, on, runner, summary,
                                 progress)
        del before
    firings: dict[int, list] = {}
    fired = log.firings(static, fallback | written)
    if fired is not None and len(fired[0]):
        acct, pidx, rnd, vi, rows = fired
        sa_ids = static.sa_id[rows].tolist()
        cuts = np.flatnonzero(np.r_[True, acct[1:] != acct[:-1], True]).tolist()
        pidx, rnd, vi, acct = pidx.tolist(), rnd.tolist(), vi.tolist(), acct.tolist()
        for a, b in zip(cuts[:-1], cuts[1:]):
            firings[acct[a]] = list(zip(pidx[a:b], rnd[a:b], vi[a:b], sa_ids[a:b]))
    fb_rows = set(np.flatnonzero(fallback).tolist())
    todo = sorted(set(firings) | fb_rows)
    ids = [static.account_id[a] for a in todo]
    variants = engine.variants_all
    del engine, log, static, mut
    if workers > 1 and len(todo) >= 2 * pool_chunk():
        if possible_variants(setup.book.on(on)) != variants:
            raise AssertionError("the workers would number the rule variants differently")
        summary.workers = workers
        with BatchPool(setup, workers) as pool:
            pool.apply(session, session.writer.store.path, processes, on, run_id, todo, ids,
                       firings, fb_rows, summary, progress)
        return summary
    for start in range(0, len(todo), chunk):  # a chunk of accounts read, changed, written
        session.add_accounts(ids[start:start + chunk])
        for a, aid in zip(todo[start:start + chunk], ids[start:start + chunk]):
            apply_account(summary, runner, session.ledger.states[aid], on, processes,
                          None if a in fb_rows else firings.pop(a), variants)
        session.flush()
        if progress is not None:
            progress(min(start + chunk, len(todo)), len(todo))
    return summary


ROWS_ENV = "DEPRULES_STORE_ROWS"
ROWS_MODES = ("auto", "replay")


def column_rows() -> bool:
    """Whether a store batch writes the changed accounts it can from the vector engine's
    columns (:func:`_write_columns`): ``$DEPRULES_STORE_ROWS`` ``auto`` (the default), or
    ``replay`` (every changed account replayed through the executor; the same rows,
    slower)."""
    import os

    want = os.environ.get(ROWS_ENV, "").strip().lower() or "auto"
    if want not in ROWS_MODES:
        from .errors import InputError

        raise InputError(f"{ROWS_ENV} is {want!r}; it must be one of {', '.join(ROWS_MODES)} "
                         "(default auto)")
    return want == "auto"


def _write_columns(session, engine, log, fallback, before: dict, on: date, runner: Runner,
                   summary: BatchSummary, progress=None):
    """Write the changed accounts of ``log`` from its columns
    (:class:`deprules.vector.storerows.StoreRows`), after checking their invariants: all
    but those the engine handed to the per-account runner and those whose run changes a
    bill that existed before (its row changes in place: they are replayed). New ids and
    journal entries continue from each account's counts of rows. Count them in
    ``summary``; ``progress(done, total)`` after each chunk of accounts written. Returns
    the accounts written (a boolean per account position)."""
    import numpy as np

    from .errors import InvariantError
    from .ledger.sqlstore import _hook
    from .ledger.sqlrows import cause_key
    from .vector import storerows

    static = engine.s
    changed = np.zeros(static.n_acct, bool)
    for rows, _, _, _ in log.trace:
        changed[static.acct[rows]] = True
    # an account whose run changes an existing bill's row in place is replayed
    keep = changed & ~fallback & ~storerows.touches_old_bills(log, static, before)
    if not keep.any():
        return keep
    counts = storerows.account_counts(session.writer.conn, static, np.flatnonzero(keep))
    writer = session.writer
    variants = engine.variants_all
    cause_ids = np.array([writer.cause_ids.id(cause_key(runner.cause(v.rule.process, v.rule)))
                          for v in variants] or [0], np.int64)
    rows = storerows.StoreRows(engine, log, keep, before, on, cause_ids, counts)
    problems = rows.problems()
    if problems:
        raise InvariantError(f"{session.command}: refusing to commit, ledger invariants "
                             "broken:\n" + "\n".join(problems[:20]))
    writer.rows_written += rows.write(writer.conn, progress)
    _hook("written", writer.conn)
    rows.count(summary, storerows.trace_rules(log, static, keep, variants))
    session.flushed.extend(static.account_ids.take(np.flatnonzero(keep)).to_pylist())
    return keep


def run_approval_timeouts(ledger: Ledger, setup: Setup, on: date, run_id: str = "run",
                          account_ids=None) -> BatchSummary:
    """ADTIMEOUT (CI_ADTIMEOUT): a To Do for every adjustment waiting for approval longer
    than its profile's timeout_days (deprules.approvals); a second run adds nothing while
    that To Do is open."""
    from .approvals import TIMEOUT_PROCESS, TIMEOUT_RULE, approval_timeouts
    from .ledger.model import Cause

    summary = BatchSummary(TIMEOUT_PROCESS, on, run_id,
                           minor_units=setup.config.installation.minor_units)
    ids = sorted(ledger.states) if account_ids is None else list(account_ids)
    before = {aid: len(ledger.states[aid].todos) for aid in ids}
    cause = Cause(TIMEOUT_PROCESS, run_id=run_id, config_hash=setup.hash)
    done = approval_timeouts(ledger, setup.config, on, cause, ids)
    summary.accounts, summary.accounts_changed = done["accounts"], done["accounts_changed"]
    if done["todos"]:
        summary.rules[TIMEOUT_RULE] = done["todos"]
    for aid in ids:
        for t in ledger.states[aid].todos[before[aid]:]:
            summary.todos[t.todo_type] += 1
    return summary
