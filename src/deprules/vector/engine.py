"""Forward chaining set-at-a-time: every rule variant as a column mask over all SAs.

For each process (DEPINTRF, DEPRFND, SAACT, STOP, BILLING, WPM, in that order) rounds run until no
account changes, exactly like ``Runner.run_process`` but for every account at once:

1. the fact columns of the SAs still in play are computed (``facts.Facts``);
2. every variant's folded condition becomes a mask; exclusive groups keep the lowest
   (rank, rule order) per SA; then at most one rule fires per SA, the first in rule order
   (``Runner._resolve``);
3. the firing rules' actions run as vectorised ledger updates with the executor's
   semantics (idempotence, "no adjustment of 0.00", "no second open To Do of a type",
   legal moves only), and what changed is recorded;
4. an account that changed nothing is at its fixed point for the process and drops out.

Within an account the per-account runner fires SAs one after the other in sa_id order.
Every action only touches its own SA except APPLYDEPOSIT, which moves money to the other
SAs of the account's deposit class; several deposits of one class applying in the same
round are therefore applied in waves (sa_id order). The few combinations where order
inside a round could still matter (a deposit with a debit balance, or another SA of the
class changing balances in that round) are detected and those accounts are run by the
per-account runner instead (``VectorResult.fallback_accounts``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from ..errors import EngineError
from ..ledger.executor import FT_ALGORITHMS
from ..ledger.model import LEGAL_MOVES
from ..rules.book import RuleBook, Variant
from ..rules.vocabulary import PROCESSES, STATUSES
from . import state as st
from .facts import Facts
from . import periods
from .interest import ClassInterest
from .state import NONE, STATUS_CODE

MAX_ROUNDS = 25
# what Engine.record logs besides adjustments and To Dos (payload columns a, b, c, d)
EV_STATUS = 1  # a: status before, b: status after, c: stop day after
EV_BILL = 2  # a: the bill's amount (the SA's current balance)
EV_REFUND_METHOD = 3  # the variant's refund method algorithm
EV_BILL_COMPLETE = 4  # a: due day
EV_SETTLED = 5  # a: from day (NONE: blank), b: to day, c: amount, d: 1 below minimum | 2 periodic
BALANCE_VERBS = frozenset({"post_interest", "post_periodic_interest", "create_adjustment",
                           "apply_deposit_to_debt"})
_CLOSED_OR_CANCELED = st.status_lut("closed", "canceled")
_BILLABLE = st.status_lut("stopped", "reactivated")
_LEGAL_FROM = {STATUS_CODE[to]: st.status_lut(*(a for a, b in LEGAL_MOVES if b == to))
               for to in STATUSES}


def _status_lut(e) -> np.ndarray:
    """Statuses an SA may have for the folded expression to hold (True where unsure)."""
    from ..rules.conditions import guarded_values

    ok = guarded_values(e, "sa.status", STATUSES)
    return np.ones(len(STATUSES), bool) if ok is None else np.array([x in ok for x in STATUSES])


@dataclass
class Ctx:
    pidx: int
    process: str
    rnd: int
    vi: int  # index into Cycle.variants_all
    variant: Variant
    ai: int = 0  # action index inside the rule

    def order(self, rank: np.ndarray, sub=0) -> dict:
        """Creation order inside an account: (process, round, SA rank, action, sub-step)."""
        n = len(rank)
        return dict(pidx=np.full(n, self.pidx, np.int8), rnd=np.full(n, self.rnd, np.int8),
                    rank=rank, ai=np.full(n, self.ai, np.int8),
                    sub=np.broadcast_to(np.asarray(sub, np.int64), (n,)))


@dataclass
class Log:
    """What one date's run created, as column chunks (turned into frames by ``frames``)."""

    adj: list = field(default_factory=list)
    todo: list = field(default_factory=list)
    # with Engine.record: the other journaled changes (EV_* kinds), for the store's rows
    events: list = field(default_factory=list)
    why_not: list = field(default_factory=list)
    trace: list = field(default_factory=list)
    rounds: dict = field(default_factory=dict)  # process -> rounds run

    def firings(self, static, fallback: np.ndarray):
        """The firings of the accounts not in ``fallback``, in the order the per-account
        runner fires them (account, process, round, then SA), as arrays ``(acct, pidx, rnd,
        vi, rows)``: account position, process index, round, variant number
        (``Engine.variants_all``) and SA row; None when nothing fired."""
        if not self.trace:
            return None
        rows, vi, pidx, rnd = (np.concatenate([c[k] for c in self.trace]) for k in range(4))
        acct = static.acct[rows]
        keep = ~fallback[acct]
        rows, vi, pidx, rnd, acct = rows[keep], vi[keep], pidx[keep], rnd[keep], acct[keep]
        order = np.lexsort((static.rank[rows], rnd, pidx, acct))
        return acct[order], pidx[order], rnd[order], vi[order], rows[order]


class Engine:
    """Runs processes over the vector state; state persists between dates."""

    def __init__(self, book: RuleBook, static: st.Static, mut: st.Mutable):
        self.base = book
        self.s, self.m = static, mut
        self.fb = np.zeros(static.n_acct, bool)  # accounts run by the per-account runner
        self.record = False  # log every journaled change (Log.events), for a store batch
        self._interest: dict[int, ClassInterest | None] = {}
        self._use(book)

    def _use(self, book: RuleBook) -> None:
        """Decide with ``book``: the base book specialised for one process date (its
        effective-dated parameters folded in, ``RuleBook.on``)."""
        static = self.s
        self.book = book
        self.config = book.config
        self.variants_all: list[Variant] = []
        self._by_process: dict[str, list[int]] = {}
        for p in PROCESSES:
            ids = []
            for v in book.variants(p):
                if v.possible:
                    ids.append(len(self.variants_all))
                    self.variants_all.append(v)
            self._by_process[p] = ids
        # DEPINTRF per deposit class code: months_between_interest (0 = none), min_days_held
        months, min_days = [], []
        for code in static.class_codes:
            dc = self.config.deposit_classes[code]
            has = dc.interest is not None and (dc.months_between_interest or 0) > 0
            months.append(dc.months_between_interest if has else 0)
            min_days.append(dc.interest.min_days_held if has else 0)
        self.periodic = (np.array(months, np.int64), np.array(min_days, np.int64))
        # each class's min_days_held, for a settlement's below_minimum (none below it for a
        # class without interest: the executor then settles with no result)
        self.min_days = np.array([
            -2**40 if self.config.deposit_classes[c].interest is None
            else self.config.deposit_classes[c].interest.min_days_held
            for c in static.class_codes] or [0], np.int64)
        adj_codes = tuple(sorted(self.config.adjustment_types))
        self.adj_codes = adj_codes

    # ---- one date -------------------------------------------------------------------
    def run(self, on: date, processes=PROCESSES, explain=()) -> Log:
        """Run ``processes`` on ``on``; ``explain``: processes whose first round also
        records why-not rows (``Runner(...).run_cycle(explain=True)``)."""
        self.explain = set(processes if explain is True else (explain or ()))
        if self.base.on(on) is not self.book:  # another effective-dated value applies
            self._use(self.base.on(on))
        self.on, self.on_day = on, st.day_of(on)
        self.log = Log()
        self.flagged = np.zeros(self.s.n_acct, bool)  # newly sent to the fallback this date
        self.ncd_grp = self._ncd_groups()
        for p in processes:
            self._process(PROCESSES.index(p), p)
        return self.log

    def _ncd_groups(self) -> np.ndarray:
        s, on = self.s, self.on_day
        act = (s.ncd_acct >= 0) & (s.ncd_start <= on) & ((s.ncd_end == NONE) | (on < s.ncd_end))
        n_cls = max(len(s.class_codes), 1)
        key = s.ncd_acct[act] * n_cls + s.ncd_class[act]
        out = np.zeros(s.n_grp, bool)
        if len(key) and s.n_grp:
            pos = np.minimum(np.searchsorted(s.grp_key, key), s.n_grp - 1)
            out[pos[s.grp_key[pos] == key]] = True
        return out

    def _process(self, pidx: int, process: str) -> None:
        vids = self._by_process[process]
        s = self.s
        rows = s.cash_rows if self.book.cash_deposit_only(process) else np.arange(s.n_sa)
        rows = rows[~(self.fb | self.flagged)[s.acct[rows]]]
        variants = [self.variants_all[i] for i in vids]
        if process in self.explain and len(rows):
            self._why_not(pidx, process, rows, variants)  # on the first round's facts
        if not vids:
            return
        # statuses some variant accepts: other SAs cannot match, so they are not evaluated
        accept = np.zeros(len(STATUSES), bool)
        for v in variants:
            accept |= _status_lut(v.expr)
        # resolution order: group winners are decided by (rank, rule order) inside the
        # group; then every candidate competes by rule order and the first one fires
        groups: dict[str, list[int]] = {}
        for j, v in enumerate(variants):
            if v.rule.group:
                groups.setdefault(v.rule.group, []).append(j)
        for g in groups.values():
            g.sort(key=lambda j: (variants[j].rank, variants[j].rule.order))
        by_order = sorted(range(len(variants)), key=lambda j: (variants[j].rule.order, j))
        last = None
        for rnd in range(1, MAX_ROUNDS + 1):
            if len(rows) == 0:
                return
            self.log.rounds[process] = rnd
            ev = rows if accept.all() else rows[accept[self.m.status[rows]]]
            facts = Facts(s, self.m, ev, self.on, self.on_day, self.ncd_grp, self.periodic)
            cand = {j: facts.mask(v.expr) for j, v in enumerate(variants)}
            for g in groups.values():
                taken = np.zeros(len(ev), bool)
                for j in g:
                    won = cand[j] & ~taken
                    taken |= cand[j]
                    cand[j] = won
            best_j = np.full(len(ev), -1, np.int64)
            for j in by_order:
                pos = np.flatnonzero(cand[j])
                if len(pos):
                    pos = pos[best_j[pos] < 0]
                    best_j[pos] = j
            sel = best_j >= 0
            frows, fj = ev[sel], best_j[sel]
            if len(frows) == 0:
                return
            keep = self._conflicts(frows, fj, variants)
            if keep is not None:
                frows, fj = frows[keep], fj[keep]
            changed = np.zeros(len(frows), bool)
            counts = np.bincount(fj, minlength=len(variants))
            if np.count_nonzero(counts) == 1:
                j = int(fj[0])
                changed[:] = self._fire(Ctx(pidx, process, rnd, vids[j], variants[j]), frows)
            else:
                order = np.argsort(fj, kind="stable")
                ends = np.cumsum(counts)
                for j in np.flatnonzero(counts):
                    at = order[ends[j] - counts[j]:ends[j]]
                    changed[at] = self._fire(Ctx(pidx, process, rnd, vids[j], variants[j]),
                                             frows[at])
            if not changed.any():
                return
            crow = frows[changed]
            cvi = np.asarray(vids)[fj[changed]]
            self.log.trace.append((crow, cvi, np.full(len(crow), pidx, np.int8),
                                   np.full(len(crow), rnd, np.int8)))
            acct_changed = np.zeros(s.n_acct, bool)
            acct_changed[s.acct[crow]] = True
            acct_changed &= ~self.flagged
            rows = rows[acct_changed[s.acct[rows]]]
            last = (crow[:5], cvi[:5])
        fired = sorted({f"{self.variants_all[j].rule.id} ({s.sa_id[r]})" for r, j in
                        zip(*last)}) if last else []
        acct = s.account_id[s.acct[rows[0]]] if len(rows) else "?"
        raise EngineError(
            f"account {acct}: {process} did not settle after {MAX_ROUNDS} rounds; rules still "
            f"firing: {', '.join(fired)} (a rule loop: check that each "
            "rule's actions make its own conditions false)", account_id=acct)

    def _why_not(self, pidx: int, process: str, rows: np.ndarray, variants: list) -> None:
        from . import whynot

        facts = Facts(self.s, self.m, rows, self.on, self.on_day, self.ncd_grp, self.periodic)
        matched: dict[str, np.ndarray] = {}
        for v in variants:
            m = facts.mask(v.expr)
            matched[v.rule.id] = matched[v.rule.id] | m if v.rule.id in matched else m
        chunks = whynot.collect(facts, self.book.variants(process), matched,
                                self.config.installation.minor_units)
        for c in chunks:
            c["rows"] = rows[c.pop("pos")]
            c["pidx"] = pidx
            self.log.why_not.append(c)

    # ---- APPLYDEPOSIT ordering guard ------------------------------------------------
    def _conflicts(self, frows: np.ndarray, fj: np.ndarray, variants: list[Variant]):
        """Flag accounts where firing order inside the round matters beyond what the
        APPLYDEPOSIT waves reproduce; returns a keep-mask (None when nothing applies)."""
        verbs = [{a.verb for a in v.rule.then} for v in variants]
        applies = np.array(["apply_deposit_to_debt" in vb for vb in verbs])
        if not applies[fj].any():
            return None
        s, m = self.s, self.m
        other_money = np.array([bool((vb & BALANCE_VERBS) - {"apply_deposit_to_debt"})
                                for vb in verbs])
        is_app = applies[fj]
        g = s.grp[frows]
        has_app = np.zeros(s.n_grp, bool)
        has_app[g[is_app]] = True
        in_g = has_app[g]
        debit = m.payoff[frows] > 0
        money = np.array([bool(vb & BALANCE_VERBS) for vb in verbs])
        bad = in_g & ~is_app & (debit | money[fj])
        # several deposits of one class applying in one round: same rule, none in debit,
        # no other money action in the rule -> the waves are exact
        napp = np.bincount(g[is_app], minlength=s.n_grp)
        in_multi = is_app & (napp[g] > 1)
        if in_multi.any():
            bad |= in_multi & (debit | other_money[fj])
            rules = np.array([v.rule.order for v in variants])[fj]
            idx = np.flatnonzero(in_multi)
            gi, ri = g[idx], rules[idx]
            order = np.lexsort((ri, gi))
            gi, ri, idx = gi[order], ri[order], idx[order]
            same_g = gi[1:] == gi[:-1]
            d = same_g & (ri[1:] != ri[:-1])
            diff = np.zeros(len(idx), bool)
            diff[1:] |= d
            diff[:-1] |= d
            # the whole group is affected, not just the pair
            bad_g = np.zeros(s.n_grp, bool)
            bad_g[gi[diff]] = True
            bad |= in_multi & bad_g[g]
        if not bad.any():
            return None
        self.flagged[s.acct[frows[bad]]] = True
        return ~self.flagged[s.acct[frows]]

    # ---- actions --------------------------------------------------------------------
    def _fire(self, ctx: Ctx, idx: np.ndarray) -> np.ndarray:
        changed = np.zeros(len(idx), bool)
        for ai, action in enumerate(ctx.variant.rule.then):
            ctx.ai = ai
            fn = getattr(self, "_act_" + action.verb, None)
            if fn is None:
                self._fail(ctx, idx[:1], f"unknown action {action.verb!r}")
            changed |= fn(ctx, idx, action.args)
        return changed

    def _event(self, ctx: Ctx, kind: int, rows: np.ndarray, sub=0, micro=0, a=0, b=0, c=0,
               d=0) -> None:
        """Log a journaled change of ``rows`` (with :attr:`record`): its order inside the
        account is (process, round, SA rank, action, ``sub``, ``micro``)."""
        if not self.record or len(rows) == 0:
            return
        n = len(rows)

        def col(v):
            return np.broadcast_to(np.asarray(v, np.int64), (n,)).copy()

        self.log.events.append(dict(
            kind=np.full(n, kind, np.int8), sa=rows, acct=self.s.acct[rows],
            **ctx.order(self.s.rank[rows], sub), micro=col(micro),
            vi=np.full(n, ctx.vi, np.int32), a=col(a), b=col(b), c=col(c), d=col(d)))

    def _fail(self, ctx: Ctx, rows: np.ndarray, message: str):
        r = int(rows[0])
        acct = self.s.account_id[self.s.acct[r]]
        rule = ctx.variant.rule.id
        raise EngineError(f"rule {rule} on account {acct}, SA {self.s.sa_id[r]}: {message}",
                          rule=rule, account_id=acct)

    def _act_set_status(self, ctx: Ctx, idx: np.ndarray, args: dict,
                        to: str | None = None) -> np.ndarray:
        m = self.m
        to = to or args["to"]
        to_c = STATUS_CODE[to]
        cur = m.status[idx]
        ch = cur != to_c
        rows = idx[ch]
        if len(rows) == 0:
            return ch
        bad = ~_LEGAL_FROM[to_c][cur[ch]]
        if bad.any():
            r = rows[bad][:1]
            self._fail(ctx, r, f"SA {self.s.sa_id[r[0]]}: illegal status move "
                       f"{STATUSES[m.status[r[0]]]} -> {to}")
        if to == "closed":
            nz = (m.payoff[rows] != 0) | (m.current[rows] != 0)
            if nz.any():
                r = rows[nz][:1]
                from ..money import format_money
                mu = self.config.installation.minor_units
                self._fail(ctx, r, f"SA {self.s.sa_id[r[0]]} cannot be closed: payoff "
                           f"{format_money(int(m.payoff[r[0]]), mu)}, current "
                           f"{format_money(int(m.current[r[0]]), mu)} (both must be 0.00)")
        stop_arg = args.get("stop_date") == "process_date"
        if to in ("pending_stop", "stopped"):
            none = m.stop[rows] == NONE
            m.stop[rows[none]] = self.on_day
            if to == "pending_stop" and stop_arg:
                m.stop[rows[~none]] = self.on_day
        if self.record:
            self._event(ctx, EV_STATUS, rows, a=cur[ch], b=to_c, c=m.stop[rows])
        m.status[rows] = to_c
        return ch

    def _act_close_sa(self, ctx, idx, args):
        return self._act_set_status(ctx, idx, args, to="closed")

    def _adjust(self, ctx: Ctx, sa_rows: np.ndarray, fire_rows: np.ndarray, code: str,
                amounts: np.ndarray, sub=0, twin=0, unique: bool = True) -> None:
        """Create and freeze batch adjustments (each posts one FT dated the process date)."""
        if len(sa_rows) == 0:
            return
        m = self.m
        closed = _CLOSED_OR_CANCELED[m.status[sa_rows]]
        if closed.any():
            r = sa_rows[closed][:1]
            self._fail(ctx, r, f"SA {self.s.sa_id[r[0]]} is {STATUSES[m.status[r[0]]]}; no "
                       "adjustment can be added")
        adj_type = self.config.adjustment_types.get(code)
        if adj_type is None:
            self._fail(ctx, sa_rows[:1], f"unknown adjustment type {code!r}; known: "
                       f"{', '.join(sorted(self.config.adjustment_types))}")
        fp, fc, _ = FT_ALGORITHMS[adj_type.ft_algorithm]
        if unique:
            m.payoff[sa_rows] += fp * amounts
            m.current[sa_rows] += fc * amounts
            m.own_ft_n[sa_rows] += 1
        else:
            np.add.at(m.payoff, sa_rows, fp * amounts)
            np.add.at(m.current, sa_rows, fc * amounts)
            np.add.at(m.own_ft_n, sa_rows, 1)
        m.own_ft.append((sa_rows, np.full(len(sa_rows), self.on_day, np.int64), fp * amounts))
        n = len(sa_rows)
        self.log.adj.append(dict(
            sa=sa_rows, acct=self.s.acct[fire_rows], **ctx.order(self.s.rank[fire_rows], sub),
            type=np.full(n, self.adj_codes.index(code), np.int16),
            amount=np.asarray(amounts, np.int64),
            vi=np.full(n, ctx.vi, np.int32),
            twin=np.broadcast_to(np.asarray(twin, np.int8), (n,)).copy()))

    def _act_create_adjustment(self, ctx, idx, args):
        expr = args["amount"]
        sign = -1 if expr.startswith("-") else 1
        name = expr.lstrip("-")
        m = self.m
        if name == "sa.payoff_balance":
            value = m.payoff[idx]
        elif name == "sa.current_balance":
            value = m.current[idx]
        elif name == "sa.sync_difference":
            value = m.payoff[idx] - m.current[idx]
        else:
            raise KeyError(name)
        value = sign * value
        nz = value != 0
        code = self.config.batch_types[args["category"]]
        self._adjust(ctx, idx[nz], idx[nz], code, value[nz])
        return nz

    def _act_create_todo(self, ctx, idx, args):
        todo_type = ctx.variant.resolve(args["type"])
        if todo_type is None:
            self._fail(ctx, idx[:1], f"no To Do type configured for {args['type']}")
        if todo_type not in self.config.todo_types:
            self._fail(ctx, idx[:1], f"unknown To Do type {todo_type!r}")
        open_ = self.m.open_todo_of(todo_type)
        new = ~open_[idx]
        rows = idx[new]
        open_[rows] = True
        if len(rows):
            n = len(rows)
            self.log.todo.append(dict(
                sa=rows, acct=self.s.acct[rows], **ctx.order(self.s.rank[rows]),
                type=np.full(n, todo_type, object), vi=np.full(n, ctx.vi, np.int32),
                balance=self.m.payoff[rows].copy()))
        return new

    def _act_create_final_bill(self, ctx, idx, args):
        m = self.m
        new = m.bill_n[idx] == 0
        rows = idx[new]
        bad = ~_BILLABLE[m.status[rows]]
        if bad.any():
            r = rows[bad][:1]
            self._fail(ctx, r, f"SA {self.s.sa_id[r[0]]} is {STATUSES[m.status[r[0]]]}; only a "
                       "stopped SA gets a final bill")
        self._event(ctx, EV_BILL, rows, a=m.current[rows])
        m.bill_n[rows] += 1
        m.bill_status[rows] = st.BILL_CODE["frozen"]
        m.bill_amount[rows] = m.current[rows]
        m.bill_created[rows] = self.on_day
        m.bill_completed[rows] = NONE
        m.bill_due[rows] = NONE
        m.rma[rows] = False
        return new

    def _act_mark_refund_method_applied(self, ctx, idx, args):
        m = self.m
        ok = (m.bill_n[idx] > 0) & ~m.rma[idx]
        m.rma[idx[ok]] = True
        self._event(ctx, EV_REFUND_METHOD, idx[ok])
        return ok

    def _act_complete_bill(self, ctx, idx, args):
        m = self.m
        has = m.bill_n[idx] > 0
        bs = m.bill_status[idx]
        frozen = has & (bs == st.BILL_CODE["frozen"])
        bad = has & ~frozen & (bs != st.BILL_CODE["complete"])
        if bad.any():
            self._fail(ctx, idx[bad][:1], f"bill of SA {self.s.sa_id[idx[bad][0]]} is "
                       f"{st.BILL_STATES[bs[bad][0]]}; only a frozen bill completes")
        rows = idx[frozen]
        m.bill_status[rows] = st.BILL_CODE["complete"]
        m.bill_completed[rows] = self.on_day
        m.bill_due[rows] = self.on_day + self.config.installation.bill_due_days
        self._event(ctx, EV_BILL_COMPLETE, rows, a=m.bill_due[rows])
        return frozen

    # ---- interest -------------------------------------------------------------------
    def _class_interest(self, dclass: int) -> ClassInterest | None:
        if dclass not in self._interest:
            dc = self.config.deposit_classes[self.s.class_codes[dclass]]
            self._interest[dclass] = None if dc.interest is None else ClassInterest(dc.interest)
        return self._interest[dclass]

    def _act_post_interest(self, ctx, idx, args):
        s, m = self.s, self.m
        stop = m.stop[idx]
        li = m.last_int[idx]
        frm_all = np.where(li != NONE, li, s.start[idx])
        elig = (stop != NONE) & (frm_all < stop)
        rows = idx[elig]
        if len(rows) == 0:
            return elig
        frm, to = frm_all[elig], stop[elig]
        amount = self._interest_of(rows, frm, to)
        nz = amount != 0
        code = self.config.batch_types["deposit_interest"]
        self._adjust(ctx, rows[nz], rows[nz], code, -amount[nz])
        if self.record:
            below = (to - s.start[rows]) < self.min_days[s.dclass[rows]]
            self._event(ctx, EV_SETTLED, rows, micro=5, a=li[elig], b=to, c=amount, d=below)
        m.last_int[rows] = to
        return elig

    def _act_post_periodic_interest(self, ctx, idx, args):
        """DEPINTRF: one settlement per due period, oldest first (Executor.post_periodic_interest):
        settlement j of every SA is one vector step, so the FTs posted by step j are in the
        held balance of step j + 1 (from the process date on, which no settled day reaches)."""
        s, m = self.s, self.m
        months, min_days = self.periodic
        cls = s.dclass[idx]
        active = m.status[idx] == STATUS_CODE["active"]
        first, last = periods.period_range(s.start[idx], m.last_int[idx], self.on_day,
                                           months[cls], min_days[cls])
        # months[c] is 0 for a class without interest or without months_between_interest
        count = np.where(active & (months[cls] > 0), np.maximum(last - first + 1, 0), 0)
        code = self.config.batch_types["deposit_interest"]
        for j in range(int(count.max()) if len(count) else 0):
            at = np.flatnonzero(count > j)
            rows = idx[at]
            frm = np.where(m.last_int[rows] != NONE, m.last_int[rows], s.start[rows])
            to = periods.add_months(s.start[rows], (first[at] + j) * months[cls[at]])
            amount = self._interest_of(rows, frm, to)
            nz = amount != 0
            self._adjust(ctx, rows[nz], rows[nz], code, -amount[nz], sub=j)
            if self.record:
                below = (to - s.start[rows]) < self.min_days[cls[at]]
                self._event(ctx, EV_SETTLED, rows, sub=j, micro=5, a=frm, b=to, c=amount,
                            d=2 + below)
            m.last_int[rows] = to
        return count > 0

    def _interest_of(self, rows: np.ndarray, frm: np.ndarray, to: np.ndarray) -> np.ndarray:
        """REFUNDINT of each SA over [frm, to), in minor units (0 for a class without it)."""
        s, m = self.s, self.m
        amount = np.zeros(len(rows), np.int64)
        cls = s.dclass[rows]
        for c in np.flatnonzero(np.bincount(cls, minlength=len(s.class_codes))):
            ci = self._class_interest(int(c))
            if ci is None:
                continue
            at = np.flatnonzero(cls == c)
            r = rows[at]
            simple = ~s.has_hist[r] & (m.own_ft_n[r] == 0)
            if simple.any():
                k = at[simple]
                amount[k] = ci.constant(s.start[r[simple]], frm[k], to[k], m.payoff[r[simple]])
            if (~simple).any():
                k = at[~simple]
                amount[k] = self._stepped_interest(ci, r[~simple], frm[k], to[k])
        return amount

    def _stepped_interest(self, ci: ClassInterest, rows, frm, to) -> np.ndarray:
        """Interest where the payoff changed over time: FT history and/or posted FTs."""
        s, m = self.s, self.m
        pos_of = np.full(s.n_sa, -1, np.int64)
        pos_of[rows] = np.arange(len(rows))
        ev_pos, ev_day, ev_amt = [], [], []
        hist_pos = pos_of[s.hist_sa] if len(s.hist_sa) else np.zeros(0, np.int64)
        hk = hist_pos >= 0
        ev_pos.append(hist_pos[hk])
        ev_day.append(s.hist_day[hk])
        ev_amt.append(s.hist_payoff[hk])
        own_total = np.zeros(len(rows), np.int64)
        for sa, day, amt in m.own_ft:
            p = pos_of[sa]
            k = p >= 0
            if k.any():
                ev_pos.append(p[k])
                ev_day.append(day[k])
                ev_amt.append(amt[k])
                np.add.at(own_total, p[k], amt[k])
        # without history the payoff before any posted FT is the current payoff less them
        base = ~s.has_hist[rows]
        bpos = np.flatnonzero(base)
        ev_pos.append(bpos)
        ev_day.append(np.full(len(bpos), NONE, np.int64))
        ev_amt.append(m.payoff[rows[base]] - own_total[base])
        pos = np.concatenate(ev_pos)
        day = np.concatenate(ev_day)
        amt = np.concatenate(ev_amt)
        order = np.lexsort((day, pos))
        pos, day, amt = pos[order], day[order], amt[order]
        held = np.cumsum(amt)
        first = np.r_[True, pos[1:] != pos[:-1]]
        start_idx = np.maximum.accumulate(np.where(first, np.arange(len(pos)), 0))
        held = held - np.r_[0, held][start_idx]
        last = np.r_[(pos[1:] != pos[:-1]) | (day[1:] != day[:-1]), True]
        pos, day, held = pos[last], day[last], held[last]
        nxt = np.r_[day[1:], 0]
        end = np.r_[pos[1:] != pos[:-1], True]
        big = np.int64(2**40)
        nxt = np.where(end, big, nxt)
        return ci.stepped(s.start[rows], frm, to, pos, day, nxt, held)

    # ---- APPLYDEPOSIT -----------------------------------------------------------------
    def _act_apply_deposit_to_debt(self, ctx, idx, args):
        s = self.s
        changed = np.zeros(len(idx), bool)
        g = s.grp[idx]
        # wave k holds the k-th applying deposit (sa_id order) of each deposit-class group
        order = np.lexsort((idx, g))
        gs = g[order]
        first = np.r_[True, gs[1:] != gs[:-1]]
        run_start = np.maximum.accumulate(np.where(first, np.arange(len(gs)), 0))
        wave = np.empty(len(idx), np.int64)
        wave[order] = np.arange(len(gs)) - run_start
        for k in range(int(wave.max()) + 1 if len(wave) else 0):
            at = np.flatnonzero(wave == k)
            changed[at] = self._apply_wave(ctx, idx[at])
        return changed

    def _apply_wave(self, ctx: Ctx, dep: np.ndarray) -> np.ndarray:
        """One deposit per group: pay the group's debts in distribution order."""
        s, m = self.s, self.m
        g = s.grp[dep]
        lo, hi = s.grp_ptr[g], s.grp_ptr[g + 1]
        n_mem = hi - lo
        owner = np.repeat(np.arange(len(dep)), n_mem)
        offs = np.arange(n_mem.sum()) - np.repeat(np.cumsum(n_mem) - n_mem, n_mem)
        mem = s.debt_perm[np.repeat(lo, n_mem) + offs]
        debt = m.payoff[mem]
        ok = (mem != dep[owner]) & (debt > 0) & ~_CLOSED_OR_CANCELED[m.status[mem]]
        owner, mem, debt = owner[ok], mem[ok], debt[ok]
        credit = -m.payoff[dep]
        cum = np.cumsum(debt)
        first = np.r_[True, owner[1:] != owner[:-1]] if len(owner) else np.zeros(0, bool)
        start_idx = np.maximum.accumulate(np.where(first, np.arange(len(owner)), 0)) \
            if len(owner) else np.zeros(0, np.int64)
        before = cum - debt - (np.r_[0, cum][start_idx])
        x = np.minimum(debt, np.maximum(credit[owner] - before, 0))
        t = x > 0
        owner, mem, x = owner[t], mem[t], x[t]
        changed = np.zeros(len(dep), bool)
        if len(x) == 0:
            return changed
        changed[owner] = True
        # transfer index inside each deposit's application
        first = np.r_[True, owner[1:] != owner[:-1]]
        start_idx = np.maximum.accumulate(np.where(first, np.arange(len(owner)), 0))
        tno = np.arange(len(owner)) - start_idx
        code = self.config.batch_types["transfer"]
        d = dep[owner]
        # a (+x on the deposit) then b (-x on the debt), pair by pair
        both_sa = np.empty(2 * len(x), np.int64)
        both_sa[0::2], both_sa[1::2] = d, mem
        both_fire = np.repeat(d, 2)
        both_amt = np.empty(2 * len(x), np.int64)
        both_amt[0::2], both_amt[1::2] = x, -x
        sub = np.empty(2 * len(x), np.int64)
        sub[0::2], sub[1::2] = 2 * tno, 2 * tno + 1
        twin = np.tile(np.array([1, -1], np.int8), len(x))
        self._adjust(ctx, both_sa, both_fire, code, both_amt, sub=sub, twin=twin, unique=False)
        return changed


__all__ = ["Engine", "MAX_ROUNDS"]
