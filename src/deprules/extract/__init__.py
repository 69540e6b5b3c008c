"""The extract: the utility's accounts, SAs, non-cash deposits and FT history, as typed tables.

``load_extract`` reads and validates a folder (DESIGN.md section 1.3), ``write_extract``
writes one, ``generate_extract`` makes a realistic synthetic one.
"""

from .context import STATUS_CODES, STATUS_NAMES, TABLES, ExtractContext, SaTypeInfo
from .generate import generate_extract
from .reader import Extract, check_extract, empty_table, load_extract
from .writer import write_extract

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
    "load_extract",
    "write_extract",
]
