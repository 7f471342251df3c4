"""The hourly snapshot: every subscription ACTIVE or PAUSED in the projection gets a
performance_logs row at least once an hour, ticks or not.

Any replica may run the loop. Every `every_s` a pass lists the subscriptions whose last
snapshot (claimed in bot_runtime.last_snapshot_time, or written in performance_logs) is
older than `max_age - every_s` (so that, passes being `every_s` apart, no gap exceeds
`max_age`), asks the credential service for each one's allocation and exchange,
prices it (`price(exchange, market)`, MarketData's ticker in production) and writes the
snapshot only if it wins the hour's claim (performance/store.py), so two replicas never
both write one hour. A subscription that cannot be read or priced is skipped until the
next pass; a failed pass is logged and the loop goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal

from botmesh.trading.v1 import resources_pb2 as pb

from mesh.db import utcnow
from mesh.decimals import dec
from trading_svc.marketdata.service import MarketData
from trading_svc.orders.subscriptions import SubscriptionReader
from trading_svc.performance.service import PerformanceService
from trading_svc.performance.store import PerformanceStore

log = logging.getLogger("botmesh.trading.performance")

Price = Callable[[str, str], Awaitable[Decimal]]
Publish = Callable[[str, pb.Performance], Awaitable[None]]
MAX_AGE = timedelta(hours=1)
EVERY_S = 300.0
BATCH = 500


def ticker_price(data: MarketData) -> Price:
    """`price(exchange, market)` from MarketData's ticker: its last price."""

    async def price(exchange: str, market: str) -> Decimal:
        last = dec((await data.ticker(market, exchange)).last)
        if last is None or last <= 0:
            raise ValueError(f"no price for {market} on {exchange or 'the default exchange'}")
        return last

    return price


class HourlySnapshots:
    def __init__(
        self,
        service: PerformanceService,
        store: PerformanceStore,
        subs: SubscriptionReader,
        price: Price,
        *,
        publish: Publish | None = None,
        max_age: timedelta = MAX_AGE,
        every_s: float = EVERY_S,
        batch: int = BATCH,
    ) -> None:
        self._service = service
        self._store = store
        self._subs = subs
        self._price = price
        self._publish = publish
        # Passes are every_s apart: a snapshot due a little after one pass waits for the next.
        self._stale_after = max(max_age - timedelta(seconds=every_s), timedelta(0))
        self._every_s = every_s
        self._batch = batch

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hourly performance snapshots failed; retrying next pass")
            await asyncio.sleep(self._every_s)

    async def run_once(self) -> int:
        """One pass; returns how many snapshots this replica wrote."""
        now = utcnow()
        written = 0
        for due in await self._store.due(now - self._stale_after, self._batch):
            try:
                sub = await self._subs.by_id(due.subscription_id)
                if sub is None:
                    continue
                price = await self._price(sub.exchange or due.exchange or "", sub.market)
                perf = await self._service.hourly_snapshot(
                    sub.subscription_id, sub.allocation, price, now, self._stale_after
                )
                if perf is None:
                    continue
                written += 1
                if self._publish is not None:
                    await self._publish(sub.subscription_id, perf)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("hourly snapshot of %s: %s", due.subscription_id, type(exc).__name__)
        return written
