"""Per-key token buckets in Redis: a burst is allowed, then RESOURCE_EXHAUSTED with a delay."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from redis.asyncio import Redis

from mesh.errors import ResourceExhausted
from mesh.ratelimit import RateLimiter
from mesh.settings import Settings


async def spend(limiter: RateLimiter, key: str, rate: int, n: int) -> int:
    allowed = 0
    for _ in range(n):
        try:
            await limiter.acquire(key, rate)
            allowed += 1
        except ResourceExhausted:
            pass
    return allowed


async def test_a_burst_of_twice_the_rate_then_a_retry_delay(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis_url)
    limiter = RateLimiter(redis, default_rate_per_s=1000)
    key = secrets.token_hex(6)
    assert await spend(limiter, key, 10, 20) == 20  # burst = 2 x rate
    with pytest.raises(ResourceExhausted) as caught:
        await limiter.acquire(key, 10)
    assert 0 < caught.value.retry_after_s <= 0.1
    assert caught.value.reason == "RATE_LIMITED"
    await asyncio.sleep(0.25)  # ~2.5 tokens refill
    assert await spend(limiter, key, 10, 5) in (2, 3)
    await redis.aclose()


async def test_processes_share_one_bucket(settings: Settings) -> None:
    one, two = Redis.from_url(settings.redis_url), Redis.from_url(settings.redis_url)
    a, b = RateLimiter(one, default_rate_per_s=1000), RateLimiter(two, default_rate_per_s=1000)
    key = secrets.token_hex(6)
    allowed = await asyncio.gather(spend(a, key, 20, 40), spend(b, key, 20, 40))
    # 40 tokens of burst plus what refills while the test runs, shared between both.
    assert 40 <= sum(allowed) <= 46
    await one.aclose()
    await two.aclose()


async def test_keys_do_not_share_buckets(settings: Settings) -> None:
    redis = Redis.from_url(settings.redis_url)
    limiter = RateLimiter(redis, default_rate_per_s=5)
    first, second = secrets.token_hex(6), secrets.token_hex(6)
    assert await spend(limiter, first, 5, 12) == 10
    assert await spend(limiter, second, 5, 10) == 10
    await redis.aclose()
