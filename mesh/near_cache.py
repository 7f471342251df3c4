"""A process-local cache for read-mostly records, kept coherent across processes through
Redis pub/sub.

Reads of hot catalog records otherwise cost a Redis round trip each. Here a hit costs a dict
lookup; a writer publishes the key it changed and every process drops its copy. Entries also
expire after a short TTL, which bounds staleness if an invalidation is ever missed (the
listener also clears everything after reconnecting, since messages may have been lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from typing import Generic, TypeVar

from redis.asyncio import Redis

from mesh.redis import OUTAGE_ERRORS

log = logging.getLogger("botmesh.near_cache")
V = TypeVar("V")


class NearCache(Generic[V]):
    def __init__(
        self, redis: Redis, channel: str, *, ttl_s: float = 5.0, max_entries: int = 10_000
    ) -> None:
        self._redis = redis
        self._channel = channel
        self._ttl = ttl_s
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._listener: asyncio.Task[None] | None = None
        self._listening = False
        # Bumped by every invalidation: a value read before one may already be stale.
        self._generation = 0

    def get(self, key: str) -> V | None:
        self._ensure_listener()
        if not self._listening:  # no invalidations arrive: do not serve from memory
            return None
        hit = self._entries.get(key)
        if hit is None:
            return None
        if time.monotonic() >= hit[0]:
            self._entries.pop(key, None)
            return None
        return hit[1]

    def read_token(self) -> int:
        """Take before reading the source; pass to put()."""
        return self._generation

    def put(self, key: str, value: V, token: int) -> None:
        """Caches a value read from the source, unless an invalidation arrived meanwhile."""
        if not self._listening or token != self._generation:
            return
        self._entries[key] = (time.monotonic() + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def invalidate(self, key: str) -> None:
        """Drops the key here and in every other process. If Redis cannot take the message,
        the other processes' listeners have lost it too and clear everything on reconnect;
        the TTL bounds what a process cut off from Redis alone may still serve."""
        self._entries.pop(key, None)
        self._generation += 1
        try:
            await self._redis.publish(self._channel, key)
        except OUTAGE_ERRORS:
            log.warning("could not publish an invalidation", extra={"fields": {"key": key}})

    def _ensure_listener(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        """Subscribes, and resubscribes every second while Redis is away (logged once)."""
        failing = False
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self._entries.clear()
                self._listening = True
                if failing:
                    log.info("invalidation listener reconnected")
                failing = False
                async for message in pubsub.listen():
                    key = message.get("data")
                    if isinstance(key, bytes):
                        self._generation += 1
                        self._entries.pop(key.decode(), None)
            except asyncio.CancelledError:
                raise
            except OUTAGE_ERRORS as exc:
                if not failing:
                    log.warning(
                        "invalidation listener lost its connection; retrying",
                        extra={"fields": {"error": type(exc).__name__}},
                    )
                failing = True
            except Exception:
                log.warning("invalidation listener failed; retrying", exc_info=True)
            finally:
                self._listening = False
                self._generation += 1
                self._entries.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(1)
