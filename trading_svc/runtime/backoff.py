"""Exchange backoff per account (credential): after a call the exchange failed (unreachable,
rate limiting, clock skew), that account's bots open no new position for a while, doubling
with each failure in a row (1 s up to 5 min) and cleared by the next order that goes
through. Kept in Redis, so every replica's bots on the account wait alike; with Redis down
there is no backoff (entries are still bounded by the exchange's own refusals).

An account in backoff is an exchange circuit open: OPEN_INDEX (a sorted set, each account
scored by when its backoff ends) lets the runtime's gauges count them in two cheap commands.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from mesh.db import utcnow
from mesh.redis import OUTAGE_ERRORS

FIRST_S, MAX_S = 1, 300
OPEN_INDEX = "botmesh:runtime:backoff-open"


def _key(credential_id: str) -> str:
    return f"botmesh:runtime:backoff:{credential_id}"


class AccountBackoff:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def until(self, credential_id: str) -> datetime | None:
        try:
            ttl_ms: Any = await self._redis.pttl(_key(credential_id))
        except OUTAGE_ERRORS:
            return None
        return utcnow() + timedelta(milliseconds=ttl_ms) if ttl_ms and ttl_ms > 0 else None

    async def failed(self, credential_id: str) -> None:
        key = _key(credential_id)
        try:
            streak: Any = await self._redis.incr(key + ":n")
            await self._redis.expire(key + ":n", MAX_S * 2)
            delay = min(MAX_S, FIRST_S * 2 ** (int(streak) - 1))
            await self._redis.set(key, str(streak), ex=delay)
            until_ms = int((utcnow() + timedelta(seconds=delay)).timestamp() * 1000)
            await self._redis.zadd(OPEN_INDEX, {credential_id: until_ms})
        except OUTAGE_ERRORS:
            pass

    async def clear(self, credential_id: str) -> None:
        with contextlib.suppress(*OUTAGE_ERRORS):
            await self._redis.delete(_key(credential_id), _key(credential_id) + ":n")
            await self._redis.zrem(OPEN_INDEX, credential_id)

    async def open_count(self) -> int:
        """Accounts whose backoff is running now; ended ones leave the index here."""
        now_ms = int(utcnow().timestamp() * 1000)
        await self._redis.zremrangebyscore(OPEN_INDEX, "-inf", now_ms)
        count: Any = await self._redis.zcard(OPEN_INDEX)
        return int(count)
