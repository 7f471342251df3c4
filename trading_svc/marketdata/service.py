"""GetTicker and ListCandles from an exchange's public API, per (exchange, market).

A request names its exchange or gets the default one (BOTMESH_MARKET_DATA_EXCHANGE). An id
ccxt does not know is FAILED_PRECONDITION EXCHANGE_UNSUPPORTED before any client is built,
and a known exchange lacking what a call needs (fetchTicker, fetchOHLCV) is
FAILED_PRECONDITION EXCHANGE_LACKS_CAPABILITY naming it; an unknown market on a known
exchange is MARKET_UNKNOWN, as before.

GetTicker answers from the pair's latest streamed ticker when it is fresh (a feed is
running), else asks the exchange and keeps the answer briefly, so a burst of dashboards
costs the exchange one request. Candle pages are cursor pages over open time. A candle is
closed when its period has ended on the exchange's clock (venue_clock.py), which runs ahead
of ours when exchange_sim's clock is fast.

Candles go through the candle store (chunks.py, candle_store.py): a page is served from the
store as far as the store covers it from its start, and from the venue for the rest (the
newest candles, the one still forming); what any venue answer proves closed, here or in the
scheduler's `closed`, is written through to the store off the caller's path (recorder.py).
With the database down, pages come from the venue alone.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from botmesh.trading.v1 import resources_pb2 as pb
from redis.asyncio import Redis

from exchanges.capabilities import MARKET_DATA, require
from exchanges.errors import to_domain
from exchanges.markets import filters_for
from exchanges.symbols import to_symbol
from mesh.decimals import dec_str
from mesh.dependencies import dependency_of
from mesh.pagination import decode_int_token, encode_int_token
from mesh.redis import BestEffortCache
from mesh.timestamps import LAST_TIMESTAMP_MS, ts_ms
from quant.periods import TIMEFRAME_MS
from trading_svc.exchange.pool import ExchangePool
from trading_svc.marketdata.candle_store import CandleStore, covered_from
from trading_svc.marketdata.chunks import Columns, Series, concat, proven
from trading_svc.marketdata.keys import Pair, latest_key
from trading_svc.marketdata.recorder import CandleRecorder
from trading_svc.marketdata.tickers import ticker_of
from trading_svc.marketdata.venue_clock import VenueClock

FRESH_S = 2.0
CACHE_MS = 2000
DEFAULT_CANDLES = 500


# Candle cursors are open times in ms, from 1970 to the end of year 9999.


def _token(next_ms: int) -> str:
    return encode_int_token(next_ms)


def _from_token(token: str) -> int:
    return decode_int_token(token, 0, LAST_TIMESTAMP_MS)


class MarketData:
    def __init__(
        self,
        redis: Redis,
        pool: ExchangePool,
        default_exchange: str,
        store: CandleStore | None = None,
    ) -> None:
        self._cache = BestEffortCache(redis, "tickers")
        self._pool = pool
        self._default = default_exchange
        self._clock = VenueClock()
        self._store = store
        self.recorder = CandleRecorder(store)

    def pair(self, market: str, exchange: str = "") -> Pair:
        """The (exchange, market) a request names. An exchange id ccxt has no class for, or
        whose class lacks tickers or candles, is refused here with what it lacks, before any
        client is built (the request's pattern bounds its shape)."""
        name = exchange or self._default
        require(name, MARKET_DATA)
        return Pair(name, market)

    async def _public(self, at: Pair) -> Any:
        client = await self._pool.public(at.exchange)
        filters_for(client, at.market)  # unknown market: a clear error, no exchange call
        return client

    async def closed(
        self, at: Pair, timeframe: str, since_ms: int | None, limit: int
    ) -> list[list[Any]]:
        """OHLCV rows of `at` that have closed on the exchange, oldest first: every row but
        the newest, which is the candle still forming. Judged by the exchange's own data (a
        later candle exists), never by our clock, so a venue whose clock runs fast is read
        right. From `since_ms` when given, else the latest closed one or two."""
        rows = await self.fetch(at, timeframe, since_ms, limit + 1 if since_ms else 3)
        self.recorder.record(Series(at.exchange, at.market, timeframe), proven(rows, since_ms))
        return list(rows[:-1])

    async def fetch(
        self, at: Pair, timeframe: str, since_ms: int | None, limit: int, until: int | None = None
    ) -> list[list[Any]]:
        """One OHLCV page from the venue, as ccxt parses it: from `since_ms` (else the
        latest), at most `limit` rows, none opening after `until` (inclusive) when given."""
        client = await self._public(at)
        params = {"until": until} if until is not None else {}
        try:
            rows = await client.fetch_ohlcv(
                to_symbol(at.market), timeframe, since_ms, limit, params
            )
        except Exception as exc:
            raise to_domain(exc, at.exchange) from None
        return list(rows)

    async def check_market(self, market: str, exchange: str = "") -> Pair:
        """The pair a price stream of `market` on `exchange` reads, once it can be fed."""
        at = self.pair(market, exchange)
        await self._public(at)  # the feed's fallback when its socket fails
        return at

    async def ticker(self, market: str, exchange: str = "") -> pb.Ticker:
        at = self.pair(market, exchange)
        cached = await self._cache.get(latest_key(at))  # None while Redis is down
        if cached is not None:
            ticker = pb.Ticker.FromString(cached)
            if time.time() - ticker.time.ToSeconds() <= FRESH_S:
                return ticker
        client = await self._public(at)
        try:
            raw = await client.fetch_ticker(to_symbol(market))
        except Exception as exc:
            raise to_domain(exc, at.exchange) from None
        ticker = ticker_of(at, raw)
        await self._cache.set(latest_key(at), ticker.SerializeToString(), px=CACHE_MS)
        return ticker

    async def candles(
        self,
        market: str,
        timeframe: str,
        start: datetime | None,
        end: datetime | None,
        requested: int,
        token: str,
        exchange: str = "",
    ) -> tuple[list[pb.Candle], str]:
        at = self.pair(market, exchange)
        client = await self._public(at)
        size = requested or DEFAULT_CANDLES
        since = _from_token(token) if token else (int(start.timestamp() * 1000) if start else None)
        end_ms = int(end.timestamp() * 1000) if end else None
        period_ms = TIMEFRAME_MS[timeframe]
        series = Series(at.exchange, at.market, timeframe)
        try:
            stored = await self._stored(series, since, end_ms, size)
        except Exception as exc:
            if dependency_of(exc) != "database":
                raise
            # The store is a copy of the venue's history: with the database down, the venue.
            stored = _Stored(Columns.empty(), since or 0)
        rows = stored.rows()
        venue_since = stored.reach if since is not None else None
        if len(rows) < size and (end_ms is None or venue_since is None or venue_since < end_ms):
            # At most `size` rows: ccxt caps Binance's limit at 1000, so asking for size + 1
            # to detect a next page never saw one when size was 1000 (paging stopped after a
            # page). end_time (exclusive) goes to the exchange as ccxt's unified `until`
            # (inclusive).
            until = end_ms - 1 if end_ms is not None else None
            fetched = await self.fetch(at, timeframe, venue_since, size - len(rows), until)
            self.recorder.record(series, proven(fetched, venue_since))
            if end_ms is not None:
                fetched = [r for r in fetched if r[0] < end_ms]
            now_ms = self._clock.now_ms(at.exchange, client)  # the exchange's: see venue_clock
            closed = [r[0] + period_ms <= now_ms for r in fetched]
            rows += fetched
        else:
            closed = []
        page = rows[:size]
        flags = [True] * (len(page) - len(closed)) + closed
        candles = [
            pb.Candle(
                open_time=ts_ms(r[0]),
                open=dec_str(r[1]),
                high=dec_str(r[2]),
                low=dec_str(r[3]),
                close=dec_str(r[4]),
                volume=dec_str(r[5]),
                closed=flag,
            )
            for r, flag in zip(page, flags[: len(page)], strict=True)
        ]
        # A full page has a next one unless the next candle would open at or past the end.
        more = (
            since is not None
            and len(page) == size
            and (end_ms is None or page[-1][0] + period_ms < end_ms)
        )
        return candles, (_token(page[-1][0] + 1) if more else "")

    async def _stored(
        self, series: Series, since: int | None, end_ms: int | None, size: int
    ) -> _Stored:
        """The start of a page from the store: the candles it covers without a hole from
        `since`, at most `size`. Nothing without a start (the latest candles are the
        venue's to say) or without a store."""
        if since is None or self._store is None:
            return _Stored(Columns.empty(), since or 0)
        window_end = since + size * series.step_ms
        if end_ms is not None:
            window_end = min(window_end, end_ms)
        if window_end <= since:
            return _Stored(Columns.empty(), since)
        reach = covered_from(await self._store.coverage(series, since, window_end), since)
        if reach <= since:
            return _Stored(Columns.empty(), since)
        held = concat(await self._store.read_all(series, since, reach))
        return _Stored(held.take(0, size), reach)


class _Stored:
    """Candles a page takes from the store, and where the store's coverage stops."""

    def __init__(self, candles: Columns, reach: int) -> None:
        self.candles = candles
        self.reach = reach

    def rows(self) -> list[list[Any]]:
        return self.candles.rows()


def utc(stamp: Any) -> datetime | None:
    """A protobuf Timestamp field, or None when unset."""
    if stamp is None or (stamp.seconds == 0 and stamp.nanos == 0):
        return None
    return stamp.ToDatetime(tzinfo=UTC)  # exact: seconds + nanos/1e9 rounds past 9999
