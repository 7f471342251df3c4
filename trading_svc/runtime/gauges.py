"""The runtime's store gauges (runtime/metrics.py), read every GAUGE_REFRESH_S.

Rules: a few statements per refresh whatever the traffic, never on a request's path.
- Orders in each state not yet final: one GROUP BY over the `state` index, limited to those
  states (the final ones grow without bound and are not counted).
- UNKNOWN orders created more than UNKNOWN_AFTER_S ago: the reconciler should have settled
  them by then, so a non-zero value means the exchange cannot answer for them.
- Exchange circuits open: accounts (credentials) whose exchange backoff is running
  (runtime/backoff.py), from its Redis index.
A refresh that fails (database or Redis down) is logged and leaves the last numbers served,
with their refresh time, so a stale gauge shows as such.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.db import utcnow
from trading_svc.runtime.backoff import AccountBackoff
from trading_svc.runtime.metrics import (
    EXCHANGE_ACCOUNT_BREAKER,
    OPEN_STATES,
    RUNTIME,
    RuntimeMetrics,
)
from trading_svc.tables import orders

__all__ = ["EXCHANGE_ACCOUNT_BREAKER", "GAUGE_REFRESH_S", "StoreGauges"]
log = logging.getLogger("botmesh.trading.runtime")
GAUGE_REFRESH_S = 15.0
UNKNOWN_AFTER_S = 60.0


class StoreGauges:
    def __init__(
        self,
        engine: AsyncEngine,
        backoff: AccountBackoff,
        metrics: RuntimeMetrics = RUNTIME,
        every_s: float = GAUGE_REFRESH_S,
    ) -> None:
        self._engine = engine
        self._backoff = backoff
        self._metrics = metrics
        self._every_s = every_s

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "runtime gauges not read", extra={"fields": {"error": type(exc).__name__}}
                )
            await asyncio.sleep(self._every_s)

    async def refresh(self) -> None:
        older = utcnow() - timedelta(seconds=UNKNOWN_AFTER_S)
        async with self._engine.connect() as conn:
            by_state = await conn.execute(
                sa.select(orders.c.state, sa.func.count())
                .where(orders.c.state.in_(OPEN_STATES))
                .group_by(orders.c.state)
            )
            counts = {str(state): int(count) for state, count in by_state}
            stale = await conn.execute(
                sa.select(sa.func.count()).where(
                    orders.c.state == "UNKNOWN", orders.c.create_time < older
                )
            )
            unknown_stale = int(stale.scalar_one())
        open_accounts = await self._backoff.open_count()
        self._metrics.orders_by_state = counts
        self._metrics.unknown_stale = unknown_stale
        self._metrics.breakers_open = {
            **self._metrics.breakers_open,
            EXCHANGE_ACCOUNT_BREAKER: open_accounts,
        }
        self._metrics.gauges_time = time.time()
