"""The executor: the only way anything in the ledger changes.

Every method checks that the move is legal, changes the account's working state,
and journals the change with its :class:`Cause`. Methods return ``True`` /
the new object when something changed and ``False`` / ``None`` when the change
was already made, which is how forward chaining detects its fixed point.
"""

from __future__ import annotations

from datetime import date, timedelta

from ..config.model import Config
from ..errors import LedgerError
from ..interest import InterestResult, compute_interest, period_ends
from ..money import format_money
from .model import (
    FT,
    FINISHED,
    LEGAL_MOVES,
    AccountState,
    JournalEntry,
    Adjustment,
    Bill,
    Cause,
    CheckRequest,
    GLLine,
    ServiceAgreement,
    ToDo,
)

# effect of an adjustment of amount A: (payoff factor, current factor, posts GL)
FT_ALGORITHMS = {
    "ADJT-NM": (1, 1, True),
    "ADJT-CA": (0, 1, False),
    "ADJT-TA": (1, 0, True),
    "ADJT-GL": (0, 0, True),
}


class Executor:
    """Applies changes to one account's state on a process date."""

    def __init__(self, state: AccountState, config: Config, on: date):
        self.state = state
        self.config = config
        self.on = on
        self._seq: dict[str, int] = {}

    # ids are per account and per kind, so they do not depend on how a run is partitioned
    def _next_id(self, kind: str, existing: int) -> str:
        # an earlier executor may have added rows since this one last counted
        n = max(self._seq.get(kind, 0), existing) + 1
        self._seq[kind] = n
        return f"{self.state.account_id}-{kind}{n:03d}"

    def _journal(self, cause: Cause, kind: str, sa_id: str, entity_id: str, **detail) -> None:
        for k, v in detail.items():
            if isinstance(v, date):
                detail[k] = v.isoformat()
        st = self.state
        journal = st.journal
        journal.append(JournalEntry(st.journal_base + len(journal) + 1, st.account_id, sa_id,
                                    self.on, kind, entity_id, detail, cause))

    def money(self, minor: int) -> str:
        return format_money(minor, self.config.installation.minor_units)

    def sa(self, sa_id: str) -> ServiceAgreement:
        try:
            return self.state.sas[sa_id]
        except KeyError:
            raise LedgerError(f"SA {sa_id} is not on account {self.state.account_id}") from None

    # ---- status -------------------------------------------------------------------------
    def set_status(self, sa: ServiceAgreement, to: str, cause: Cause,
                   stop_date: date | None = None) -> bool:
        if sa.status == to:
            return False
        if (sa.status, to) not in LEGAL_MOVES:
            raise LedgerError(f"SA {sa.sa_id}: illegal status move {sa.status} -> {to}")
        if to == "closed":
            if sa.payoff_balance != 0 or sa.current_balance != 0:
                raise LedgerError(
                    f"SA {sa.sa_id} cannot be closed: payoff {self.money(sa.payoff_balance)}, "
                    f"current {self.money(sa.current_balance)} (both must be 0.00)")
        if to in ("pending_stop", "stopped") and sa.stop_date is None:
            sa.stop_date = stop_date or self.on
        elif to == "pending_stop" and stop_date is not None:
            sa.stop_date = stop_date
        before = sa.status
        sa.status = to
        self._journal(cause, "status", sa.sa_id, sa.sa_id, from_status=before, to_status=to,
                      stop_date=sa.stop_date)
        return True

    # ---- adjustments and FTs ------------------------------------------------------------
    def create_adjustment(self, sa: ServiceAgreement, adjustment_type: str, amount: int,
                          cause: Cause, *, created_by: str = "batch", freeze: bool = True,
                          twin_id: str = "") -> Adjustment | None:
        if amount == 0:
            return None  # DOMAIN.md 8: no adjustment of 0.00 is ever created
        if sa.status in ("closed", "canceled"):
            raise LedgerError(f"SA {sa.sa_id} is {sa.status}; no adjustment can be added")
        adj_type = self.config.adjustment_types.get(adjustment_type)
        if adj_type is None:
            raise LedgerError(f"unknown adjustment type {adjustment_type!r}; known: "
                              f"{', '.join(sorted(self.config.adjustment_types))}")
        adj = Adjustment(
            adjustment_id=self._next_id("ADJ", len(self.state.adjustments)),
            account_id=self.state.account_id, sa_id=sa.sa_id, adjustment_type=adj_type.code,
            category=adj_type.category, amount=amount, status="incomplete",
            created_by=created_by, created_on=self.on, cause=cause, twin_id=twin_id)
        self.state.adjustments.append(adj)
        self._journal(cause, "adjustment", sa.sa_id, adj.adjustment_id, type=adj_type.code,
                      category=adj_type.category, amount=self.money(amount))
        if freeze:
            profile = self.config.approval_profiles.get(adj_type.approval_profile or "")
            if created_by != "batch" and profile is not None and abs(amount) > profile.threshold:
                adj.status = "pending_approval"
                self.create_todo("ADJ-APPROVAL", sa, cause, adjustment=adj)
                self._journal(cause, "pending_approval", sa.sa_id, adj.adjustment_id,
                              threshold=self.money(profile.threshold))
            else:
                self.freeze(adj, cause)
        return adj

    def _post_ft(self, sa: ServiceAgreement, payoff: int, current: int, source: str,
                 source_id: str, cause: Cause, gl_code: str | None, reverses: str = "") -> FT:
        ft = FT(ft_id=self._next_id("FT", len(self.state.fts)), account_id=self.state.account_id,
                sa_id=sa.sa_id, date=self.on, payoff_amount=payoff, current_amount=current,
                source=source, source_id=source_id, cause=cause, reverses=reverses)
        self.state.fts.append(ft)
        sa.payoff_balance += payoff
        sa.current_balance += current
        if gl_code is not None:
            sa_code = self.config.sa_types[sa.sa_type].distribution_code
            gl_amount = payoff if payoff else current
            if gl_amount:
                self.state.gl_lines.append(GLLine(ft.ft_id, self.state.account_id, 1, sa_code,
                                                  gl_amount))
                self.state.gl_lines.append(GLLine(ft.ft_id, self.state.account_id, 2, gl_code,
                                                  -gl_amount))
        return ft

    def freeze(self, adj: Adjustment, cause: Cause, *, request_check: bool = True) -> bool:
        """Post the adjustment's FT; an A/P type makes its check request (unless
        ``request_check`` is False: the reversal of a void or returned check)."""
        if adj.status == "frozen":
            return False
        if adj.status not in ("incomplete", "pending_approval"):
            raise LedgerError(f"adjustment {adj.adjustment_id} is {adj.status}; it cannot be frozen")
        if self.sa(adj.sa_id).status in ("closed", "canceled"):
            raise LedgerError(f"adjustment {adj.adjustment_id}: SA {adj.sa_id} is "
                              f"{self.sa(adj.sa_id).status}; nothing can be posted to it")
        adj_type = self.config.adjustment_types[adj.adjustment_type]
        fp, fc, gl = FT_ALGORITHMS[adj_type.ft_algorithm]
        sa = self.sa(adj.sa_id)
        if adj_type.ft_algorithm == "ADJT-GL":
            ft = self._post_ft(sa, 0, 0, "adjustment", adj.adjustment_id, cause, None)
            sa_code = self.config.sa_types[sa.sa_type].distribution_code
            self.state.gl_lines.append(GLLine(ft.ft_id, self.state.account_id, 1, sa_code,
                                              adj.amount))
            self.state.gl_lines.append(GLLine(ft.ft_id, self.state.account_id, 2,
                                              adj_type.distribution_code, -adj.amount))
        else:
            ft = self._post_ft(sa, fp * adj.amount, fc * adj.amount, "adjustment",
                               adj.adjustment_id, cause, adj_type.distribution_code if gl else None)
        adj.ft_id = ft.ft_id
        adj.status = "frozen"
        self._journal(cause, "freeze", sa.sa_id, adj.adjustment_id, ft_id=ft.ft_id,
                      payoff=self.money(ft.payoff_amount), current=self.money(ft.current_amount))
        if adj_type.ap_request_type and request_check:
            chk = CheckRequest(
                check_id=self._next_id("CHK", len(self.state.checks)),
                account_id=self.state.account_id, sa_id=sa.sa_id,
                adjustment_id=adj.adjustment_id, payee_account_id=self.state.account_id,
                amount=adj.amount, status="not_selected", request_type=adj_type.ap_request_type,
                created_on=self.on, cause=cause)
            self.state.checks.append(chk)
            self._journal(cause, "check", sa.sa_id, chk.check_id, amount=self.money(chk.amount),
                          adjustment_id=adj.adjustment_id)
        return True

    def cancel(self, adj: Adjustment, cause: Cause) -> bool:
        if adj.status == "canceled":
            return False
        check = next((c for c in self.state.checks if c.adjustment_id == adj.adjustment_id), None)
        if check is not None and check.status != "not_selected":
            raise LedgerError(
                f"adjustment {adj.adjustment_id} cannot be canceled: its check request "
                f"{check.check_id} is already {check.status} (cancel only while not_selected)")
        if adj.status == "frozen":
            original = next(f for f in self.state.fts if f.ft_id == adj.ft_id)
            sa = self.sa(adj.sa_id)
            ft = self._post_ft(sa, -original.payoff_amount, -original.current_amount,
                               "adjustment", adj.adjustment_id, cause, None,
                               reverses=original.ft_id)
            for line in [g for g in self.state.gl_lines if g.ft_id == original.ft_id]:
                self.state.gl_lines.append(GLLine(ft.ft_id, self.state.account_id, line.seq,
                                                  line.distribution_code, -line.amount))
            adj.cancel_ft_id = ft.ft_id
        for todo in self.state.todos:
            if todo.adjustment_id == adj.adjustment_id and todo.status != "complete":
                before = todo.status
                todo.status, todo.completed_on = "complete", self.on
                self._journal(cause, "todo_status", adj.sa_id, todo.todo_id,
                              from_status=before, to_status="complete")
        if check is not None:
            before = check.status
            check.status = "canceled"
            self._journal(cause, "check_status", adj.sa_id, check.check_id,
                          from_status=before, to_status="canceled")
        adj.status = "canceled"
        self._journal(cause, "cancel", adj.sa_id, adj.adjustment_id)
        return True

    def transfer(self, from_sa: ServiceAgreement, to_sa: ServiceAgreement, amount: int,
                 cause: Cause, created_by: str = "batch") -> tuple[Adjustment, Adjustment] | None:
        """Move ``amount`` of credit from ``from_sa`` to pay ``to_sa``: +x there... a pair summing to 0."""
        if amount <= 0:
            return None
        code = self.config.batch_types["transfer"]
        a = self.create_adjustment(from_sa, code, amount, cause, created_by=created_by,
                                   freeze=False)
        b = self.create_adjustment(to_sa, code, -amount, cause, created_by=created_by,
                                   freeze=False, twin_id=a.adjustment_id)
        a.twin_id = b.adjustment_id
        # a transfer pair nets to zero, so it never needs approval; freeze both together
        self.freeze(a, cause)
        self.freeze(b, cause)
        return a, b

    # ---- To Dos, checks, bills ------------------------------------------------------------
    def create_todo(self, todo_type: str, sa: ServiceAgreement, cause: Cause,
                    adjustment: Adjustment | None = None) -> ToDo | None:
        tt = self.config.todo_types.get(todo_type)
        if tt is None:
            raise LedgerError(f"unknown To Do type {todo_type!r}")
        for t in self.state.open_todos(sa.sa_id):
            if t.todo_type == todo_type and (adjustment is None or
                                             t.adjustment_id == adjustment.adjustment_id):
                return None  # DOMAIN.md 8: no second open To Do of the same type for an SA
        values = {"sa_id": sa.sa_id, "account_id": self.state.account_id,
                  "balance": self.money(sa.payoff_balance),
                  "adjustment_id": adjustment.adjustment_id if adjustment else "",
                  "amount": self.money(adjustment.amount) if adjustment else ""}
        # the configuration refuses any other placeholder (config/checks.py)
        message = tt.message.format(**values)
        todo = ToDo(todo_id=self._next_id("TD", len(self.state.todos)),
                    account_id=self.state.account_id, sa_id=sa.sa_id, todo_type=todo_type,
                    role=tt.role, message=message, status="open", created_on=self.on,
                    cause=cause, adjustment_id=adjustment.adjustment_id if adjustment else "")
        self.state.todos.append(todo)
        self._journal(cause, "todo", sa.sa_id, todo.todo_id, todo_type=todo_type)
        return todo

    def create_final_bill(self, sa: ServiceAgreement, cause: Cause) -> Bill | None:
        existing = self.state.final_bill(sa.sa_id)
        if existing is not None:
            return None
        if sa.status not in ("stopped", "reactivated"):
            raise LedgerError(f"SA {sa.sa_id} is {sa.status}; only a stopped SA gets a final bill")
        bill = Bill(bill_id=self._next_id("BILL", len(self.state.bills)),
                    account_id=self.state.account_id, sa_id=sa.sa_id,
                    amount=sa.current_balance, status="frozen", created_on=self.on, cause=cause)
        self.state.bills.append(bill)
        self._journal(cause, "bill", sa.sa_id, bill.bill_id, amount=self.money(bill.amount),
                      status="frozen")
        return bill

    def complete_bill(self, bill: Bill, cause: Cause) -> bool:
        if bill.status == "complete":
            return False
        if bill.status != "frozen":
            raise LedgerError(f"bill {bill.bill_id} is {bill.status}; only a frozen bill completes")
        bill.status = "complete"
        bill.completed_on = self.on
        bill.due_date = self.on + timedelta(days=self.config.installation.bill_due_days)
        self._journal(cause, "bill_complete", bill.sa_id, bill.bill_id, due_date=bill.due_date)
        return True

    def close(self, sa: ServiceAgreement, cause: Cause) -> bool:
        if sa.status != "closed" and self.config.sa_types[sa.sa_type].is_cash_deposit:
            bill = self.state.final_bill(sa.sa_id)
            if bill is None or bill.status != "complete":
                raise LedgerError(f"SA {sa.sa_id} cannot be closed before its final bill is "
                                  "complete (a deposit SA closes only after its final bill; docs/invariants.md)")
        return self.set_status(sa, "closed", cause)

    # ---- algorithms ---------------------------------------------------------------------------
    def held_payoff_fn(self, sa: ServiceAgreement):
        """Payoff at the end of a day, from FT history when there is one (DOMAIN.md 8)."""
        own = [f for f in self.state.fts if f.sa_id == sa.sa_id]
        hist = [h for h in self.state.history if h.sa_id == sa.sa_id]
        changes = sorted({f.date for f in own} | {h.date for h in hist})
        if hist:
            events = sorted([(h.date, h.payoff_amount) for h in hist] +
                            [(f.date, f.payoff_amount) for f in own])

            def held(d: date) -> int:
                return sum(a for day, a in events if day <= d)
        else:
            now = sa.payoff_balance

            def held(d: date) -> int:
                return now - sum(f.payoff_amount for f in own if f.date > d)
        return held, changes

    def interest_for(self, sa: ServiceAgreement) -> InterestResult | None:
        dc = self.config.deposit_classes[self.config.sa_types[sa.sa_type].deposit_class]
        if dc.interest is None or sa.stop_date is None:
            return None
        start = sa.last_interest_date or sa.start_date
        held, changes = self.held_payoff_fn(sa)
        return compute_interest(dc.interest, sa.start_date, start, sa.stop_date, held, changes)

    def post_interest(self, sa: ServiceAgreement, cause: Cause) -> bool:
        """REFUNDINT to the stop date; always settles the period (last_interest_date moves)."""
        if sa.stop_date is None or (sa.last_interest_date or sa.start_date) >= sa.stop_date:
            return False
        result = self.interest_for(sa)
        if result is not None and result.amount:
            self.create_adjustment(sa, self.config.batch_types["deposit_interest"],
                                   -result.amount, cause)
        before = sa.last_interest_date
        sa.last_interest_date = sa.stop_date
        self._journal(cause, "interest_settled", sa.sa_id, sa.sa_id, from_date=before,
                      to_date=sa.stop_date,
                      amount=self.money(result.amount if result else 0),
                      below_minimum=bool(result and result.below_minimum))
        return True

    def post_periodic_interest(self, sa: ServiceAgreement, cause: Cause) -> bool:
        """DEPINTRF: settle every completed period since the last interest date, oldest
        first; each settlement is REFUNDINT from the last interest date (inclusive) to the
        period's end (exclusive), rounded once, posted today (docs/interest.md)."""
        dc = self.config.deposit_classes[self.config.sa_types[sa.sa_type].deposit_class]
        months = dc.months_between_interest or 0
        if dc.interest is None or months <= 0 or sa.status != "active":
            return False
        ends = period_ends(sa.start_date, sa.last_interest_date, self.on, months,
                           dc.interest.min_days_held)
        for end in ends:
            frm = sa.last_interest_date or sa.start_date
            held, changes = self.held_payoff_fn(sa)
            result = compute_interest(dc.interest, sa.start_date, frm, end, held, changes)
            if result.amount:
                self.create_adjustment(sa, self.config.batch_types["deposit_interest"],
                                       -result.amount, cause)
            sa.last_interest_date = end
            self._journal(cause, "interest_settled", sa.sa_id, sa.sa_id, from_date=frm,
                          to_date=end, amount=self.money(result.amount),
                          below_minimum=result.below_minimum, periodic=True)
        return bool(ends)

    def apply_deposit(self, sa: ServiceAgreement, cause: Cause) -> list[tuple[str, int]]:
        """APPLYDEPOSIT: pay same-class debt in distribution order; returns (sa_id, amount)."""
        credit = -sa.payoff_balance
        applied = []
        for debt_sa in self.debt_order(sa):
            if credit <= 0:
                break
            x = min(credit, debt_sa.payoff_balance)
            self.transfer(sa, debt_sa, x, cause)
            applied.append((debt_sa.sa_id, x))
            credit -= x
        return applied

    def debt_order(self, sa: ServiceAgreement) -> list[ServiceAgreement]:
        types = self.config.sa_types
        dclass = types[sa.sa_type].deposit_class
        debts = [o for o in self.state.sas.values()
                 if o.sa_id != sa.sa_id and o.payoff_balance > 0
                 and o.status not in ("closed", "canceled")
                 and types[o.sa_type].deposit_class == dclass]
        return sorted(debts, key=lambda o: (types[o.sa_type].distribution_priority,
                                            o.start_date, o.sa_id))

    # ---- manual paths: CSR, approver, A/P (cli: refund, sa, bill, todo, adjust, ap) -------
    def approval_profile(self, adjustment_type: str, amount: int, created_by: str):
        """The approval profile an adjustment must wait for, or None (batch never waits)."""
        adj_type = self.config.adjustment_types[adjustment_type]
        profile = self.config.approval_profiles.get(adj_type.approval_profile or "")
        if created_by != "batch" and profile is not None and abs(amount) > profile.threshold:
            return profile
        return None

    def submit(self, adj: Adjustment, cause: Cause) -> bool:
        """Freeze an incomplete adjustment, or send it for approval when its profile says so."""
        if adj.status == "frozen":
            return False
        if adj.status != "incomplete":
            hint = " (approve or reject it)" if adj.status == "pending_approval" else ""
            raise LedgerError(f"adjustment {adj.adjustment_id} is {adj.status}; only an "
                              f"incomplete adjustment can be frozen{hint}")
        profile = self.approval_profile(adj.adjustment_type, adj.amount, adj.created_by)
        if profile is None:
            return self.freeze(adj, cause)
        adj.status = "pending_approval"
        self.create_todo("ADJ-APPROVAL", self.sa(adj.sa_id), cause, adjustment=adj)
        self._journal(cause, "pending_approval", adj.sa_id, adj.adjustment_id,
                      threshold=self.money(profile.threshold))
        return True

    def check_decider(self, adj: Adjustment, by: str, verb: str) -> str:
        """The one approval rule (deprules.approvals.check_decider); returns the role."""
        from ..approvals import check_decider

        return check_decider(self.config, adj, by, verb)

    def approve(self, adj: Adjustment, by: str, cause: Cause) -> bool:
        """Approve an adjustment waiting for approval: freeze it, close its approval To Do."""
        role = self.check_decider(adj, by, "approve")
        adj.approved_by = by
        self._journal(cause, "approve", adj.sa_id, adj.adjustment_id, by=by,
                      **({"role": role} if role else {}))
        self.freeze(adj, cause)
        self._complete_approval_todos(adj, by, cause)
        return True

    def reject(self, adj: Adjustment, by: str, cause: Cause) -> bool:
        """Reject an adjustment waiting for approval: it is canceled (it never posted)."""
        role = self.check_decider(adj, by, "reject")
        adj.rejected_by = by
        self._journal(cause, "reject", adj.sa_id, adj.adjustment_id, by=by,
                      **({"role": role} if role else {}))
        self._complete_approval_todos(adj, by, cause)
        return self.cancel(adj, cause)

    def _complete_approval_todos(self, adj: Adjustment, by: str, cause: Cause) -> None:
        for todo in self.state.todos:
            if todo.adjustment_id == adj.adjustment_id and todo.status != "complete":
                self.complete_todo(todo, by, cause)

    def work_todo(self, todo: ToDo, by: str, cause: Cause) -> bool:
        """open -> being_worked by ``by``."""
        if todo.status == "being_worked" and todo.worked_by == by:
            return False
        if todo.status != "open":
            who = f" by {todo.worked_by}" if todo.status == "being_worked" else ""
            raise LedgerError(f"To Do {todo.todo_id} is {todo.status}{who}; only an open To Do "
                              "can be taken")
        todo.status, todo.worked_by = "being_worked", by
        self._journal(cause, "todo_status", todo.sa_id, todo.todo_id, from_status="open",
                      to_status="being_worked", by=by)
        return True

    def complete_todo(self, todo: ToDo, by: str, cause: Cause) -> bool:
        """open or being_worked -> complete."""
        if todo.status == "complete":
            return False
        before = todo.status
        todo.status, todo.completed_on, todo.completed_by = "complete", self.on, by
        self._journal(cause, "todo_status", todo.sa_id, todo.todo_id, from_status=before,
                      to_status="complete", by=by)
        return True

    def set_total_deposit(self, sa: ServiceAgreement, amount: int, cause: Cause) -> bool:
        """The amount the utility wants to hold on a cash deposit SA."""
        if not self.config.sa_types[sa.sa_type].is_cash_deposit:
            raise LedgerError(f"SA {sa.sa_id} ({sa.sa_type}) is not a cash deposit; it has no "
                              "total deposit amount")
        if amount < 0:
            raise LedgerError(f"total deposit amount {self.money(amount)} is negative")
        if sa.total_deposit_amount == amount:
            return False
        before = sa.total_deposit_amount
        sa.total_deposit_amount = amount
        self._journal(cause, "total_deposit", sa.sa_id, sa.sa_id, from_amount=self.money(before),
                      to_amount=self.money(amount))
        return True

    def set_stop_date(self, sa: ServiceAgreement, stop_date: date, cause: Cause) -> bool:
        if sa.stop_date == stop_date:
            return False
        if sa.status not in ("active", "pending_stop"):
            raise LedgerError(f"SA {sa.sa_id} is {sa.status}; its stop date cannot change")
        before = sa.stop_date
        sa.stop_date = stop_date
        self._journal(cause, "stop_date", sa.sa_id, sa.sa_id, from_date=before, to_date=stop_date)
        return True

    def set_check_status(self, check: CheckRequest, to: str, cause: Cause) -> bool:
        if check.status == to:
            return False
        if (check.status, to) not in CHECK_MOVES:
            raise LedgerError(f"check request {check.check_id} is {check.status}; it cannot "
                              f"become {to}")
        before = check.status
        check.status = to
        self._journal(cause, "check_status", check.sa_id, check.check_id, from_status=before,
                      to_status=to)
        return True

    def stage_transfer(self, from_sa: ServiceAgreement, to_sa: ServiceAgreement, amount: int,
                       cause: Cause, created_by: str = "csr") -> tuple[Adjustment, Adjustment]:
        """A transfer pair left incomplete, to be frozen together later (e.g. on approval)."""
        code = self.config.batch_types["transfer"]
        a = self.create_adjustment(from_sa, code, amount, cause, created_by=created_by,
                                   freeze=False)
        b = self.create_adjustment(to_sa, code, -amount, cause, created_by=created_by,
                                   freeze=False, twin_id=a.adjustment_id)
        a.twin_id = b.adjustment_id
        return a, b


    def reverse_check(self, check: CheckRequest, to: str, cause: Cause) -> Adjustment:
        """A void or returned check (``to``): the refund goes back on its SA by a new
        adjustment of the refund's type for -amount, frozen at once without a check request
        or approval (its FT is the exact negation of the refund's); a closed SA is
        reactivated first (CC&B: an FT on a closed SA reactivates it). The check's status
        becomes ``to``."""
        if to not in REVERSED_CHECK:
            raise LedgerError(f"{to!r} is not a status that reverses a check")
        if (check.status, to) not in CHECK_MOVES:
            allowed = " or ".join(f for f, t in sorted(CHECK_MOVES) if t == to)
            raise LedgerError(f"check request {check.check_id} is {check.status}; only a "
                              f"{allowed} check can be {to}")
        refund = self.state.adjustment(check.adjustment_id)
        if refund is None or refund.status != "frozen":
            raise LedgerError(f"check request {check.check_id}: its adjustment "
                              f"{check.adjustment_id} is not frozen; nothing to reverse")
        sa = self.sa(check.sa_id)
        if sa.status == "canceled":
            raise LedgerError(f"SA {sa.sa_id} is canceled; the check's money cannot go back "
                              "on it")
        if sa.status == "closed":
            self.set_status(sa, "reactivated", cause)
        rev = self.create_adjustment(sa, refund.adjustment_type, -refund.amount, cause,
                                     created_by="csr", freeze=False)
        self.freeze(rev, cause, request_check=False)
        self.set_check_status(check, to, cause)
        return rev


# check request moves (DOMAIN.md section 2); canceled comes with its adjustment's cancel;
# void and returned come with the reversal of the refund (Executor.reverse_check)
CHECK_MOVES = {
    ("not_selected", "requested"),
    ("requested", "paid"),
    ("not_selected", "canceled"),
    ("not_selected", "hold"),
    ("hold", "not_selected"),
    ("requested", "void"),
    ("paid", "void"),
    ("paid", "returned"),
}
REVERSED_CHECK = ("void", "returned")


__all__ = ["Executor", "FT_ALGORITHMS", "FINISHED", "CHECK_MOVES", "REVERSED_CHECK"]
