"""GetBotStatus and GetPerformance: read models over a subscription's fills and its
performance log. Metrics come from quant/metrics.py, the one implementation backtests use too.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.db import utcnow
from quant.metrics import PerformanceMetrics, compute_metrics
from trading_svc.orders.allocation import Exposure
from trading_svc.orders.store import OrderStore
from trading_svc.orders.subscriptions import Subscription, SubscriptionReader
from trading_svc.tables import performance_logs, trades

BOT_STATES = {"ACTIVE": "RUNNING", "PAUSED": "PAUSED"}


@dataclass(frozen=True)
class Status:
    subscription: Subscription
    state: str
    exposure: Exposure


@dataclass(frozen=True)
class PerformanceReport:
    subscription_id: str
    equity: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    metrics: PerformanceMetrics | None
    trade_count: int
    as_of: datetime


class StatusReader:
    def __init__(self, engine: AsyncEngine, subs: SubscriptionReader, store: OrderStore) -> None:
        self._engine = engine
        self._subs = subs
        self._store = store

    async def status(self, principal: str | None, subscription_id: str) -> Status:
        sub = await self._subs.for_principal(principal, subscription_id)
        exposure = await self._store.exposure(sub.subscription_id, Decimal(0))
        return Status(sub, BOT_STATES.get(sub.effective_state, "STOPPED"), exposure)

    async def performance(self, principal: str | None, subscription_id: str) -> PerformanceReport:
        sub = await self._subs.for_principal(principal, subscription_id)
        async with self._engine.connect() as conn:
            logs = (
                await conn.execute(
                    sa.select(
                        performance_logs.c.time,
                        performance_logs.c.equity,
                        performance_logs.c.realized_pnl,
                        performance_logs.c.unrealized_pnl,
                    )
                    .where(performance_logs.c.subscription_id == sub.subscription_id)
                    .order_by(performance_logs.c.time)
                )
            ).all()
            fills = (
                await conn.execute(
                    sa.select(sa.func.count()).where(
                        trades.c.subscription_id == sub.subscription_id
                    )
                )
            ).scalar_one()
        if not logs:
            zero = Decimal(0)
            return PerformanceReport(
                sub.subscription_id, zero, zero, zero, None, int(fills), utcnow()
            )
        equity = np.array([float(r.equity) for r in logs])
        realized = [float(r.realized_pnl) for r in logs]
        # A change of realised PnL between two snapshots is a closed trade's result.
        closed = [b - a for a, b in itertools.pairwise(realized) if b != a]
        stamps = np.array([r.time.timestamp() * 1000 for r in logs]) if len(logs) > 1 else None
        metrics = compute_metrics(equity, closed, timestamps=stamps) if equity[0] > 0 else None
        last = logs[-1]
        return PerformanceReport(
            sub.subscription_id,
            Decimal(last.equity),
            Decimal(last.realized_pnl),
            Decimal(last.unrealized_pnl),
            metrics,
            int(fills),
            last.time,
        )
