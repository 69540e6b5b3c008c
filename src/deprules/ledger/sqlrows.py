"""Account states <-> SQLite rows: the schema of the ledger's entity tables, exact both ways.

Every entity class of :mod:`deprules.ledger.model` is one table whose columns are the class's
fields in order. A :class:`Cause` is stored once in the ``causes`` table (its seven fields,
UNIQUE together) and referenced by an INTEGER ``cause_id`` column in its place (schema
version 2; version 1 repeated the seven columns in every row). Money and counts are INTEGER,
flags INTEGER 0/1, dates ISO ``YYYY-MM-DD`` TEXT, a journal entry's detail JSON TEXT; NULL
stays NULL. Rows keep their order within an account through the table's rowid.

In memory a row is the *logical* tuple (``Layout.columns``: the cause's seven fields inline,
as in :mod:`deprules.ledger.tables`); :meth:`Layout.select_sql` joins ``causes`` back in and
:meth:`Layout.stored` swaps the seven fields for their ``cause_id`` when writing.
"""

from __future__ import annotations

import json
from dataclasses import fields
from operator import attrgetter
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
        # where the cause's seven fields start in a logical row (None: no cause)
        self.cause_at = self.columns.index(CAUSE_COLUMNS[0]) if "cause" in self.kinds else None
        # the table's columns (schema version 2): cause_id in place of the seven fields
        self.stored_columns = list(self.columns) if self.cause_at is None else (
            self.columns[:self.cause_at] + ["cause_id"] +
            self.columns[self.cause_at + len(CAUSE_COLUMNS):])
        # for row(): positions (among the model's fields) of the values to convert
        self._get = attrgetter(*self.field_names)
        at = lambda kind: tuple(i for i, k in enumerate(self.kinds) if k == kind)  # noqa: E731
        self._dates, self._bools, self._ints, self._json = (at("date"), at("bool"), at("int"),
                                                             at("json"))
        self._cause = self.kinds.index("cause") if "cause" in self.kinds else None

    def ddl(self, table: str | None = None) -> str:
        types = []
        for f, kind in zip(self.field_names, self.kinds):
            if kind == "cause":
                types.append('"cause_id" INTEGER')
            else:
                t = "INTEGER" if kind in ("int", "bool") else "TEXT"
                extra = " NOT NULL" if f == "account_id" else ""
                extra += " PRIMARY KEY" if self.name == "accounts" and f == "account_id" else ""
                types.append(f'"{f}" {t}{extra}')
        return f"CREATE TABLE {table or self.table} ({', '.join(types)})"

    def insert_sql(self) -> str:
        cols = ", ".join(f'"{c}"' for c in self.stored_columns)
        marks = ", ".join("?" * len(self.stored_columns))
        return f"INSERT INTO {self.table} ({cols}) VALUES ({marks})"

    def select_sql(self, where: str = "") -> str:
        """Logical rows (the cause's fields joined back in), in rowid order; ``where`` may
        name the table's own columns unqualified."""
        if self.cause_at is None:
            return f"SELECT {self.quoted} FROM {self.table} {where} ORDER BY rowid"
        cols = ", ".join(f'c."{c}"' if c in CAUSE_COLUMNS else f't."{c}"' for c in self.columns)
        return (f"SELECT {cols} FROM {self.table} t LEFT JOIN causes c ON c.id = t.cause_id "
                f"{where} ORDER BY t.rowid")

    def stored(self, row: tuple, cause_ids: CauseIds) -> tuple:
        """A logical row as the table stores it (its cause interned into ``causes``)."""
        k = self.cause_at
        if k is None:
            return row
        n = len(CAUSE_COLUMNS)
        return row[:k] + (cause_ids.id(row[k:k + n]),) + row[k + n:]

    # -- object <-> row
    def row(self, obj: Any) -> tuple:
        """The logical row of ``obj`` (equal to :meth:`row_slow`, about three times faster:
        all attributes are read by one C-level getter and only the few dates, flags, JSON
        details and the cause are converted)."""
        vals = list(self._get(obj))
        for i in self._dates:
            v = vals[i]
            if v is not None:
                vals[i] = v.isoformat()
        for i in self._bools:
            v = vals[i]
            if v is not None:
                vals[i] = 1 if v else 0
        for i in self._ints:
            v = vals[i]
            if v is not None and v.__class__ is not int:
                vals[i] = int(v)
        for i in self._json:
            v = vals[i]
            if isinstance(v, dict):
                vals[i] = _JSON(v)
        k = self._cause
        if k is None:
            return tuple(vals)
        return (*vals[:k], *_CAUSE_GET(vals[k]), *vals[k + 1:])

    def row_slow(self, obj: Any) -> tuple:
        """:meth:`row` field by field (the reference its tests compare with)."""
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


_CAUSE_GET = attrgetter(*CAUSE_COLUMNS)
# json.dumps(v, sort_keys=True, ensure_ascii=False), without building an encoder per call
_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode


def cause_key(cause) -> tuple:
    """A cause as the tuple ``causes`` rows hold (:class:`CauseIds` interns these)."""
    return _CAUSE_GET(cause)


class CauseIds:
    """The ids of causes in one connection's ``causes`` table, interning new ones (valid for
    one transaction: a rolled-back insert must not be remembered)."""

    def __init__(self, conn):
        self.conn = conn
        self.known: dict[tuple, int] = {}
        self._where = " AND ".join(f'"{c}" IS ?' for c in CAUSE_COLUMNS)

    def id(self, cause: tuple) -> int:
        got = self.known.get(cause)
        if got is None:
            row = self.conn.execute(f"SELECT id FROM causes WHERE {self._where}", cause).fetchone()
            got = row[0] if row else self.conn.execute(CAUSE_INSERT, cause).lastrowid
            self.known[cause] = got
        return got


CAUSES_DDL = ("CREATE TABLE causes (id INTEGER PRIMARY KEY, "
              + ", ".join(f'"{c}" TEXT' for c in CAUSE_COLUMNS)
              + ", UNIQUE (" + ", ".join(f'"{c}"' for c in CAUSE_COLUMNS) + "))")
CAUSE_INSERT = ("INSERT INTO causes (" + ", ".join(f'"{c}"' for c in CAUSE_COLUMNS)
                + ") VALUES (" + ", ".join("?" * len(CAUSE_COLUMNS)) + ")")

LAYOUTS = {name: Layout(name) for name in ENTITIES}
CHILDREN = [lay for name, lay in LAYOUTS.items() if name != "accounts"]

# the rows of these tables name their cause (cause_id)
CAUSED = [lay for lay in LAYOUTS.values() if lay.cause_at is not None]

INDEXES = [f"CREATE INDEX {lay.table}_account ON {lay.table} (account_id)" for lay in CHILDREN] + [
    f"CREATE INDEX {table}_{col} ON {table} ({col})" for table, col in ID_COLUMNS.values()] + [
    "CREATE INDEX checks_status ON checks (status)",
    "CREATE INDEX todos_status ON todos (status)"]


def migration_1_to_2() -> list[str]:
    """SQL taking a schema-version-1 store (the seven cause fields repeated in every row, as
    ``Layout.columns``) to version 2 (``causes`` once, ``cause_id`` in the rows). Rowids, and
    so the rows' order, are kept; the rebuilt tables get their indexes again.

    Written against the version-1 columns, which are today's logical columns: a later change
    of the model's fields must freeze this list as literal SQL first."""
    cause_cols = ", ".join(f'"{c}"' for c in CAUSE_COLUMNS)
    match = " AND ".join(f'c."{c}" IS t."{c}"' for c in CAUSE_COLUMNS)
    sql = [CAUSES_DDL,
           f"INSERT INTO causes ({cause_cols}) SELECT * FROM ("
           + " UNION ".join(f"SELECT {cause_cols} FROM {lay.table}" for lay in CAUSED)
           + f") ORDER BY {cause_cols}"]
    for lay in CAUSED:
        tmp = f"{lay.table}_v2"
        select = ", ".join(f"(SELECT c.id FROM causes c WHERE {match})" if col == "cause_id"
                           else f't."{col}"' for col in lay.stored_columns)
        cols = ", ".join(f'"{c}"' for c in lay.stored_columns)
        sql += [lay.ddl(tmp),
                f"INSERT INTO {tmp} (rowid, {cols}) SELECT t.rowid, {select} FROM {lay.table} t "
                "ORDER BY t.rowid",
                f"DROP TABLE {lay.table}",
                f"ALTER TABLE {tmp} RENAME TO {lay.table}"]
        sql += [i for i in INDEXES if f" ON {lay.table} (" in i]
    return sql


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
