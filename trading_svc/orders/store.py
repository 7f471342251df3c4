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

from mesh.db import exact_sums, money, utcnow
from mesh.errors import NotFound
from mesh.ids import new_id
from trading_svc.orders.allocation import Exposure, FillSums, held_and_spent, reserve_price
from trading_svc.orders.model import (
    BUY,
    LIVE,
    TERMINAL,
    UNSETTLED,
    ExchangeView,
    Order,
    Trade,
    advances,
    settled_state,
)
from trading_svc.orders.projection import Projected, upsert
from trading_svc.tables import orders, subscription_projection, trades

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
        self, order: Order, check: Any, reference_price: Decimal, subscription: Projected
    ) -> Order:
        """Inserts a PENDING_SUBMIT order if `check(exposure)` passes, with the
        subscription's projection row locked so concurrent orders see each other. The lock is
        taken by upserting the row from the credential service's answer (`subscription`):
        the upsert makes sure the row exists, brings it forward when the answer is newer, and
        on MySQL holds its exclusive lock (INSERT ... ON DUPLICATE KEY UPDATE locks the row
        whether or not it changes it) until the commit; SQLite serialises writers anyway.
        An order with the same intent already there is returned instead (and nothing is
        checked or inserted): the lock makes the look-up and the insert one step."""
        async with self._engine.begin() as conn:
            await upsert(conn, subscription)
            if order.intent_key is not None:
                existing = await self._by_intent(conn, order.subscription_id, order.intent_key)
                if existing is not None:
                    return existing
            check(await self._exposure(conn, order.subscription_id, reference_price))
            await conn.execute(orders.insert().values(**order.__dict__))
        return order

    async def by_intent(self, subscription_id: str, intent_key: str) -> Order | None:
        async with self._engine.connect() as conn:
            return await self._by_intent(conn, subscription_id, intent_key)

    @staticmethod
    async def _by_intent(
        conn: AsyncConnection, subscription_id: str, intent_key: str
    ) -> Order | None:
        row = (
            await conn.execute(
                sa.select(orders).where(
                    orders.c.subscription_id == subscription_id,
                    orders.c.intent_key == intent_key,
                )
            )
        ).first()
        return None if row is None else _order(row)

    async def exposure(self, subscription_id: str, reference_price: Decimal) -> Exposure:
        async with self._engine.connect() as conn:
            return await self._exposure(conn, subscription_id, reference_price)

    async def _exposure(
        self, conn: AsyncConnection, subscription_id: str, reference_price: Decimal
    ) -> Exposure:
        sums = await exact_sums(
            conn,
            (trades.c.quantity, (trades.c.price, trades.c.quantity), trades.c.fee),
            trades.c.subscription_id == subscription_id,
            (trades.c.side, trades.c.market, trades.c.fee_asset),
        )
        position, net_spent = held_and_spent(
            FillSums(side, market, fee_asset, qty, value, fee)
            for (side, market, fee_asset), (qty, value, fee) in sums.items()
        )
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
            position=position,
            net_spent=net_spent,
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
            sums = await exact_sums(
                conn,
                (trades.c.quantity, (trades.c.price, trades.c.quantity), trades.c.fee),
                trades.c.order_id == order_id,
            )
            filled, value, fee = sums.get((), (Decimal(0), Decimal(0), Decimal(0)))
            state = settled_state(view, filled)
            changes: dict[str, Any] = {
                "exchange_order_id": view.exchange_order_id,
                "filled_quantity": filled,
                "fee": fee,
                # Rounded as the column keeps it, so a re-read compares equal.
                "average_price": money(value / filled) if filled else None,
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

    async def needing_attention(
        self, states: Iterable[str], limit: int, *, eligible: Any = None
    ) -> list[Order]:
        """Orders in `states` whose subscription meets `eligible` (a condition on the
        subscription projection), unsettled ones first, then least recently touched first."""
        query = (
            sa.select(orders)
            .where(orders.c.state.in_(tuple(states)))
            .order_by(
                sa.case((orders.c.state.in_(tuple(UNSETTLED)), 0), else_=1),
                orders.c.update_time,
            )
            .limit(limit)
        )
        if eligible is not None:
            query = query.join(
                subscription_projection,
                subscription_projection.c.subscription_id == orders.c.subscription_id,
            ).where(eligible)
        async with self._engine.connect() as conn:
            return [_order(r) for r in await conn.execute(query)]

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
