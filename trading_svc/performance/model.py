"""A performance snapshot as stored in performance_logs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class Snapshot:
    """One row of a subscription's performance log; `snapshot_id` is 0 until stored."""

    subscription_id: str
    time: datetime
    equity: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    position: Decimal
    fees: Decimal
    exposure: Decimal
    snapshot_id: int = 0


@dataclass(frozen=True)
class Due:
    """A subscription the hourly loop should snapshot."""

    subscription_id: str
    exchange: str | None
    market: str
