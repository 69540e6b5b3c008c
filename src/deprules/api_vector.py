"""``/v1/evaluate/batch`` on the vector back end: the documents of many accounts at once.

The vector engine (``deprules simulate``'s, ``vector.engine.Engine``) decides every account
of the batch set-at-a-time: which rule fires on which SA in which process and round. Its
log holds the firings, not what the document shows of them (the trace's inputs, the
journal changes, adjustment and check statuses), so each account where something fires
is then replayed through the per-account runner's executor in the runner's order (as
``deprules run`` does on a store, ``processes.run_store_batch``), with the facts of each
round built for the replay: the inputs a trace entry shows are the ones the rule saw. An
account where nothing fires is its starting state, with no per-account work at all; the
few accounts the vector engine sends to its per-account fallback run through the runner.
The documents equal the per-account runner's (``tests/test_service_batch.py``).
"""

from __future__ import annotations

from datetime import date

from .ledger.executor import Executor
from .ledger.model import AccountState
from .rules.vocabulary import PROCESSES
from .runner import AccountRun, Runner
from .errors import EngineError


def vector_runs(extract, book, runner: Runner, states: dict[str, AccountState],
                on: date, processes=PROCESSES) -> dict[str, AccountRun]:
    """An AccountRun per account of ``states`` (the accounts of ``extract``)."""
    import numpy as np

    from .vector import state as vst
    from .vector.engine import Engine

    static, mut = vst.build(extract, book.config)
    engine = Engine(book, static, mut)
    log = engine.run(on, processes)
    fallback = engine.flagged | engine.fb
    firings: dict[str, list] = {}
    fired = log.firings(static, fallback)
    if fired is not None:
        acct, pidx, rnd, vi, rows = fired
        sa_ids = static.sa_id[rows]
        ids = static.account_id
        variants = engine.variants_all
        for i in range(len(rows)):
            firings.setdefault(ids[int(acct[i])], []).append(
                (PROCESSES[int(pidx[i])], int(rnd[i]), variants[int(vi[i])], sa_ids[i]))
    sent_back = {static.account_id[a] for a in np.flatnonzero(fallback).tolist()}
    out: dict[str, AccountRun] = {}
    for account_id in sorted(states):
        state = states[account_id]
        if account_id in sent_back:
            out[account_id] = runner.run_cycle(state, on, processes)
        elif account_id in firings:
            out[account_id] = replay(runner, state, on, firings[account_id])
        else:
            out[account_id] = AccountRun(state)
    return out


def replay(runner: Runner, state: AccountState, on: date, firings) -> AccountRun:
    """Firings ``(process, round, variant, sa_id)`` applied through the runner's executor,
    each with the facts of its round (built once per round, before its firings, as
    ``Runner.run_process`` builds them): the same rows, trace and inputs as ``run_cycle``.
    A firing that changes nothing means the two back ends disagree: an error."""
    run = AccountRun(state)
    # the configuration as it applies on ``on`` (effective-dated values), as run_process
    # takes it: the executor's interest periods and the facts' depend on it
    book = runner.book.on(on)
    config = book.config
    facts = run.fact_builder(config, on)
    executor, current, round_key, by_id = None, None, None, {}
    for process, rnd, variant, sa_id in firings:
        if process != current:
            executor, current = Executor(state, config, on), process
        if (process, rnd) != round_key:
            round_key = (process, rnd)
            by_id = {f["id"]: f for f in facts.build(book.cash_deposit_only(process))}
        fact = by_id.get(sa_id)
        if fact is None or not runner._fire(executor, run, variant, sa_id, fact, process,
                                            on, rnd):
            raise EngineError(
                f"account {state.account_id}: rule {variant.rule.id} on SA {sa_id} "
                f"({process} round {rnd}) changed nothing when replayed; the vector back end "
                "and the per-account runner disagree (send the batch with \"engine\": "
                "\"python\" and report this)", rule=variant.rule.id,
                account_id=state.account_id)
    return run
