"""SQL of the performance feature: a subscription's fills for the ledger, and its
performance log.

The log is read oldest first by keyset on (time, id) within a half-open range [start, end),
so pages stay stable while new snapshots are appended and cost the same deep in a year.
The hourly claim is a compare-and-set on `bot_runtime.last_snapshot_time`, taken in the
same transaction as the row it claims for: of two replicas, only the one whose UPDATE (or,
for a subscription without a runtime row yet, INSERT IGNORE) changed a row writes the
hour's snapshot.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mesh.db import money
from trading_svc.performance.ledger import LedgerFill
from trading_svc.performance.model import Due, Snapshot
from trading_svc.tables import bot_runtime, performance_logs, subscription_projection, trades

# Subscriptions the hourly loop keeps a record of: trading, or paused with a position.
SNAPSHOT_STATES = ("ACTIVE", "PAUSED")
_log = performance_logs.c


def _snapshot(row: Any) -> Snapshot:
    return Snapshot(
        subscription_id=row.subscription_id,
        time=row.time,
        equity=Decimal(row.equity),
        realized_pnl=Decimal(row.realized_pnl),
        unrealized_pnl=Decimal(row.unrealized_pnl),
        position=Decimal(row.position),
        fees=Decimal(row.fees),
        exposure=Decimal(row.exposure),
        snapshot_id=int(row.id),
    )


class PerformanceStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def fills(self, subscription_id: str) -> list[LedgerFill]:
        """The subscription's fills, oldest first (ties in the order they were stored)."""
        return (await self.fills_of([subscription_id])).get(subscription_id, [])

    async def fills_of(self, subscription_ids: list[str]) -> dict[str, list[LedgerFill]]:
        """`fills` of many subscriptions in one read (the bot runtime's batch of ticks)."""
        query = (
            sa.select(
                trades.c.subscription_id,
                trades.c.side,
                trades.c.market,
                trades.c.price,
                trades.c.quantity,
                trades.c.fee,
                trades.c.fee_asset,
                trades.c.time,
            )
            .where(trades.c.subscription_id.in_(subscription_ids))
            .order_by(trades.c.time, trades.c.trade_id)
        )
        found: dict[str, list[LedgerFill]] = {}
        async with self._engine.connect() as conn:
            for r in await conn.execute(query):
                found.setdefault(r.subscription_id, []).append(
                    LedgerFill(r.side, r.market, r.price, r.quantity, r.fee, r.fee_asset, r.time)
                )
        return found

    async def insert(self, snapshot: Snapshot, claim_before: datetime | None = None) -> int | None:
        """Stores `snapshot` and returns its id. With `claim_before`, first claims the hour:
        only if the subscription's last claimed snapshot is unset or older than
        `claim_before`; None (and nothing written) when another writer got there first."""
        async with self._engine.begin() as conn:
            if claim_before is not None and not await _claim(conn, snapshot, claim_before):
                return None
            values = {
                k: money(v) if isinstance(v, Decimal) else v
                for k, v in snapshot.__dict__.items()
                if k != "snapshot_id"
            }
            result = await conn.execute(performance_logs.insert().values(**values))
            return int(result.lastrowid)

    async def page(
        self,
        subscription_id: str,
        start: datetime,
        end: datetime,
        limit: int,
        after: tuple[datetime, int] | None,
    ) -> list[Snapshot]:
        """Up to `limit` snapshots in [start, end) after the keyset `after`, oldest first."""
        condition: Any = sa.true()
        if after is not None:
            when, ident = after
            condition = sa.or_(_log.time > when, sa.and_(_log.time == when, _log.id > ident))
        query = (
            sa.select(performance_logs)
            .where(_in_range(subscription_id, start, end), condition)
            .order_by(_log.time, _log.id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [_snapshot(r) for r in await conn.execute(query)]

    async def equity_series(
        self, subscription_id: str, start: datetime, end: datetime
    ) -> list[tuple[datetime, Decimal]]:
        """(time, equity) of every snapshot in [start, end), oldest first."""
        query = (
            sa.select(_log.time, _log.equity)
            .where(_in_range(subscription_id, start, end))
            .order_by(_log.time, _log.id)
        )
        async with self._engine.connect() as conn:
            return [(r.time, Decimal(r.equity)) for r in await conn.execute(query)]

    async def last(self, subscription_id: str, start: datetime, end: datetime) -> Snapshot | None:
        """The newest snapshot in [start, end)."""
        query = (
            sa.select(performance_logs)
            .where(_in_range(subscription_id, start, end))
            .order_by(_log.time.desc(), _log.id.desc())
            .limit(1)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _snapshot(row)

    async def due(self, cutoff: datetime, limit: int) -> list[Due]:
        """ACTIVE or PAUSED subscriptions of the projection whose last snapshot, claimed
        (bot_runtime) or written (performance_logs), is older than `cutoff` or absent."""
        latest = (
            sa.select(sa.func.max(_log.time))
            .where(_log.subscription_id == subscription_projection.c.subscription_id)
            .scalar_subquery()
        )
        proj, runtime = subscription_projection.c, bot_runtime.c
        query = (
            sa.select(proj.subscription_id, proj.exchange, proj.market)
            .outerjoin(bot_runtime, runtime.subscription_id == proj.subscription_id)
            .where(
                proj.state.in_(SNAPSHOT_STATES),
                sa.or_(runtime.last_snapshot_time.is_(None), runtime.last_snapshot_time < cutoff),
                sa.or_(latest.is_(None), latest < cutoff),
            )
            .order_by(proj.subscription_id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [Due(r.subscription_id, r.exchange, r.market) for r in await conn.execute(query)]


def _in_range(subscription_id: str, start: datetime, end: datetime) -> Any:
    return sa.and_(_log.subscription_id == subscription_id, _log.time >= start, _log.time < end)


async def _claim(conn: AsyncConnection, snapshot: Snapshot, claim_before: datetime) -> bool:
    runtime = bot_runtime.c
    moved = await conn.execute(
        bot_runtime.update()
        .where(
            runtime.subscription_id == snapshot.subscription_id,
            sa.or_(runtime.last_snapshot_time.is_(None), runtime.last_snapshot_time < claim_before),
        )
        .values(last_snapshot_time=snapshot.time)
    )
    if moved.rowcount == 1:
        return True
    made = await conn.execute(
        bot_runtime.insert()
        .prefix_with("IGNORE", dialect="mysql")
        .prefix_with("OR IGNORE", dialect="sqlite")
        .values(
            subscription_id=snapshot.subscription_id,
            last_snapshot_time=snapshot.time,
            update_time=snapshot.time,
        )
    )
    return bool(made.rowcount == 1)
