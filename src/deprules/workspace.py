"""Loading what a command needs: configuration, rules, extracts, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .config import Config, load_config
from .rules.book import RuleBook, load_rules


@dataclass(frozen=True)
class Setup:
    config: Config
    book: RuleBook

    @property
    def hash(self) -> str:
        return self.book.hash


def load_setup(config_dir: Path | str = "config", rules_dir: Path | str = "rules",
               overlays: Iterable[Path | str] = (), sets: Iterable[str] = ()) -> Setup:
    """Configuration and rules, validated together (every problem of both at once)."""
    from .errors import ConfigError

    problems = []
    config = None
    try:
        config = load_config(config_dir, overlays=overlays, sets=sets)
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        book = load_rules(rules_dir, config)
    except ConfigError as exc:
        problems.extend(exc.problems)
        book = None
    if problems:
        raise ConfigError(problems, what=f"{config_dir} and {rules_dir}")
    return Setup(config, book)


def extract_context(config: Config):
    from .extract import ExtractContext, SaTypeInfo

    return ExtractContext(
        minor_units=config.installation.minor_units,
        customer_classes=frozenset(config.installation.customer_classes),
        deposit_classes=frozenset(config.deposit_classes),
        sa_types={c: SaTypeInfo(c, t.is_cash_deposit, t.deposit_class)
                  for c, t in config.sa_types.items()},
    )


def load_states(extract_dir: Path | str, config: Config, account_ids=None):
    """Account states from an extract folder (validated; ExtractError lists every problem)."""
    from .extract import load_extract
    from .ledger.tables import states_from_extract

    extract = load_extract(extract_dir, extract_context(config))
    if account_ids is not None:
        wanted = set(account_ids)
        extract = _subset(extract, wanted)
    return states_from_extract(extract, config)


def _subset(extract, wanted: set[str]):
    from dataclasses import replace

    sas = extract.service_agreements
    sas = sas[sas["account_id"].isin(wanted)]
    ft = extract.financial_transactions
    return replace(
        extract,
        accounts=extract.accounts[extract.accounts["account_id"].isin(wanted)],
        service_agreements=sas,
        non_cash_deposits=extract.non_cash_deposits[
            extract.non_cash_deposits["account_id"].isin(wanted)],
        financial_transactions=ft[ft["sa_id"].isin(set(sas["sa_id"]))],
    )
