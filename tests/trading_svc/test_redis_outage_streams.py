"""Price fan-out and event streams (the event hub) ride out a Redis restart by themselves: a stream opened
before the outage receives what is published after it, with no new subscription from the
caller. Against a redis-server of the test's own, stopped and restarted by its pid."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from botmesh.trading.v1 import resources_pb2 as pb

from mesh.redis import make_redis
from tests.private_servers import RedisServer
from trading_svc.events.hub import EventHub
from trading_svc.events.listener import Listener
from trading_svc.events.log import EventLog
from trading_svc.marketdata.hub import PriceHub
from trading_svc.marketdata.keys import Pair, channel

MARKET = "OUTAGE-USDT"
PAIR = Pair("binance", MARKET)


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(Path(tmp_path_factory.mktemp("streams-redis")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_a_price_stream_resumes_after_a_redis_restart(private_redis: RedisServer) -> None:
    redis = make_redis(private_redis.url)
    hub = PriceHub(redis)
    try:
        async with hub.subscribe(PAIR) as slot:
            await asyncio.sleep(0.2)
            await redis.publish(
                channel(PAIR), pb.Ticker(market=MARKET, last="1").SerializeToString()
            )
            before = await slot.get(2)  # unframed: the ticker's own bytes
            assert before is not None and pb.Ticker.FromString(before).last == "1"

            private_redis.stop()
            assert await slot.get(1.5) is None  # nothing, and no error, while it is down
            private_redis.start()

            async def delivered() -> bytes | None:
                # The hub resubscribes on its own; publish until its subscription is back.
                await redis.publish(
                    channel(PAIR), pb.Ticker(market=MARKET, last="2").SerializeToString()
                )
                return await slot.get(0.3)

            after = None
            for _ in range(50):
                after = await delivered()
                if after is not None:
                    break
            assert after is not None and pb.Ticker.FromString(after).last == "2"
    finally:
        if private_redis.proc is None:
            private_redis.start()
        await hub.close()
        await redis.aclose()


async def test_an_event_stream_waits_out_an_outage_and_resumes_from_its_cursor(
    private_redis: RedisServer,
) -> None:
    redis = make_redis(private_redis.url)
    log = EventLog(redis, maxlen=100)
    hub = EventHub(redis, log)  # unframed: each event's own bytes

    async def ids(listener: Listener, wait_s: float) -> list[str]:
        return [pb.BotEvent.FromString(f).event_id for f in await listener.next(wait_s)]

    try:
        before = await log.publish("sub_outage", pb.BotEvent())
        assert before is not None
        async with hub.listen("sub_outage", "0") as listener:
            assert await ids(listener, 2) == [before]
            private_redis.stop()
            # Down: the stream gets no events after its wait, and no error.
            assert await listener.next(1.5) == []
            # Opened during the outage with a cursor: it waits too.
            async with hub.listen("sub_outage", before) as late:
                assert await late.next(1.5) == []
                private_redis.start()
                published = None
                for _ in range(50):  # Redis takes a moment to accept writes again
                    published = await log.publish("sub_outage", pb.BotEvent())
                    if published is not None:
                        break
                    await asyncio.sleep(0.1)
                assert published is not None
                for stream in (listener, late):
                    got: list[str] = []
                    for _ in range(10):
                        got += await ids(stream, 1)
                        if got:
                            break
                    assert got == [published]
    finally:
        if private_redis.proc is None:
            private_redis.start()
        await hub.close()
        await redis.aclose()
