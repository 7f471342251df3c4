"""Every trading_svc process consumes ticks: new ones from the group, and every few seconds
those a dead consumer left pending (XAUTOCLAIM).

A batch of ticks costs one read of their subscriptions (BatchGetTradingSubscriptions) and a
few statements (runtime/batch.py). A tick is acknowledged once its decision is recorded (or
was already recorded). A batch that fails on our side (database or credential_svc
unreachable) stays pending and is retried by whichever consumer reclaims it after the idle
limit; the decision records keep the retry from acting twice.
"""

from __future__ import annotations

import asyncio
import logging
import time

from trading_svc.orders.subscriptions import SubscriptionReader
from trading_svc.runtime.batch import TickRunner
from trading_svc.runtime.metrics import RUNTIME
from trading_svc.runtime.queue import Tick, TickQueue

log = logging.getLogger("botmesh.trading.runtime")
BATCH = 200
BLOCK_MS = 1000
RECLAIM_EVERY_S = 2.0
BACKOFF_S = 1.0


class TickConsumer:
    def __init__(
        self,
        queue: TickQueue,
        subs: SubscriptionReader,
        runner: TickRunner,
    ) -> None:
        self._queue = queue
        self._subs = subs
        self._runner = runner
        self.processed = 0  # ticks acknowledged by this process
        self.decided = 0  # ticks whose decision this process recorded

    @property
    def name(self) -> str:
        return self._runner.consumer

    async def run(self) -> None:
        await self._queue.ensure_group()
        last_reclaim = 0.0
        while True:
            try:
                if time.monotonic() - last_reclaim >= RECLAIM_EVERY_S:
                    last_reclaim = time.monotonic()
                    reclaimed = await self._queue.reclaim(self.name, BATCH)
                    if reclaimed:
                        log.info("ticks reclaimed", extra={"fields": {"count": len(reclaimed)}})
                        await self.handle(reclaimed)
                ticks = await self._queue.read(self.name, BATCH, BLOCK_MS)
                await self.handle(ticks)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("tick batch failed", extra={"fields": {"error": type(exc).__name__}})
                await asyncio.sleep(BACKOFF_S)

    async def handle(self, ticks: list[Tick]) -> None:
        if not ticks:
            return
        subs = await self._subs.batch(sorted({t.subscription_id for t in ticks}))
        result = await self._runner.run(ticks, subs)
        await self._queue.ack(result.acknowledge)
        self.processed += len(result.acknowledge)
        RUNTIME.handled += len(result.acknowledge)
        self.decided += result.decided
