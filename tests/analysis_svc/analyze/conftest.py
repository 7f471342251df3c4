"""Fixtures for the decision cache's tests: two independent Redis clients (two processes, as
the single-flight sees them) and a per-test key prefix, deleted afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.support import TEST_REDIS_DB

REDIS_URL = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"  # the run's database, as the mesh's


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A unique key prefix; every key under it is deleted after the test."""
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def _bounded_client() -> aioredis.Redis:
    # A bounded pool: 1,000 concurrent callers share 16 connections instead of opening 1,000.
    pool = aioredis.BlockingConnectionPool.from_url(REDIS_URL, max_connections=16, timeout=10)
    client = aioredis.Redis(connection_pool=pool)
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover - environment without Redis
        await client.aclose()
        pytest.skip(f"Redis not reachable: {exc}")
    return client


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = await _bounded_client()
    yield client
    await client.aclose(close_connection_pool=True)


@pytest.fixture
async def redis_client_2() -> AsyncIterator[aioredis.Redis]:
    """A second, independent client: stands in for another process."""
    client = await _bounded_client()
    yield client
    await client.aclose(close_connection_pool=True)
