"""StreamCandles and ListCandles on the running mesh's trading_svc, whose venue is the run's
exchange_sim: a range is backfilled from the venue once (counted on the sim's side, in its
klines requests), by one of several concurrent callers, with progress; the candle still
forming is never stored; ListCandles pages from the store; a market the venue does not list
is refused. Each test reads its own stretch of the sim's history (the sim serves years)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import numpy as np
import pytest
from botmesh.trading.v1 import internal_service_pb2 as api
from botmesh.trading.v1 import internal_service_pb2_grpc as rpc
from botmesh.trading.v1 import market_data_service_pb2 as md_api
from botmesh.trading.v1 import market_data_service_pb2_grpc as md_rpc
from sqlalchemy.ext.asyncio import AsyncEngine

from analysis_svc.candles.source import CcxtCandleSource
from analysis_svc.candles.store_source import StoreCandleSource
from mesh.auth import INTERNAL_HEADER
from mesh.errors import NotFound
from mesh.settings import Settings
from mesh.timestamps import ts_ms
from trading_svc.marketdata.candle_store import CandleStore
from trading_svc.marketdata.chunks import CHUNK_CANDLES, Columns, Series, concat

M = 60_000
DAY = 1440 * M
KLINES = "GET /api/v3/klines"
NOW_DAY = time.time_ns() // 1_000_000 // DAY * DAY  # today's 00:00 UTC


@pytest.fixture(scope="module")
async def channel(settings: Settings, mesh: object) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(settings.trading.target) as made:
        yield made


@pytest.fixture(scope="module")
async def venue(settings: Settings, exchange_sim: object) -> AsyncIterator[CcxtCandleSource]:
    source = CcxtCandleSource("sim", settings.exchange_sim_url)
    yield source
    await source.aclose()


def klines(exchange_sim: object) -> int:
    return int(exchange_sim.simulator.requests[KLINES])  # type: ignore[attr-defined]


class Streamed:
    def __init__(self) -> None:
        self.parts: list[Columns] = []
        self.progress: list[tuple[int, int]] = []

    @property
    def candles(self) -> Columns:
        return concat(self.parts)


async def stream(
    channel: grpc.aio.Channel,
    settings: Settings,
    start: int,
    end: int,
    market: str = "BTC-USDT",
    timeframe: str = "1m",
) -> Streamed:
    call = rpc.InternalTradingServiceStub(channel).StreamCandles(
        api.StreamCandlesRequest(
            market=market, timeframe=timeframe, start_time=ts_ms(start), end_time=ts_ms(end)
        ),
        metadata=((INTERNAL_HEADER, settings.internal_token),),
        timeout=120,
    )
    got = Streamed()
    async for reply in call:
        if reply.HasField("progress"):
            got.progress.append((reply.progress.covered, reply.progress.total))
        else:
            c = reply.candles
            blobs = (c.open_time_ms, c.open, c.high, c.low, c.close, c.volume)
            got.parts.append(Columns.unpack(blobs))
            assert len(got.parts[-1]) == c.count
    return got


async def assert_venues(venue: CcxtCandleSource, got: Columns, start: int, end: int) -> None:
    want = await venue.candles("binance", "BTC-USDT", "1m", start, end - 1)
    assert got.time_ms.tolist() == want.time_ms.tolist()
    for name in ("open", "high", "low", "close", "volume"):
        assert getattr(got, name).tobytes() == getattr(want, name).tobytes(), name


async def test_a_range_is_fetched_from_the_venue_once_then_read_from_the_store(
    channel: grpc.aio.Channel, settings: Settings, exchange_sim: object, venue: CcxtCandleSource
) -> None:
    start = NOW_DAY - 300 * DAY + 7 * M  # mid-chunk, so both ends cut a chunk
    end = start + 3_000 * M
    before = klines(exchange_sim)
    first = await stream(channel, settings, start, end)
    fetched = klines(exchange_sim) - before
    assert 3 <= fetched <= 5  # 3,000 candles: pages of 1,000 (and one to prove the last)
    assert len(first.candles) == 3_000 and int(first.candles.time_ms[0]) == start
    await assert_venues(venue, first.candles, start, end)
    assert first.progress[0][0] < first.progress[-1][0] == first.progress[-1][1] == 3_000

    before = klines(exchange_sim)
    again = await stream(channel, settings, start, end)
    inner = await stream(channel, settings, start + 500 * M, start + 700 * M)
    assert klines(exchange_sim) == before  # no venue call: the store covers it
    assert again.progress == [] and again.candles.rows() == first.candles.rows()
    assert inner.candles.rows() == first.candles.rows()[500:700]

    # ListCandles pages inside the range come from the store too, identical to the venue's.
    stub = md_rpc.MarketDataServiceStub(channel)
    page = await stub.ListCandles(
        md_api.ListCandlesRequest(
            market="BTC-USDT", timeframe="1m", start_time=ts_ms(start), page_size=1000
        ),
        metadata=((INTERNAL_HEADER, settings.internal_token),),
    )
    assert klines(exchange_sim) == before
    assert [c.open_time.ToMilliseconds() for c in page.candles] == first.candles.time_ms[
        :1000
    ].tolist()
    assert all(c.closed for c in page.candles) and page.next_page_token


async def test_concurrent_backfills_of_a_range_fetch_it_once(
    channel: grpc.aio.Channel, settings: Settings, exchange_sim: object
) -> None:
    start = NOW_DAY - 200 * DAY
    before = klines(exchange_sim)
    together = await asyncio.gather(
        *(stream(channel, settings, start, start + 2_500 * M) for _ in range(3))
    )
    three = klines(exchange_sim) - before
    # The same length and alignment, ten whole chunks later, by one caller alone.
    later = start + 10 * CHUNK_CANDLES * M
    before = klines(exchange_sim)
    alone = await stream(channel, settings, later, later + 2_500 * M)
    one = klines(exchange_sim) - before
    assert three == one > 0
    rows = together[0].candles.rows()
    assert len(rows) == 2_500 and all(t.candles.rows() == rows for t in together)
    assert len(alone.candles) == 2_500


async def test_the_forming_candle_is_never_stored(
    channel: grpc.aio.Channel, settings: Settings, engine: AsyncEngine, exchange_sim: object
) -> None:
    now = time.time_ns() // 1_000_000
    start = now // M * M - 30 * M
    got = await stream(channel, settings, start, start + 60 * M)  # reaches into the future
    checked = exchange_sim.simulator.sim_ms()  # type: ignore[attr-defined]
    assert len(got.candles) >= 29
    assert int(got.candles.time_ms[-1]) + M <= checked  # every candle streamed has closed
    series = Series("binance", "BTC-USDT", "1m")
    store = CandleStore(engine)
    held = concat(await store.read_all(series, start - DAY, start + DAY))
    assert int(held.time_ms.max()) + M <= checked
    covered = await store.coverage(series, start, start + DAY)
    assert covered[-1][1] <= checked  # covered up to the forming candle's open at most


async def test_a_market_the_venue_does_not_list_is_not_found(
    channel: grpc.aio.Channel, settings: Settings, exchange_sim: object
) -> None:
    before = klines(exchange_sim)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stream(channel, settings, NOW_DAY - DAY, NOW_DAY, market="NOPE-USDT")
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    source = StoreCandleSource(settings.trading.target, settings.internal_token)
    try:
        with pytest.raises(NotFound) as missing:
            await source.candles("binance", "NOPE-USDT", "1m", NOW_DAY - DAY, NOW_DAY)
        assert missing.value.reason == "MARKET_NOT_FOUND"
    finally:
        await source.aclose()
    assert klines(exchange_sim) == before


@pytest.mark.parametrize(
    ("start", "end", "reason"),
    [
        (NOW_DAY, NOW_DAY, "INVALID_TIME_RANGE"),
        (NOW_DAY, NOW_DAY - M, "INVALID_TIME_RANGE"),
        (NOW_DAY - 2_000_001 * M, NOW_DAY, "CANDLE_RANGE_TOO_LONG"),
    ],
)
async def test_a_bad_range_is_invalid(
    channel: grpc.aio.Channel, settings: Settings, start: int, end: int, reason: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stream(channel, settings, start, end)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason.encode() in dict(bad.value.trailing_metadata() or ()).get(
        "grpc-status-details-bin", b""
    )


async def test_the_latest_candles_listcandles_fetched_are_written_through(
    channel: grpc.aio.Channel, settings: Settings, exchange_sim: object, engine: AsyncEngine
) -> None:
    stub = md_rpc.MarketDataServiceStub(channel)
    metadata = ((INTERNAL_HEADER, settings.internal_token),)
    latest = await stub.ListCandles(
        md_api.ListCandlesRequest(market="ETH-USDT", timeframe="15m", page_size=200),
        metadata=metadata,
    )
    opens = [c.open_time.ToMilliseconds() for c in latest.candles]
    series = Series("binance", "ETH-USDT", "15m")
    store = CandleStore(engine)
    for _ in range(100):  # written off the request's path: wait for it
        covered = await store.coverage(series, opens[0], opens[-1])
        if covered == [(opens[0], opens[-1])]:
            break
        await asyncio.sleep(0.05)
    assert covered == [(opens[0], opens[-1])]  # all but the newest, which may be forming
    before = klines(exchange_sim)
    got = await stream(channel, settings, opens[0], opens[-1], market="ETH-USDT", timeframe="15m")
    assert klines(exchange_sim) == before
    assert got.candles.time_ms.tolist() == opens[:-1]
    assert np.array_equal(got.candles.close, [float(c.close) for c in latest.candles[:-1]])
