"""Concurrency caps on running backtests: per API key and in all, across every process.

A backtest holds a slot in two Redis sorted sets (its key's and the cluster's) while it runs;
a slot's score is the time its lease ends. The rule kept: a slot is taken only if both sets,
after dropping lapsed slots, have room, checked and taken in one script so two processes
cannot both take the last one. The runner renews its slots on each heartbeat and frees them
when the run ends; a process that dies stops renewing, and its slots lapse with the lease.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from mesh.errors import ResourceExhausted

PREFIX = "botmesh:analysis:backtest-slots:"
DEFAULT_PER_KEY = 4
DEFAULT_TOTAL = 32

# KEYS: the key's set, the cluster's set. ARGV: member, lease ms, per-key cap, total cap.
# Returns 0 when taken, 1 when the key is at its cap, 2 when the cluster is.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 2 end
local until_ms = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], until_ms, ARGV[1])
redis.call('ZADD', KEYS[2], until_ms, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 0
"""

_RENEW = """
local t = redis.call('TIME')
local until_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', until_ms, ARGV[1])
redis.call('ZADD', KEYS[2], 'XX', until_ms, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 0
"""


class BacktestSlots:
    def __init__(
        self,
        redis: Redis,
        *,
        per_key: int = DEFAULT_PER_KEY,
        total: int = DEFAULT_TOTAL,
        lease_ms: int = 10_000,
    ) -> None:
        if per_key < 1 or total < 1:
            raise ValueError("backtest caps must be positive")
        self._redis = redis
        self.per_key = per_key
        self.total = total
        self._lease_ms = lease_ms

    async def take(self, api_key_id: str, backtest_id: str) -> None:
        """Takes a slot, or raises RESOURCE_EXHAUSTED naming which cap is full."""
        full = await self._eval(_TAKE, api_key_id, backtest_id, self.per_key, self.total)
        if full == 1:
            raise ResourceExhausted(
                f"this API key already runs {self.per_key} backtests; wait for one to finish",
                retry_after_s=1.0,
                reason="BACKTESTS_PER_KEY_LIMIT",
            )
        if full == 2:
            raise ResourceExhausted(
                "the service is running as many backtests as it may; try again shortly",
                retry_after_s=1.0,
                reason="BACKTESTS_LIMIT",
            )

    async def renew(self, api_key_id: str, backtest_id: str) -> None:
        await self._eval(_RENEW, api_key_id, backtest_id)

    async def release(self, api_key_id: str, backtest_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(_key_set(api_key_id), backtest_id)
            pipe.zrem(_ALL, backtest_id)
            await pipe.execute()

    async def _eval(self, script: str, api_key_id: str, member: str, *caps: int) -> int:
        keys = [_key_set(api_key_id), _ALL]
        call: Any = self._redis.eval(script, 2, *keys, member, self._lease_ms, *caps)  # type: ignore[no-untyped-call]
        return int(await call)


_ALL = f"{PREFIX}all"


def _key_set(api_key_id: str) -> str:
    return f"{PREFIX}key:{api_key_id}"
