"""The scheduler: one leader per cluster turns candle closes into ticks.

Leadership is a Redis lock with a TTL (mesh/leader.py) that the leader renews on every
round; a leader that dies stops renewing and another process takes over within one TTL.
Each round the leader:

1. learns, from credential_svc, the exchange and timeframe of tradable subscriptions the
   projection does not yet schedule (new subscriptions, a projection rebuilt);
2. asks, for each (exchange, market, timeframe) its tradable subscriptions use, the
   exchange for the candles closed since the last one it enqueued (kept in Redis, so a new
   leader continues where the old one stopped);
3. when one closed, reads the tradable subscriptions again (so the tick goes to those
   tradable at the close) and enqueues one tick per (subscription, new closed candle) into
   the tick stream (runtime/queue.py). Between closes the groups are re-read every few
   seconds, not every round.

Candles that closed while no leader watched (a failover) are enqueued too, marked stale:
each gets its decision record, but only the newest candle may trade, so a failover never
fires a burst of late orders. "Closed" is the exchange's word (a later candle exists), so
the runtime follows a venue whose clock runs fast (exchange_sim's accelerated clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis

from mesh.db import utcnow
from mesh.decimals import dec
from mesh.errors import DomainError
from mesh.leader import RedisLock
from quant.periods import TIMEFRAME_MS
from trading_svc.marketdata.keys import Pair
from trading_svc.marketdata.service import MarketData
from trading_svc.orders.projection import ProjectionStore
from trading_svc.orders.subscriptions import SubscriptionReader
from trading_svc.runtime.metrics import RUNTIME
from trading_svc.runtime.queue import Tick, TickQueue, open_time
from trading_svc.runtime.risk import Candle

log = logging.getLogger("botmesh.trading.runtime")
LEADER_KEY = "botmesh:runtime:leader"
CLOSES_KEY = "botmesh:runtime:closes"
# Candles a new leader looks back for, at most: older ones are not ticked at all.
CATCH_UP = 50
# How often the groups watched are read again from the projection while no candle closes
# (a new market or timeframe is watched within this); at a close they are always re-read.
REFRESH_S = 5.0

Group = tuple[str, str, str]  # exchange, market, timeframe


class Scheduler:
    def __init__(
        self,
        redis: Redis,
        projection: ProjectionStore,
        subs: SubscriptionReader,
        market: MarketData,
        queue: TickQueue,
        replica: str,
        poll_s: float,
        lock_ttl_ms: int,
    ) -> None:
        self._redis = redis
        self._projection = projection
        self._subs = subs
        self._market = market
        self._queue = queue
        self._lock = RedisLock(redis, LEADER_KEY, lock_ttl_ms, owner=replica)
        self._poll_s = poll_s
        self.leading = False
        self.enqueued = 0
        self._groups: dict[Group, list[str]] = {}
        self._groups_until = 0.0  # ticks enqueued by this process, for tests and metrics

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.round()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning(
                        "scheduler round failed", extra={"fields": {"error": type(exc).__name__}}
                    )
                await asyncio.sleep(self._poll_s)
        finally:
            if self.leading:
                with contextlib.suppress(Exception):  # shutting down: the TTL frees it anyway
                    await self._lock.release()

    async def round(self) -> int:
        """One leader round; returns the ticks enqueued (0 when not leading)."""
        leading = await self._lock.hold()
        if leading != self.leading:
            self.leading = leading
            RUNTIME.leading = int(leading)
            log.info("tick scheduler " + ("leads" if leading else "follows"))
        if not leading:
            return 0
        now = utcnow()
        if time.monotonic() >= self._groups_until:
            self._groups_until = time.monotonic() + REFRESH_S
            await self._learn(now)
            await self._refresh(now)
        found = await asyncio.gather(*(self._fresh_logged(group) for group in self._groups))
        closing = {group: rows for group, rows in zip(self._groups, found, strict=True) if rows}
        if not closing:
            return 0
        await self._refresh(now)  # who to tick: the members as the candle closed
        total = 0
        for group, rows in closing.items():
            total += await self._enqueue(group, rows, self._groups.get(group, []))
        self.enqueued += total
        RUNTIME.enqueued += total
        return total

    async def _refresh(self, now: datetime) -> None:
        groups: dict[Group, list[str]] = defaultdict(list)
        for subscription_id, exchange, market, timeframe in await self._projection.scheduled(now):
            if timeframe in TIMEFRAME_MS:
                groups[(exchange, market, timeframe)].append(subscription_id)
        self._groups = {group: sorted(members) for group, members in groups.items()}

    async def _fresh_logged(self, group: Group) -> list[list[Any]]:
        """One group's newly closed candles; an exchange that fails is logged and asked
        again next round, without holding up the other groups."""
        try:
            return await self._fresh(group)
        except DomainError as exc:
            log.warning(
                "candles not read",
                extra={"fields": {"group": ":".join(group), "reason": exc.reason}},
            )
            return []

    async def _learn(self, now: datetime) -> None:
        missing = await self._projection.unscheduled(now)
        if not missing:
            return
        for sub in (await self._subs.batch(missing)).values():
            if sub.terms is not None:
                await self._projection.set_schedule(
                    sub.subscription_id, sub.exchange, sub.terms.timeframe
                )

    async def _fresh(self, group: Group) -> list[list[Any]]:
        """The group's candles closed since the last one enqueued, oldest first."""
        exchange, market, timeframe = group
        last_raw: Any = await self._redis.hget(CLOSES_KEY, ":".join(group))
        last = int(last_raw) if last_raw is not None else None
        since = None if last is None else last + TIMEFRAME_MS[timeframe]
        pair = Pair(exchange, market)
        rows = await self._market.closed(pair, timeframe, since, CATCH_UP)
        if len(rows) >= CATCH_UP:  # far behind (a long outage): start again at the latest
            rows = (await self._market.closed(pair, timeframe, None, 1))[-1:]
        fresh = [r for r in rows if last is None or int(r[0]) > last]
        return fresh[-1:] if last is None else fresh  # a new group starts at its latest close

    async def _enqueue(self, group: Group, rows: list[list[Any]], members: list[str]) -> int:
        """One tick per (member, candle); all but the newest candle's are stale."""
        exchange, market, timeframe = group
        newest = int(rows[-1][0])
        ticks = [
            Tick(sid, exchange, market, timeframe, _candle(row), stale=int(row[0]) != newest)
            for row in rows
            for sid in members
        ]
        if ticks:
            await self._queue.enqueue(ticks)
        await self._redis.hset(CLOSES_KEY, ":".join(group), str(newest))
        return len(ticks)


def _candle(row: list[Any]) -> Candle:
    def price(value: Any) -> Decimal:
        return dec(value) or Decimal(0)

    return Candle(
        open_time=open_time(int(row[0])),
        open=price(row[1]),
        high=price(row[2]),
        low=price(row[3]),
        close=price(row[4]),
    )
