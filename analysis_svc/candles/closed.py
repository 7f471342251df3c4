"""The latest closed candles of a market on an exchange, cached per closed candle.

A window of closed candles only changes when a candle closes, so it is keyed by the open
time of the last closed candle and cached twice: in this process (a thousand bots asking at
once cost one lookup) and in Redis (every analysis_svc process shares one exchange fetch).
Concurrent misses in one process share one fetch.

Two ways to name the window's last candle:
- `latest`: "closed" is judged on our clock with a short grace after the close, so an
  exchange whose clock runs a little behind ours is never asked for a candle it still
  considers open.
- `named`: the caller names the candle (the bot runtime names its tick's), and "closed" is
  judged by the exchange's own data: the window is fetched through the candle after the named
  one, and only if the exchange has that later candle is the named one closed. No clock of
  ours is consulted, so a venue whose clock runs fast (exchange_sim --speed) is decided on
  its own candles, and a candle still open there is refused (CANDLE_NOT_CLOSED) and never
  cached, so nothing derived from an open candle can reach a shared cache.
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
from mesh.errors import FailedPrecondition, InvalidArgument, NotFound
from mesh.redis import BestEffortCache
from mesh.timestamps import LAST_TIMESTAMP_MS, ts_ms
from quant.periods import TIMEFRAME_MS

CLOSE_GRACE_MS = 1_500
DEFAULT_WINDOW = 300  # covers every strategy's default and the indicator set's 250
MAX_WINDOW = 5_000
REDIS_PREFIX = "botmesh:analysis:candles:"
# A window whose last candle is not the one expected (exchange lag, a gap) is kept briefly.
LAGGING_TTL_MS = 2_000
_LOCAL_ENTRIES = 256

Key = tuple[str, str, str, int, int]  # exchange, market, timeframe, last open, count
# Windows proven closed by the exchange (`named`) are cached apart from the clock-judged ones.
PROVEN_SUFFIX = ":proven"


def last_closed_open_ms(timeframe: str, now_ms: int) -> int:
    """Open time of the latest candle that has closed (with grace) at `now_ms`."""
    step = TIMEFRAME_MS[timeframe]
    return (now_ms - CLOSE_GRACE_MS) // step * step - step


def aligned_open_ms(timeframe: str, candle_time_ns: int) -> int:
    """The open time in ms of the candle opening at `candle_time_ns`, which must be a
    non-negative multiple of the timeframe (candles open on the epoch's grid, UTC); else
    INVALID_ARGUMENT INVALID_CANDLE_TIME naming the field."""
    step_ns = TIMEFRAME_MS[timeframe] * 1_000_000
    if candle_time_ns < 0 or candle_time_ns % step_ns:
        raise InvalidArgument.for_field(
            "candle_time",
            f"must be the open time of a {timeframe} candle",
            reason="INVALID_CANDLE_TIME",
        )
    return candle_time_ns // 1_000_000


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
        self._proven: OrderedDict[Key, Candles] = OrderedDict()
        self._inflight_proven: InFlight[Key, Candles] = InFlight()

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

    async def named(
        self, exchange: str, market: str, timeframe: str, needed: int, open_ms: int
    ) -> Candles:
        """At least the last `needed` candles through the one opening at `open_ms` (aligned,
        see aligned_open_ms), which is their last. FAILED_PRECONDITION CANDLE_NOT_CLOSED
        unless the exchange already has the candle after it; NOT_FOUND CANDLE_NOT_FOUND if
        the exchange has a later candle but not this one (before the market's listing)."""
        if open_ms + TIMEFRAME_MS[timeframe] > LAST_TIMESTAMP_MS:  # closes after year 9999
            raise _not_closed(exchange, open_ms)
        key = (exchange, market, timeframe, open_ms, window_for(needed))
        hit = self._proven.get(key)
        if hit is not None:
            return hit
        candles, _ = await self._inflight_proven.run(key, lambda: self._load_proven(key))
        return candles

    async def _load_proven(self, key: Key) -> Candles:
        exchange, market, timeframe, open_ms, count = key
        redis_key = f"{REDIS_PREFIX}{exchange}:{market}:{timeframe}:{open_ms}:{count}"
        redis_key += PROVEN_SUFFIX
        raw = await self._cache.get(redis_key)  # None while Redis is down
        if raw is not None:
            candles = unpack(raw)
        else:
            step = TIMEFRAME_MS[timeframe]
            start = max(0, open_ms - (count - 1) * step)
            fetched = await self._source.candles(exchange, market, timeframe, start, open_ms + step)
            candles = _through(fetched, open_ms)
            if len(fetched) == len(candles):  # no later candle: still open on the exchange
                raise _not_closed(exchange, open_ms)
            if len(candles) == 0 or int(candles.time_ms[-1]) != open_ms:
                raise NotFound(
                    f"{exchange} has no candle opening at {_iso(open_ms)}",
                    reason="CANDLE_NOT_FOUND",
                    metadata={"exchange": exchange, "candle_time": _iso(open_ms)},
                )
            await self._cache.set(redis_key, pack(candles), px=step + 60_000)
        self._proven[key] = candles
        while len(self._proven) > _LOCAL_ENTRIES:
            self._proven.popitem(last=False)
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


def _through(candles: Candles, open_ms: int) -> Candles:
    """The candles opening at or before `open_ms` (views, no copy)."""
    n = int((candles.time_ms <= open_ms).sum())
    return Candles(
        candles.time_ms[:n],
        candles.open[:n],
        candles.high[:n],
        candles.low[:n],
        candles.close[:n],
        candles.volume[:n],
    )


def _iso(open_ms: int) -> str:
    return ts_ms(open_ms).ToJsonString()


def _not_closed(exchange: str, open_ms: int) -> FailedPrecondition:
    return FailedPrecondition(
        f"the candle opening at {_iso(open_ms)} is not closed on {exchange} yet",
        reason="CANDLE_NOT_CLOSED",
        metadata={"exchange": exchange, "candle_time": _iso(open_ms)},
    )
