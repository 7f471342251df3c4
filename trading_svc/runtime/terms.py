"""What a rented bot runs, as plain data: its strategy and candles, its stake, and the risk
limits in force (the subscription's overrides over the bot's own, merged by credential_svc,
which owns both). Read from credential_svc's answer on every batch of ticks, never cached, so
a changed bot or override takes effect at the next tick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from quant.sizing import Stake


@dataclass(frozen=True)
class Limits:
    """Risk limits; None (or 0 for the cooldown) means the rule is off."""

    stop_loss: Decimal | None = None  # fraction of the entry price
    take_profit: Decimal | None = None  # fraction of the entry price
    max_drawdown: Decimal | None = None  # fraction of the equity peak
    daily_loss: Decimal | None = None  # quote lost (realised) in one UTC day
    cooldown_s: int = 0  # after a losing trade
    max_allocation: Decimal | None = None  # quote


@dataclass(frozen=True)
class BotTerms:
    bot_id: str
    strategy: str
    params: dict[str, str]
    timeframe: str
    advisor: bool
    stake: Stake
    limits: Limits = field(default_factory=Limits)
    update_time: datetime | None = None

    def budget(self, allocation: Decimal) -> Decimal:
        """What the bot may commit in all: the allocation, capped by the bot's own
        max_allocation when it sets one."""
        cap = self.limits.max_allocation
        return min(allocation, cap) if cap else allocation
