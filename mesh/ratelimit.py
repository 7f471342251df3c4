"""Per-API-key rate limits: a token bucket in Redis, shared by every process of every service.

Asking Redis on every request would add a round trip to the hot path, so each process leases
a small batch of tokens at a time (a twentieth of the key's rate, at least one) and spends
them locally; a lease left unspent expires after half a second, so a process never holds more
than a fraction of a second of a key's budget. The bucket itself lives in one Lua script, so
concurrent leases never overdraw it.

When Redis is unreachable the limiter does not fail closed: each process falls back to a
local token bucket per key, at the key's rate, and asks Redis again after a second, with
one request at a time (so a hung Redis costs one request per second a socket timeout). During
an outage a key can so get its rate once per process; that is the price of staying up. The
outage is logged when it starts and when it ends, not per request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from mesh.errors import ResourceExhausted
from mesh.redis import OUTAGE_ERRORS, RETRY_AFTER_S

log = logging.getLogger("botmesh.ratelimit")

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


@dataclass
class _LocalBucket:
    """The fallback: the same token bucket as the Lua script, in this process only."""

    tokens: float
    stamp: float

    def take(self, rate: int, now: float) -> float:
        """Spends one token and returns 0, or returns the seconds until one is available."""
        burst = rate * 2
        self.tokens = min(burst, self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / rate


def _exhausted(rate: int, retry: float) -> ResourceExhausted:
    retry = max(0.001, retry)
    return ResourceExhausted(
        f"rate limit of {rate} requests/s exceeded; retry in {math.ceil(retry * 1000)} ms",
        retry_after_s=retry,
    )


class RateLimiter:
    def __init__(self, redis: Redis, *, default_rate_per_s: int) -> None:
        self._redis = redis
        self._default = default_rate_per_s
        self._script = redis.register_script(_TOKEN_BUCKET)
        self._leases: dict[str, _Lease] = {}
        self._refills: dict[str, asyncio.Future[None]] = {}
        self._local: dict[str, _LocalBucket] = {}
        # While now < _local_until, Redis was just found down: buckets are local.
        self._local_until = 0.0
        self._outage = False
        self._probing = False

    async def acquire(self, key_id: str, rate_per_s: int | None) -> None:
        """Spends one token of the key's bucket, or raises RESOURCE_EXHAUSTED with the delay
        after which one will be available."""
        while True:
            if self.take_leased(key_id):
                return
            rate = rate_per_s or self._default
            if self._outage and (self._probing or time.monotonic() < self._local_until):
                # Redis failed a moment ago, or one refill is probing it now: nobody waits.
                self._take_local(key_id, rate)
                return
            pending = self._refills.get(key_id)
            if pending is not None:
                await asyncio.shield(pending)
                continue
            await self._refill(key_id, rate)

    def take_leased(self, key_id: str) -> bool:
        """Spends one token of this process's live lease for the key, if it has one: the
        hot path, with no await. False means `acquire` must be awaited."""
        lease = self._leases.get(key_id)
        if lease is not None and lease.tokens > 0 and lease.expires > time.monotonic():
            lease.tokens -= 1
            return True
        return False

    def _take_local(self, key_id: str, rate: int) -> None:
        now = time.monotonic()
        bucket = self._local.get(key_id)
        if bucket is None:
            bucket = self._local[key_id] = _LocalBucket(tokens=rate * 2, stamp=now)
        retry = bucket.take(rate, now)
        if retry > 0:
            raise _exhausted(rate, retry)

    async def _refill(self, key_id: str, rate: int) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._refills[key_id] = future
        probing = self._probing = self._outage
        try:
            want = max(1, rate // 20)
            try:
                granted, retry_ms = await self._script(
                    keys=[f"botmesh:ratelimit:{key_id}"], args=[rate, rate * 2, want]
                )
            except OUTAGE_ERRORS as exc:
                self._redis_down(exc)  # the caller's loop takes a local token instead
            else:
                self._redis_up()
                if int(granted) == 0:
                    raise _exhausted(rate, int(retry_ms) / 1000)
                self._leases[key_id] = _Lease(int(granted), time.monotonic() + LEASE_TTL_S)
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get the same error
            raise
        finally:
            del self._refills[key_id]
            if probing:
                self._probing = False

    def _redis_down(self, exc: BaseException) -> None:
        self._local_until = time.monotonic() + RETRY_AFTER_S
        if not self._outage:
            self._outage = True
            log.warning(
                "redis unreachable; rate limits are per process until it answers",
                extra={"fields": {"error": type(exc).__name__}},
            )

    def _redis_up(self) -> None:
        if self._outage:
            self._outage = False
            self._local.clear()
            log.info("redis reachable again; rate limits are shared again")
