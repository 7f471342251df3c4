"""The concurrency caps on running backtests, on the run's Redis: per key and in all, shared
by every process (two BacktestSlots on one Redis stand for two processes), freed on release,
and lapsing on their own when the process holding them stops renewing."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from analysis_svc.backtests.slots import ALL, BacktestSlots
from mesh.errors import ResourceExhausted


@pytest.fixture
async def clean_total(redis: Redis) -> None:
    """The cluster-wide set is shared with other tests of this run: start it empty."""
    await redis.delete(ALL)


def key() -> str:
    return f"k{uuid.uuid4().hex[:10]}"


async def test_a_key_runs_at_most_its_cap(redis: Redis, clean_total: None) -> None:
    one, two = BacktestSlots(redis, per_key=2, total=10), BacktestSlots(redis, per_key=2, total=10)
    mine = key()
    await one.take(mine, "bt_1")
    await two.take(mine, "bt_2")
    for slots in (one, two):
        with pytest.raises(ResourceExhausted) as caught:
            await slots.take(mine, "bt_3")
        assert caught.value.reason == "BACKTESTS_PER_KEY_LIMIT"
    await one.take(key(), "bt_4")  # another key has its own count
    await two.release(mine, "bt_1")
    await one.take(mine, "bt_3")


async def test_all_keys_together_run_at_most_the_total(redis: Redis, clean_total: None) -> None:
    slots = BacktestSlots(redis, per_key=5, total=3)
    for n in range(3):
        await slots.take(key(), f"bt_total_{n}")
    with pytest.raises(ResourceExhausted) as caught:
        await slots.take(key(), "bt_total_x")
    assert caught.value.reason == "BACKTESTS_LIMIT"


async def test_concurrent_takes_never_exceed_the_cap(redis: Redis, clean_total: None) -> None:
    slots = BacktestSlots(redis, per_key=3, total=100)
    mine = key()
    outcomes = await asyncio.gather(
        *(slots.take(mine, f"bt_race_{n}") for n in range(40)), return_exceptions=True
    )
    assert sum(o is None for o in outcomes) == 3
    assert all(isinstance(o, ResourceExhausted) for o in outcomes if o is not None)


async def test_a_dead_process_slots_lapse_and_renewal_keeps_them(
    redis: Redis, clean_total: None
) -> None:
    slots = BacktestSlots(redis, per_key=1, total=10, lease_ms=1500)
    dead, alive = key(), key()
    await slots.take(dead, "bt_dead")
    await slots.take(alive, "bt_alive")
    for _ in range(7):
        await asyncio.sleep(0.3)
        await slots.renew(alive, "bt_alive")
    await slots.take(dead, "bt_dead_again")  # the unrenewed slot lapsed
    with pytest.raises(ResourceExhausted):
        await slots.take(alive, "bt_alive_2")  # the renewed one is still held
