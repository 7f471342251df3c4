"""Decimals for money and quantities: exact values in, canonical strings out.

ccxt reports floats; they become Decimals through their shortest repr (so 0.1 stays 0.1),
and the wire carries decimal strings without exponent or trailing zeros.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any


def dec(value: Any) -> Decimal | None:
    """`value` as an exact Decimal; None for None or anything that is not a number."""
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def dec_str(value: Any) -> str:
    """A decimal string for the wire: no exponent, no trailing zeros; "" for unknown."""
    number = value if isinstance(value, Decimal) else dec(value)
    if number is None:
        return ""
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text
