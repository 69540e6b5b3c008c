"""The ledger's invariants (DOMAIN.md section 6), checked per account.

Each finding is a sentence naming the entity; an empty list means the account is sound.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from ..config.model import Config
from ..money import format_money
from .executor import FT_ALGORITHMS
from .model import LEGAL_MOVES, AccountState

# categories whose FTs change the total payoff of an account (money in or out)
EXTERNAL = {"deposit_interest", "write_down", "ap_refund", "deposit_charge"}


def check_account(st: AccountState, config: Config) -> list[str]:
    out: list[str] = []
    mu = config.installation.minor_units
    m = lambda x: format_money(x, mu)  # noqa: E731
    aid = st.account_id
    fts_by_sa: dict[str, list] = defaultdict(list)
    for ft in st.fts:
        fts_by_sa[ft.sa_id].append(ft)
        if ft.sa_id not in st.sas:
            out.append(f"{aid}: FT {ft.ft_id} belongs to unknown SA {ft.sa_id}")
    # balances = opening + FTs
    for sa in st.sas.values():
        posted = fts_by_sa.get(sa.sa_id, [])
        if sa.opening_payoff is not None:
            want = sa.opening_payoff + sum(f.payoff_amount for f in posted)
            if want != sa.payoff_balance:
                out.append(f"{aid}: SA {sa.sa_id} payoff {m(sa.payoff_balance)} but opening "
                           f"balance plus FTs give {m(want)}")
        if sa.opening_current is not None:
            want = sa.opening_current + sum(f.current_amount for f in posted)
            if want != sa.current_balance:
                out.append(f"{aid}: SA {sa.sa_id} current {m(sa.current_balance)} but opening "
                           f"balance plus FTs give {m(want)}")
        t = config.sa_types.get(sa.sa_type)
        if sa.status == "closed" and t is not None and t.is_cash_deposit and (
                sa.payoff_balance != 0 or sa.current_balance != 0):
            out.append(f"{aid}: cash deposit SA {sa.sa_id} is closed with payoff "
                       f"{m(sa.payoff_balance)}, current {m(sa.current_balance)}")
    # GL lines balance
    gl = defaultdict(int)
    for line in st.gl_lines:
        gl[line.ft_id] += line.amount
    for ft_id, total in gl.items():
        if total != 0:
            out.append(f"{aid}: GL lines of FT {ft_id} sum to {m(total)}, not 0.00")
    # adjustments, their FTs, transfer pairs, checks
    fts = {f.ft_id: f for f in st.fts}
    adjs = {a.adjustment_id: a for a in st.adjustments}
    for a in st.adjustments:
        if a.amount == 0:
            out.append(f"{aid}: adjustment {a.adjustment_id} has amount 0.00")
        if a.status in ("frozen", "canceled") and a.ft_id:
            ft = fts.get(a.ft_id)
            alg = config.adjustment_types[a.adjustment_type].ft_algorithm \
                if a.adjustment_type in config.adjustment_types else None
            if ft is None:
                out.append(f"{aid}: adjustment {a.adjustment_id} has no FT {a.ft_id}")
            elif alg is not None:
                fp, fc, _ = FT_ALGORITHMS[alg]
                if (ft.payoff_amount, ft.current_amount) != (fp * a.amount, fc * a.amount):
                    out.append(f"{aid}: FT {ft.ft_id} does not match {alg} for adjustment "
                               f"{a.adjustment_id}")
        if a.status == "frozen" and not a.ft_id:
            out.append(f"{aid}: frozen adjustment {a.adjustment_id} has no FT")
        if a.status == "canceled" and a.ft_id and not a.cancel_ft_id:
            out.append(f"{aid}: canceled adjustment {a.adjustment_id} was not reversed")
        if a.twin_id:
            twin = adjs.get(a.twin_id)
            if twin is None or twin.twin_id != a.adjustment_id:
                out.append(f"{aid}: transfer {a.adjustment_id} has no matching twin {a.twin_id}")
            elif twin.amount + a.amount != 0:
                out.append(f"{aid}: transfer pair {a.adjustment_id}/{twin.adjustment_id} sums to "
                           f"{m(twin.amount + a.amount)}")
            elif (a.status == "frozen") != (twin.status == "frozen"):
                out.append(f"{aid}: transfer pair {a.adjustment_id}/{twin.adjustment_id} is half "
                           "frozen")
        for label, value in (("process", a.cause.process), ("run", a.cause.run_id),
                             ("config hash", a.cause.config_hash)):
            if not value:
                out.append(f"{aid}: adjustment {a.adjustment_id} does not name its {label}")
        if a.created_by == "batch" and not a.cause.rule:
            out.append(f"{aid}: batch adjustment {a.adjustment_id} does not name its rule")
    # money conservation: total payoff moves only by money in or out
    moved = sum(sa.payoff_balance - (sa.opening_payoff or 0) for sa in st.sas.values()
                if sa.opening_payoff is not None)
    external = 0
    for ft in st.fts:
        a = adjs.get(ft.source_id) if ft.source == "adjustment" else None
        if a is not None and a.category in EXTERNAL:
            external += ft.payoff_amount
    if moved != external:
        out.append(f"{aid}: total payoff moved {m(moved)} but interest, write-downs, refunds "
                   f"and charges account for {m(external)}")
    for c in st.checks:
        a = adjs.get(c.adjustment_id)
        if a is None:
            out.append(f"{aid}: check request {c.check_id} names unknown adjustment")
        elif c.amount != a.amount:
            out.append(f"{aid}: check request {c.check_id} is {m(c.amount)} but its adjustment "
                       f"is {m(a.amount)}")
        elif c.status != "canceled" and a.status != "frozen":
            out.append(f"{aid}: check request {c.check_id} is {c.status} but adjustment "
                       f"{a.adjustment_id} is {a.status}")
    # status moves legal
    for e in st.journal:
        if e.kind == "status":
            d = e.details()
            if (d["from_status"], d["to_status"]) not in LEGAL_MOVES:
                out.append(f"{aid}: SA {e.sa_id} moved {d['from_status']} -> {d['to_status']}")
        if not e.cause.process or not e.cause.run_id:
            out.append(f"{aid}: journal entry {e.seq} ({e.kind}) does not name its process and run")
    # one open To Do per type and SA (approval To Dos are per adjustment)
    counts = Counter((t.sa_id, t.todo_type, t.adjustment_id) for t in st.todos
                     if t.status != "complete")
    for (sa_id, tt, _), n in counts.items():
        if n > 1:
            out.append(f"{aid}: {n} open {tt} To Dos for SA {sa_id}")
    out.extend(check_manual(st))
    return out


TODO_STATUSES = {"open", "being_worked", "complete"}
# the moves of To Dos the journal may record
TODO_MOVES = (("open", "being_worked"), ("open", "complete"), ("being_worked", "complete"))
CHECK_STATUSES = {"not_selected", "requested", "paid", "canceled", "hold", "void", "returned"}
# statuses a partial refund's adjustments may be in together: waiting, done, or undone
GROUP_STATUSES = ({"incomplete", "pending_approval"}, {"frozen"}, {"canceled"})


def check_manual(st: AccountState) -> list[str]:
    """Invariants of the manual paths: approvals, To Do and check moves, partial refunds."""
    from .executor import CHECK_MOVES

    out: list[str] = []
    aid = st.account_id
    open_approvals = {t.adjustment_id for t in st.todos
                      if t.todo_type == "ADJ-APPROVAL" and t.status != "complete"}
    groups: dict[str, set[str]] = defaultdict(set)
    for a in st.adjustments:
        for who, verb in ((a.approved_by, "approved"), (a.rejected_by, "rejected")):
            if who and who == a.cause.user:
                out.append(f"{aid}: adjustment {a.adjustment_id} was {verb} by its creator {who}")
        if a.approved_by and a.status not in ("frozen", "canceled"):
            out.append(f"{aid}: adjustment {a.adjustment_id} is approved but {a.status}")
        if a.status == "pending_approval" and a.adjustment_id not in open_approvals:
            out.append(f"{aid}: adjustment {a.adjustment_id} waits for approval without an open "
                       "ADJ-APPROVAL To Do")
        if a.group_id:
            groups[a.group_id].add(a.status)
    for gid, statuses in sorted(groups.items()):
        if not any(statuses <= allowed for allowed in GROUP_STATUSES):
            out.append(f"{aid}: partial refund {gid} is half done: its adjustments are "
                       f"{', '.join(sorted(statuses))}")
    for t in st.todos:
        if t.status not in TODO_STATUSES:
            out.append(f"{aid}: To Do {t.todo_id} has unknown status {t.status!r}")
        elif t.status == "being_worked" and not t.worked_by:
            out.append(f"{aid}: To Do {t.todo_id} is being worked by nobody")
    for c in st.checks:
        if c.status not in CHECK_STATUSES:
            out.append(f"{aid}: check request {c.check_id} has unknown status {c.status!r}")
    for e in st.journal:
        if e.kind in ("check_status", "todo_status"):
            d = e.details()
            before, to = d.get("from_status"), d.get("to_status")
            if e.kind == "check_status" and before and (before, to) not in CHECK_MOVES:
                out.append(f"{aid}: check request {e.entity_id} moved {before} -> {to}")
            if e.kind == "todo_status" and (before, to) not in TODO_MOVES:
                out.append(f"{aid}: To Do {e.entity_id} moved {before} -> {to}")
    return out
