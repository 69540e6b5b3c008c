"""A scenario's given accounts -> account states, through the extract loader.

Inline rows are written as a tiny extract (CSV) and loaded with the same
validation as any extract, so a scenario cannot hold data an extract could not;
each problem found is pointed back at the pack's YAML node (FILE:LINE:COL).
"""

from __future__ import annotations

import csv
import tempfile
from decimal import Decimal
from pathlib import Path

from ..errors import ExtractError, InputError, Problem, ScenarioError
from ..extract import TABLES
from ..ledger.model import AccountState
from ..workspace import Setup, load_states
from .model import Row, Scenario

DEFAULTS = {
    "service_agreements": {"status": "active", "current_balance": "0.00",
                           "payoff_balance": "0.00"},
    "financial_transactions": {"current_amount": "0.00"},
}


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def build_states(sc: Scenario, setup: Setup) -> dict[str, AccountState]:
    """The scenario's account states (validated; ScenarioError names the pack's nodes)."""
    g = sc.given
    if g.from_extract is not None:
        folder, ids, path = g.from_extract
        try:
            states = load_states(folder, setup.config, account_ids=ids)
        except InputError as exc:
            raise ScenarioError([sc.problem(path, str(exc), "bad-extract")],
                                what=f"scenario {sc.name}") from None
        except ExtractError as exc:  # located in the extract's own tables
            raise ScenarioError(exc.problems, what=f"scenario {sc.name}") from None
        missing = sorted(set(ids or ()) - set(states))
        if missing:
            raise ScenarioError([sc.problem(path + ("accounts",), f"account(s) "
                                            f"{', '.join(missing)} not in the extract {folder}",
                                            "unknown-account")], what=f"scenario {sc.name}")
        return states
    tables = {"accounts": g.accounts, "service_agreements": g.service_agreements,
              "non_cash_deposits": g.non_cash_deposits,
              "financial_transactions": g.financial_transactions}
    with tempfile.TemporaryDirectory(prefix="deprules-pack-") as tmp:
        folder = Path(tmp)
        for table, rows in tables.items():
            if not rows and table not in ("accounts", "service_agreements"):
                continue
            cols = [c.name for c in TABLES[table]]
            with (folder / f"{table}.csv").open("w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(cols)
                for row in rows:
                    data = {**DEFAULTS.get(table, {}), **row.data}
                    w.writerow([_cell(data.get(c)) for c in cols])
        try:
            return load_states(folder, setup.config)
        except ExtractError as exc:
            raise ScenarioError([_locate(sc, p, tables) for p in exc.problems],
                                what=f"scenario {sc.name}") from None


def _locate(sc: Scenario, p: Problem, tables: dict[str, list[Row]]) -> Problem:
    """table.csv:line:column -> the pack node of that row and value."""
    table = p.file.rsplit(".", 1)[0]
    rows = tables.get(table) or []
    cols = [c.name for c in TABLES[table]] if table in TABLES else []
    index = p.line - 2  # header = line 1
    column = cols[p.column - 1] if 0 < p.column <= len(cols) else None
    what = f"{table.replace('_', ' ')}"
    if 0 <= index < len(rows):
        row = rows[index]
        ypath = row.path(column) if column in row.where else row.base
        line, col = sc.doc.where(ypath)
        key = f" {column}" if column else ""
        return Problem(sc.file, line, col, _jp(ypath), f"{what}[{index}]{key}: {p.message}",
                       p.code)
    line, col = sc.doc.where(sc.base + ("given",))
    return Problem(sc.file, line, col, _jp(sc.base + ("given",)), f"{what}: {p.message}", p.code)


def _jp(path) -> str:
    from ..yamlload import json_path

    return json_path(path)
