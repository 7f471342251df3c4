"""The bot runtime of one trading_svc process: the scheduler (which leads in one process of
the cluster at a time), the tick consumer (in every process) and the hourly performance
snapshots; and the store gauges of its metrics (runtime/gauges.py), read whether or not
the runtime is enabled. Started with the service, cancelled with it; nothing here outlives a tick's
record, so a process may die at any point (runtime/decisions.py says why that is safe).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from trading_svc.performance.hourly import HourlySnapshots
from trading_svc.runtime.analysis import AnalysisClient
from trading_svc.runtime.consumer import TickConsumer
from trading_svc.runtime.gauges import StoreGauges
from trading_svc.runtime.scheduler import Scheduler


@dataclass
class BotRuntime:
    scheduler: Scheduler
    consumer: TickConsumer
    hourly: HourlySnapshots
    analysis: AnalysisClient
    enabled: bool
    gauges: StoreGauges

    def start(self) -> list[asyncio.Task[None]]:
        gauges = asyncio.create_task(self.gauges.run())
        if not self.enabled:
            return [gauges]
        return [
            gauges,
            asyncio.create_task(self.scheduler.run()),
            asyncio.create_task(self.consumer.run()),
            asyncio.create_task(self.hourly.run()),
        ]

    async def close(self) -> None:
        await self.analysis.close()
