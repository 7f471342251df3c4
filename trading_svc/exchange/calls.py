"""The exchange calls orders need, with ccxt's time-difference resync on -1021: a
stale-timestamp refusal is never executed, so one retry after resyncing is safe. A new order
is the exception: its signing time is recorded before it is sent, so orders/execution.py
re-signs it itself.

This adapter knows no order model: it takes what it sends as `OrderRequest` (any object
with those fields, the orders package's Order among them) and returns ccxt's dicts, which
orders/views.py reads into our terms."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import ccxt.async_support as ccxt

T = TypeVar("T")


def signs_with_timestamp(client: Any) -> bool:
    """True for ccxt's binance family (binance, binanceus, ...): its signed requests carry a
    `timestamp` parameter we may set ourselves."""
    return isinstance(client, ccxt.binance)


class OrderRequest(Protocol):
    """What is sent for an order, and what finds it again (its client order id)."""

    @property
    def client_order_id(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def side(self) -> str: ...

    @property
    def quantity(self) -> Decimal: ...

    @property
    def price(self) -> Decimal | None: ...

    @property
    def signed_time(self) -> datetime | None: ...


async def clock_safe(client: Any, call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except ccxt.InvalidNonce:
        await client.load_time_difference()
        return await call()


async def submit(client: Any, symbol: str, order: OrderRequest) -> dict[str, Any]:
    """Sends the order once, signed with the timestamp of its signed_time (no -1021 retry
    here: a re-signed request must be recorded first, see orders/execution.py)."""
    price = float(order.price) if order.price is not None else None
    params: dict[str, Any] = {"clientOrderId": order.client_order_id}
    if order.signed_time is not None and signs_with_timestamp(client):
        params["timestamp"] = signed_timestamp(client, order.signed_time)
    result = await client.create_order(
        symbol, order.type, order.side, float(order.quantity), price, params
    )
    return result  # type: ignore[no-any-return]


def signed_timestamp(client: Any, signed_time: datetime) -> int:
    """The request timestamp for a signing at `signed_time` on our clock, as ccxt's binance
    nonce() makes it: our milliseconds less the measured difference to the exchange's."""
    difference = int(client.options.get("timeDifference") or 0)
    return int(signed_time.timestamp() * 1000) - difference


async def by_client_id(client: Any, symbol: str, order: OrderRequest) -> dict[str, Any]:
    """The exchange's order for our client order id; raises OrderNotFound when it has none."""
    params = {"origClientOrderId": order.client_order_id}
    return await clock_safe(client, lambda: client.fetch_order("", symbol, params))  # type: ignore[no-any-return]


async def fills_of(client: Any, symbol: str, exchange_order_id: str) -> list[dict[str, Any]]:
    params = {"orderId": exchange_order_id}
    return await clock_safe(client, lambda: client.fetch_my_trades(symbol, None, None, params))  # type: ignore[no-any-return]


async def cancel(client: Any, symbol: str, exchange_order_id: str) -> dict[str, Any]:
    return await clock_safe(client, lambda: client.cancel_order(exchange_order_id, symbol))  # type: ignore[no-any-return]
