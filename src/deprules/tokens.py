"""Bearer tokens of the decision service: users, roles, and only the tokens' hashes.

The tokens file is JSON, written with mode 0600 and replaced atomically:

    {"version": 1, "tokens": [{"id": "3f9a1c2b", "user": "alice", "roles": ["analyst"],
                               "sha256": "<hex of sha256(token)>", "created": "2026-11-21T..Z"}]}

A token is ``drt_`` + 43 URL-safe characters (32 random bytes); it is printed once by
``deprules token add`` and never stored. ``id`` is the first 8 hex digits of its hash, to
name it in ``token list`` and ``token remove --id``. ``TokenStore`` re-reads the file when
it changes (size, mtime or inode), so removing a token revokes it without a restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import InputError
from .users import ROLES  # the one vocabulary of roles
PREFIX = "drt_"


@dataclass(frozen=True)
class Identity:
    user: str
    roles: frozenset[str]
    token_id: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def read_tokens(path: Path | str) -> list[dict]:
    """The entries of a tokens file ([] when it does not exist). InputError when it is not
    a tokens file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        data = json.loads(text)
        tokens = data["tokens"]
        if data.get("version") != 1 or not isinstance(tokens, list):
            raise ValueError
        for t in tokens:
            if not (isinstance(t["user"], str) and isinstance(t["sha256"], str) and
                    isinstance(t["roles"], list) and isinstance(t["id"], str)):
                raise ValueError
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{path} is not a deprules tokens file (expected "
                         '{"version": 1, "tokens": [...]}, written by deprules token add)'
                         ) from None
    return tokens


def _write(path: Path, tokens: list[dict]) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"version": 1, "tokens": tokens}, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def add_token(path: Path | str, user: str, roles: list[str]) -> tuple[str, dict]:
    """A new token for ``user`` with ``roles``: (the token, its entry). The token itself is
    not stored."""
    if not user or any(c.isspace() for c in user):
        raise InputError("--user must be a non-empty name without spaces")
    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        raise InputError(f"unknown role(s) {', '.join(bad) or '(none given)'}; roles are "
                         f"{', '.join(ROLES)}")
    tokens = read_tokens(path)
    token = PREFIX + secrets.token_urlsafe(32)
    digest = hash_token(token)
    entry = {"id": digest[:8], "user": user, "roles": sorted(set(roles)), "sha256": digest,
             "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    tokens.append(entry)
    _write(Path(path), tokens)
    return token, entry


def remove_tokens(path: Path | str, token_id: str | None = None,
                  user: str | None = None) -> list[dict]:
    """Remove the token ``token_id``, or every token of ``user``; returns those removed."""
    if not token_id and not user:
        raise InputError("give --id ID or --user USER")
    tokens = read_tokens(path)
    gone = [t for t in tokens if (token_id and t["id"] == token_id) or
            (user and t["user"] == user)]
    if not gone:
        raise InputError(f"no token {'with id ' + token_id if token_id else 'of user ' + user}"
                         f" in {path}")
    _write(Path(path), [t for t in tokens if t not in gone])
    return gone


class TokenStore:
    """The tokens file, re-read when it changes. ``identify(token)`` -> Identity or None."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp = None
        self._by_hash: dict[str, Identity] = {}
        self.reloads = 0
        self.error: str | None = None
        self._refresh()

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp and self.reloads:
            return
        with self._lock:
            if stamp == self._stamp and self.reloads:
                return
            try:
                tokens = read_tokens(self.path)
            except InputError as exc:  # a broken file revokes everything until fixed
                self.error = str(exc)
                tokens = []
            else:
                self.error = None
            self._by_hash = {t["sha256"]: Identity(t["user"], frozenset(t["roles"]), t["id"])
                             for t in tokens}
            self._stamp = stamp
            self.reloads += 1

    def identify(self, token: str) -> Identity | None:
        self._refresh()
        # looked up by the token's sha256: what a timing difference could reveal is about
        # the hash, not the token
        return self._by_hash.get(hash_token(token))
