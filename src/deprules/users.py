"""Who is acting, and with which roles.

The one vocabulary of roles (:data:`ROLES`) serves the decision service's tokens
(``deprules token add --role``), the configuration's users file (``config/users.yaml``)
and the approval profiles' ``approver_role``.

Who acts on the command line: ``--by``, else ``$DEPRULES_USER``, else the login name.
With a users file in the configuration that name must be one of its users
(:func:`require_user`); without one any name is taken as given (docs/csr.md, "Users
and roles").
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from typing import Mapping

from .errors import InputError

#: the roles deprules knows (docs/service.md "Roles", docs/csr.md "Users and roles")
ROLES = ("analyst", "csr", "approver", "ap", "operator")


def default_user() -> str:
    try:
        login = getpass.getuser()
    except Exception:  # no login name in some containers
        login = ""
    return os.environ.get("DEPRULES_USER") or login or "unknown"


@dataclass(frozen=True)
class Users:
    """The users file of a configuration: user name -> roles."""

    roles: Mapping[str, frozenset[str]]
    source: str = "users.yaml"

    def __contains__(self, user: str) -> bool:
        return user in self.roles

    def roles_of(self, user: str) -> frozenset[str]:
        return self.roles.get(user, frozenset())


def require_user(users: Users | None, who: str,
                 named_by: str = "--by, $DEPRULES_USER or the login name") -> None:
    """InputError unless ``who`` is a user of the users file (anyone, without one)."""
    if users is None or who in users:
        return
    known = ", ".join(sorted(users.roles)) or "(none)"
    raise InputError(f"unknown user {who!r} ({named_by}): {users.source} lists {known}")


__all__ = ["ROLES", "Users", "default_user", "require_user"]
