"""The rate limiter while Redis is down: a local token bucket per process and key (the same
burst of twice the rate, then RESOURCE_EXHAUSTED with a delay), never a failure of the
request; one log line per outage; shared buckets again once Redis answers. Against a
redis-server of the test's own, stopped and restarted by its pid."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesh.errors import ResourceExhausted
from mesh.ratelimit import RateLimiter
from mesh.redis import make_redis
from tests.private_servers import RedisServer


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(Path(tmp_path_factory.mktemp("ratelimit-redis")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def spend(limiter: RateLimiter, key: str, rate: int, n: int) -> list[bool]:
    granted = []
    for _ in range(n):
        try:
            await limiter.acquire(key, rate)
            granted.append(True)
        except ResourceExhausted as refused:
            assert 0 < refused.retry_after_s <= 1 / rate + 0.01
            granted.append(False)
    return granted


async def test_redis_down_means_a_local_bucket_not_a_failure(
    private_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    redis = make_redis(private_redis.url)
    limiter = RateLimiter(redis, default_rate_per_s=1000)
    try:
        private_redis.stop()
        with caplog.at_level(logging.WARNING, logger="botmesh.ratelimit"):
            granted = await spend(limiter, secrets.token_hex(6), 10, 30)
            other = await spend(limiter, secrets.token_hex(6), 10, 5)
        assert granted[:20] == [True] * 20  # burst = 2 x rate, as in Redis
        assert granted.count(True) <= 21 and False in granted
        assert other == [True] * 5  # keys keep their own buckets
        outage_lines = [r for r in caplog.records if "redis unreachable" in r.getMessage()]
        assert len(outage_lines) == 1, [r.getMessage() for r in caplog.records]
    finally:
        if private_redis.proc is None:
            private_redis.start()
        await redis.aclose()


async def test_buckets_are_shared_again_once_redis_answers(private_redis: RedisServer) -> None:
    one, two = make_redis(private_redis.url), make_redis(private_redis.url)
    a, b = RateLimiter(one, default_rate_per_s=1000), RateLimiter(two, default_rate_per_s=1000)
    try:
        private_redis.stop()
        await spend(a, "warmup", 10, 1)  # both fall back...
        await spend(b, "warmup", 10, 1)
        private_redis.start()
        await asyncio.sleep(1.1)  # ...and ask Redis again after a second
        key = secrets.token_hex(6)
        granted = await asyncio.gather(spend(a, key, 20, 40), spend(b, key, 20, 40))
        # One shared burst of 40 (plus what refills meanwhile), not 40 per process.
        assert 40 <= sum(g.count(True) for g in granted) <= 46
    finally:
        await one.aclose()
        await two.aclose()
