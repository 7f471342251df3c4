"""The price hub against the real Redis: one subscription per process whatever the number
of streams, one frame per tick shared by every stream, and a consumer that stops reading
holds at most one frame."""

from __future__ import annotations

import asyncio
import contextlib

from botmesh.trading.v1 import market_data_service_pb2 as md
from botmesh.trading.v1 import resources_pb2 as pb

from mesh.redis import make_redis
from mesh.settings import Settings
from trading_svc.marketdata.hub import PriceHub
from trading_svc.marketdata.keys import Pair, channel, latest_key, pair_of_channel
from trading_svc.marketdata.slot import LatestSlot
from trading_svc.servicers.frames import price_frame

MARKET = "HUBT-USDT"  # a channel no feed of the running mesh publishes on
PAIR = Pair("binance", MARKET)


async def _wait_subscribed(redis, count: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(100):
        numsub = dict(await redis.pubsub_numsub(channel(PAIR)))
        if numsub.get(channel(PAIR).encode(), 0) == count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} subscriptions, saw {numsub}")


def ticker_of(frame: bytes | None) -> pb.Ticker:
    """A frame read as the StreamPricesResponse it is on the wire."""
    assert frame is not None
    response = md.StreamPricesResponse.FromString(frame)
    assert response.HasField("ticker")
    return response.ticker


async def test_many_streams_one_subscription_and_bounded_queues(settings: Settings) -> None:
    redis = make_redis(settings.redis_url)
    demand: list[int] = []
    hub = PriceHub(redis, lambda pair, n: demand.append(n), frame=price_frame)
    try:
        async with contextlib.AsyncExitStack() as stack:
            slots = [await stack.enter_async_context(hub.subscribe(PAIR)) for _ in range(50)]
            await _wait_subscribed(redis, 1)
            for i in range(1, 501):
                ticker = pb.Ticker(market=MARKET, last=str(i))
                await redis.publish(channel(PAIR), ticker.SerializeToString())
            await asyncio.sleep(0.3)
            # Nobody read: each consumer holds the newest ticker only.
            assert hub.queue_sizes() == [1] * 50
            assert all(s.conflated > 0 for s in slots)
            latest = await slots[0].get(1)
            assert ticker_of(latest).last == "500"
            assert slots[0].qsize() == 0
        await _wait_subscribed(redis, 0)
        assert hub.consumer_count() == 0
        assert demand[0] == 1 and demand[-1] == 0
    finally:
        await hub.close()
        await redis.aclose()


async def test_one_market_on_two_exchanges_is_two_channels(settings: Settings) -> None:
    redis = make_redis(settings.redis_url)
    demand: list[tuple[Pair, int]] = []
    hub = PriceHub(redis, lambda pair, n: demand.append((pair, n)), frame=price_frame)
    other = Pair("binanceus", MARKET)
    assert pair_of_channel(channel(other)) == other and channel(other) != channel(PAIR)
    try:
        async with hub.subscribe(PAIR) as ours, hub.subscribe(other) as theirs:
            await _wait_subscribed(redis, 1)
            ticker = pb.Ticker(market=MARKET, last="7", exchange="binanceus")
            await redis.publish(channel(other), ticker.SerializeToString())
            got = await theirs.get(2)
            assert ticker_of(got).exchange == "binanceus"
            assert await ours.get(0.3) is None  # the binance stream saw nothing of it
            assert hub.consumer_count(PAIR) == hub.consumer_count(other) == 1
        # Demand is told per pair: each pair would start and stop its own feed.
        assert (PAIR, 1) in demand and (other, 1) in demand
        assert (PAIR, 0) in demand and (other, 0) in demand
    finally:
        await hub.close()
        await redis.aclose()


async def test_slot_returns_none_when_idle() -> None:
    slot: LatestSlot[str] = LatestSlot()
    assert await slot.get(0.05) is None
    slot.put("a")
    slot.put("b")
    assert (await slot.get(0.05), slot.conflated, slot.qsize()) == ("b", 1, 0)


async def test_every_stream_gets_the_same_frame_of_each_tick(settings: Settings) -> None:
    """One serialisation per tick per process: every consumer holds the very same bytes
    object, and it is the StreamPricesResponse of the published ticker."""
    redis = make_redis(settings.redis_url)
    hub = PriceHub(redis, frame=price_frame)
    try:
        async with contextlib.AsyncExitStack() as stack:
            slots = [await stack.enter_async_context(hub.subscribe(PAIR)) for _ in range(200)]
            await _wait_subscribed(redis, 1)
            for last in ("1", "2", "3"):
                ticker = pb.Ticker(market=MARKET, last=last, exchange="binance")
                await redis.publish(channel(PAIR), ticker.SerializeToString())
                frames = [await slot.get(2) for slot in slots]
                assert all(f is frames[0] for f in frames)  # shared, not copied
                assert frames[0] == md.StreamPricesResponse(ticker=ticker).SerializeToString()
    finally:
        await hub.close()
        await redis.aclose()


async def test_a_new_stream_starts_from_the_last_frame_without_asking_redis(
    settings: Settings,
) -> None:
    """While a pair has streams, a new one gets the frame the hub last fanned out, even
    when Redis no longer holds a latest ticker (it is not asked)."""
    redis = make_redis(settings.redis_url)
    hub = PriceHub(redis, frame=price_frame)
    try:
        await redis.delete(latest_key(PAIR))
        async with hub.subscribe(PAIR) as first:
            assert await first.get(0.1) is None  # nothing yet, anywhere
            await _wait_subscribed(redis, 1)
            ticker = pb.Ticker(market=MARKET, last="42")
            await redis.publish(channel(PAIR), ticker.SerializeToString())
            shared = await first.get(2)
            async with hub.subscribe(PAIR) as late:
                assert await late.get(0) is shared
        # Once the pair has no stream, the next one reads Redis again: here, nothing.
        async with hub.subscribe(PAIR) as after:
            assert await after.get(0.1) is None
    finally:
        await hub.close()
        await redis.aclose()


async def test_a_message_or_latest_that_is_no_ticker_is_skipped_and_the_stream_goes_on(
    settings: Settings,
) -> None:
    redis = make_redis(settings.redis_url)
    hub = PriceHub(redis, frame=price_frame)
    try:
        await redis.set(latest_key(PAIR), b"\xff\xff not a ticker", px=5000)
        async with hub.subscribe(PAIR) as slot:
            assert await slot.get(0) is None  # the junk latest is not sent
            await _wait_subscribed(redis, 1)
            await redis.publish(channel(PAIR), b"\xff\xff not a ticker")
            await redis.publish(
                channel(PAIR), pb.Ticker(market=MARKET, last="7").SerializeToString()
            )
            assert ticker_of(await slot.get(2)).last == "7"
    finally:
        await redis.delete(latest_key(PAIR))
        await hub.close()
        await redis.aclose()
