"""Decimal strings at the API boundary <-> float64 inside numeric code."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from mesh.errors import InvalidArgument


def parse_decimal(text: str, field: str, reason: str = "INVALID_DECIMAL") -> float:
    """Parses a decimal string such as "10000" or "0.001"; rejects NaN, inf and junk."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise InvalidArgument.for_field(field, f"not a decimal: {text!r}", reason=reason) from None
    if not value.is_finite():
        raise InvalidArgument.for_field(field, f"not a finite decimal: {text!r}", reason=reason)
    return float(value)


def format_decimal(value: float, places: int = 8) -> str:
    """Fixed-point text without exponent or trailing zeros: 1234.5 -> "1234.5"."""
    if not math.isfinite(value):
        raise ValueError(f"cannot format {value} as a decimal")
    text = f"{value:.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
