"""StreamPrices fan-out through the real trading_svc: every stream of a process is sent the
same ticks, byte for byte, as well-formed StreamPricesResponse messages; a burst of streams
opened at once is accepted whole, over gRPC straight to the process and as SSE through Envoy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from botmesh.trading.v1 import market_data_service_pb2 as md

from cli.launcher import Mesh, service_address
from exchange_sim import SimServer

METHOD = "/botmesh.trading.v1.MarketDataService/StreamPrices"
MARKET = "BTC-USDT"
BURST = 1000
PER_CONNECTION = 100


@pytest.fixture
async def channels(mesh: Mesh) -> AsyncIterator[list[grpc.aio.Channel]]:
    """Connections of their own straight to trading_svc (a local subchannel pool each)."""
    host, port = service_address(mesh.settings, "trading_svc")
    opened = [
        grpc.aio.insecure_channel(f"{host}:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(BURST // PER_CONNECTION)
    ]
    try:
        yield opened
    finally:
        for channel in opened:
            await channel.close()


async def raw_ticks(channel: grpc.aio.Channel, key: str, want: int) -> dict[int, bytes]:
    """The first `want` ticker messages of a new stream, as the bytes that came, by the
    ticker's time (ns)."""
    call = channel.unary_stream(METHOD, request_serializer=lambda raw: raw)(
        md.StreamPricesRequest(market=MARKET).SerializeToString(),
        metadata=(("x-api-key", key),),
    )
    got: dict[int, bytes] = {}
    try:
        async for raw in call:
            message = md.StreamPricesResponse.FromString(raw)  # well-formed, or this raises
            if message.HasField("ticker"):
                assert message.ticker.market == MARKET
                got[message.ticker.time.ToNanoseconds()] = raw
                if len(got) == want:
                    return got
    finally:
        call.cancel()
    raise AssertionError("the stream ended")


async def test_every_stream_is_sent_the_same_ticks_byte_for_byte(
    channels: list[grpc.aio.Channel], keys: dict[str, str], exchange_sim: SimServer
) -> None:
    streams = await asyncio.wait_for(
        asyncio.gather(*(raw_ticks(channels[i % 4], keys["read"], 3) for i in range(40))), 30
    )
    common = set.intersection(*(set(s) for s in streams))
    assert common  # ticks every stream saw (they opened within a tick of each other)
    for tick in common:
        assert len({s[tick] for s in streams}) == 1


async def first_message(channel: grpc.aio.Channel, key: str) -> str:
    """What the stream sends first: "ticker" or "heartbeat"; raises what the call raises."""
    call = channel.unary_stream(
        METHOD,
        request_serializer=lambda raw: raw,
        response_deserializer=md.StreamPricesResponse.FromString,
    )(md.StreamPricesRequest(market=MARKET).SerializeToString(), metadata=(("x-api-key", key),))
    try:
        async for message in call:
            kind = message.WhichOneof("item")
            assert kind is not None
            return str(kind)
    finally:
        call.cancel()
    raise AssertionError("the stream ended before its first message")


async def test_a_burst_of_streams_opened_at_once_is_accepted_whole(
    channels: list[grpc.aio.Channel], keys: dict[str, str], exchange_sim: SimServer
) -> None:
    results = await asyncio.wait_for(
        asyncio.gather(
            *(first_message(channels[i % len(channels)], keys["read"]) for i in range(BURST)),
            return_exceptions=True,
        ),
        120,
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert refused == []
    assert results.count("ticker") == BURST  # each began with the latest price


async def first_sse_ticker(rest: httpx.AsyncClient, key: str) -> dict:  # type: ignore[type-arg]
    async with rest.stream(
        "GET", f"/v1/markets/{MARKET}/prices:stream", headers={"x-api-key": key}, timeout=60
    ) as resp:
        assert resp.status_code == 200
        async for line in resp.aiter_lines():
            if line.startswith("data: "):
                payload: dict = json.loads(line[len("data: ") :])  # type: ignore[type-arg]
                if "ticker" in payload:
                    return payload
    raise AssertionError("the stream ended")


async def test_a_burst_of_sse_streams_through_envoy_is_accepted_whole(
    mesh: Mesh, keys: dict[str, str], exchange_sim: SimServer
) -> None:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=mesh.rest_url, limits=limits) as rest:
        got = await asyncio.wait_for(
            asyncio.gather(*(first_sse_ticker(rest, keys["read"]) for _ in range(200))), 120
        )
    assert all(p["ticker"]["market"] == MARKET for p in got)
