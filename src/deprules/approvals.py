"""Adjustment approval: who may decide (approve or reject), and the approval timeout.

:func:`check_decider` is the one rule for every approval deprules performs: the
executor's ``approve`` and ``reject`` call it, so the CLI (``adjust approve|reject``),
regression packs and any endpoint of the decision service that decides an adjustment
(passing its token's user and roles) refuse the same things:

- only an adjustment in ``pending_approval`` can be decided;
- never by its creator;
- with a users file (``config/users.yaml``) or the caller's roles: only by a known user
  holding the approval profile's ``approver_role``. Without a users file any other name is
  taken as given (docs/csr.md, "Users and roles").

:func:`approval_timeouts` is the batch process ADTIMEOUT (CC&B's CI_ADTIMEOUT, "check for
adjustment approval request timeout"): an adjustment that has waited for approval longer
than its profile's ``timeout_days`` gets one open To Do of the profile's
``timeout_todo_type``.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Iterable

from .errors import LedgerError

if TYPE_CHECKING:
    from .config.model import ApprovalProfile, Config
    from .ledger import Ledger
    from .ledger.model import AccountState, Adjustment, Cause

TIMEOUT_PROCESS = "ADTIMEOUT"
TIMEOUT_RULE = "approval/timeout"
TIMEOUT_SEED_STEP = "3.0.2.5"  # the seed lists CI_ADTIMEOUT with the CSR's adjustments


# the roles of the user deciding, when the caller knows them (a service token's); see
# deciding_as. None: the users file's roles (or none enforced without one)
_ROLES: ContextVar[frozenset | None] = ContextVar("deprules_deciding_roles", default=None)


@contextmanager
def deciding_as(roles: Iterable[str]):
    """Inside this block approvals and rejections check ``roles`` (the service passes its
    token's) instead of the users file's."""
    token = _ROLES.set(frozenset(roles))
    try:
        yield
    finally:
        _ROLES.reset(token)


def profile_of(config: Config, adj: Adjustment) -> ApprovalProfile | None:
    """The approval profile of the adjustment's type (None: the type names none now)."""
    t = config.adjustment_types.get(adj.adjustment_type)
    return config.approval_profiles.get((t.approval_profile if t else None) or "")


def check_decider(config: Config, adj: Adjustment, by: str, verb: str,
                  roles: Iterable[str] | None = None) -> str:
    """Refuse (LedgerError) unless ``by`` may ``verb`` (approve or reject) ``adj``; returns
    the role it decides with ("" when roles are not enforced). ``roles``: the deciding
    user's roles when the caller knows them (a service token); else the users file's."""
    what = f"adjustment {adj.adjustment_id}"
    if adj.status != "pending_approval":
        raise LedgerError(f"{what} is {adj.status}, not pending_approval; there is nothing to "
                          f"{verb}")
    if not by:
        raise LedgerError(f"who is to {verb} {what}? (--by USER)")
    if by == adj.cause.user:
        raise LedgerError(f"{by} created {what} and cannot {verb} it: another user must")
    users = config.users
    if roles is None:
        roles = _ROLES.get()
    if roles is None:
        if users is None:
            return ""  # no users file: names are not checked (docs/csr.md)
        if by not in users:
            raise LedgerError(f"{by} may not {verb} {what}: {by} is not a user of "
                              f"{users.source}")
        roles = users.roles_of(by)
    roles = frozenset(roles)
    profile = profile_of(config, adj)
    if profile is None or not profile.approver_role:
        return ""
    if profile.approver_role not in roles:
        has = ", ".join(sorted(roles)) or "no role"
        raise LedgerError(f"{by} may not {verb} {what}: approval profile {profile.code} needs "
                          f"role {profile.approver_role} ({by} has {has})")
    return profile.approver_role


def waiting_since(st: AccountState, adj: Adjustment) -> date:
    """The day an adjustment started waiting: its ADJ-APPROVAL To Do's date."""
    days = [t.created_on for t in st.todos
            if t.adjustment_id == adj.adjustment_id and t.todo_type == "ADJ-APPROVAL"]
    return max(days) if days else adj.created_on


def account_timeouts(st: AccountState, config: Config, on: date, cause: Cause) -> int:
    """ADTIMEOUT on one account: the To Dos created (an open one is never doubled)."""
    from .ledger.executor import Executor

    ex = None
    made = 0
    for adj in st.adjustments:
        if adj.status != "pending_approval":
            continue
        profile = profile_of(config, adj)
        if profile is None or not profile.timeout_days:
            continue
        waited = (on - waiting_since(st, adj)).days
        if waited <= profile.timeout_days:
            continue
        ex = ex or Executor(st, config, on)
        todo = ex.create_todo(profile.timeout_todo_type, st.sas[adj.sa_id], cause,
                              adjustment=adj)
        if todo is not None:
            ex._journal(cause, "approval_timeout", adj.sa_id, adj.adjustment_id,
                        waited_days=waited, timeout_days=profile.timeout_days,
                        profile=profile.code, todo_id=todo.todo_id)
            made += 1
    return made


def approval_timeouts(ledger: Ledger, config: Config, on: date, cause: Cause,
                      account_ids: Iterable[str] | None = None) -> dict:
    """ADTIMEOUT over the ledger's accounts; returns accounts read and changed, To Dos made."""
    cause = replace(cause, process=TIMEOUT_PROCESS, rule=TIMEOUT_RULE,
                    seed_step=TIMEOUT_SEED_STEP)
    ids = sorted(ledger.states) if account_ids is None else list(account_ids)
    changed = todos = 0
    for aid in ids:
        n = account_timeouts(ledger.states[aid], config, on, cause)
        changed += bool(n)
        todos += n
    return {"accounts": len(ids), "accounts_changed": changed, "todos": todos}


__all__ = ["check_decider", "profile_of", "waiting_since", "account_timeouts",
           "approval_timeouts", "TIMEOUT_PROCESS"]
