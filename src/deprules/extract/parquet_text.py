"""Parquet columns as the text the CSV parsers read (shared by both extract readers).

Native Parquet types are accepted where they hold the values exactly: money as ``decimal``
(extra zero decimals allowed), never ``float`` nor integer; dates as ``date32``/``date64``
or ``timestamp``; integers, booleans and status codes as integer/boolean columns; every
other column as text. Whether a column is refused depends on its type alone, so the
one-account reader can judge a column from the file's schema without reading it.
Needs pyarrow only (no pandas): ``deprules evaluate`` imports it.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from .context import BOOL, COUNT, DATE, INT, MONEY, STATUS

_KIND_CODE = {MONEY: "bad-money", DATE: "bad-date", INT: "bad-integer", COUNT: "bad-integer",
              BOOL: "bad-boolean", STATUS: "unknown-status"}


def parquet_text(col: pa.ChunkedArray, kind: str, mu: int):
    """Parquet column -> text the CSV parsers accept, or ``(None, (code, message))``."""
    t = col.type
    if pa.types.is_dictionary(t):
        col, t = pc.cast(col, t.value_type), t.value_type
    is_text = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
    if is_text:
        return pc.cast(col, pa.string()), None
    code = _KIND_CODE.get(kind, "bad-file")
    if kind == MONEY:
        if pa.types.is_decimal(t):
            text = pc.cast(col, pa.string())
            if t.scale > mu:  # decimal(p, 4) holding 12.3400 is exact; 12.3456 is reported
                pattern = rf"^([+-]?\d+)\.0+$" if mu == 0 else rf"^([+-]?\d+\.\d{{{mu}}})0+$"
                text = pc.replace_substring_regex(text, pattern, r"\1")
            return text, None
        if pa.types.is_floating(t):
            return None, (code, f"money column of type {t} (binary floating point) cannot hold "
                                "exact amounts; store it as decimal or as decimal text")
        if pa.types.is_integer(t):
            return None, (code, f"money column of type {t}: whole units or minor units would be "
                                "a guess; store it as decimal or as decimal text like -200.00")
    elif kind == DATE:
        if pa.types.is_timestamp(t):
            return pc.cast(pc.cast(col, pa.date32(), safe=False), pa.string()), None
        if pa.types.is_date(t):
            return pc.cast(col, pa.string()), None
    elif kind in (INT, COUNT):
        if pa.types.is_integer(t) or pa.types.is_floating(t):  # 3.0 -> "3", 3.5 reported per row
            return pc.cast(col, pa.string()), None
    elif kind in (BOOL, STATUS):
        if pa.types.is_boolean(t) or pa.types.is_integer(t):
            return pc.cast(col, pa.string()), None
    else:  # ids, references and codes
        try:
            return pc.cast(col, pa.string()), None
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            pass
    return None, (code, f"column of type {t} cannot hold {kind} values; store it as text")
