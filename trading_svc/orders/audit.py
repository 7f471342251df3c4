"""Audit rows of orders and cancels, on the shared hash chain (mesh/audit.py).

An order's row is appended alongside its send, and the exchange's answer is recorded only
once it is written (orders/submission.py); the reconciler appends it for an order a crash
left unsettled before that. A cancel's row is appended before the cancel request goes out.
So the chain holds every intent that could reach the exchange, whoever asked (the
principal, or a wind-down). Details are identifiers,
market terms and states only; never a credential or anything secret.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

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

    async def placed(self, order: Order) -> None:
        """Appends the order's `order.place` row, once: the submission (alongside its send,
        orders/submission.py) and the reconciler (for an order a crash left unsettled) may
        both try."""
        async with self._engine.begin() as conn:
            await self._log.record_once(conn, placed(order))

    async def record(self, event: Event) -> None:
        async with self._engine.begin() as conn:
            await self._log.record(conn, event)
