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

    def as_dict(self) -> dict:
        m = lambda x: format_money(x, self.minor_units)  # noqa: E731
        return {"process": self.process, "date": self.on.isoformat(), "run_id": self.run_id,
                "accounts": self.accounts, "accounts_changed": self.accounts_changed,
                "rules_fired": dict(sorted(self.rules.items())),
                "money_by_category": {k: m(v) for k, v in sorted(self.money.items())},
                "checks_requested": self.checks, "todos_created": dict(sorted(self.todos.items()))}

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
        n_adj, n_chk, n_todo = len(st.adjustments), len(st.checks), len(st.todos)
        run = runner.run_cycle(st, on, processes)
        summary.accounts += 1
        if run.trace:
            summary.accounts_changed += 1
        for t in run.trace:
            summary.rules[t.rule] += 1
        for a in st.adjustments[n_adj:]:
            if a.category == "transfer":
                if a.amount > 0:  # count each pair once: the leg on the deposit SA
                    summary.money["transfer"] += a.amount
            else:
                summary.money[a.category] += a.amount
        summary.checks += len(st.checks) - n_chk
        for t in st.todos[n_todo:]:
            summary.todos[t.todo_type] += 1
    return summary
