"""Static configuration of a simulator instance: markets, fees, limits and clocks.

Everything a test or benchmark may want to vary is a field here, so that two simulators built
from equal configs behave identically (same seed => same price path, same depth).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

# 2024-01-01T00:00:00Z: the fixed point the seeded price paths are anchored at, so a given seed
# yields the same price for the same timestamp in every run, regardless of when the sim started.
DEFAULT_ANCHOR_MS = 1_704_067_200_000


@dataclass(frozen=True)
class MarketSpec:
    """One spot market: its Binance filters and the parameters of its synthetic price path."""

    symbol: str
    base: str
    quote: str
    ref_price: Decimal
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal = Decimal("9000")
    min_notional: Decimal = Decimal("5")
    max_price: Decimal = Decimal("1000000")
    vol_per_minute: float = 0.0006
    spread_bps: float = 1.0
    level_gap_bps: float = 1.5
    level_qty: Decimal = Decimal("0.5")
    volume_per_minute: float = 10.0


DEFAULT_MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec(
        symbol="BTCUSDT",
        base="BTC",
        quote="USDT",
        ref_price=Decimal("60000"),
        tick_size=Decimal("0.01"),
        step_size=Decimal("0.00001"),
        min_qty=Decimal("0.00001"),
        level_qty=Decimal("0.4"),
        volume_per_minute=12.0,
    ),
    MarketSpec(
        symbol="ETHUSDT",
        base="ETH",
        quote="USDT",
        ref_price=Decimal("3000"),
        tick_size=Decimal("0.01"),
        step_size=Decimal("0.0001"),
        min_qty=Decimal("0.0001"),
        level_qty=Decimal("6"),
        vol_per_minute=0.0008,
        volume_per_minute=150.0,
    ),
    MarketSpec(
        symbol="SOLUSDT",
        base="SOL",
        quote="USDT",
        ref_price=Decimal("150"),
        tick_size=Decimal("0.01"),
        step_size=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        max_qty=Decimal("90000"),
        level_qty=Decimal("120"),
        vol_per_minute=0.001,
        volume_per_minute=3000.0,
    ),
)


@dataclass
class SimConfig:
    """All knobs of one simulator instance (see README for what each one is for)."""

    seed: int = 1
    speed: float = 1.0
    admin_token: str | None = None
    markets: tuple[MarketSpec, ...] = DEFAULT_MARKETS
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    weight_limit: int = 6000
    weight_window_s: float = 60.0
    weight_scope: str = "ip"  # "ip" (Binance's rule) or "key" (per API key when one is sent)
    ban_seconds: float = 120.0
    match_interval_s: float = 0.25
    ws_interval_s: float = 1.0
    anchor_ms: int = DEFAULT_ANCHOR_MS
    start_ms: int | None = None  # sim clock origin; None = wall clock at start
    depth_levels: int = 20
