"""Per-subscription event streams in Redis Streams: `botmesh:events:<subscription_id>`.

Each entry holds one serialised BotEvent (without its id: the stream entry id is the event
id, so a dashboard resumes with `after=<last id>` and loses nothing the stream still holds).
Streams are capped with MAXLEN ~ so a busy bot cannot grow Redis without bound. Publishing is
best effort: an order's, a decision's or a snapshot's truth is in MySQL, and a failed XADD is
logged, never allowed to fail the caller. The typed publishers below are the only kinds of
event there are (the BotEvent payload oneof); readers live in hub.py.
"""

from __future__ import annotations

import logging
from typing import Any

from botmesh.trading.v1 import resources_pb2 as pb
from redis.asyncio import Redis

from trading_svc.convert import order_pb, trade_pb
from trading_svc.events.cursor import START, EventId, fmt, parse
from trading_svc.orders.model import Order, Trade

log = logging.getLogger("botmesh.trading.events")
FIELD = b"e"


def stream_key(subscription_id: str) -> str:
    return f"botmesh:events:{subscription_id}"


def decode(
    entry_id: bytes | str, fields: dict[bytes, bytes] | list[bytes]
) -> tuple[EventId, pb.BotEvent]:
    """One stream entry (fields as redis-py's dict or RESP's flat list) as (its id, its
    BotEvent with `event_id` set)."""
    if isinstance(fields, list):
        fields = dict(zip(fields[::2], fields[1::2], strict=True))
    event = pb.BotEvent.FromString(fields[FIELD])
    event_id = parse(entry_id)
    event.event_id = fmt(event_id)
    return event_id, event


def readable(
    entry_id: bytes | str, fields: dict[bytes, bytes] | list[bytes]
) -> tuple[EventId, pb.BotEvent | None]:
    """decode(), or (the id, None) for an entry that is not one of ours (logged)."""
    try:
        return decode(entry_id, fields)
    except Exception:
        log.warning("skipped an unreadable event", extra={"fields": {"entry": str(entry_id)}})
        return parse(entry_id), None


class EventLog:
    def __init__(self, redis: Redis, maxlen: int) -> None:
        self._redis = redis
        self._maxlen = maxlen

    async def publish(self, subscription_id: str, event: pb.BotEvent) -> str | None:
        """Appends one event; answers its id, or None when Redis refused it (logged)."""
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

    async def decided(self, subscription_id: str, decision: pb.Decision) -> None:
        await self.publish(subscription_id, pb.BotEvent(decision=decision))

    async def risk_acted(self, subscription_id: str, action: pb.RiskAction) -> None:
        await self.publish(subscription_id, pb.BotEvent(risk=action))

    async def status_changed(self, subscription_id: str, status: pb.BotStatus) -> None:
        await self.publish(subscription_id, pb.BotEvent(status=status))

    async def performance(self, subscription_id: str, perf: pb.Performance) -> None:
        await self.publish(subscription_id, pb.BotEvent(performance=perf))

    async def tail_id(self, subscription_id: str) -> EventId:
        """The id of the newest event, or START: where "new events only" begins."""
        newest: Any = await self._redis.xrevrange(stream_key(subscription_id), count=1)
        return parse(newest[0][0]) if newest else START

    async def page(
        self, subscription_id: str, after: EventId, until: EventId, count: int
    ) -> list[tuple[EventId, pb.BotEvent | None]]:
        """At most `count` entries with after < id <= until, oldest first (XRANGE, never
        blocking); an entry that is not a BotEvent comes as (its id, None), so a reader
        moves past it. Raises on a Redis outage; the caller decides how to wait."""
        entries: Any = await self._redis.xrange(
            stream_key(subscription_id), f"({fmt(after)}", fmt(until), count=count
        )
        return [readable(entry_id, fields) for entry_id, fields in entries]
