"""The latest closed candles of a market on an exchange, cached per closed candle.

A window of closed candles only changes when a candle closes, so it is keyed by the open
time of the last closed candle and cached twice: in this process (a thousand bots asking at
once cost one lookup) and in Redis (every analysis_svc process shares one exchange fetch).
Concurrent misses in one process share one fetch.

"Closed" is judged on our clock with a short grace after the close, so an exchange whose
clock runs a little behind ours is never asked for a candle it still considers open.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
from redis.asyncio import Redis

from analysis_svc.candles.source import CandleSource
from analysis_svc.coalesce import InFlight
from analysis_svc.domain.candles import Candles
from mesh.redis import BestEffortCache
from quant.periods import TIMEFRAME_MS

CLOSE_GRACE_MS = 1_500
DEFAULT_WINDOW = 300  # covers every strategy's default and the indicator set's 250
MAX_WINDOW = 5_000
REDIS_PREFIX = "botmesh:analysis:candles:"
# A window whose last candle is not the one expected (exchange lag, a gap) is kept briefly.
LAGGING_TTL_MS = 2_000
_LOCAL_ENTRIES = 256

Key = tuple[str, str, str, int, int]  # exchange, market, timeframe, last open, count


def last_closed_open_ms(timeframe: str, now_ms: int) -> int:
    """Open time of the latest candle that has closed (with grace) at `now_ms`."""
    step = TIMEFRAME_MS[timeframe]
    return (now_ms - CLOSE_GRACE_MS) // step * step - step


def window_for(needed: int) -> int:
    """Windows come in few sizes (300, 600, then whole thousands) so that strategies with
    different lookbacks share one cached fetch instead of one each."""
    if needed <= DEFAULT_WINDOW:
        return DEFAULT_WINDOW
    if needed <= 2 * DEFAULT_WINDOW:
        return 2 * DEFAULT_WINDOW
    return min(MAX_WINDOW, -(-needed // 1000) * 1000)


def pack(candles: Candles) -> bytes:
    """Six little-endian 8-byte columns: a compact, exact Redis value."""
    times = candles.time_ms.astype("<i8").view("<f8")
    columns = (times, candles.open, candles.high, candles.low, candles.close, candles.volume)
    return np.concatenate(columns).astype("<f8").tobytes()


def unpack(raw: bytes) -> Candles:
    flat = np.frombuffer(raw, dtype="<f8")
    cols = flat.reshape(6, flat.size // 6)
    return Candles(
        np.ascontiguousarray(cols[0]).view("<i8").astype(np.int64),
        *(np.ascontiguousarray(cols[i], dtype=np.float64) for i in range(1, 6)),
    )


class ClosedCandles:
    def __init__(
        self,
        source: CandleSource,
        redis: Redis,
        *,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._source = source
        self._cache = BestEffortCache(redis, "candles")
        self._clock_ms = clock_ms
        self._local: OrderedDict[Key, Candles] = OrderedDict()
        self._inflight: InFlight[Key, Candles] = InFlight()

    def last_closed_open_ms(self, timeframe: str) -> int:
        return last_closed_open_ms(timeframe, self._clock_ms())

    async def latest(self, exchange: str, market: str, timeframe: str, needed: int) -> Candles:
        """At least the last `needed` closed candles (a few more when windows are shared)."""
        last_open = self.last_closed_open_ms(timeframe)
        key = (exchange, market, timeframe, last_open, window_for(needed))
        hit = self._local.get(key)
        if hit is not None:
            return hit
        candles, _ = await self._inflight.run(key, lambda: self._load(key))
        return candles

    async def _load(self, key: Key) -> Candles:
        exchange, market, timeframe, last_open, count = key
        redis_key = f"{REDIS_PREFIX}{exchange}:{market}:{timeframe}:{last_open}:{count}"
        raw = await self._cache.get(redis_key)  # None while Redis is down
        if raw is not None:
            candles = unpack(raw)
        else:
            step = TIMEFRAME_MS[timeframe]
            candles = await self._source.candles(
                exchange, market, timeframe, last_open - (count - 1) * step, last_open
            )
            complete = len(candles) > 0 and int(candles.time_ms[-1]) == last_open
            ttl_ms = step + 60_000 if complete else LAGGING_TTL_MS
            await self._cache.set(redis_key, pack(candles), px=ttl_ms)
            if not complete:
                return candles
        self._local[key] = candles
        while len(self._local) > _LOCAL_ENTRIES:
            self._local.popitem(last=False)
        return candles
