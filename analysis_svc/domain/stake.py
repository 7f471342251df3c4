"""CreateBacktest's stake and amount step, from the wire's decimal strings to quant.sizing
values. The proto rules already refuse most bad input at the edge; these checks hold for any
caller of the use case (and for stored requests), naming the field as the proto does."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from mesh.errors import InvalidArgument
from quant.sizing import Stake

REASON = "INVALID_BACKTEST_PARAMETER"
FIXED_FIELD = "stake.fixed_quote"
FRACTION_FIELD = "stake.allocation_fraction"


def _positive(text: str, field: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidArgument.for_field(field, f"not a decimal: {text!r}", reason=REASON) from None
    if not value.is_finite() or value <= 0:
        raise InvalidArgument.for_field(field, f"{field} must be > 0", reason=REASON)
    return value


def parse_stake(fixed_quote: str, fraction: str) -> Stake:
    """Both empty: the whole balance. A fraction must be in (0, 1]; at most one is set."""
    if fixed_quote.strip() and fraction.strip():
        raise InvalidArgument.for_field(
            FIXED_FIELD, "a stake is a fixed quote amount or a fraction, not both", reason=REASON
        )
    if fixed_quote.strip():
        return Stake(fixed_quote=_positive(fixed_quote, FIXED_FIELD))
    if fraction.strip():
        value = _positive(fraction, FRACTION_FIELD)
        if value > 1:
            raise InvalidArgument.for_field(
                FRACTION_FIELD, f"{FRACTION_FIELD} must be in (0, 1]", reason=REASON
            )
        return Stake(fraction=value)
    return Stake()


def parse_amount_step(text: str) -> Decimal | None:
    """Empty: no step given (the caller looks up the market's)."""
    return _positive(text, "amount_step") if text.strip() else None


def check_stake_fits(stake: Stake, initial_balance: float, fee_rate: float) -> None:
    """A fixed stake the initial balance cannot pay with its fee would never trade: refused."""
    if stake.fixed_quote is None:
        return
    needed = stake.fixed_quote * (1 + Decimal(repr(fee_rate)))
    if needed > Decimal(repr(initial_balance)):
        raise InvalidArgument.for_field(
            FIXED_FIELD,
            f"a stake of {stake.fixed_quote} plus its fee exceeds the initial balance",
            reason=REASON,
        )
