"""The terms a subscription may take: a market the bot trades, an allocation within the
bot's cap, and risk overrides that only tighten the bot's own limits. Formats were checked
by the proto rules; these are the rules that need the bot.

Tightening means: a loss, drawdown, profit-taking or allocation bound no larger than the
bot's (when the bot sets one), a cooldown no shorter. A bot that leaves a limit unset allows
any positive override of it. The author's limits are a promise to renters and to the
author's own reputation, so a renter can make a bot more careful but never less.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from credential_svc.catalog.bots import BotRecord
from credential_svc.subscriptions.model import RiskValues
from mesh.errors import InvalidArgument

# Fractions of a price or of equity: 0 < value <= 1.
FRACTIONS = ("stop_loss_pct", "take_profit_pct", "max_drawdown_pct")
# Quote amounts: 0 < value.
AMOUNTS = ("daily_loss_limit", "max_allocation")
# Money columns are DECIMAL(36, 18).
_MAX_INTEGER_DIGITS = 18
_MAX_FRACTION_DIGITS = 18


def _field(name: str) -> str:
    return f"risk_overrides.{name}"


def _decimal(value: str | int, field: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise InvalidArgument.for_field(field, "must be a decimal string") from None
    if not number.is_finite() or number <= 0:
        raise InvalidArgument.for_field(field, "must be greater than zero")
    exponent = int(number.as_tuple().exponent)
    if number.adjusted() >= _MAX_INTEGER_DIGITS or -exponent > _MAX_FRACTION_DIGITS:
        raise InvalidArgument.for_field(
            field,
            f"must have at most {_MAX_INTEGER_DIGITS} digits before the point "
            f"and {_MAX_FRACTION_DIGITS} after it",
        )
    return number


def _tighter(name: str, value: Decimal, bot_limit: str | int | None) -> None:
    if name in FRACTIONS and value > 1:
        raise InvalidArgument.for_field(_field(name), "is a fraction: at most 1")
    if bot_limit in (None, "", 0):
        return
    if value > _decimal(bot_limit, f"bot.risk_limits.{name}"):
        raise InvalidArgument.for_field(
            _field(name),
            f"may only tighten the bot's limit of {bot_limit}",
            reason="RISK_OVERRIDE_LOOSENS",
        )


def check_overrides(bot: BotRecord, overrides: RiskValues) -> dict[str, str | int]:
    """The overrides as stored: only set fields, each no looser than the bot's limit."""
    limits: Mapping[str, str | int] = bot.risk_limits
    out: dict[str, str | int] = {}
    for name, raw in overrides.items():
        if name == "cooldown_seconds":
            cooldown = int(raw)
            if cooldown < int(limits.get(name) or 0):
                raise InvalidArgument.for_field(
                    _field(name),
                    f"may only lengthen the bot's cooldown of {limits[name]} s",
                    reason="RISK_OVERRIDE_LOOSENS",
                )
            out[name] = cooldown
            continue
        if name not in FRACTIONS and name not in AMOUNTS:
            raise InvalidArgument.for_field(_field(name), "is not a risk limit")
        value = _decimal(raw, _field(name))
        _tighter(name, value, limits.get(name))
        out[name] = str(raw)
    return out


def check_terms(
    bot: BotRecord, market: str, allocation: str, overrides: RiskValues
) -> tuple[Decimal, dict[str, str | int]]:
    """Validated (allocation, overrides) for renting `bot` on `market`."""
    if market not in bot.markets:
        raise InvalidArgument.for_field(
            "market",
            f"the bot trades {', '.join(bot.markets)}",
            reason="MARKET_NOT_OFFERED",
        )
    amount = _decimal(allocation, "allocation")
    clean = check_overrides(bot, overrides)
    caps = [
        _decimal(v, "max_allocation")
        for v in (bot.risk_limits.get("max_allocation"), clean.get("max_allocation"))
        if v not in (None, "", 0)
    ]
    if caps and amount > min(caps):
        raise InvalidArgument.for_field(
            "allocation",
            f"exceeds the maximum allocation of {min(caps)}",
            reason="ALLOCATION_TOO_LARGE",
        )
    return amount, clean
