"""The ledger's invariants (DOMAIN.md section 6) over a whole store, set at a time.

The same findings, in the same words and order, as :func:`deprules.ledger.check.check_account`
over every account (sorted by id) — but as SQL queries over the store's tables, which return
only the offending rows, instead of building every account as Python objects. The per-account
check stays for the accounts a command touched; ``tests/test_sqlcheck.py`` keeps the two equal
on generated stores and on deliberately corrupted ones.

Each query yields ``(account_id, section, position, sub, ...)``: ``section`` is the place of
the invariant in ``check_account``, ``position`` the row's place in its account (rowid order,
as the per-account objects are built), so sorting the findings by that key gives the
per-account order. Where ``check_account`` looks an entity up in a dict built from its
account's rows (SAs, adjustments and FTs by id) the last row of that id wins, as there.
"""

from __future__ import annotations

import json

from ..config.model import Config
from ..errors import StoreError
from ..money import format_money
from ..storecheck import run
from .check import CHECK_STATUSES, EXTERNAL, GROUP_STATUSES, TODO_MOVES, TODO_STATUSES
from .executor import CHECK_MOVES, FT_ALGORITHMS
from .model import LEGAL_MOVES
from .sqlrows import LAYOUTS, POS_BITS


def _values(rows, width: int) -> str:
    """A VALUES list for a CTE (NULL-free text or integers), or an empty one of ``width``."""
    rows = list(rows)
    if not rows:
        return "SELECT " + ", ".join("NULL" for _ in range(width)) + " WHERE 0"
    return "VALUES " + ", ".join("(" + ", ".join(_lit(v) for v in r) + ")" for r in rows)


def _lit(v) -> str:
    return str(int(v)) if isinstance(v, (int, bool)) else "'" + str(v).replace("'", "''") + "'"


def _in(values) -> str:
    return "(" + ", ".join(_lit(v) for v in sorted(values)) + ")" if values else "(NULL)"


def _blank(col: str) -> str:
    """SQL for Python's ``not value`` of a text column."""
    return f"({col} IS NULL OR {col} = '')"


def _set(col: str) -> str:
    return f"({col} IS NOT NULL AND {col} != '')"


def _at(table: str, column: str, key: str, more: str = "") -> str:
    """The value at index ``key`` (plus the path ``more``) of a packed row's JSON array
    ``column`` (``sqlrows.PACKED``; SQLite parses each array once per row)."""
    return f"json_extract({table}.{column}, '$[' || {key} || ']{more}')"


def _pos(table: str, key: str) -> str:
    """The place of a packed row's entry ``key`` among the account's rows (rowid order)."""
    return f"(({table}.rowid << {POS_BITS}) + {key})"


CAUSE_JOIN = "LEFT JOIN causes c ON c.id = {t}.cause_id"

# the last SA row of each (account, id), placed where its id first appears
SA_DEDUP = """sa AS (SELECT s.*, MIN(s.rowid) OVER w AS pos,
                   ROW_NUMBER() OVER (PARTITION BY s.account_id, s.sa_id ORDER BY s.rowid DESC) AS rn
            FROM service_agreements s WINDOW w AS (PARTITION BY s.account_id, s.sa_id))"""
SA_PLAIN = "sa AS (SELECT s.*, s.rowid AS pos, 1 AS rn FROM service_agreements s)"
# the tables whose ids are looked up in an account's dict (the last row of an id wins)
ID_TABLES = {"service_agreements": "sa_id", "adjustments": "adjustment_id", "fts": "ft_id"}


def _on(alias: str, table: str, account: str, value: str, dups: set[str]) -> str:
    """Join condition: ``alias`` is the row of ``table`` with id ``value`` in ``account``."""
    col = ID_TABLES[table]
    if table in dups:
        return (f"{alias}.rowid = (SELECT MAX(x.rowid) FROM {table} x WHERE x.{col} = {value} "
                f"AND x.account_id = {account})")
    return f"{alias}.{col} = {value} AND {alias}.account_id = {account}"


def queries(config: Config, dups: set[str] = frozenset()) -> list[tuple[str, str]]:
    """(kind, SQL) of every invariant; ``kind`` names how its rows become sentences.
    ``dups``: the tables of :data:`ID_TABLES` with duplicated ids (:func:`duplicated`)."""
    SA_CTE = SA_DEDUP if "service_agreements" in dups else SA_PLAIN
    cash = {code for code, t in config.sa_types.items() if t.is_cash_deposit}
    algs = _values(((code, t.ft_algorithm, *FT_ALGORITHMS[t.ft_algorithm][:2])
                    for code, t in sorted(config.adjustment_types.items())
                    if t.ft_algorithm in FT_ALGORITHMS), 4)
    legal = _values(sorted(LEGAL_MOVES), 2)
    check_moves = _values(sorted(CHECK_MOVES), 2)
    q: list[tuple[str, str]] = []
    # 2: balances = opening + FTs; a closed cash deposit at zero. And 1, an FT of an
    # unknown SA, from the same sums of FTs per SA: an SA looked up per (account, SA) of the
    # FTs, not per FT (the FTs of a group without SA are then read again: damage only)
    q.append(("sa", f"""
        WITH {SA_CTE},
        ft AS MATERIALIZED (SELECT account_id, sa_id, SUM(payoff_amount) AS p,
                                   SUM(current_amount) AS c FROM fts NOT INDEXED
                            GROUP BY account_id, sa_id),
        b AS (SELECT sa.*, COALESCE(ft.p, 0) AS fp, COALESCE(ft.c, 0) AS fc
              FROM sa LEFT JOIN ft ON ft.account_id = sa.account_id AND ft.sa_id IS sa.sa_id
              WHERE rn = 1)
        SELECT account_id, 2, pos, 0, sa_id, payoff_balance, current_balance,
               opening_payoff + fp, opening_current + fc,
               status = 'closed' AND sa_type IN {_in(cash)}
        FROM b
        WHERE (opening_payoff IS NOT NULL AND opening_payoff + fp IS NOT payoff_balance)
           OR (opening_current IS NOT NULL AND opening_current + fc IS NOT current_balance)
           OR (status = 'closed' AND sa_type IN {_in(cash)}
               AND (payoff_balance IS NOT 0 OR current_balance IS NOT 0))
        UNION ALL
        SELECT f.account_id, 1, f.rowid, 0, f.ft_id, f.sa_id, NULL, NULL, NULL, NULL
        FROM ft JOIN fts f ON f.account_id = ft.account_id AND f.sa_id IS ft.sa_id
        WHERE NOT EXISTS (SELECT 1 FROM service_agreements s
                          WHERE s.account_id = ft.account_id AND s.sa_id IS ft.sa_id)"""))
    # 3: GL lines of an FT net to zero. A test per packed row first, its lines grouped on
    # their own (an FT whose lines do not net to zero has a packed row where its lines do
    # not), then the exact sums over every packed row of those accounts only: half the time
    # of grouping every line of the store (measured at 1,000,000 accounts)
    amount = _at("p", "amount", "f.key")
    q.append(("gl", f"""
        WITH bad AS (SELECT DISTINCT account_id FROM gl_lines p WHERE EXISTS (
                         SELECT 1 FROM json_each(p.ft_id) f GROUP BY f.value
                         HAVING SUM({amount}) != 0))
        SELECT p.account_id, 3, MIN({_pos("p", "f.key")}), 0, f.value, SUM({amount})
        FROM gl_lines p, json_each(p.ft_id) f WHERE p.account_id IN bad
        GROUP BY p.account_id, f.value HAVING SUM({amount}) != 0"""))
    # 4: adjustments, their FTs, transfer pairs, their causes
    q.append(("adjustment", f"""
        WITH alg(adjustment_type, name, fp, fc) AS ({algs})
        SELECT a.account_id, 4, a.rowid, 0, a.adjustment_id, a.amount, a.status, a.ft_id,
               a.cancel_ft_id, a.twin_id, a.created_by,
               alg.name, alg.fp, alg.fc, f.ft_id IS NOT NULL, f.ft_id, f.payoff_amount,
               f.current_amount,
               t.adjustment_id IS NOT NULL, t.adjustment_id, t.twin_id, t.amount, t.status,
               c.process, c.run_id, c.config_hash, c.rule
        FROM adjustments a {CAUSE_JOIN.format(t="a")}
        LEFT JOIN alg ON alg.adjustment_type = a.adjustment_type
        LEFT JOIN fts f ON a.status IN ('frozen', 'canceled') AND {_set("a.ft_id")}
             AND {_on("f", "fts", "a.account_id", "a.ft_id", dups)}
        LEFT JOIN adjustments t ON {_set("a.twin_id")}
             AND {_on("t", "adjustments", "a.account_id", "a.twin_id", dups)}
        WHERE a.amount = 0
           OR (a.status IN ('frozen', 'canceled') AND {_set("a.ft_id")}
               AND (f.ft_id IS NULL OR (alg.name IS NOT NULL AND (
                    f.payoff_amount IS NOT alg.fp * a.amount
                    OR f.current_amount IS NOT alg.fc * a.amount))))
           OR (a.status = 'frozen' AND {_blank("a.ft_id")})
           OR (a.status = 'canceled' AND {_set("a.ft_id")} AND {_blank("a.cancel_ft_id")})
           OR ({_set("a.twin_id")} AND (t.adjustment_id IS NULL
               OR t.twin_id IS NOT a.adjustment_id OR t.amount + a.amount != 0
               OR (a.status IS 'frozen') != (t.status IS 'frozen')))
           OR a.cause_id IS NULL OR a.cause_id NOT IN (SELECT id FROM causes WHERE
               {_set("process")} AND {_set("run_id")} AND {_set("config_hash")})
           OR (a.created_by = 'batch' AND {_blank("c.rule")})"""))
    # 5: money conservation per account
    q.append(("conservation", f"""
        WITH {SA_CTE},
        moves AS (SELECT account_id, payoff_balance - opening_payoff AS m, 0 AS e FROM sa
                  WHERE rn = 1 AND opening_payoff IS NOT NULL
                  UNION ALL
                  SELECT f.account_id, 0, f.payoff_amount FROM fts f
                  JOIN adjustments a ON {_on("a", "adjustments", "f.account_id", "f.source_id", dups)}
                  WHERE f.source = 'adjustment' AND a.category IN {_in(EXTERNAL)})
        SELECT account_id, 5, 0, 0, SUM(m), SUM(e) FROM moves GROUP BY account_id
        HAVING SUM(m) != SUM(e)"""))
    # 6: check requests and their adjustments
    q.append(("check", f"""
        SELECT k.account_id, 6, k.rowid, 0, k.check_id, k.amount, k.status,
               a.adjustment_id IS NOT NULL, a.adjustment_id, a.amount, a.status
        FROM checks k LEFT JOIN adjustments a
             ON {_on("a", "adjustments", "k.account_id", "k.adjustment_id", dups)}
        WHERE a.adjustment_id IS NULL OR k.amount IS NOT a.amount
           OR (k.status IS NOT 'canceled' AND a.status IS NOT 'frozen')"""))
    # 7 and 13: status moves legal, journal entries name their process and run; check
    # request and To Do moves. Two scans of the packed journal: the moves (the entries'
    # kinds, and the details of the moves only) and the causes (split in check_store)
    before, to = (_at("j", "detail", "k.key", ".from_status"),
                  _at("j", "detail", "k.key", ".to_status"))
    illegal = ("(k.value = 'status' AND NOT EXISTS (SELECT 1 FROM legal WHERE legal.f = "
               f"{before} AND legal.t = {to}))")
    manual = (f"((k.value = 'check_status' AND {_set(before)} AND NOT EXISTS ("
              f"SELECT 1 FROM moves WHERE moves.f IS {before} AND moves.t IS {to})) "
              f"OR (k.value = 'todo_status' AND NOT EXISTS ("
              f"SELECT 1 FROM todo_moves m WHERE m.f IS {before} AND m.t IS {to})))")
    # a move's (from, to) as one JSON text, tested against the allowed ones' texts first (one
    # look-up in the details per entry); the exact test on the decoded values, for the few
    # entries that fail it
    pair = ("json_extract(j.detail, '$[' || k.key || '].from_status', "
            "'$[' || k.key || '].to_status')")
    allowed = {kind: "(" + ", ".join(_lit(json.dumps([f, t], separators=(",", ":")))
                                     for f, t in sorted(pairs)) + ")"
               for kind, pairs in (("status", LEGAL_MOVES), ("check_status", CHECK_MOVES),
                                   ("todo_status", TODO_MOVES))}
    fast = " OR ".join(f"(k.value = '{kind}' AND {pair} NOT IN {texts})"
                       for kind, texts in allowed.items())
    q.append(("journal", f"""
        WITH legal(f, t) AS ({legal}), moves(f, t) AS ({check_moves}),
        todo_moves(f, t) AS ({_values(sorted(TODO_MOVES), 2)})
        SELECT j.account_id, 7, {_pos("j", "k.key")}, 0, {_at("j", "seq", "k.key")}, k.value,
               {_at("j", "sa_id", "k.key")}, {before}, {to}, {illegal}, 0, {manual},
               {_at("j", "entity_id", "k.key")}
        FROM account_journal j, json_each(j.kind) k
        WHERE k.value IN ('status', 'check_status', 'todo_status') AND ({fast})"""))
    q.append(("journal_cause", f"""
        SELECT j.account_id, 7, {_pos("j", "c.key")}, 0, {_at("j", "seq", "c.key")},
               {_at("j", "kind", "c.key")}, {_at("j", "sa_id", "c.key")}, NULL, NULL, 0, 1, 0,
               {_at("j", "entity_id", "c.key")}
        FROM account_journal j, json_each(j.cause_id) c
        WHERE c.value IS NULL OR c.value NOT IN (SELECT id FROM causes WHERE
              {_set('process')} AND {_set('run_id')})"""))
    # 8: one open To Do per type and SA (approval To Dos per adjustment)
    q.append(("open_todos", """
        SELECT account_id, 8, MIN(rowid), 0, COUNT(*), todo_type, sa_id FROM todos
        WHERE status IS NOT 'complete'
        GROUP BY account_id, sa_id, todo_type, adjustment_id HAVING COUNT(*) > 1"""))
    # 9: approvals and rejections (check_manual)
    q.append(("approval", f"""
        SELECT a.account_id, 9, a.rowid, 0, a.adjustment_id, a.status, a.approved_by,
               a.rejected_by, c.user,
               a.status = 'pending_approval' AND NOT EXISTS (
                   SELECT 1 FROM todos t WHERE t.account_id = a.account_id
                   AND t.todo_type = 'ADJ-APPROVAL' AND t.status IS NOT 'complete'
                   AND t.adjustment_id IS a.adjustment_id)
        FROM adjustments a {CAUSE_JOIN.format(t="a")}
        WHERE ({_set("a.approved_by")} AND a.approved_by = c.user)
           OR ({_set("a.rejected_by")} AND a.rejected_by = c.user)
           OR ({_set("a.approved_by")} AND a.status NOT IN ('frozen', 'canceled'))
           OR a.status = 'pending_approval'"""))
    # 10: partial refunds done or undone as a whole
    q.append(("group", """
        SELECT account_id, 10, 0, group_id, json_group_array(DISTINCT status) FROM adjustments
        WHERE group_id IS NOT NULL AND group_id != '' GROUP BY account_id, group_id"""))
    # 11, 12: To Do and check statuses
    q.append(("todo", f"""
        SELECT account_id, 11, rowid, 0, todo_id, status FROM todos
        WHERE status IS NULL OR status NOT IN {_in(TODO_STATUSES)}
           OR (status = 'being_worked' AND {_blank("worked_by")})"""))
    q.append(("check_status", f"""
        SELECT account_id, 12, rowid, 0, check_id, status FROM checks
        WHERE status IS NULL OR status NOT IN {_in(CHECK_STATUSES)}"""))
    return q


def _sentences(kind: str, row: tuple, m) -> list[tuple[int, str]]:
    """(sub, sentence) of one offending row, in check_account's order."""
    out: list[tuple[int, str]] = []
    if kind == "ft_unknown_sa":
        ft_id, sa_id = row
        out.append((0, f"FT {ft_id} belongs to unknown SA {sa_id}"))
    elif kind == "sa":
        sa_id, pb, cb, want_p, want_c, closed_cash = row
        if want_p is not None and want_p != pb:
            out.append((0, f"SA {sa_id} payoff {m(pb)} but opening balance plus FTs give "
                           f"{m(want_p)}"))
        if want_c is not None and want_c != cb:
            out.append((1, f"SA {sa_id} current {m(cb)} but opening balance plus FTs give "
                           f"{m(want_c)}"))
        if closed_cash and (pb != 0 or cb != 0):
            out.append((2, f"cash deposit SA {sa_id} is closed with payoff {m(pb)}, current "
                           f"{m(cb)}"))
    elif kind == "gl":
        ft_id, total = row
        out.append((0, f"GL lines of FT {ft_id} sum to {m(total)}, not 0.00"))
    elif kind == "adjustment":
        (adj, amount, status, ft_id, cancel_ft_id, twin_id, created_by, alg, fp, fc,
         has_ft, ft_found, ft_p, ft_c, has_twin, twin, twin_twin, twin_amount, twin_status,
         process, run_id, config_hash, rule) = row
        if amount == 0:
            out.append((0, f"adjustment {adj} has amount 0.00"))
        if status in ("frozen", "canceled") and ft_id:
            if not has_ft:
                out.append((1, f"adjustment {adj} has no FT {ft_id}"))
            elif alg is not None and (ft_p, ft_c) != (fp * amount, fc * amount):
                out.append((1, f"FT {ft_found} does not match {alg} for adjustment {adj}"))
        if status == "frozen" and not ft_id:
            out.append((2, f"frozen adjustment {adj} has no FT"))
        if status == "canceled" and ft_id and not cancel_ft_id:
            out.append((3, f"canceled adjustment {adj} was not reversed"))
        if twin_id:
            if not has_twin or twin_twin != adj:
                out.append((4, f"transfer {adj} has no matching twin {twin_id}"))
            elif twin_amount + amount != 0:
                out.append((4, f"transfer pair {adj}/{twin} sums to {m(twin_amount + amount)}"))
            elif (status == "frozen") != (twin_status == "frozen"):
                out.append((4, f"transfer pair {adj}/{twin} is half frozen"))
        for i, (label, value) in enumerate((("process", process), ("run", run_id),
                                            ("config hash", config_hash))):
            if not value:
                out.append((5 + i, f"adjustment {adj} does not name its {label}"))
        if created_by == "batch" and not rule:
            out.append((8, f"batch adjustment {adj} does not name its rule"))
    elif kind == "conservation":
        moved, external = row
        out.append((0, f"total payoff moved {m(moved)} but interest, write-downs, refunds "
                       f"and charges account for {m(external)}"))
    elif kind == "check":
        check_id, amount, status, has_adj, adj, adj_amount, adj_status = row
        if not has_adj:
            out.append((0, f"check request {check_id} names unknown adjustment"))
        elif amount != adj_amount:
            out.append((0, f"check request {check_id} is {m(amount)} but its adjustment is "
                           f"{m(adj_amount)}"))
        elif status != "canceled" and adj_status != "frozen":
            out.append((0, f"check request {check_id} is {status} but adjustment {adj} is "
                           f"{adj_status}"))
    elif kind == "journal":
        seq, jkind, sa_id, before, to, illegal, unnamed = row[:7]
        if illegal:
            out.append((0, f"SA {sa_id} moved {before} -> {to}"))
        if unnamed:
            out.append((1, f"journal entry {seq} ({jkind}) does not name its process and run"))
    elif kind == "open_todos":
        n, todo_type, sa_id = row
        out.append((0, f"{n} open {todo_type} To Dos for SA {sa_id}"))
    elif kind == "approval":
        adj, status, approved_by, rejected_by, user, waits = row
        for i, (who, verb) in enumerate(((approved_by, "approved"), (rejected_by, "rejected"))):
            if who and who == user:
                out.append((i, f"adjustment {adj} was {verb} by its creator {who}"))
        if approved_by and status not in ("frozen", "canceled"):
            out.append((2, f"adjustment {adj} is approved but {status}"))
        if waits:
            out.append((3, f"adjustment {adj} waits for approval without an open ADJ-APPROVAL "
                           "To Do"))
    elif kind == "group":
        gid, statuses = row
        statuses = set(json.loads(statuses))
        if not any(statuses <= allowed for allowed in GROUP_STATUSES):
            out.append((0, f"partial refund {gid} is half done: its adjustments are "
                           f"{', '.join(sorted(statuses))}"))
    elif kind == "todo":
        todo_id, status = row
        if status not in TODO_STATUSES:
            out.append((0, f"To Do {todo_id} has unknown status {status!r}"))
        else:
            out.append((0, f"To Do {todo_id} is being worked by nobody"))
    elif kind == "check_status":
        check_id, status = row
        out.append((0, f"check request {check_id} has unknown status {status!r}"))
    elif kind == "manual_move":
        jkind, entity_id, before, to = row
        out.append((0, f"check request {entity_id} moved {before} -> {to}"
                    if jkind == "check_status" else f"To Do {entity_id} moved {before} -> {to}"))
    return out


def _orphan_tables() -> list[str]:
    return [lay.table for lay in LAYOUTS.values() if lay.name != "accounts"]


def check_store(conn, config: Config, store_path=None, workers: int = 1) -> list[str]:
    """Every invariant of every account of the store open on ``conn`` (in one snapshot):
    the findings of ``Ledger.check()`` over the whole store, in its order.

    The damage checks (rows of accounts not in ``accounts``, duplicated ids: one query per
    table) and the invariants' queries are one list of tasks. With ``workers`` > 1 (and
    ``store_path``) ``workers - 1`` shares of them run in child processes in ``conn``'s
    snapshot (:mod:`deprules.storecheck`; the findings are the same without them). The
    queries are written for a store without duplicated ids; where some are (damage), those
    that pick the last row of an id are run again."""
    tables = _orphan_tables()
    damage = [["orphan", t] for t in tables] + [["dup", [t, c]] for t, c in ID_TABLES.items()]
    todo = queries(config)
    tasks = damage + [["sql", sql] for _, sql in todo]
    costs = ([ORPHAN_COST.get(t, 0.1) for t in tables] + [DUP_COST] * len(ID_TABLES) +
             [QUERY_COST.get(kind, 0.1) for kind, _ in todo])
    got = run(conn, store_path, tasks, costs, workers if store_path else 1)
    orphan = next((a for a in got[:len(tables)] if a is not None), None)
    if orphan is not None:
        raise StoreError(f"store {store_path} is damaged: rows of account {orphan!r} "
                         "which is not in its accounts table")
    dups = {t for t, d in zip(ID_TABLES, got[len(tables):len(damage)]) if d}
    results = got[len(damage):]
    if dups:  # damage: the queries that pick the last row of an id, run again
        again = queries(config, dups)
        results = [rows if sql == sql2 else conn.execute(sql2).fetchall()
                   for rows, (_, sql), (_, sql2) in zip(results, todo, again)]
    mu = config.installation.minor_units
    m = lambda x: format_money(x, mu)  # noqa: E731
    found: list[tuple] = []

    def add(kind: str, row: tuple) -> None:
        aid, section, pos, group = row[:4]
        for sub, sentence in _sentences(kind, row[4:] if kind != "group" else
                                        (group, row[4]), m):
            found.append(((aid, section, pos, group if kind == "group" else "", sub),
                          f"{aid}: {sentence}"))

    for (kind, _), rows in zip(todo, results):
        for row in rows:
            if kind == "sa" and row[1] == 1:  # an FT of an unknown SA
                add("ft_unknown_sa", row[:6])
                continue
            if kind not in ("journal", "journal_cause"):
                add(kind, row)
                continue
            aid, _, pos, _, seq, jkind, sa_id, before, to, illegal, unnamed, manual, \
                entity = row
            if illegal or unnamed:
                add("journal", row)
            if manual:
                add("manual_move", (aid, 13, pos, 0, jkind, entity, before, to))
    found.sort(key=lambda x: x[0])
    return [s for _, s in found]


# what the tasks cost, for sharing them out: CPU seconds of each at 1,000,000 accounts after
# a first cycle, one connection alone (docs/performance.md)
QUERY_COST = {"adjustment": 11.1, "sa": 6.5, "conservation": 7.5, "journal": 8.2,
              "journal_cause": 3.3, "gl": 6.9,
              "approval": 1.2, "check": 0.6, "group": 0.8, "check_status": 0.1}
ORPHAN_COST = {"service_agreements": 0.95, "fts": 0.95, "adjustments": 0.9,
               "account_journal": 0.7, "gl_lines": 0.55, "bills": 0.5, "checks": 0.45,
               "ft_history": 0.3}
DUP_COST = 1.1
