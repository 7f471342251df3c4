"""Synthetic order book around the mid price.

Market orders walk these levels, so the book is what produces slippage; its sizes are drawn
from the market's seeded generator per sim second, so the same seed gives the same book.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from exchange_sim.market import MarketState

Level = tuple[Decimal, Decimal]  # (price, qty)


@dataclass(frozen=True)
class Book:
    """Bids (best first, descending) and asks (best first, ascending) at one instant."""

    last_update_id: int
    bids: list[Level]
    asks: list[Level]

    @property
    def best_bid(self) -> Decimal:
        """Highest bid price."""
        return self.bids[0][0]

    @property
    def best_ask(self) -> Decimal:
        """Lowest ask price."""
        return self.asks[0][0]


def _to_tick(value: Decimal, tick: Decimal, rounding: str) -> Decimal:
    return (value / tick).quantize(Decimal(1), rounding=rounding) * tick


def build_book(market: MarketState, sim_ms: float, levels: int) -> Book:
    """Book with ``levels`` price levels per side at sim time ``sim_ms``."""
    spec = market.spec
    tick, step = spec.tick_size, spec.step_size
    mid = Decimal(repr(market.price_at(sim_ms)))
    half = max(tick, mid * Decimal(repr(spec.spread_bps)) / Decimal(20000))
    gap = max(tick, mid * Decimal(repr(spec.level_gap_bps)) / Decimal(10000))
    second = int(sim_ms // 1000)
    noise = market.path.depth_rng(second).uniform(0.6, 1.4, size=2 * levels)
    bids: list[Level] = []
    asks: list[Level] = []
    for i in range(levels):
        growth = Decimal(1) + Decimal(i) * Decimal("0.35")
        bid_qty = spec.level_qty * growth * Decimal(repr(float(noise[2 * i])))
        ask_qty = spec.level_qty * growth * Decimal(repr(float(noise[2 * i + 1])))
        bid_price = _to_tick(mid - half - gap * i, tick, ROUND_FLOOR)
        ask_price = _to_tick(mid + half + gap * i, tick, ROUND_CEILING)
        if bid_price > 0:
            bids.append((bid_price, max(_to_tick(bid_qty, step, ROUND_DOWN), step)))
        asks.append((ask_price, max(_to_tick(ask_qty, step, ROUND_DOWN), step)))
    return Book(last_update_id=second, bids=bids, asks=asks)
