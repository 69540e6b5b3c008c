"""The ledger: account states changed only by the executor, stored as pandas tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from ..config.model import Config
from ..errors import InvariantError
from .check import check_account
from .executor import Executor
from .model import AccountState, Cause

if TYPE_CHECKING:  # pandas is imported only by the commands that build tables
    import pandas as pd


class Ledger:
    """All accounts' states; tables are built from them in one pass when asked."""

    def __init__(self, states: dict[str, AccountState], config: Config):
        self.states = states
        self.config = config

    @classmethod
    def from_extract(cls, extract, config: Config) -> "Ledger":
        from .tables import states_from_extract

        return cls(states_from_extract(extract, config), config)

    @classmethod
    def from_tables(cls, tables: "dict[str, pd.DataFrame]", config: Config) -> "Ledger":
        from .tables import states_from_tables

        return cls(states_from_tables(tables), config)

    def tables(self) -> "dict[str, pd.DataFrame]":
        from .tables import tables_from_states

        return tables_from_states(self.states[k] for k in sorted(self.states))

    def extract_tables(self) -> "dict[str, pd.DataFrame]":
        from .tables import extract_tables

        return extract_tables(self.states[k] for k in sorted(self.states))

    def check(self, account_ids: Iterable[str] | None = None) -> list[str]:
        ids = sorted(self.states) if account_ids is None else account_ids
        out: list[str] = []
        for aid in ids:
            out.extend(check_account(self.states[aid], self.config))
        return out

    def assert_sound(self) -> None:
        problems = self.check()
        if problems:
            raise InvariantError("ledger invariants broken:\n" + "\n".join(problems[:50]))

    def find_sa(self, sa_id: str) -> AccountState | None:
        for st in self.states.values():
            if sa_id in st.sas:
                return st
        return None


__all__ = ["Ledger", "Executor", "AccountState", "Cause", "check_account"]
