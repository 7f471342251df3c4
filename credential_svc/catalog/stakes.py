"""A bot's stake: what each entry commits, in one of two modes, as stored in bots.stake.

    {"fixed_quote": "100"}           100 of the quote currency per entry
    {"allocation_fraction": "0.5"}   half the subscription's allocation per entry
    None                             the whole allocation (the default)

Formats were checked by the proto rules (a positive decimal; a fraction at most 1). The
rules here need more than one field: a chosen mode must carry a value (an empty string is
"chosen but not given", which JSON and protobuf both allow for a oneof member), and a fixed
stake may not exceed the bot's own max_allocation when the bot sets one, since no
subscription could ever commit it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from mesh.errors import InvalidArgument

FIXED_QUOTE = "fixed_quote"
ALLOCATION_FRACTION = "allocation_fraction"
MODES = (FIXED_QUOTE, ALLOCATION_FRACTION)

Stake = Mapping[str, str]


def stake_of(mode: str | None, value: str) -> dict[str, str] | None:
    """The stake as stored, from the chosen oneof member (None: no stake set)."""
    return None if mode is None else {mode: value}


def check_stake(
    stake: Stake | None, risk_limits: Mapping[str, str | int], prefix: str = ""
) -> None:
    """Raises InvalidArgument naming the field (under `prefix`) that breaks a stake rule."""
    if stake is None:
        return
    if len(stake) != 1 or next(iter(stake)) not in MODES:
        raise InvalidArgument.for_field(f"{prefix}stake", "must choose one mode")
    mode, value = next(iter(stake.items()))
    field = f"{prefix}stake.{mode}"
    if not value:
        raise InvalidArgument.for_field(field, "is required when its mode is chosen")
    number = _positive(value, field)
    if mode == ALLOCATION_FRACTION and number > 1:
        raise InvalidArgument.for_field(field, "is a fraction: at most 1")
    cap = risk_limits.get("max_allocation")
    if mode == FIXED_QUOTE and cap not in (None, "", 0) and number > Decimal(str(cap)):
        raise InvalidArgument.for_field(
            field,
            f"exceeds the bot's max_allocation of {cap}",
            reason="STAKE_ABOVE_MAX_ALLOCATION",
        )


def _positive(value: str, field: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise InvalidArgument.for_field(field, "must be a decimal string") from None
    if not number.is_finite() or number <= 0:
        raise InvalidArgument.for_field(field, "must be greater than zero")
    return number
