"""Per-API-key rate limits: a token bucket in Redis, shared by every process of every service.

Asking Redis on every request would add a round trip to the hot path, so each process leases
a small batch of tokens at a time (a twentieth of the key's rate, at least one) and spends
them locally; a lease left unspent expires after half a second, so a process never holds more
than a fraction of a second of a key's budget. The bucket itself lives in one Lua script, so
concurrent leases never overdraw it.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from mesh.errors import ResourceExhausted

# KEYS[1]: the bucket. ARGV: rate (tokens/s), burst, tokens wanted.
# Returns {granted, retry_after_ms}. Time comes from Redis, the one clock all processes share.
_TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
local granted = 0
local retry = 0
if tokens >= 1 then
  granted = math.min(want, math.floor(tokens))
  tokens = tokens - granted
else
  retry = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {granted, retry}
"""

LEASE_TTL_S = 0.5


@dataclass
class _Lease:
    tokens: int
    expires: float


class RateLimiter:
    def __init__(self, redis: Redis, *, default_rate_per_s: int) -> None:
        self._redis = redis
        self._default = default_rate_per_s
        self._script = redis.register_script(_TOKEN_BUCKET)
        self._leases: dict[str, _Lease] = {}
        self._refills: dict[str, asyncio.Future[None]] = {}

    async def acquire(self, key_id: str, rate_per_s: int | None) -> None:
        """Spends one token of the key's bucket, or raises RESOURCE_EXHAUSTED with the delay
        after which one will be available."""
        while True:
            lease = self._leases.get(key_id)
            if lease is not None and lease.tokens > 0 and lease.expires > time.monotonic():
                lease.tokens -= 1
                return
            pending = self._refills.get(key_id)
            if pending is not None:
                await asyncio.shield(pending)
                continue
            await self._refill(key_id, rate_per_s or self._default)

    async def _refill(self, key_id: str, rate: int) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._refills[key_id] = future
        try:
            want = max(1, rate // 20)
            granted, retry_ms = await self._script(
                keys=[f"botmesh:ratelimit:{key_id}"], args=[rate, rate * 2, want]
            )
            if int(granted) == 0:
                retry = max(0.001, int(retry_ms) / 1000)
                raise ResourceExhausted(
                    f"rate limit of {rate} requests/s exceeded; retry in {math.ceil(retry * 1000)} ms",
                    retry_after_s=retry,
                )
            self._leases[key_id] = _Lease(int(granted), time.monotonic() + LEASE_TTL_S)
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get the same error
            raise
        finally:
            del self._refills[key_id]
