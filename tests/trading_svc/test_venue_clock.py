"""The exchange's clock as trading_svc sees it: ours, or the latest market time
exchange_sim stamped on an answer when its clock runs ahead; never going back."""

from __future__ import annotations

from typing import Any

from trading_svc.marketdata.venue_clock import VenueClock

WALL_MS = 1_800_000_000_000


class Answered:
    """What the clock reads of a ccxt client: its clock and its last answer's headers."""

    def __init__(self, headers: Any) -> None:
        self.last_response_headers = headers

    def milliseconds(self) -> int:
        return WALL_MS


def test_without_a_market_time_the_exchange_clock_is_ours() -> None:
    clock = VenueClock()
    assert clock.now_ms("binance", Answered({})) == WALL_MS
    assert clock.now_ms("binance", Answered(None)) == WALL_MS
    assert clock.now_ms("binance", Answered({"X-Sim-Market-Time-Ms": "junk"})) == WALL_MS


def test_a_market_time_ahead_of_ours_is_the_exchange_clock_and_never_goes_back() -> None:
    clock = VenueClock()
    ahead = WALL_MS + 3_600_000
    assert clock.now_ms("binance", Answered({"X-Sim-Market-Time-Ms": str(ahead)})) == ahead
    # A late answer stamped earlier, or none at all, does not turn the clock back.
    late = Answered({"x-sim-market-time-ms": str(ahead - 60_000)})
    assert clock.now_ms("binance", late) == ahead
    assert clock.now_ms("binance", Answered({})) == ahead
    # Each exchange has its own clock.
    assert clock.now_ms("binanceus", Answered({})) == WALL_MS


def test_a_market_time_behind_ours_does_not_hold_our_clock_back() -> None:
    clock = VenueClock()
    behind = Answered({"X-Sim-Market-Time-Ms": str(WALL_MS - 60_000)})
    assert clock.now_ms("binance", behind) == WALL_MS
