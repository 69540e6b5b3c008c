"""Exact money: integer minor units inside, decimal text at the edges.

One money type for the whole product: ``int`` counts of minor units (cents for
USD).  Conversions to and from text go through :class:`decimal.Decimal`, never
through binary floating point.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction

_MONEY_RE = re.compile(r"^[+-]?([0-9]+)(\.([0-9]+))?$")  # ASCII digits only

ROUNDING_MODES = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}


class MoneyFormatError(ValueError):
    """Text that is not a decimal amount with at most the currency's minor units."""


def parse_money(text: object, minor_units: int = 2) -> int:
    """Parse decimal text (``-200.00``) into minor units.

    Refuses floats, exponents, thousands separators and more decimals than the
    currency has, so that nothing is silently rounded on the way in.
    """
    if isinstance(text, bool):
        raise MoneyFormatError(f"{text!r} is not an amount")
    if isinstance(text, int):
        return text * 10**minor_units
    if isinstance(text, float):
        raise MoneyFormatError(
            f"{text!r} is a binary floating point number; write the amount as decimal text"
        )
    if isinstance(text, Decimal):
        s = format(text, "f")
    else:
        s = str(text).strip()
    if not s.isascii() and any(ch.isdigit() for ch in s):
        raise MoneyFormatError(f"{s!r} has digits other than 0-9; write the amount with ASCII "
                               "digits")
    m = _MONEY_RE.match(s)
    if not m:
        raise MoneyFormatError(f"{s!r} is not a decimal amount like -200.00")
    decimals = m.group(3) or ""
    if len(decimals) > minor_units:
        raise MoneyFormatError(
            f"{s!r} has {len(decimals)} decimals; the currency has {minor_units}"
        )
    try:
        value = Decimal(s)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards
        raise MoneyFormatError(f"{s!r} is not a decimal amount") from exc
    if len(m.group(1).lstrip("0")) > 18 - minor_units:
        raise MoneyFormatError(f"{s!r} is too large an amount (more than {18 - minor_units} "
                               "digits before the point would not fit the ledger's 64-bit "
                               "integers)")
    return int(value.scaleb(minor_units))


_TOTAL_RE = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?")


def parse_total(text: str, minor_units: int = 2) -> int:
    """Exact minor units of decimal text of any size: a total deprules wrote itself.

    Sums over many accounts may outgrow the 16 digits an extract amount is held to
    (:func:`parse_money`); in Python ints they stay exact. Only plain ASCII decimal text
    with at most ``minor_units`` decimals is read; anything else raises MoneyFormatError."""
    m = _TOTAL_RE.fullmatch(str(text).strip())
    if not m:
        raise MoneyFormatError(f"{text!r} is not a decimal amount like -200.00")
    sign, whole, frac = m.group(1), m.group(2), m.group(3) or ""
    if len(frac) > minor_units:
        raise MoneyFormatError(f"{text!r} has {len(frac)} decimals; the currency has "
                               f"{minor_units}")
    value = int(whole) * 10**minor_units + (int(frac.ljust(minor_units, "0")) if frac else 0)
    return -value if sign == "-" else value


def format_money(minor: int, minor_units: int = 2) -> str:
    """Format minor units as decimal text with exactly ``minor_units`` decimals."""
    if minor_units == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    q, r = divmod(abs(int(minor)), 10**minor_units)
    return f"{sign}{q}.{r:0{minor_units}d}"


def format_money_array(values, minor_units: int = 2):
    """``format_money`` of every value of an int64 array, as an Arrow string array (the
    same text, built with Arrow string kernels: a million values in milliseconds)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    values = np.asarray(values, dtype=np.int64)
    if (values == np.iinfo(np.int64).min).any():  # its magnitude does not fit int64
        return pa.array([format_money(int(v), minor_units) for v in values.tolist()],
                        pa.string())
    q, r = np.divmod(np.abs(values), 10**minor_units)
    body = pc.cast(pa.array(q), pa.string())
    if minor_units:
        body = pc.binary_join_element_wise(
            body, pc.utf8_lpad(pc.cast(pa.array(r), pa.string()), minor_units, "0"), ".")
    sign = pa.array(np.where(values < 0, "-", ""))
    return pc.binary_join_element_wise(sign, body, "")


def round_fraction(value: Fraction, mode: str = "half_up") -> int:
    """Round an exact fraction of minor units to an integer.

    ``half_up`` rounds halves away from zero; ``half_even`` to the even neighbour.
    """
    if mode not in ROUNDING_MODES:
        raise ValueError(f"unknown rounding mode {mode!r}")
    sign = -1 if value < 0 else 1
    a = abs(value)
    q, r = divmod(a.numerator, a.denominator)
    twice = 2 * r
    if twice > a.denominator:
        q += 1
    elif twice == a.denominator:
        if mode == "half_up" or q % 2 == 1:
            q += 1
    return sign * q
