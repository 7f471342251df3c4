"""Per-subscription event streams in Redis Streams: `botmesh:events:<subscription_id>`.

Each entry holds one serialised BotEvent (without its id: the stream entry id is the event
id, so a dashboard resumes with `after=<last id>` and loses nothing). Streams are capped with
MAXLEN ~ so a busy bot cannot grow Redis without bound. Publishing is best effort: an order's
truth is in MySQL, and a failed XADD is logged, never allowed to fail the order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from botmesh.trading.v1 import resources_pb2 as pb
from redis.asyncio import Redis

from mesh.redis import MAX_BLOCK_MS, OUTAGE_ERRORS, RETRY_AFTER_S
from trading_svc.convert import order_pb, trade_pb
from trading_svc.orders.model import Order, Trade

log = logging.getLogger("botmesh.trading.events")
FIELD = b"e"


def stream_key(subscription_id: str) -> str:
    return f"botmesh:events:{subscription_id}"


class EventLog:
    def __init__(self, redis: Redis, maxlen: int) -> None:
        self._redis = redis
        self._maxlen = maxlen
        self._down = False

    async def publish(self, subscription_id: str, event: pb.BotEvent) -> str | None:
        event.subscription_id = subscription_id
        if not event.HasField("time"):
            event.time.GetCurrentTime()
        try:
            entry = await self._redis.xadd(
                stream_key(subscription_id),
                {FIELD: event.SerializeToString()},
                maxlen=self._maxlen,
                approximate=True,
            )
        except Exception:
            log.warning(
                "could not publish an event",
                exc_info=True,
                extra={"fields": {"subscription_id": subscription_id}},
            )
            return None
        return entry.decode() if isinstance(entry, bytes) else str(entry)

    def _outage(self, exc: BaseException) -> None:
        if not self._down:
            self._down = True
            log.warning(
                "event streams wait for redis", extra={"fields": {"error": type(exc).__name__}}
            )

    def _recovered(self) -> None:
        if self._down:
            self._down = False
            log.info("event streams resumed")

    async def order_changed(self, order: Order) -> None:
        await self.publish(order.subscription_id, pb.BotEvent(order=order_pb(order)))

    async def filled(self, trade: Trade) -> None:
        await self.publish(trade.subscription_id, pb.BotEvent(trade=trade_pb(trade)))

    async def tail_id(self, subscription_id: str) -> str:
        """The id of the newest event, or "0-0": where "new events only" starts."""
        newest = await self._redis.xrevrange(stream_key(subscription_id), count=1)
        if not newest:
            return "0-0"
        entry_id = newest[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def read(
        self, subscription_id: str, after: str, block_ms: int, count: int = 100
    ) -> list[pb.BotEvent]:
        """Events after `after`, waiting up to `block_ms` for the first one. While Redis is
        down this waits and answers none, so a stream sends heartbeats through an outage and
        resumes from its cursor when Redis is back, instead of failing."""
        key = stream_key(subscription_id)
        deadline = time.monotonic() + block_ms / 1000
        reply: Any = None
        while not reply:
            # Each XREAD blocks for less than the client's socket timeout.
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            try:
                reply = await self._redis.xread(
                    {key: after}, count=count, block=min(remaining_ms, MAX_BLOCK_MS)
                )
            except OUTAGE_ERRORS as exc:
                self._outage(exc)
                await asyncio.sleep(min(RETRY_AFTER_S, max(0.0, deadline - time.monotonic())))
                continue
            self._recovered()
        events: list[pb.BotEvent] = []
        for _, entries in reply or []:
            for entry_id, fields in entries:
                event = pb.BotEvent.FromString(fields[FIELD])
                event.event_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                events.append(event)
        return events
