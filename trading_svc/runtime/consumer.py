"""Every trading_svc process consumes ticks: new ones from the group, and every few seconds
those a dead consumer left pending (XAUTOCLAIM).

A batch of ticks costs one read of their subscriptions (BatchGetTradingSubscriptions) and
runs with bounded concurrency. A tick is acknowledged once its decision is recorded (or was
already recorded). One that fails on our side (database or credential_svc unreachable)
stays pending and is retried by whichever consumer reclaims it after the idle limit; its
decision record keeps the retry from acting twice.
"""

from __future__ import annotations

import asyncio
import logging
import time

from trading_svc.orders.subscriptions import SubscriptionReader
from trading_svc.runtime.queue import Tick, TickQueue
from trading_svc.runtime.tick import TickBusy, TickRunner

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
        concurrency: int,
    ) -> None:
        self._queue = queue
        self._subs = subs
        self._runner = runner
        self._slots = asyncio.Semaphore(concurrency)
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
        done: list[Tick] = []

        async def one(tick: Tick) -> None:
            async with self._slots:
                try:
                    decided = await self._runner.run(tick, subs.get(tick.subscription_id))
                except TickBusy:
                    return  # stays pending; reclaimed once the holder's lease has run out
                except Exception as exc:
                    log.warning(
                        "tick failed; left for a retry",
                        extra={
                            "fields": {
                                "subscription_id": tick.subscription_id,
                                "error": type(exc).__name__,
                            }
                        },
                    )
                    return
            if decided is not None:
                self.decided += 1
            done.append(tick)

        await asyncio.gather(*(one(t) for t in ticks))
        await self._queue.ack(done)
        self.processed += len(done)
