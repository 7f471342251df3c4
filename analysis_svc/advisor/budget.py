"""How many paid advisor calls one API key may cause per candle.

The decision cache keys on the strategy's parameters, so without a bound a caller could step
a parameter (fast=9, 10, 11, ...) and buy a fresh LLM call with each request. The rule kept
here: per (API key, advisor chain, exchange, market, timeframe, candle), at most `calls_per_candle`
computations that would consult the advisor, counted in Redis so every analysis_svc process
shares one count. Cached decisions cost nothing and are never charged. The counter expires
with its candle (plus a margin), so it never needs cleaning.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from quant.periods import TIMEFRAME_MS

PREFIX = "botmesh:analysis:advisor_budget:"
DEFAULT_CALLS_PER_CANDLE = 3

# INCR, and start the expiry on the first charge only, in one round trip.
_CHARGE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class AdvisorBudget:
    def __init__(self, redis: Redis, calls_per_candle: int = DEFAULT_CALLS_PER_CANDLE) -> None:
        if calls_per_candle < 0:
            raise ValueError("calls_per_candle must not be negative")
        self._redis = redis
        self.calls_per_candle = calls_per_candle

    async def charge(
        self,
        *,
        key_id: str,
        chain: str,
        exchange: str,
        market: str,
        timeframe: str,
        candle_time_ms: int,
    ) -> bool:
        """Takes one call from the budget; False (and nothing taken that matters) when spent."""
        if self.calls_per_candle == 0:
            return False
        key = f"{PREFIX}{key_id}:{chain}:{exchange}:{market}:{timeframe}:{candle_time_ms}"
        ttl_ms = TIMEFRAME_MS[timeframe] * 2 + 60_000
        script: Any = self._redis.eval(_CHARGE, 1, key, ttl_ms)  # type: ignore[no-untyped-call]
        used = int(await script)
        return used <= self.calls_per_candle
