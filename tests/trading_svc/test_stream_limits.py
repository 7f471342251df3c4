"""Stream caps as a use case: shared by every process through Redis, kept per process when
Redis is unreachable, and a stream's waits bounded by its token's expiry."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from cli.launcher import free_port
from mesh.auth import Caller
from mesh.errors import ResourceExhausted, Unauthenticated
from mesh.redis import make_redis
from mesh.settings import Settings
from trading_svc.stream_limits import StreamLease, StreamLimits


def dashboard_caller(principal: str, token_id: str, ttl_s: float = 600) -> Caller:
    return Caller(
        key_id=None,
        scopes=frozenset({"dashboard"}),
        principal=principal,
        internal=False,
        dashboard=True,
        token_id=token_id,
        token_expires=datetime.now(UTC) + timedelta(seconds=ttl_s),
    )


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = make_redis(settings.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def unreachable() -> AsyncIterator[Redis]:
    """A Redis client whose server is not there (nothing listens on the port)."""
    client = make_redis(f"redis://127.0.0.1:{free_port()}/0")
    yield client
    await client.aclose()


async def _fill(
    limits: StreamLimits, who: Caller, n: int, stack: contextlib.AsyncExitStack
) -> None:
    for _ in range(n):
        await stack.enter_async_context(limits.open(who))


async def test_two_processes_share_the_per_token_cap(redis: Redis) -> None:
    one, two = StreamLimits(redis, per_token=2), StreamLimits(redis, per_token=2)
    who = dashboard_caller(f"p-{uuid.uuid4().hex}", uuid.uuid4().hex)
    async with contextlib.AsyncExitStack() as stack:
        await _fill(one, who, 1, stack)
        await _fill(two, who, 1, stack)
        with pytest.raises(ResourceExhausted) as caught:
            async with one.open(who):
                pass
        assert caught.value.reason == "STREAMS_PER_TOKEN_LIMIT"
    async with two.open(who):  # closed streams gave their slots back
        pass


async def test_the_principal_cap_spans_its_tokens(redis: Redis) -> None:
    limits = StreamLimits(redis, per_token=2, per_principal=3)
    principal = f"p-{uuid.uuid4().hex}"
    async with contextlib.AsyncExitStack() as stack:
        await _fill(limits, dashboard_caller(principal, uuid.uuid4().hex), 2, stack)
        await _fill(limits, dashboard_caller(principal, uuid.uuid4().hex), 1, stack)
        with pytest.raises(ResourceExhausted) as caught:
            async with limits.open(dashboard_caller(principal, uuid.uuid4().hex)):
                pass
        assert caught.value.reason == "STREAMS_PER_PRINCIPAL_LIMIT"


async def test_without_redis_the_caps_hold_per_process(unreachable: Redis) -> None:
    limits = StreamLimits(unreachable, per_token=2, per_principal=3)
    who = dashboard_caller("p-local", "t-local")
    async with contextlib.AsyncExitStack() as stack:
        await _fill(limits, who, 2, stack)
        with pytest.raises(ResourceExhausted) as caught:
            async with limits.open(who):
                pass
        assert caught.value.reason == "STREAMS_PER_TOKEN_LIMIT"
    async with limits.open(who) as lease:  # released: room again, and expiry still bounds
        assert 0 < await lease.wait_s(10_000) <= 600


async def test_api_key_streams_are_not_counted(unreachable: Redis) -> None:
    limits = StreamLimits(unreachable, per_token=1, per_principal=1)
    keyed = Caller(key_id="k1", scopes=frozenset({"read"}), principal=None, internal=False)
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(5):
            lease = await stack.enter_async_context(limits.open(keyed))
            assert await lease.wait_s(7.0) == 7.0


async def test_waits_are_bounded_by_the_expiry_then_the_stream_ends() -> None:
    lease = StreamLease(datetime.now(UTC) + timedelta(seconds=2))
    first = await lease.wait_s(10.0)
    assert 0 < first <= 2
    await asyncio.sleep(first + 0.05)
    with pytest.raises(Unauthenticated) as caught:
        await lease.wait_s(10.0)
    assert caught.value.reason == "ACCESS_TOKEN_EXPIRED"
