"""SQL of orders and fills.

Transitions made without the exchange's word (sending, UNKNOWN after a lost answer, a
refusal) are compare-and-set on (state, update_time), so of two actors (a request and a
reconciler, or two replicas) only one can resubmit an order. Recording the exchange's view
locks the order row and only ever moves forward. Fills are inserted with INSERT IGNORE
against the (order_id, exchange_trade_id) unique key, so a fill reported twice is stored
once, and an order's filled quantity is recomputed as the sum of its distinct fills.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from credential_svc.tables import subscriptions
from mesh.db import utcnow
from mesh.errors import NotFound
from mesh.ids import new_id
from trading_svc.orders.allocation import Exposure, reserve_price
from trading_svc.orders.model import (
    BUY,
    LIVE,
    SELL,
    TERMINAL,
    UNSETTLED,
    ExchangeView,
    Order,
    Trade,
    advances,
    settled_state,
)
from trading_svc.tables import orders, trades

_OPEN_STATES = tuple(LIVE | UNSETTLED)


def _order(row: Any) -> Order:
    return Order(**{c.name: row._mapping[c.name] for c in orders.columns})


def _trade(row: Any) -> Trade:
    return Trade(**{c.name: row._mapping[c.name] for c in trades.columns})


def _later(previous: datetime) -> datetime:
    """A fresh update_time strictly after the previous one: it is the CAS version."""
    now = utcnow()
    return now if now > previous else previous + timedelta(microseconds=1)


class OrderStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(
        self, order: Order, check: Any, reference_price: Decimal, audit: Any = None
    ) -> None:
        """Inserts a PENDING_SUBMIT order if `check(exposure)` passes, with the
        subscription row locked so concurrent orders see each other; `audit(conn)` appends
        its audit row in the same transaction."""
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.select(subscriptions.c.subscription_id)
                .where(subscriptions.c.subscription_id == order.subscription_id)
                .with_for_update()
            )
            check(await self._exposure(conn, order.subscription_id, reference_price))
            await conn.execute(orders.insert().values(**order.__dict__))
            if audit is not None:
                await audit(conn)

    async def exposure(self, subscription_id: str, reference_price: Decimal) -> Exposure:
        async with self._engine.connect() as conn:
            return await self._exposure(conn, subscription_id, reference_price)

    async def _exposure(
        self, conn: AsyncConnection, subscription_id: str, reference_price: Decimal
    ) -> Exposure:
        fills = await conn.execute(
            sa.select(
                trades.c.side,
                sa.func.coalesce(sa.func.sum(trades.c.quantity), 0),
                sa.func.coalesce(sa.func.sum(trades.c.price * trades.c.quantity), 0),
                sa.func.coalesce(sa.func.sum(trades.c.fee), 0),
            )
            .where(trades.c.subscription_id == subscription_id)
            .group_by(trades.c.side)
        )
        sums = {side: (Decimal(q), Decimal(v), Decimal(f)) for side, q, v, f in fills}
        zero = (Decimal(0), Decimal(0), Decimal(0))
        bq, bv, bf = sums.get(BUY, zero)
        sq, sv, sf = sums.get(SELL, zero)
        pending = await conn.execute(
            sa.select(
                orders.c.side,
                orders.c.type,
                orders.c.quantity,
                orders.c.filled_quantity,
                orders.c.price,
            ).where(orders.c.subscription_id == subscription_id, orders.c.state.in_(_OPEN_STATES))
        )
        buy_reserve, sell_open = Decimal(0), Decimal(0)
        for side, kind, qty, filled, price in pending:
            left = Decimal(qty) - Decimal(filled)
            if side == BUY:
                buy_reserve += left * reserve_price(kind, Decimal(price or reference_price))
            else:
                sell_open += left
        return Exposure(
            position=bq - sq,
            net_spent=bv + bf - sv + sf,
            open_buy_reserve=buy_reserve,
            open_sell_quantity=sell_open,
        )

    async def get(self, subscription_id: str, order_id: str) -> Order:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(orders).where(
                        orders.c.order_id == order_id, orders.c.subscription_id == subscription_id
                    )
                )
            ).first()
        if row is None:
            raise NotFound(f"order {order_id} does not exist", reason="ORDER_NOT_FOUND")
        return _order(row)

    async def load(self, order_id: str) -> Order:
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(orders).where(orders.c.order_id == order_id))).one()
        return _order(row)

    async def transition(self, order: Order, **changes: Any) -> Order | None:
        """Compare-and-set from the state and version `order` was read at."""
        changes["update_time"] = _later(order.update_time)
        async with self._engine.begin() as conn:
            result = await conn.execute(
                orders.update()
                .where(
                    orders.c.order_id == order.order_id,
                    orders.c.state == order.state,
                    orders.c.update_time == order.update_time,
                )
                .values(**changes)
            )
        return order.with_changes(**changes) if result.rowcount == 1 else None

    async def record_view(
        self, order_id: str, view: ExchangeView
    ) -> tuple[Order, Order, list[Trade]]:
        """Stores the exchange's view: new fills, then the order's sums and state.
        Returns (before, after, fills that were new)."""
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(orders).where(orders.c.order_id == order_id).with_for_update()
                )
            ).one()
            before = _order(row)
            new_trades = await self._insert_fills(conn, before, view)
            qty, value, fee = (
                await conn.execute(
                    sa.select(
                        sa.func.coalesce(sa.func.sum(trades.c.quantity), 0),
                        sa.func.coalesce(sa.func.sum(trades.c.price * trades.c.quantity), 0),
                        sa.func.coalesce(sa.func.sum(trades.c.fee), 0),
                    ).where(trades.c.order_id == order_id)
                )
            ).one()
            filled = Decimal(qty)
            state = settled_state(view, filled)
            changes: dict[str, Any] = {
                "exchange_order_id": view.exchange_order_id,
                "filled_quantity": filled,
                "fee": Decimal(fee),
                "average_price": (Decimal(value) / filled) if filled else None,
            }
            if advances(before.state, state) or before.state == state:
                changes["state"] = state
            if all(getattr(before, k) == v for k, v in changes.items()):
                return before, before, new_trades
            changes["update_time"] = _later(before.update_time)
            await conn.execute(
                orders.update().where(orders.c.order_id == order_id).values(**changes)
            )
        return before, before.with_changes(**changes), new_trades

    async def _insert_fills(
        self, conn: AsyncConnection, order: Order, view: ExchangeView
    ) -> list[Trade]:
        made: list[Trade] = []
        for fill in view.fills:
            trade = Trade(
                trade_id=new_id("trd"),
                order_id=order.order_id,
                subscription_id=order.subscription_id,
                exchange=order.exchange,
                market=order.market,
                exchange_trade_id=fill.exchange_trade_id,
                side=order.side,
                price=fill.price,
                quantity=fill.quantity,
                fee=fill.fee,
                fee_asset=fill.fee_asset,
                time=fill.time,
            )
            statement = (
                trades.insert()
                .prefix_with("IGNORE", dialect="mysql")
                .prefix_with("OR IGNORE", dialect="sqlite")
                .values(**trade.__dict__)
            )
            if (await conn.execute(statement)).rowcount == 1:
                made.append(trade)
        return made

    async def needing_attention(self, states: Iterable[str], limit: int) -> list[Order]:
        """Orders in `states`, least recently touched first."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(orders)
                .where(orders.c.state.in_(tuple(states)))
                .order_by(orders.c.update_time)
                .limit(limit)
            )
            return [_order(r) for r in rows]

    async def orders_page(
        self, subscription_id: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[Order]:
        from mesh.db import keyset_after

        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(orders)
                .where(
                    orders.c.subscription_id == subscription_id,
                    keyset_after(orders, "order_id", after),
                )
                .order_by(orders.c.create_time.desc(), orders.c.order_id.desc())
                .limit(limit)
            )
            return [_order(r) for r in rows]

    async def trades_page(
        self, subscription_id: str, limit: int, after: tuple[datetime, str] | None
    ) -> list[Trade]:
        condition: Any = sa.true()
        if after is not None:
            when, ident = after
            condition = sa.or_(
                trades.c.time < when, sa.and_(trades.c.time == when, trades.c.trade_id < ident)
            )
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(trades)
                .where(trades.c.subscription_id == subscription_id, condition)
                .order_by(trades.c.time.desc(), trades.c.trade_id.desc())
                .limit(limit)
            )
            return [_trade(r) for r in rows]

    async def known_trade_ids(
        self, credential_id: str, market: str, ids: Iterable[str]
    ) -> set[str]:
        """Which of an exchange account's reported trade ids we have stored."""
        wanted = list(ids)
        if not wanted:
            return set()
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(trades.c.exchange_trade_id)
                .join(orders, orders.c.order_id == trades.c.order_id)
                .where(
                    orders.c.credential_id == credential_id,
                    trades.c.market == market,
                    trades.c.exchange_trade_id.in_(wanted),
                )
            )
            return {r[0] for r in rows}

    async def by_exchange_ids(
        self, credential_id: str, exchange_order_ids: Iterable[str]
    ) -> list[Order]:
        wanted = list(exchange_order_ids)
        if not wanted:
            return []
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(orders).where(
                    orders.c.credential_id == credential_id,
                    orders.c.exchange_order_id.in_(wanted),
                )
            )
            return [_order(r) for r in rows]


__all__ = ["TERMINAL", "OrderStore"]
