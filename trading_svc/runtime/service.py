"""The bot runtime of one trading_svc process: the scheduler (which leads in one process of
the cluster at a time), the tick consumer (in every process) and the hourly performance
snapshots. Started with the service, cancelled with it; nothing here outlives a tick's
record, so a process may die at any point (runtime/decisions.py says why that is safe).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from trading_svc.performance.hourly import HourlySnapshots
from trading_svc.runtime.analysis import AnalysisClient
from trading_svc.runtime.consumer import TickConsumer
from trading_svc.runtime.scheduler import Scheduler


@dataclass
class BotRuntime:
    scheduler: Scheduler
    consumer: TickConsumer
    hourly: HourlySnapshots
    analysis: AnalysisClient
    enabled: bool

    def start(self) -> list[asyncio.Task[None]]:
        if not self.enabled:
            return []
        return [
            asyncio.create_task(self.scheduler.run()),
            asyncio.create_task(self.consumer.run()),
            asyncio.create_task(self.hourly.run()),
        ]

    async def close(self) -> None:
        await self.analysis.close()
