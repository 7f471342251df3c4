"""Per-candle decision cache: a stable key, and a Redis single-flight so that concurrent
Analyze calls across processes compute (and pay an LLM for) a decision once.

Protocol, per key K:
- K holds the cached bytes (TTL `ttl_s`); K:lock holds a random token (TTL `lock_ttl_s`).
- One Lua round trip does "GET K, else SET K:lock token NX PX": atomic, so nobody can
  take the lock after the value was written and compute twice.
- The lock holder computes, writes K, and releases the lock with compare-and-delete (a
  holder that outlived its lock TTL cannot delete a successor's lock).
- Everyone else polls with capped, jittered exponential backoff. A crashed holder's lock
  expires and the next poll takes over; a compute error releases the lock at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from mesh.errors import Unavailable

KEY_VERSION = "decision-v2"  # v2: the exchange is part of the key
DEFAULT_REDIS_PREFIX = "botmesh:analysis:decision:"

_GET_OR_LOCK = """
local value = redis.call('GET', KEYS[1])
if value then return {1, value} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2, ''} end
return {0, ''}
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_FOUND, _LOCKED = 1, 2


def decision_cache_key(
    *,
    exchange: str,
    market: str,
    timeframe: str,
    candle_close_time_ms: int,
    strategy_name: str,
    strategy_params: str,
    advisor_identity: str,
    prompt_version: str,
) -> str:
    """SHA-256 hex (64 chars) of everything that determines a decision.

    `strategy_params` must be canonical (BoundStrategy.canonical_params()) so "14" and 14
    share an entry; `advisor_identity` is "none" when the advisor is not used.
    """
    parts = [
        KEY_VERSION,
        exchange,
        market,
        timeframe,
        int(candle_close_time_ms),
        strategy_name,
        strategy_params,
        advisor_identity,
        prompt_version,
    ]
    text = json.dumps(parts, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def redis_key(cache_key: str, prefix: str = DEFAULT_REDIS_PREFIX) -> str:
    return f"{prefix}{cache_key}"


async def single_flight(
    redis: aioredis.Redis,
    key: str,
    compute: Callable[[], Awaitable[bytes]],
    ttl_s: float,
    lock_ttl_s: float,
    wait_timeout_s: float,
    *,
    poll_initial_s: float = 0.005,
    poll_max_s: float = 0.05,
) -> tuple[bytes, bool]:
    """Returns (value, cached): cached is False only for the caller that computed.

    Choose `lock_ttl_s` above the worst-case compute time (e.g. the sum of the advisor
    chain's timeouts plus a margin); past it another caller may compute again.
    Raises UNAVAILABLE (DECISION_CACHE_TIMEOUT) after `wait_timeout_s` without a value;
    compute's own exceptions propagate to the caller that ran it.
    """
    if min(ttl_s, lock_ttl_s, wait_timeout_s) <= 0:
        raise ValueError("ttl_s, lock_ttl_s and wait_timeout_s must be positive")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_timeout_s
    lock_key = f"{key}:lock"
    delay = poll_initial_s
    while True:
        token = uuid.uuid4().hex
        status, value = await _get_or_lock(redis, key, lock_key, token, lock_ttl_s)
        if status == _FOUND:
            return value, True
        if status == _LOCKED:
            return await _compute_and_store(redis, key, lock_key, token, compute, ttl_s), False
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise Unavailable(
                "another request is still computing this decision; try again",
                reason="DECISION_CACHE_TIMEOUT",
            )
        await asyncio.sleep(min(delay * random.uniform(0.5, 1.0), remaining))
        delay = min(delay * 2, poll_max_s)


async def _compute_and_store(
    redis: aioredis.Redis,
    key: str,
    lock_key: str,
    token: str,
    compute: Callable[[], Awaitable[bytes]],
    ttl_s: float,
) -> bytes:
    try:
        value = await compute()
        await redis.set(key, value, px=max(1, int(ttl_s * 1000)))
        return value
    finally:
        await release_lock(redis, lock_key, token)


async def release_lock(redis: aioredis.Redis, lock_key: str, token: str) -> bool:
    """Deletes the lock only if it still carries our token."""
    deleted = await _eval(redis, _RELEASE, [lock_key], [token])
    return bool(deleted)


async def _get_or_lock(
    redis: aioredis.Redis, key: str, lock_key: str, token: str, lock_ttl_s: float
) -> tuple[int, bytes]:
    px = max(1, int(lock_ttl_s * 1000))
    status, value = await _eval(redis, _GET_OR_LOCK, [key, lock_key], [token, px])
    return int(status), value.encode() if isinstance(value, str) else bytes(value)


async def _eval(redis: aioredis.Redis, script: str, keys: list[str], args: list[Any]) -> Any:
    return await redis.eval(script, len(keys), *keys, *args)  # type: ignore[no-untyped-call]
