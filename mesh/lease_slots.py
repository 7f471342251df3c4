"""Counted slots with leases in Redis: "at most N at once" across every process.

A holder takes one slot in each of several groups (say, its API key's and the cluster's) in
one script, so two processes can never both take the last one; a slot is a member of a
sorted set scored by the time its lease ends. The rule kept: a slot is taken only if every
group, after dropping lapsed slots, has room. Holders renew their leases while they work and
release them when done; a process that dies stops renewing, and its slots lapse by
themselves. The sets expire with their newest lease, so idle groups leave nothing behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

# KEYS: the groups' sets. ARGV: member, lease ms, then one cap per key.
# Returns 0 when taken, or i when group i (1-based) is full; nothing is taken then.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZSCORE', key, ARGV[1]) == false
     and redis.call('ZCARD', key) >= tonumber(ARGV[i + 2]) then
    return i
  end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', key, ARGV[2])
end
return 0
"""

_RENEW = """
local t = redis.call('TIME')
local until_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', until_ms, ARGV[1])
  redis.call('PEXPIRE', key, ARGV[2])
end
return 0
"""


class LeasedSlots:
    def __init__(self, redis: Redis, *, lease_ms: int) -> None:
        if lease_ms < 1:
            raise ValueError("lease_ms must be positive")
        self._redis = redis
        self.lease_ms = lease_ms

    async def take(self, member: str, groups: Sequence[tuple[str, int]]) -> int | None:
        """Takes `member`'s slot in every (set key, cap) group; None when taken, else the
        index of the first full group (and nothing was taken)."""
        keys = [key for key, _ in groups]
        caps = [cap for _, cap in groups]
        full = await self._eval(_TAKE, keys, member, *caps)
        return None if full == 0 else full - 1

    async def renew(self, member: str, keys: Sequence[str]) -> None:
        await self._eval(_RENEW, keys, member)

    async def release(self, member: str, keys: Sequence[str]) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.zrem(key, member)
            await pipe.execute()

    async def _eval(self, script: str, keys: Sequence[str], member: str, *caps: int) -> int:
        call: Any = self._redis.eval(  # type: ignore[no-untyped-call]
            script, len(keys), *keys, member, self.lease_ms, *caps
        )
        return int(await call)
