"""The extract: the utility's accounts, SAs, non-cash deposits and FT history, as typed tables.

``load_extract`` reads and validates a folder (DESIGN.md section 1.3), ``write_extract``
writes one, ``generate_extract`` makes a realistic synthetic one, ``load_account`` reads one
account from CSV files without pandas (for ``deprules evaluate``). Names are imported on
first use so a command that needs only the context does not pay for pandas.
"""

from .context import STATUS_CODES, STATUS_NAMES, TABLES, ExtractContext, SaTypeInfo

_LAZY = {
    "generate_extract": ".generate",
    "Extract": ".reader",
    "check_extract": ".reader",
    "empty_table": ".reader",
    "load_extract": ".reader",
    "write_extract": ".writer",
    "load_account": ".single",
}

__all__ = [
    "Extract",
    "ExtractContext",
    "SaTypeInfo",
    "STATUS_CODES",
    "STATUS_NAMES",
    "TABLES",
    "check_extract",
    "empty_table",
    "generate_extract",
    "load_account",
    "load_extract",
    "write_extract",
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
