"""Audit rows of orders and cancels, on the shared hash chain (mesh/audit.py).

An order's row is appended in the transaction that creates it (before anything is sent), a
cancel's row before the cancel request goes out: the chain holds every intent that could
reach the exchange, whoever asked (the principal, or a wind-down). Details are identifiers,
market terms and states only; never a credential or anything secret.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mesh.audit import AuditLog, Event
from trading_svc.orders.model import Order

BY_PRINCIPAL, BY_WIND_DOWN = "principal", "wind_down"


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def placed(order: Order) -> Event:
    return Event(
        "order.place",
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

    def in_transaction(self, event: Event) -> Callable[[AsyncConnection], Awaitable[None]]:
        """For OrderStore.create: appends `event` in the creating transaction."""

        async def append(conn: AsyncConnection) -> None:
            await self._log.record(conn, event)

        return append

    async def record(self, event: Event) -> None:
        async with self._engine.begin() as conn:
            await self._log.record(conn, event)
