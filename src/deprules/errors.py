"""The exception taxonomy.

Every error a user can cause derives from :class:`DeprulesError`; the CLI prints
its message (never a traceback) and exits with ``exit_code``.  Findings (an invalid
configuration, a broken invariant) exit 1; usage and input errors exit 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class DeprulesError(Exception):
    """Base of every error deprules raises on purpose."""

    exit_code = 2


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem in a file or a table.

    ``location`` is ``FILE:LINE:COL`` for YAML files, or ``table:row:column`` for
    extracts; ``path`` is the JSON path inside the document (``$.a.b``) or empty.
    """

    file: str
    line: int
    column: int
    path: str
    message: str
    code: str
    severity: str = field(default="error", compare=False)
    excerpt: str = field(default="", compare=False)

    def render(self) -> str:
        path = f" {self.path}:" if self.path else ""
        text = f"{self.file}:{self.line}:{self.column}:{path} {self.message} [{self.code}]"
        return f"{text}\n{self.excerpt}" if self.excerpt else text

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
            "code": self.code,
            "severity": self.severity,
        }


class ProblemsError(DeprulesError):
    """A collection of located problems, reported all at once."""

    exit_code = 1

    def __init__(self, problems: list[Problem], what: str = "input"):
        self.problems = sorted(problems)
        self.what = what
        super().__init__(self.render())

    def __reduce__(self):  # survive the trip back from a worker process
        return (type(self), (self.problems, self.what))

    def render(self) -> str:
        lines = [p.render() for p in self.problems]
        lines.append(f"{len(self.problems)} problem(s) in {self.what}")
        return "\n".join(lines)


class ConfigError(ProblemsError):
    """The configuration or the rules are invalid."""


class ExtractError(ProblemsError):
    """An extract folder has bad tables, rows or values."""


class InputError(DeprulesError):
    """A file, folder or argument given by the user cannot be used."""


class NotFoundError(InputError):
    """An id given by the user names nothing in the store (an HTTP 404)."""


class LedgerError(DeprulesError):
    """An operation on the ledger is not allowed (illegal status move, wrong amount, ...)."""


class InvariantError(DeprulesError):
    """A ledger invariant (DOMAIN.md section 6) does not hold."""

    exit_code = 1


class StoreError(DeprulesError):
    """A persisted ledger store cannot be opened or written."""


class StoreLockedError(StoreError):
    """Another writer holds the store's lock."""


class EngineError(DeprulesError):
    """The rules engine failed: an action raised, a rule loop, an engine limit."""

    exit_code = 1

    def __init__(self, message: str, rule: str | None = None, account_id: str | None = None):
        self.rule = rule
        self.account_id = account_id
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (str(self), self.rule, self.account_id))


class ScenarioError(ProblemsError):
    """A regression pack file is invalid."""
