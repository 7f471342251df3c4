"""ListCandlesSource against the running mesh's trading_svc (whose venue is exchange_sim):
paging, the errors callers see, and the internal identity it needs."""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest
from botmesh.trading.v1 import market_data_service_pb2 as md_api
from botmesh.trading.v1 import market_data_service_pb2_grpc as md_rpc

from analysis_svc.candles.closed import last_closed_open_ms
from analysis_svc.candles.source import CcxtCandleSource, ListCandlesSource
from analysis_svc.domain.candles import Candles
from analysis_svc.server import CANDLES_ENV
from analysis_svc.server import candle_source as configured_source
from mesh.auth import INTERNAL_HEADER
from mesh.errors import NotFound, Unavailable
from mesh.settings import Settings

MINUTE = 60_000


def last_closed(timeframe: str = "1m") -> int:
    return last_closed_open_ms(timeframe, time.time_ns() // 1_000_000)


def assert_same(got: Candles, want: Candles) -> None:
    assert len(got) == len(want)
    np.testing.assert_array_equal(got.time_ms, want.time_ms)
    for column in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(got, column), getattr(want, column), column)


async def test_small_pages_are_followed_to_the_end_of_the_range(
    settings: Settings, candle_source: ListCandlesSource, venue_source: CcxtCandleSource
) -> None:
    source = ListCandlesSource(settings.trading.target, settings.internal_token, page_size=100)
    progress: list[float] = []

    async def on_page(fraction: float) -> None:
        progress.append(fraction)

    try:
        end = last_closed()
        start = end - 449 * MINUTE  # 450 candles: five pages of 100, the last one half full
        got = await source.candles("binance", "BTC-USDT", "1m", start, end, on_page=on_page)
        want = await venue_source.candles("binance", "BTC-USDT", "1m", start, end)
        assert_same(got, want)
        assert len(got) == 450 and int(got.time_ms[0]) == start and int(got.time_ms[-1]) == end
        assert progress == pytest.approx([100 / 450, 200 / 450, 300 / 450, 400 / 450])

        # A range of exactly two full pages is two calls: no trailing empty page.
        progress.clear()
        got = await source.candles(
            "binance", "BTC-USDT", "1m", end - 199 * MINUTE, end, on_page=on_page
        )
        assert len(got) == 200 and progress == pytest.approx([0.5])
    finally:
        await source.aclose()


async def test_full_pages_of_a_thousand_are_followed(
    candle_source: ListCandlesSource, venue_source: CcxtCandleSource
) -> None:
    # At page_size 1000 trading_svc used to answer without a next_page_token (ccxt caps the
    # size + 1 it asked the exchange for at 1000), so paging stopped after one page.
    end = last_closed("5m")
    start = end - 2_499 * 5 * MINUTE
    got = await candle_source.candles("binance", "ETH-USDT", "5m", start, end)
    want = await venue_source.candles("binance", "ETH-USDT", "5m", start, end)
    assert_same(got, want)
    assert len(got) == 2_500


async def test_a_hundred_thousand_candles_for_a_backtest(candle_source: ListCandlesSource) -> None:
    end = last_closed()
    start = end - 99_999 * MINUTE
    pages: list[float] = []

    async def on_page(fraction: float) -> None:
        pages.append(fraction)

    began = time.perf_counter()
    got = await candle_source.candles("binance", "BTC-USDT", "1m", start, end, on_page=on_page)
    elapsed = time.perf_counter() - began
    assert len(got) == 100_000, elapsed
    assert int(got.time_ms[0]) == start and int(got.time_ms[-1]) == end
    assert np.all(np.diff(got.time_ms) == MINUTE)
    assert len(pages) == 99 and pages == sorted(pages)


async def test_an_unlisted_market_is_not_found(candle_source: ListCandlesSource) -> None:
    end = last_closed()
    with pytest.raises(NotFound) as missing:
        await candle_source.candles("binance", "DOGE-USDT", "1m", end - 10 * MINUTE, end)
    assert missing.value.reason == "MARKET_NOT_FOUND"
    assert missing.value.metadata == {"market": "DOGE-USDT"}
    assert missing.value.message == "market DOGE-USDT is not listed"


async def test_only_the_internal_identity_may_read_without_a_key(
    settings: Settings, candle_source: ListCandlesSource
) -> None:
    end = last_closed()
    forged = ListCandlesSource(settings.trading.target, "forged-" + settings.internal_token)
    try:
        with pytest.raises(Unavailable) as refused:
            await forged.candles("binance", "BTC-USDT", "1m", end - 10 * MINUTE, end)
        # The caller learns nothing of why: a fixed message and reason.
        assert refused.value.reason == "CANDLES_UNAVAILABLE"
        assert refused.value.message == "market data could not be fetched; try again"
    finally:
        await forged.aclose()

    # What trading_svc itself answers: no identity, or a forged one, is refused.
    request = md_api.ListCandlesRequest(market="BTC-USDT", timeframe="1m", page_size=5)
    async with grpc.aio.insecure_channel(settings.trading.target) as channel:
        stub = md_rpc.MarketDataServiceStub(channel)
        for metadata in ((), ((INTERNAL_HEADER, "forged"),)):
            with pytest.raises(grpc.aio.AioRpcError) as call:
                await stub.ListCandles(request, metadata=metadata, timeout=10)
            assert call.value.code() == grpc.StatusCode.UNAUTHENTICATED
        reply = await stub.ListCandles(
            request, metadata=((INTERNAL_HEADER, settings.internal_token),), timeout=10
        )
        assert len(reply.candles) == 5
    assert (
        len(await candle_source.candles("binance", "BTC-USDT", "1m", end - 9 * MINUTE, end)) == 10
    )


async def test_the_setting_chooses_the_source(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CANDLES_ENV, raising=False)
    chosen = [configured_source(settings)]
    monkeypatch.setenv(CANDLES_ENV, "venue")
    chosen.append(configured_source(settings))
    try:
        assert [type(s) for s in chosen] == [ListCandlesSource, CcxtCandleSource]
    finally:
        for source in chosen:
            await source.aclose()
    monkeypatch.setenv(CANDLES_ENV, "exchange")
    with pytest.raises(ValueError, match=CANDLES_ENV):
        configured_source(settings)


async def test_the_open_candle_is_kept_whatever_trading_svcs_clock_says(
    candle_source: ListCandlesSource,
) -> None:
    # ListCandles' `closed` is trading_svc's wall clock, and a venue on a fast clock has
    # closed candles in our future: the source keeps what the venue has, and the caller
    # (ClosedCandles) judges what is closed by the venue's own data.
    current = time.time_ns() // 1_000_000 // MINUTE * MINUTE  # open now, at real speed
    got = await candle_source.candles(
        "binance", "BTC-USDT", "1m", current - 5 * MINUTE, current + MINUTE
    )
    assert int(got.time_ms[-1]) >= current
    assert got.time_ms.tolist() == list(
        range(current - 5 * MINUTE, int(got.time_ms[-1]) + 1, MINUTE)
    )
