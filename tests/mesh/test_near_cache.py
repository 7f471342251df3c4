"""The near cache serves repeats from memory and is invalidated across processes."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from mesh.near_cache import NearCache
from mesh.settings import Settings


async def wait_listening(cache: NearCache[str]) -> None:
    cache.get("warm-up")
    for _ in range(100):
        if cache._listening:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("listener did not subscribe")


async def test_an_invalidation_reaches_every_process(settings: Settings) -> None:
    # Two clients, two caches: as two service processes would have.
    one, two = Redis.from_url(settings.redis_url), Redis.from_url(settings.redis_url)
    a: NearCache[str] = NearCache(one, "test:near", ttl_s=30)
    b: NearCache[str] = NearCache(two, "test:near", ttl_s=30)
    await wait_listening(a)
    await wait_listening(b)
    a.put("k", "v1", a.read_token())
    b.put("k", "v1", b.read_token())
    assert a.get("k") == b.get("k") == "v1"
    await a.invalidate("k")
    assert a.get("k") is None
    for _ in range(100):
        if b.get("k") is None:
            break
        await asyncio.sleep(0.01)
    assert b.get("k") is None
    await one.aclose()
    await two.aclose()


async def test_a_value_read_before_an_invalidation_is_not_cached(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis_url)
    cache: NearCache[str] = NearCache(redis, "test:near2", ttl_s=30)
    await wait_listening(cache)
    token = cache.read_token()
    await cache.invalidate("k")  # a write lands while we were reading the old value
    cache.put("k", "old", token)
    assert cache.get("k") is None
    await redis.aclose()


async def test_entries_expire(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis_url)
    cache: NearCache[str] = NearCache(redis, "test:near3", ttl_s=0.05)
    await wait_listening(cache)
    cache.put("k", "v", cache.read_token())
    assert cache.get("k") == "v"
    await asyncio.sleep(0.1)
    assert cache.get("k") is None
    await redis.aclose()
