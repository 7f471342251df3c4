"""StreamCandles: a range of closed candles from the store, backfilled from the venue once.

The rules this keeps:

- **Fetched once.** The part of a range the store does not cover is fetched from the venue
  in pages and recorded (coverage included), so a second read of the range makes no venue
  call. What a page proves is exactly chunks.proven's: the last row of a page only opens
  the next one, so a candle still forming is never stored.
- **Once, whoever asks.** A backfill of a series holds a lock: in this process an asyncio
  lock, across processes a Redis lock with a TTL renewed while it works. Whoever gets the
  lock reads the coverage again first, so a waiter finds the range done and fetches
  nothing. With Redis unreachable, the process lock alone serialises (two processes could
  then fetch the same pages; merging makes that harmless).
- **Bounded.** At most CONCURRENCY segments of pages are fetched at once (each page through
  the venue's ccxt client, whose throttle keeps the venue's rate limits), each segment held
  in memory only until it is recorded. A page the venue could not serve is retried twice
  with a pause before the backfill fails.
- **Progress.** While the backfill runs, the stream carries how much of the range is
  covered (`Progress`), every PROGRESS_S; then the candles, chunk by chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.asyncio import Redis

from mesh.errors import InvalidArgument, Unavailable
from mesh.leader import RedisLock
from trading_svc.marketdata.candle_store import CandleStore
from trading_svc.marketdata.chunks import (
    Columns,
    Interval,
    Proven,
    Series,
    concat,
    missing,
    periods,
    proven,
    union,
)
from trading_svc.marketdata.keys import Pair
from trading_svc.marketdata.service import MarketData

log = logging.getLogger("botmesh.trading.candles")

PAGE = 1000  # the venue's largest page (Binance's klines limit)
SEGMENT_PAGES = 8  # pages fetched one after the other, then recorded at once
CONCURRENCY = 2  # pages in flight: the venue (and its rate limit) is shared with live market data
PROGRESS_S = 0.25
LOCK_TTL_MS = 30_000
LOCK_PREFIX = "botmesh:candles:backfill:"
RETRIES = 2
RETRY_PAUSE_S = 1.0
MAX_RANGE = 2_000_000  # candle periods per call: twice the largest backtest


@dataclass(frozen=True, slots=True)
class Progress:
    """Candle periods of the range the store covers, of all of them."""

    covered: int
    total: int


class CandleHistory:
    def __init__(
        self,
        store: CandleStore,
        data: MarketData,
        redis: Redis,
        *,
        concurrency: int = CONCURRENCY,
        replica: str = "",
    ) -> None:
        self._store = store
        self._data = data
        self._redis = redis
        self._concurrency = concurrency
        self._replica = replica
        self._local: dict[Series, asyncio.Lock] = {}

    async def series(
        self, exchange: str, market: str, timeframe: str, start_ms: int, end_ms: int
    ) -> Series:
        """The series a request names, once its range is sane and the venue lists the market
        (MARKET_UNKNOWN otherwise, before any candle is fetched)."""
        if end_ms <= start_ms:
            raise InvalidArgument.for_field(
                "end_time", "end_time must be after start_time", reason="INVALID_TIME_RANGE"
            )
        at = await self._data.check_market(market, exchange)
        series = Series(at.exchange, at.market, timeframe)
        if periods([(start_ms, end_ms)], series.step_ms) > MAX_RANGE:
            raise InvalidArgument.for_field(
                "end_time",
                f"at most {MAX_RANGE} {timeframe} candles per call",
                reason="CANDLE_RANGE_TOO_LONG",
            )
        return series

    async def stream(
        self, series: Series, start_ms: int, end_ms: int
    ) -> AsyncIterator[Progress | list[Columns]]:
        """Progress while the range is backfilled, then its stored candles, oldest first,
        a batch of chunks at a time."""
        total = periods([(start_ms, end_ms)], series.step_ms)
        gaps = missing(await self._store.coverage(series, start_ms, end_ms), start_ms, end_ms)
        if gaps:
            counter = _Counter(total - periods(gaps, series.step_ms))
            work = asyncio.create_task(self._backfill_once(series, start_ms, end_ms, counter))
            try:
                while not work.done():
                    yield Progress(min(counter.covered, total), total)
                    await asyncio.wait([work], timeout=PROGRESS_S)
                work.result()
            finally:
                work.cancel()
            yield Progress(min(counter.covered, total), total)
        async for parts in self._store.read_batches(series, start_ms, end_ms):
            if parts:
                yield parts

    async def _backfill_once(
        self, series: Series, start_ms: int, end_ms: int, counter: _Counter
    ) -> None:
        lock = self._local.setdefault(series, asyncio.Lock())
        async with lock:
            cluster = RedisLock(
                self._redis, LOCK_PREFIX + ":".join(series), LOCK_TTL_MS, owner=self._replica
            )
            while not await _take(cluster):
                await asyncio.sleep(PROGRESS_S)
                gaps = await self._gaps(series, start_ms, end_ms, counter)
                if not gaps:
                    return  # another process filled it
            keeper = asyncio.create_task(_keep(cluster))
            try:
                gaps = await self._gaps(series, start_ms, end_ms, counter)
                await self._fill(series, gaps, counter)
            finally:
                keeper.cancel()
                with contextlib.suppress(Exception):
                    await cluster.release()

    async def _gaps(
        self, series: Series, start_ms: int, end_ms: int, counter: _Counter
    ) -> list[Interval]:
        gaps = missing(await self._store.coverage(series, start_ms, end_ms), start_ms, end_ms)
        total = periods([(start_ms, end_ms)], series.step_ms)
        counter.covered = total - periods(gaps, series.step_ms)
        return gaps

    async def _fill(self, series: Series, gaps: list[Interval], counter: _Counter) -> None:
        step = series.step_ms
        length = SEGMENT_PAGES * (PAGE - 1) * step  # a page proves all but its last row
        segments = [(lo, min(b, lo + length)) for a, b in gaps for lo in range(a, b, length)]
        gate = asyncio.Semaphore(self._concurrency)

        async def one(segment: Interval) -> None:
            async with gate:
                await self._segment(series, segment, counter)

        tasks = [asyncio.create_task(one(s)) for s in segments]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()

    async def _segment(self, series: Series, segment: Interval, counter: _Counter) -> None:
        """Pages from the segment's start until past its end (or the venue's present)."""
        start, end = segment
        step = series.step_ms
        pair = Pair(series.exchange, series.market)
        since = start
        found: list[Proven] = []
        while since < end:
            # One row past the segment's end, so its last candle is proven closed.
            limit = min(PAGE, periods([(since, end)], step) + 1)
            rows = await self._page(pair, series.timeframe, since, limit)
            part = proven(rows, since)
            if not part.covered:
                break  # nothing from `since` on: the venue's present (or an empty answer)
            found.append(part)
            reached = part.covered[-1][1]
            counter.covered += periods([(since, min(reached, end))], step)
            if reached <= since or len(rows) < limit:
                break  # the last row was the newest the venue has
            since = reached
        if found:
            covered = union(i for f in found for i in f.covered)
            await self._store.record(series, Proven(concat([f.candles for f in found]), covered))

    async def _page(self, pair: Pair, timeframe: str, since: int, limit: int) -> list[list[float]]:
        for attempt in range(RETRIES + 1):
            try:
                return await self._data.fetch(pair, timeframe, since, limit)
            except Unavailable:
                if attempt == RETRIES:
                    raise
                await asyncio.sleep(RETRY_PAUSE_S * (attempt + 1))
        raise AssertionError("unreachable")


class _Counter:
    def __init__(self, covered: int) -> None:
        self.covered = covered


async def _take(lock: RedisLock) -> bool:
    try:
        return await lock.acquire()
    except Exception:  # Redis unreachable: the process lock alone serialises
        log.warning("backfill lock unavailable; going on without it")
        return True


async def _keep(lock: RedisLock) -> None:
    while True:
        await asyncio.sleep(LOCK_TTL_MS / 3000)
        with contextlib.suppress(Exception):
            await lock.renew()
