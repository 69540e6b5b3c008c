"""Who is acting: --by, else $DEPRULES_USER, else the login name."""

from __future__ import annotations

import getpass
import os


def default_user() -> str:
    try:
        login = getpass.getuser()
    except Exception:  # no login name in some containers
        login = ""
    return os.environ.get("DEPRULES_USER") or login or "unknown"
