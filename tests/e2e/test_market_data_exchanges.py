"""Market data per (exchange, market), through Envoy: tickers, candles and price streams
(gRPC and SSE) on a second exchange id, `binanceus`, driven by ccxt against exchange_sim; one
market on two exchanges is two streams fed by two feeds; an exchange ccxt does not know is
FAILED_PRECONDITION EXCHANGE_UNSUPPORTED (400 over REST), an unknown market on a known one is
MARKET_UNKNOWN as before, and requests naming no exchange get the default one (binance)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from botmesh.trading.v1 import market_data_service_pb2 as md
from botmesh.trading.v1 import market_data_service_pb2_grpc as md_rpc
from botmesh.trading.v1 import resources_pb2 as pb

from cli.launcher import Mesh
from mesh.redis import make_redis
from mesh.settings import Settings
from tests.e2e.test_bots_rest import assert_error
from tests.e2e.test_stream_limits import _reason
from trading_svc.marketdata.keys import Pair, channel, lock_key

FIRST_TICK_S = 2.0
OTHER = "binanceus"
pytestmark = pytest.mark.usefixtures("exchange_sim")


@pytest.fixture
async def stub(mesh: Mesh) -> AsyncIterator[md_rpc.MarketDataServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{mesh.settings.envoy_port}") as ch:
        yield md_rpc.MarketDataServiceStub(ch)


def h(keys: dict[str, str]) -> dict[str, str]:
    return {"x-api-key": keys["read"]}


async def test_ticker_and_candles_on_a_second_exchange_over_rest(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    got = await rest.get("/v1/markets/BTC-USDT/ticker", params={"exchange": OTHER}, headers=h(keys))
    assert got.status_code == 200, got.text
    ticker = got.json()["ticker"]
    assert ticker["exchange"] == OTHER and ticker["market"] == "BTC-USDT"
    assert float(ticker["last"]) > 0

    default = await rest.get("/v1/markets/BTC-USDT/ticker", headers=h(keys))
    assert default.status_code == 200, default.text
    assert default.json()["ticker"]["exchange"] == "binance"

    candles = await rest.get(
        "/v1/markets/ETH-USDT/candles",
        params={"exchange": OTHER, "timeframe": "1m", "page_size": "5"},
        headers=h(keys),
    )
    assert candles.status_code == 200, candles.text
    rows = candles.json()["candles"]
    assert len(rows) == 5 and all(float(c["close"]) > 0 for c in rows)
    opens = [c["open_time"] for c in rows]
    assert opens == sorted(opens)


async def test_ticker_and_candles_on_a_second_exchange_over_grpc(
    stub: md_rpc.MarketDataServiceStub, keys: dict[str, str]
) -> None:
    meta = (("x-api-key", keys["read"]),)
    reply = await stub.GetTicker(
        md.GetTickerRequest(market="ETH-USDT", exchange=OTHER), metadata=meta
    )
    assert reply.ticker.exchange == OTHER and float(reply.ticker.last) > 0
    page = await stub.ListCandles(
        md.ListCandlesRequest(market="ETH-USDT", timeframe="1h", page_size=3, exchange=OTHER),
        metadata=meta,
    )
    assert len(page.candles) == 3


async def _first_ticker(call: Any) -> pb.Ticker:
    async for item in call:
        if item.HasField("ticker"):
            return item.ticker  # type: ignore[no-any-return]
    raise AssertionError("the stream ended")


async def test_a_price_stream_on_a_second_exchange_over_grpc(
    stub: md_rpc.MarketDataServiceStub, keys: dict[str, str]
) -> None:
    started = time.monotonic()
    call = stub.StreamPrices(
        md.StreamPricesRequest(market="SOL-USDT", exchange=OTHER),
        metadata=(("x-api-key", keys["read"]),),
    )
    try:
        ticker = await asyncio.wait_for(_first_ticker(call), 5)
    finally:
        call.cancel()
    assert ticker.exchange == OTHER and ticker.market == "SOL-USDT" and float(ticker.last) > 0
    assert time.monotonic() - started < FIRST_TICK_S


async def _sse_tickers(
    rest: httpx.AsyncClient, url: str, params: dict[str, str], headers: dict[str, str], want: int
) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with rest.stream("GET", url, params=params, headers=headers, timeout=10) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        async for line in resp.aiter_lines():
            if line.startswith("data: "):
                payload = json.loads(line[len("data: ") :])
                if "ticker" in payload:
                    got.append(payload["ticker"])
                    if len(got) == want:
                        return got
    raise AssertionError("the stream ended")


async def test_a_price_stream_on_a_second_exchange_over_sse(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    tickers = await asyncio.wait_for(
        _sse_tickers(
            rest, "/v1/markets/ETH-USDT/prices:stream", {"exchange": OTHER}, h(keys), want=2
        ),
        8,
    )
    assert all(t["exchange"] == OTHER and t["market"] == "ETH-USDT" for t in tickers)


async def test_one_market_on_two_exchanges_is_two_streams_and_two_feeds(
    stub: md_rpc.MarketDataServiceStub, keys: dict[str, str], settings: Settings
) -> None:
    meta = (("x-api-key", keys["read"]),)
    pairs = [Pair("binance", "SOL-USDT"), Pair(OTHER, "SOL-USDT")]
    calls = [
        stub.StreamPrices(
            md.StreamPricesRequest(market=p.market, exchange=p.exchange), metadata=meta
        )
        for p in pairs
    ]
    redis = make_redis(settings.redis_url)
    try:
        # Both streams open at once; each gets its own exchange's prices, twice.
        for pair, call in zip(pairs, calls, strict=True):
            for _ in range(2):
                ticker = await asyncio.wait_for(_first_ticker(call), 5)
                assert (ticker.exchange, ticker.market) == pair
        # Two feeds, each holding its own pair's lock, publishing on its own channel.
        for pair in pairs:
            assert await redis.get(lock_key(pair)) is not None, pair
            subscribers = dict(await redis.pubsub_numsub(channel(pair)))
            assert subscribers[channel(pair).encode()] >= 1, pair
    finally:
        for call in calls:
            call.cancel()
        await redis.aclose()


async def test_an_unknown_exchange_is_refused_everywhere(
    rest: httpx.AsyncClient, stub: md_rpc.MarketDataServiceStub, keys: dict[str, str]
) -> None:
    unknown = {"exchange": "nosuchvenue"}
    for path, params in (
        ("/ticker", unknown),
        ("/candles", {**unknown, "timeframe": "1h"}),
        ("/prices:stream", unknown),
    ):
        resp = await rest.get(f"/v1/markets/BTC-USDT{path}", params=params, headers=h(keys))
        body = assert_error(resp, 400, reason="EXCHANGE_UNSUPPORTED")
        assert body["code"] == grpc.StatusCode.FAILED_PRECONDITION.value[0]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetTicker(
            md.GetTickerRequest(market="BTC-USDT", exchange="nosuchvenue"),
            metadata=(("x-api-key", keys["read"]),),
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert _reason(caught.value) == "EXCHANGE_UNSUPPORTED"

    call = stub.StreamPrices(
        md.StreamPricesRequest(market="BTC-USDT", exchange="nosuchvenue"),
        metadata=(("x-api-key", keys["read"]),),
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _first_ticker(call)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert _reason(caught.value) == "EXCHANGE_UNSUPPORTED"

    # A malformed id never reaches the service; an unknown market keeps its own answer.
    bad = await rest.get(
        "/v1/markets/BTC-USDT/ticker", params={"exchange": "Bin-ance"}, headers=h(keys)
    )
    assert_error(bad, 400, field="exchange")
    missing = await rest.get(
        "/v1/markets/NOPE-USDT/ticker", params={"exchange": OTHER}, headers=h(keys)
    )
    assert_error(missing, 400, reason="MARKET_UNKNOWN")


async def test_an_exchange_the_venue_does_not_speak_is_refused_by_name(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    """kraken has every market-data call, but this mesh's venue is exchange_sim, which speaks
    the binance family's API only: a clear refusal, never an outage to retry."""
    for path, params in (
        ("/ticker", {"exchange": "kraken"}),
        ("/candles", {"exchange": "kraken", "timeframe": "1h"}),
        ("/prices:stream", {"exchange": "kraken"}),
    ):
        resp = await rest.get(f"/v1/markets/BTC-USDT{path}", params=params, headers=h(keys))
        body = assert_error(resp, 400, reason="EXCHANGE_NOT_ON_VENUE")
        info = next(d for d in body["details"] if d["@type"].endswith("ErrorInfo"))
        assert info["metadata"] == {"exchange": "kraken", "venue": "sim"}
