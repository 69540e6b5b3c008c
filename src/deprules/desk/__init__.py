"""The CSR desk (DOMAIN.md section 5): what a CSR, an approver and A/P do on the ledger,
one module per desk, named by the seed's words:

- :mod:`.refunds`: partial refunds (seed 1.1 - 1.9);
- :mod:`.stops`: pending stops, stops now, final bills and their completion, closing
  (seed 2.0, 2.6, 2.7, 2.9, 3.0.2.6);
- :mod:`.todos`: To Do lists and working them (seed 3.0.2.1);
- :mod:`.adjustments`: transfers, adjustments by hand, approvals, the total deposit amount
  (seed 1.3, 3.0.2.2, 3.0.2.3);
- :mod:`.ap`: the A/P interface (seed 1.7 - 1.9); void and returned checks are
  :mod:`deprules.check_reversal`;
- :mod:`.common`: the :class:`Result` every operation returns, causes, look-ups;
- :mod:`.operations`: one changing command in one store session (:func:`perform`), and every
  operation as data (:data:`OPERATIONS`), which the CLI and the service's ledger endpoints
  both run.

Every operation takes the ledger, the setup (configuration and rules), its arguments and a
base :class:`Cause` (process, run, configuration hash, user, reason: see
:func:`manual_cause`); it sets the seed step itself. Changes go through the
:class:`~deprules.ledger.executor.Executor`, each journaled with its cause, and it returns a
:class:`Result`. A refused move raises :class:`LedgerError` or :class:`InputError` before
anything has changed; only a failure inside the rules that ``manual_stop`` and
``complete_bill`` run can leave a change half made, so run operations inside
:func:`deprules.storeops.store_session` (as :func:`perform` does; it then commits nothing) or
discard the ledger.

Decisions where the sources are silent (docs/csr.md says the same to users):

- Partial refund needing approval (its A/P part above the approval profile's threshold):
  the whole partial refund waits. Its transfers, A/P and current-only adjustments are
  created but not frozen and ``total_deposit_amount`` is unchanged; approving the A/P
  adjustment freezes all of them together (the check request is made then) and reduces the
  total; rejecting it cancels all of them. So no money moves until the refund is decided,
  and the deposit's current balance never shows half a refund.
- Canceling any adjustment of a partial refund cancels the whole refund (reversing FTs)
  and gives the amount back to ``total_deposit_amount``; canceling one side of a transfer
  cancels its twin.
- ``total_deposit_amount`` never goes below 0.00.
- A transfer moves credit: the SA it comes from must have that much credit left.
- deprules closes cash deposit SAs only, and only once their final bill is complete.
"""

from __future__ import annotations

from .adjustments import (approve_adjustment, cancel_adjustment, create_adjustment,
                          freeze_adjustment, reject_adjustment, set_total_deposit, transfer)
from .ap import ap_export, ap_paid, check_row, hold_check, list_checks, read_ap_csv
from .common import (AP_COLUMNS, Result, describe, find_adjustment, find_bill, find_check,
                     find_sa, find_todo, manual_cause, parse_amount, sa_row)
from .operations import (OPERATIONS, Operation, Param, account_and_document, account_document,
                         parse_values, perform, run_operation)
from .refunds import partial_refund
from .stops import close_sa, complete_bill, final_bill, manual_stop, run_rules_for_sa, \
    set_pending_stop
from .todos import complete_todo, list_todos, show_todo, todo_row, work_todo

__all__ = [
    "AP_COLUMNS", "OPERATIONS", "Operation", "Param", "Result", "account_and_document",
    "account_document", "ap_export", "ap_paid", "approve_adjustment", "cancel_adjustment",
    "check_row", "close_sa", "complete_bill", "complete_todo", "create_adjustment", "describe",
    "final_bill", "find_adjustment", "find_bill", "find_check", "find_sa", "find_todo",
    "freeze_adjustment", "hold_check", "list_checks", "list_todos", "manual_cause",
    "manual_stop", "parse_amount", "parse_values", "partial_refund", "perform", "read_ap_csv",
    "reject_adjustment", "run_operation", "run_rules_for_sa", "sa_row", "set_pending_stop",
    "set_total_deposit", "show_todo", "todo_row", "transfer", "work_todo",
]
