"""Audit rows of orders and cancels, on the shared hash chain (mesh/audit.py).

An order's row is appended beside its send, off the caller's path (orders/submission.py);
the reconciler's pass over recent orders appends any a crash or a database error left out. A cancel's row is appended before the cancel request goes out.
So the chain holds every intent that could reach the exchange, whoever asked (the
principal, or a wind-down). Details are identifiers,
market terms and states only; never a credential or anything secret.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.audit import AuditLog, Event
from mesh.tables import audit_log
from trading_svc.orders.model import Order
from trading_svc.tables import orders

BY_PRINCIPAL, BY_WIND_DOWN = "principal", "wind_down"


def _text(value: object) -> str | None:
    return None if value is None else str(value)


PLACE = "order.place"
REPAIR_BATCH = 500


def placed(order: Order) -> Event:
    return Event(
        PLACE,
        order.order_id,
        {
            "subscription_id": order.subscription_id,
            "client_order_id": order.client_order_id,
            "market": order.market,
            "side": order.side,
            "type": order.type,
            "quantity": _text(order.quantity),
            "price": _text(order.price),
            "source": order.source,
        },
    )


def cancel_requested(order: Order, by: str) -> Event:
    return Event(
        "order.cancel",
        order.order_id,
        {
            "subscription_id": order.subscription_id,
            "exchange_order_id": order.exchange_order_id,
            "state": order.state,
            "by": by,
        },
    )


class OrderAudit:
    def __init__(self, engine: AsyncEngine, log: AuditLog) -> None:
        self._engine = engine
        self._log = log

    async def placed(self, order: Order) -> None:
        """Appends the order's `order.place` row, once: the submission (beside its send,
        orders/submission.py) and the reconciler's repair may both try."""
        async with self._engine.begin() as conn:
            await self._log.record_once(conn, placed(order))

    async def repair(self, since: datetime) -> int:
        """Appends `order.place` for orders created since `since` that lack it (their
        task did not finish: a crash, a database error); returns how many."""
        missing = (
            sa.select(orders)
            .where(orders.c.create_time >= since)
            .where(
                ~sa.exists().where(
                    audit_log.c.resource == orders.c.order_id, audit_log.c.action == PLACE
                )
            )
            .limit(REPAIR_BATCH)
        )
        async with self._engine.connect() as conn:
            found = [Order(**dict(r._mapping)) for r in await conn.execute(missing)]
        for order in found:
            await self.placed(order)
        return len(found)

    async def record(self, event: Event) -> None:
        async with self._engine.begin() as conn:
            await self._log.record(conn, event)
