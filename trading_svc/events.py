"""Per-subscription event streams in Redis Streams: `botmesh:events:<subscription_id>`.

Each entry holds one serialised BotEvent (without its id: the stream entry id is the event
id, so a dashboard resumes with `after=<last id>` and loses nothing). Streams are capped with
MAXLEN ~ so a busy bot cannot grow Redis without bound. Publishing is best effort: an order's
truth is in MySQL, and a failed XADD is logged, never allowed to fail the order.
"""

from __future__ import annotations

import logging
from typing import Any

from botmesh.trading.v1 import resources_pb2 as pb
from redis.asyncio import Redis

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
        """Events after `after`, waiting up to `block_ms` for the first one."""
        key = stream_key(subscription_id)
        reply: Any = await self._redis.xread({key: after}, count=count, block=block_ms)
        events: list[pb.BotEvent] = []
        for _, entries in reply or []:
            for entry_id, fields in entries:
                event = pb.BotEvent.FromString(fields[FIELD])
                event.event_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                events.append(event)
        return events
