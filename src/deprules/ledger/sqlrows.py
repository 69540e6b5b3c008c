"""Account states <-> SQLite rows: the schema of the ledger's entity tables, exact both ways.

Every entity class of :mod:`deprules.ledger.model` is one table whose columns are the class's
fields in order (a :class:`Cause` spreads over seven ``cause_*``-free columns named as its
fields, as in :mod:`deprules.ledger.tables`). Money and counts are INTEGER, flags INTEGER 0/1,
dates ISO ``YYYY-MM-DD`` TEXT, a journal entry's detail JSON TEXT; NULL stays NULL. Rows keep
their order within an account through the table's rowid.
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import date
from typing import Any, Iterable

from .model import Cause
from .fields import BOOL_FIELDS, CAUSE_COLUMNS, DATE_FIELDS, ENTITIES, INT_FIELDS

# entity name (as in ENTITIES and Ledger.tables()) -> SQL table
SQL_TABLE = {name: ("account_journal" if name == "journal" else name) for name in ENTITIES}
# the id column by which a command finds its account, per entity kind
ID_COLUMNS = {"sa": ("service_agreements", "sa_id"), "adjustment": ("adjustments", "adjustment_id"),
              "bill": ("bills", "bill_id"), "todo": ("todos", "todo_id"),
              "check": ("checks", "check_id"), "ft": ("fts", "ft_id")}


class Layout:
    """Columns and converters of one entity table."""

    def __init__(self, name: str):
        cls, attr = ENTITIES[name]
        self.name, self.table, self.cls, self.attr = name, SQL_TABLE[name], cls, attr
        self.columns: list[str] = []
        self.kinds: list[str] = []  # per model field: date | int | bool | json | text | cause
        for f in fields(cls):
            if f.name == "cause":
                self.columns.extend(CAUSE_COLUMNS)
                self.kinds.append("cause")
                continue
            self.columns.append(f.name)
            self.kinds.append("date" if f.name in DATE_FIELDS else "int" if f.name in INT_FIELDS
                              else "bool" if f.name in BOOL_FIELDS
                              else "json" if f.name == "detail" else "text")
        self.field_names = [f.name for f in fields(cls)]
        self.account_pos = self.columns.index("account_id")
        self.quoted = ", ".join(f'"{c}"' for c in self.columns)

    def ddl(self) -> str:
        types = []
        for f, kind in zip(self.field_names, self.kinds):
            if kind == "cause":
                types.extend(f'"{c}" TEXT' for c in CAUSE_COLUMNS)
            else:
                t = "INTEGER" if kind in ("int", "bool") else "TEXT"
                extra = " NOT NULL" if f == "account_id" else ""
                extra += " PRIMARY KEY" if self.name == "accounts" and f == "account_id" else ""
                types.append(f'"{f}" {t}{extra}')
        return f"CREATE TABLE {self.table} ({', '.join(types)})"

    def insert_sql(self) -> str:
        marks = ", ".join("?" * len(self.columns))
        return f"INSERT INTO {self.table} ({self.quoted}) VALUES ({marks})"

    def select_sql(self, where: str = "") -> str:
        return f"SELECT {self.quoted} FROM {self.table} {where} ORDER BY rowid"

    # -- object <-> row
    def row(self, obj: Any) -> tuple:
        out: list = []
        for name, kind in zip(self.field_names, self.kinds):
            v = getattr(obj, name)
            if kind == "cause":
                out.extend((v.process, v.rule, v.seed_step, v.run_id, v.config_hash, v.user,
                            v.reason))
            elif v is None:
                out.append(None)
            elif kind == "date":
                out.append(v.isoformat())
            elif kind == "bool":
                out.append(1 if v else 0)
            elif kind == "int":
                out.append(int(v))
            elif kind == "json" and isinstance(v, dict):
                out.append(json.dumps(v, sort_keys=True, ensure_ascii=False))
            else:
                out.append(v)
        return tuple(out)

    def build(self, row: tuple) -> Any:
        args: list = []
        i = 0
        for kind in self.kinds:
            if kind == "cause":
                args.append(Cause(*row[i:i + 7]))
                i += 7
                continue
            v = row[i]
            i += 1
            if v is not None:
                if kind == "date":
                    v = date.fromisoformat(v)
                elif kind == "bool":
                    v = bool(v)
            args.append(v)
        return self.cls(*args)


LAYOUTS = {name: Layout(name) for name in ENTITIES}
CHILDREN = [lay for name, lay in LAYOUTS.items() if name != "accounts"]

INDEXES = [f"CREATE INDEX {lay.table}_account ON {lay.table} (account_id)" for lay in CHILDREN] + [
    f"CREATE INDEX {table}_{col} ON {table} ({col})" for table, col in ID_COLUMNS.values()] + [
    "CREATE INDEX checks_status ON checks (status)",
    "CREATE INDEX todos_status ON todos (status)"]


def state_rows(st) -> dict[str, list[tuple]]:
    """The rows of one account, per entity table (accounts included)."""
    out = {"accounts": [LAYOUTS["accounts"].row(st.account)]}
    for lay in CHILDREN:
        items = getattr(st, lay.attr)
        items = items.values() if isinstance(items, dict) else items
        out[lay.name] = [lay.row(x) for x in items]
    return out


def attach(states: dict, lay: Layout, rows: Iterable[tuple], snapshot: dict | None) -> None:
    """Build the objects of ``rows`` into their accounts' states (and remember the rows)."""
    from .model import AccountState

    pos = lay.account_pos
    snap = snapshot.setdefault(lay.name, {}) if snapshot is not None else None
    for row in rows:
        aid = row[pos]
        obj = lay.build(row)
        if lay.name == "accounts":
            states[aid] = AccountState(obj)
            if snap is not None:
                snap[aid] = [row]
            continue
        st = states.get(aid)
        if st is None:  # a row of an account that is not loaded (or not there: damage)
            raise KeyError(aid)
        if lay.attr == "sas":
            st.sas[obj.sa_id] = obj
        else:
            getattr(st, lay.attr).append(obj)
        if snap is not None:
            snap.setdefault(aid, []).append(row)
