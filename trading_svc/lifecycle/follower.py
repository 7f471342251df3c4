"""Follows the subscription-change stream in this trading_svc process: drops the exchange
clients of credentials whose subscriptions stopped, and writes each entry to trading_svc's
projection of subscriptions (orders/projection.py; newest version wins, so replicas writing
the same entry, a replay or an out-of-order entry change nothing).

One reader per process (every process must drop its own clients, so no consumer group).
It starts from the cursor its processes share (lifecycle/cursor.py), so changes made while
no process ran are applied on start. With no cursor yet, or one the stream no longer
reaches (trimmed, or lost with Redis), it first rebuilds the projection from credential_svc
(ListTradingSubscriptions) and starts at the stream's end as it was before the rebuild.
Each entry is also the bot's status change (runtime/changes.py): published on its event
stream, and a "resumed" entry lifts the bot's risk halt. Any entry whose state
is not ACTIVE (suspended, canceled, paused, expired) closes the pooled client of its
credential; the next order on another subscription of that credential releases it afresh,
and the release refuses what may not trade. After a lost connection it reconnects with
backoff and drops every pooled client, since changes may have been missed meanwhile (or
the stream lost with Redis). Orders never depend on this: each one asks the credential service for
the subscription and its credential state first (orders/subscriptions.py), so a late stream
delays only the closing of idle clients and the reconciler's filter. A projection write
that fails is logged and skipped: the next entry, order or reconciler answer brings the
row forward.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from mesh.changes import SUBSCRIPTION_CHANGES
from trading_svc.exchange.pool import ExchangePool
from trading_svc.lifecycle.cursor import CursorStore, stream_order
from trading_svc.orders.projection import ProjectionStore, from_entry
from trading_svc.orders.subscriptions import SubscriptionReader

log = logging.getLogger("botmesh.trading.lifecycle")
BLOCK_MS = 5_000
BATCH = 100
BACKOFF_S = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
TRADING = "ACTIVE"


class ChangeFollower:
    def __init__(
        self,
        redis_url: str,
        pool: ExchangePool,
        projection: ProjectionStore,
        cursor: CursorStore | None = None,
        subs: SubscriptionReader | None = None,
        on_change: Callable[[dict[str, str]], Awaitable[None]] | None = None,
    ) -> None:
        self._redis_url = redis_url
        self._pool = pool
        self._projection = projection
        self._cursor = cursor
        self._subs = subs
        self._on_change = on_change
        self._last_id = "$"
        self.seen = 0  # entries handled, for tests and metrics

    def _connect(self) -> Redis:
        # Its own connection: a blocked XREAD must not be cut by the shared client's
        # socket timeout, nor hold one of its pooled connections.
        return Redis.from_url(
            self._redis_url,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=BLOCK_MS / 1000 + 5,
        )

    async def run(self) -> None:
        failures = 0
        while True:
            redis = self._connect()
            try:
                if failures:
                    await self._pool.close_trading()  # changes may have been missed
                await self._follow(redis)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
                failures += 1
                log.warning(
                    "subscription-change stream lost; reconnecting",
                    extra={"fields": {"error": type(exc).__name__, "retry_in_s": delay}},
                )
                await asyncio.sleep(delay)
            finally:
                await redis.aclose()

    async def _follow(self, redis: Redis) -> None:
        if self._last_id == "$":
            self._last_id = await self._start(redis)
        while True:
            reply: Any = await redis.xread(
                {SUBSCRIPTION_CHANGES: self._last_id}, block=BLOCK_MS, count=BATCH
            )
            for _stream, entries in reply or ():
                for entry_id, fields in entries:
                    await self.apply(fields)
                    self._last_id = entry_id
                if self._cursor is not None and entries:
                    await self._cursor.advance(self._last_id)

    async def _start(self, redis: Redis) -> str:
        """Where to read from: the shared cursor if the stream still holds what follows it,
        else the stream's end ("$" pinned to an id, so an entry added between two reads is
        not skipped) after a rebuild of the projection."""
        tail = await self._tail(redis)
        saved = await self._cursor.get() if self._cursor is not None else None
        if saved is not None and await self._reaches(redis, saved):
            return saved
        await self.rebuild()
        if self._cursor is not None:
            await self._cursor.advance(tail)
        return tail

    async def _reaches(self, redis: Redis, saved: str) -> bool:
        """True when no entry after `saved` has been trimmed away (or lost with Redis)."""
        first: Any = await redis.xrange(SUBSCRIPTION_CHANGES, count=1)
        if not first:  # empty: lost with Redis, unless nothing was ever read
            return saved == "0-0"
        return stream_order(str(first[0][0])) <= stream_order(saved)

    async def rebuild(self) -> None:
        """The projection from credential_svc's own list, when the stream cannot replay."""
        if self._subs is None:
            return
        count = 0
        async for sub in self._subs.all_live():
            await self._projection.apply(sub.projected())
            if sub.terms is not None:
                await self._projection.set_schedule(
                    sub.subscription_id, sub.exchange, sub.terms.timeframe
                )
            count += 1
        log.info("subscription projection rebuilt", extra={"fields": {"subscriptions": count}})

    async def _tail(self, redis: Redis) -> str:
        last: Any = await redis.xrevrange(SUBSCRIPTION_CHANGES, count=1)
        return str(last[0][0]) if last else "0-0"

    async def apply(self, fields: dict[str, str]) -> None:
        self.seen += 1
        credential_id = fields.get("credential_id", "")
        if fields.get("state") != TRADING and credential_id:
            await self._pool.close_credential(credential_id)
        row = from_entry(fields)
        if row is not None:
            try:
                await self._projection.apply(row)
            except Exception as exc:
                log.warning(
                    "subscription projection not written",
                    extra={
                        "fields": {
                            "subscription_id": row.subscription_id,
                            "error": type(exc).__name__,
                        }
                    },
                )
        if self._on_change is not None:
            try:
                await self._on_change(fields)
            except Exception as exc:
                log.warning(
                    "bot status change not handled",
                    extra={"fields": {"error": type(exc).__name__}},
                )
