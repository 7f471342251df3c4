"""The tick stream on Redis: at-least-once delivery through a consumer group.

- An enqueued tick is read once by one consumer of the group, whole, and stays pending under
  that consumer's name until it is acknowledged.
- A consumer that reads a tick and never acknowledges it (it died) does not lose the tick:
  once the entry has been idle past the limit, another consumer reclaims it (XAUTOCLAIM) and
  its acknowledgement settles it. Before the limit nothing is reclaimed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from redis.asyncio import Redis

from mesh.redis import make_redis
from mesh.settings import Settings
from trading_svc.runtime.queue import TICKS, Tick, TickQueue
from trading_svc.runtime.risk import Candle

CANDLE_TIME = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
IDLE_MS = 50  # the reclaim tests' idle limit
PATIENT_MS = 600_000  # an idle limit no test reaches


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    """The run's Redis, with the tick stream (a fixed key) emptied before and after."""
    client = make_redis(settings.redis_url)
    await client.delete(TICKS)
    try:
        yield client
    finally:
        await client.delete(TICKS)
        await client.aclose()


async def queue(redis: Redis, idle_ms: int = PATIENT_MS) -> TickQueue:
    made = TickQueue(redis, idle_ms)
    await made.ensure_group()
    return made


def tick(subscription_id: str, minute: int = 0, stale: bool = False) -> Tick:
    return Tick(
        subscription_id,
        "binance",
        "BTC-USDT",
        "1m",
        Candle(
            open_time=CANDLE_TIME + timedelta(minutes=minute),
            open=D("61500.5"),
            high=D("61620"),
            low=D("61410.25"),
            close=D("61590.1"),
        ),
        stale=stale,
    )


def without_ids(ticks: list[Tick]) -> list[Tick]:
    return [Tick(**{**t.__dict__, "entry_id": ""}) for t in ticks]


async def test_a_tick_is_read_whole_and_pending_until_acknowledged(redis: Redis) -> None:
    q = await queue(redis)
    sent = [tick("sub_a"), tick("sub_b", minute=1, stale=True)]
    await q.enqueue(sent)

    got = await q.read("consumer-1", count=10, block_ms=100)
    assert without_ids(got) == sent
    assert all(t.entry_id for t in got)
    assert await q.pending() == 2

    await q.ack(got[:1])
    assert await q.pending() == 1
    await q.ack(got[1:])
    assert await q.pending() == 0


async def test_each_tick_goes_to_one_consumer_of_the_group(redis: Redis) -> None:
    q = await queue(redis)
    await q.enqueue([tick("sub_a"), tick("sub_b")])
    first = await q.read("consumer-1", count=1, block_ms=100)
    second = await q.read("consumer-2", count=10, block_ms=100)
    assert [t.subscription_id for t in first + second] == ["sub_a", "sub_b"]
    assert await q.read("consumer-3", count=10, block_ms=10) == [], "nothing is new"


async def test_making_the_group_again_is_harmless(redis: Redis) -> None:
    q = await queue(redis)
    await q.enqueue([tick("sub_a")])
    await q.ensure_group()
    assert len(await q.read("consumer-1", count=10, block_ms=100)) == 1


async def test_a_tick_its_reader_never_acknowledged_is_reclaimed_after_the_idle_limit(
    redis: Redis,
) -> None:
    q = await queue(redis, IDLE_MS)
    await q.enqueue([tick("sub_a")])
    lost = await q.read("dead-consumer", count=10, block_ms=100)
    assert len(lost) == 1

    await asyncio.sleep(IDLE_MS * 4 / 1000)  # the dead consumer stays silent
    rescued = await (await queue(redis, IDLE_MS)).reclaim("live-consumer", count=10)
    assert without_ids(rescued) == without_ids(lost)
    assert rescued[0].entry_id == lost[0].entry_id
    consumers = await redis.xinfo_consumers(TICKS, "runtime")
    pending = {bytes(c["name"]).decode(): c["pending"] for c in consumers}
    assert pending == {"dead-consumer": 0, "live-consumer": 1}, "the tick changed hands"

    await q.ack(rescued)
    assert await q.pending() == 0


async def test_nothing_is_reclaimed_before_the_idle_limit(redis: Redis) -> None:
    q = await queue(redis, PATIENT_MS)
    await q.enqueue([tick("sub_a")])
    assert len(await q.read("slow-consumer", count=10, block_ms=100)) == 1
    assert await q.reclaim("live-consumer", count=10) == []
    assert await q.pending() == 1


async def test_reclaiming_walks_a_long_pending_list_in_batches(redis: Redis) -> None:
    q = await queue(redis, IDLE_MS)
    await q.enqueue([tick("sub_a", minute=m) for m in range(5)])
    assert len(await q.read("dead-consumer", count=10, block_ms=100)) == 5
    await asyncio.sleep(IDLE_MS * 4 / 1000)

    rescuer = await queue(redis, IDLE_MS)
    rescued = [t for _ in range(3) for t in await rescuer.reclaim("live-consumer", count=2)]
    minutes = [int((t.candle.open_time - CANDLE_TIME).total_seconds() // 60) for t in rescued]
    assert minutes == [0, 1, 2, 3, 4], "each pending tick is reclaimed once, in order"
    await rescuer.ack(rescued)
    assert await rescuer.pending() == 0
