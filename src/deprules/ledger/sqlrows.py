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

Schema version 3 keeps the two tables that only grow, an account's journal entries and GL
lines (:data:`PACKED`), *packed*: one stored row per account and write (``account_id``,
``n``, then each other stored column of its ``n`` rows as one JSON array, a journal entry's
detail objects inline; ``Layout.pack_columns``): column by column, so that ``ledger check``
parses only the arrays it checks (the kinds and causes of journal entries, say). A first
cycle over a million accounts writes 1.6 million such rows instead of 22 million
(docs/performance.md). :meth:`Layout.read` unpacks them into the same logical rows, in the same order, so readers
do not see the difference; :func:`insert_rows` packs what it writes. A detail is the
compact JSON text of its object (``{"a":"b"}``, keys sorted), inlined in the packed row.
"""

from __future__ import annotations

import json
from dataclasses import fields
from operator import attrgetter
from datetime import date
from typing import Any, Iterable, Iterator

from .model import Cause
from .fields import BOOL_FIELDS, CAUSE_COLUMNS, DATE_FIELDS, ENTITIES, INT_FIELDS

# entity name (as in ENTITIES and Ledger.tables()) -> SQL table
SQL_TABLE = {name: ("account_journal" if name == "journal" else name) for name in ENTITIES}
# the tables stored packed (schema version 3): one row per account and write
PACKED = ("gl_lines", "journal")
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
        self.packed = name in PACKED
        # a packed row: account_id, n, then each other stored column as a JSON array
        self.inner = [c for c in self.stored_columns if c != "account_id"]
        self._inner_at = [i for i, c in enumerate(self.stored_columns) if c != "account_id"]
        # where a journal entry's detail is (inlined as JSON in a packed row), or None
        self._detail_at = (self.stored_columns.index("detail") if "detail" in self.stored_columns
                           else None)
        self.pack_columns = ["account_id", "n", *self.inner] if self.packed else None
        # SQL for the number of logical rows of a set of stored rows
        self.count_sql = "SUM(n)" if self.packed else "COUNT(*)"

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

    def table_ddl(self, table: str | None = None) -> str:
        """The table as this schema version stores it (packed or one row per entity)."""
        if self.packed:
            inner = ", ".join(f'"{c}" TEXT NOT NULL' for c in self.inner)
            return (f"CREATE TABLE {table or self.table} (account_id TEXT NOT NULL, "
                    f"n INTEGER NOT NULL, {inner})")
        return self.ddl(table)

    def insert_sql(self, table: str | None = None) -> str:
        """INSERT of one stored row (of a packed table: one packed row)."""
        cols = self.pack_columns if self.packed else self.stored_columns
        names = ", ".join(f'"{c}"' for c in cols)
        return f"INSERT INTO {table or self.table} ({names}) VALUES ({', '.join('?' * len(cols))})"

    def select_sql(self, where: str = "") -> str:
        """Logical rows (the cause's fields joined back in), in rowid order; ``where`` may
        name the table's own columns unqualified. Not for a packed table (:meth:`read`)."""
        assert not self.packed, self.name
        if self.cause_at is None:
            return f"SELECT {self.quoted} FROM {self.table} {where} ORDER BY rowid"
        cols = ", ".join(f'c."{c}"' if c in CAUSE_COLUMNS else f't."{c}"' for c in self.columns)
        return (f"SELECT {cols} FROM {self.table} t LEFT JOIN causes c ON c.id = t.cause_id "
                f"{where} ORDER BY t.rowid")

    def read(self, conn, where: str = "", params: tuple = ()) -> Iterator[tuple]:
        """The logical rows of the table in ``conn``, in order; ``where`` may name the
        table's own columns unqualified (of a packed table: ``account_id`` only).

        A packed table's entries are decoded here, not by SQLite's JSON functions: those
        return a text only up to its first NUL character, and every text must come back as
        it was written."""
        if not self.packed:
            yield from conn.execute(self.select_sql(where), params)
            return
        causes: dict = {}
        width, at, pos = len(self.stored_columns), self._inner_at, self.account_pos
        raw = self._detail_at
        cause = self.stored_columns.index("cause_id") if self.cause_at is not None else None
        cols = ", ".join(f'"{c}"' for c in self.inner)
        for aid, *packed in conn.execute(
                f"SELECT account_id, {cols} FROM {self.table} {where} ORDER BY rowid", params):
            for entry in zip(*map(json.loads, packed)):
                row = [None] * width
                row[pos] = aid
                for i, v in zip(at, entry):
                    row[i] = v
                if raw is not None and isinstance(row[raw], (dict, list)):
                    row[raw] = _JSON(row[raw])
                if cause is not None:
                    cid = row[cause]
                    got = causes.get(cid)
                    if got is None:
                        got = causes[cid] = _cause_fields(conn, cid)
                    row[cause:cause + 1] = got
                yield tuple(row)

    def pack(self, rows: Iterable[tuple], trusted: bool = False) -> Iterator[tuple]:
        """Stored rows as packed rows (:attr:`pack_columns`): one per run of rows of the same
        account. A detail is inlined as the JSON object it holds (``trusted``: every detail
        text is known to be JSON; otherwise one that does not parse as one is stored as a
        JSON string)."""
        pos, at, raw = self.account_pos, self._inner_at, self._detail_at

        def packed(group: list) -> tuple:
            return (group[0][pos], len(group), *(
                "[" + ",".join(_inline(r[i], trusted) for r in group) + "]" if i == raw
                else _ENC([r[i] for r in group]) for i in at))

        group: list = []
        for row in rows:
            if group and row[pos] != group[0][pos]:
                yield packed(group)
                group = []
            group.append(row)
        if group:
            yield packed(group)

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
                out.append(json.dumps(v, sort_keys=True, ensure_ascii=False,
                                      separators=(",", ":")))
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
# a detail as stored: json.dumps(v, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
# without building an encoder per call (compact, as a packed row inlines it)
_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode
# one value of a packed row
_ENC = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# a packed table's row position: its rowid shifted left, plus the entry's place in it
POS_BITS = 24
_CAUSE_SELECT = ("SELECT " + ", ".join(f'"{c}"' for c in CAUSE_COLUMNS)
                 + " FROM causes WHERE id = ?")


def _inline(v, trusted: bool) -> str:
    """A detail (JSON object text, or None) as it is inlined in a packed row."""
    if v is None:
        return "null"
    if not trusted:
        try:
            ok = v.startswith("{") and isinstance(json.loads(v), dict)
        except ValueError:
            ok = False
        if not ok:
            return _ENC(v)
    return v


def _cause_fields(conn, cause_id) -> list:
    """The seven fields of cause ``cause_id`` (None each when there is no such cause, as
    the LEFT JOIN of :meth:`Layout.select_sql` gives)."""
    row = conn.execute(_CAUSE_SELECT, (cause_id,)).fetchone()
    return list(row) if row else [None] * len(CAUSE_COLUMNS)


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


def insert_rows(conn, lay: Layout, rows: list) -> int:
    """Insert stored rows of ``lay`` in order (packed per account for a packed table);
    returns how many (logical) rows."""
    conn.executemany(lay.insert_sql(), lay.pack(rows) if lay.packed else rows)
    return len(rows)


def migration_2_to_3(conn) -> None:
    """Take a schema-version-2 store to version 3: the journal and GL lines packed, one
    row per account with every row it had, in its order. A detail that is not JSON (only
    damage makes one) is kept as a JSON string."""
    for name in PACKED:
        lay = LAYOUTS[name]
        tmp = f"{lay.table}_v3"
        cols = ", ".join("CASE WHEN json_valid(detail) THEN json(detail) ELSE "
                         "json_quote(detail) END" if c == "detail" else f'"{c}"'
                         for c in lay.stored_columns)
        conn.execute(lay.table_ddl(tmp))
        rows = conn.execute(f"SELECT {cols} FROM {lay.table} ORDER BY account_id, rowid")
        conn.executemany(lay.insert_sql(tmp), lay.pack(rows, trusted=True))
        conn.execute(f"DROP TABLE {lay.table}")
        conn.execute(f"ALTER TABLE {tmp} RENAME TO {lay.table}")
        for sql in INDEXES:
            if f" ON {lay.table} (" in sql:
                conn.execute(sql)


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
