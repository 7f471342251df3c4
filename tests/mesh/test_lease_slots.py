"""Leased slots in the run's Redis: one script checks and takes every group's slot, so
concurrent takers never exceed a cap; a full group takes nothing; retaking a held slot is
free; releases and lapsed leases give slots back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from mesh.lease_slots import LeasedSlots
from mesh.redis import make_redis
from mesh.settings import Settings


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = make_redis(settings.redis_url)
    yield client
    await client.aclose()


def group() -> str:
    return f"botmesh:test:slots:{uuid.uuid4().hex}"


async def test_concurrent_takers_never_exceed_any_cap(redis: Redis) -> None:
    slots = LeasedSlots(redis, lease_ms=10_000)
    small, large = group(), group()
    taken = await asyncio.gather(
        *(slots.take(f"m{n}", [(large, 100), (small, 5)]) for n in range(50))
    )
    assert taken.count(None) == 5
    assert set(taken) == {None, 1}  # the refused ones name the full group
    # Nothing was taken in the large group for the refused members.
    assert await redis.zcard(large) == 5


async def test_retaking_a_held_slot_and_releasing(redis: Redis) -> None:
    slots = LeasedSlots(redis, lease_ms=10_000)
    only = group()
    assert await slots.take("a", [(only, 1)]) is None
    assert await slots.take("a", [(only, 1)]) is None  # the holder itself: no second slot
    assert await slots.take("b", [(only, 1)]) == 0
    await slots.release("a", [only])
    assert await slots.take("b", [(only, 1)]) is None


async def test_unrenewed_leases_lapse(redis: Redis) -> None:
    slots = LeasedSlots(redis, lease_ms=200)
    only = group()
    assert await slots.take("gone", [(only, 1)]) is None
    await asyncio.sleep(0.3)
    assert await slots.take("next", [(only, 1)]) is None
