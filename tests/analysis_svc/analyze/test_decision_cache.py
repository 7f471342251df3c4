"""Decision cache key and Redis single-flight (real Redis on 127.0.0.1:6379, DB 0,
keys under a per-test prefix that the fixture deletes)."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from analysis_svc.analyze.decision_cache import decision_cache_key, release_lock, single_flight
from mesh.errors import Unavailable

BASE: dict[str, str | int] = {
    "exchange": "binance",
    "market": "BTC-USDT",
    "timeframe": "1h",
    "candle_close_time_ms": 1_700_000_000_000,
    "strategy_name": "rsi_mean_reversion",
    "strategy_params": "overbought=70.0,oversold=30.0,period=14",
    "advisor_identity": "none",
    "prompt_version": "advisor-v1",
}


class Counter:
    """A compute function that counts its calls and takes `delay_s`."""

    def __init__(self, delay_s: float = 0.0, value: bytes = b"decision") -> None:
        self.calls = 0
        self.delay_s = delay_s
        self.value = value

    async def __call__(self) -> bytes:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        return self.value


def test_key_is_stable_hex_and_sensitive_to_every_part() -> None:
    key = decision_cache_key(**BASE)  # type: ignore[arg-type]
    assert len(key) == 64 and int(key, 16) >= 0
    assert key == decision_cache_key(**BASE)  # type: ignore[arg-type]
    variants = {
        "exchange": "binanceus",
        "market": "ETH-USDT",
        "timeframe": "4h",
        "candle_close_time_ms": 1_700_003_600_000,
        "strategy_name": "macd_cross",
        "strategy_params": "overbought=70.0,oversold=25.0,period=14",
        "advisor_identity": "0123456789abcdef",
        "prompt_version": "advisor-v2",
    }
    keys = {decision_cache_key(**{**BASE, k: v}) for k, v in variants.items()}  # type: ignore[arg-type]
    assert len(keys) == len(variants) and key not in keys


async def test_thousand_concurrent_callers_two_clients_compute_once(
    redis_client: aioredis.Redis, redis_client_2: aioredis.Redis, redis_prefix: str
) -> None:
    compute = Counter(delay_s=0.2)
    key = f"{redis_prefix}decision"
    clients = (redis_client, redis_client_2)
    results = await asyncio.gather(
        *(
            single_flight(clients[i % 2], key, compute, ttl_s=30, lock_ttl_s=5, wait_timeout_s=15)
            for i in range(1000)
        )
    )
    assert compute.calls == 1
    assert all(value == b"decision" for value, _ in results)
    assert sum(1 for _, cached in results if not cached) == 1
    assert await redis_client.get(f"{key}:lock") is None  # released
    assert 0 < await redis_client.pttl(key) <= 30_000


async def test_cached_value_skips_compute(redis_client: aioredis.Redis, redis_prefix: str) -> None:
    key = f"{redis_prefix}cached"
    await redis_client.set(key, b"stored", px=10_000)
    compute = Counter()
    assert await single_flight(redis_client, key, compute, 10, 5, 1) == (b"stored", True)
    assert compute.calls == 0


async def test_crashed_lock_holder_lets_a_waiter_take_over(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    key = f"{redis_prefix}crash"
    # A "process" took the lock and died: nobody will release it; it expires in 300 ms.
    await redis_client.set(f"{key}:lock", "dead-holder-token", nx=True, px=300)
    compute = Counter(value=b"fresh")
    started = time.monotonic()
    value, cached = await single_flight(redis_client, key, compute, 10, 5, wait_timeout_s=5)
    elapsed = time.monotonic() - started
    assert (value, cached, compute.calls) == (b"fresh", False, 1)
    assert 0.2 <= elapsed < 3.0


async def test_waiter_times_out_while_lock_is_held(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    key = f"{redis_prefix}stuck"
    await redis_client.set(f"{key}:lock", "someone-else", px=5_000)
    compute = Counter()
    with pytest.raises(Unavailable) as err:
        await single_flight(redis_client, key, compute, 10, 5, wait_timeout_s=0.2)
    assert err.value.reason == "DECISION_CACHE_TIMEOUT"
    assert compute.calls == 0


async def test_compute_error_releases_lock_and_next_caller_computes(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    key = f"{redis_prefix}error"

    async def boom() -> bytes:
        raise RuntimeError("upstream down")

    with pytest.raises(RuntimeError):
        await single_flight(redis_client, key, boom, 10, 5, 1)
    assert await redis_client.get(f"{key}:lock") is None
    compute = Counter()
    assert await single_flight(redis_client, key, compute, 10, 5, 1) == (b"decision", False)


async def test_release_only_deletes_own_lock(
    redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    lock = f"{redis_prefix}x:lock"
    await redis_client.set(lock, "successor", px=5_000)
    assert not await release_lock(redis_client, lock, "late-holder")
    assert await redis_client.get(lock) == b"successor"
    assert await release_lock(redis_client, lock, "successor")


async def test_invalid_ttls(redis_client: aioredis.Redis, redis_prefix: str) -> None:
    with pytest.raises(ValueError):
        await single_flight(redis_client, f"{redis_prefix}k", Counter(), 0, 5, 1)
