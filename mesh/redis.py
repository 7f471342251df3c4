"""The shared redis.asyncio client, and the rule for Redis used only as a cache.

Every connection has a connect timeout and a socket timeout, and the pool a wait timeout, so
no command waits past a few seconds on a Redis that is down or hung; a stale pooled
connection (after a Redis restart) is retried once on a fresh one, so recovery needs no
restart. Blocking reads (XREAD BLOCK) must block for less than SOCKET_TIMEOUT_S per call.

`BestEffortCache` is for readers whose truth is elsewhere (MariaDB, the exchange): a Redis
failure is a cache miss, a write is skipped, and after a failure Redis is not asked again
for RETRY_AFTER_S; then one call at a time probes it while the others skip it, so a hung
Redis costs one request a socket timeout per second, not every request.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("botmesh.redis")

# A burst beyond this many concurrent commands (or blocked stream reads) waits for a free
# connection, up to POOL_TIMEOUT_S, rather than failing as the default pool does.
MAX_CONNECTIONS = 512
CONNECT_TIMEOUT_S = 1.0
# A hung Redis costs a request at most a few of these (rate-limit probe, cache probe, the
# command itself), well within Envoy's 15 s route timeout.
SOCKET_TIMEOUT_S = 3.0
POOL_TIMEOUT_S = 5.0
# The longest a blocking read may ask Redis to block, safely under the socket timeout.
MAX_BLOCK_MS = 2_000
# Redis errors that say "Redis is unreachable now", as opposed to a bad command.
OUTAGE_ERRORS: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)
RETRY_AFTER_S = 1.0


def make_redis(url: str, *, max_connections: int = MAX_CONNECTIONS) -> Redis:
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=POOL_TIMEOUT_S,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_keepalive=True,
        # One immediate retry on a fresh connection when a pooled one was closed under us
        # (Redis restarted); never on a timeout, which would double the wait.
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )
    return Redis(connection_pool=pool, health_check_interval=30)


class BestEffortCache:
    """Redis as a cache in front of a source of truth: misses, not errors, when Redis is
    down. Logs once when an outage starts and once when Redis answers again."""

    def __init__(self, redis: Redis, name: str) -> None:
        self._redis = redis
        self._name = name
        self._down_until = 0.0
        self._down = False
        self._probing = False

    @property
    def redis(self) -> Redis:
        return self._redis

    def available(self) -> bool:
        """Whether to ask Redis now: always while it answers; after a failure, not for
        RETRY_AFTER_S, then by one caller at a time (the probe) until it answers again."""
        if not self._down:
            return True
        if self._probing or time.monotonic() < self._down_until:
            return False
        self._probing = True
        return True

    async def get(self, key: str) -> bytes | None:
        if not self.available():
            return None
        try:
            value: Any = await self._redis.get(key)
        except OUTAGE_ERRORS as exc:
            self.failed(exc)
            return None
        finally:
            self._probing = False
        self.succeeded()
        return value if value is None else bytes(value)

    async def set(
        self, key: str, value: bytes | str, *, ex: int | None = None, px: int | None = None
    ) -> None:
        """SET with an expiry; skipped while Redis is down."""
        if not self.available():
            return
        try:
            await self._redis.set(key, value, ex=ex, px=px)
        except OUTAGE_ERRORS as exc:
            self.failed(exc)
        else:
            self.succeeded()
        finally:
            self._probing = False

    def failed(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + RETRY_AFTER_S
        if not self._down:
            self._down = True
            log.warning(
                "redis unreachable; serving %s from its source",
                self._name,
                extra={"fields": {"cache": self._name, "error": type(exc).__name__}},
            )

    def succeeded(self) -> None:
        if self._down:
            self._down = False
            log.info("redis reachable again", extra={"fields": {"cache": self._name}})
