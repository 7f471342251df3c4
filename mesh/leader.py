"""A Redis lock with a TTL, held by one process of the cluster at a time: who feeds a market,
who schedules the bots' ticks.

The holder renews it well within the TTL (`renew` succeeds only while the value is still
its own token, so a holder that stalled past the TTL and lost the lock cannot renew a
successor's); a holder that dies stops renewing and the lock expires, so another process
takes over within one TTL. `release` deletes it only if it is still ours.
"""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLock:
    def __init__(self, redis: Redis, key: str, ttl_ms: int, owner: str = "") -> None:
        self._redis = redis
        self.key = key
        self.ttl_ms = ttl_ms
        # Unique per holder; the owner's name first so an operator can see who holds it.
        self.token = f"{owner}:{uuid.uuid4().hex}" if owner else uuid.uuid4().hex

    async def acquire(self) -> bool:
        return bool(await self._redis.set(self.key, self.token, nx=True, px=self.ttl_ms))

    async def renew(self) -> bool:
        return bool(await self._redis.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))  # type: ignore[misc]

    async def hold(self) -> bool:
        """Renews the lock if held, else tries to take it: True while this holder leads."""
        return await self.renew() or await self.acquire()

    async def release(self) -> None:
        await self._redis.eval(_RELEASE, 1, self.key, self.token)  # type: ignore[misc]
