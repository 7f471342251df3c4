"""The exchange calls orders need, in our terms (ExchangeView, Fill), with ccxt's
time-difference resync on -1021: a stale-timestamp refusal is never executed, so one retry
after resyncing is safe. A new order is the exception: its signing time is recorded before
it is sent, so orders/execution.py re-signs it itself."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import ccxt.async_support as ccxt

from trading_svc.exchange.markets import dec
from trading_svc.orders.model import ExchangeView, Fill, Order

T = TypeVar("T")
# ccxt classes whose signed requests carry a `timestamp` parameter we may set ourselves.
SIGNS_WITH_TIMESTAMP = frozenset({"binance", "binanceus"})


async def clock_safe(client: Any, call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except ccxt.InvalidNonce:
        await client.load_time_difference()
        return await call()


def _fill(raw: dict[str, Any]) -> Fill | None:
    trade_id = raw.get("id")
    if trade_id is None:
        return None
    fee = raw.get("fee") or {}
    millis = raw.get("timestamp") or time.time() * 1000
    return Fill(
        exchange_trade_id=str(trade_id),
        price=dec(raw.get("price")) or Decimal(0),
        quantity=dec(raw.get("amount")) or Decimal(0),
        fee=dec(fee.get("cost")) or Decimal(0),
        fee_asset=str(fee.get("currency") or ""),
        time=datetime.fromtimestamp(millis / 1000, UTC),
    )


def view_of(raw: dict[str, Any], fills: list[dict[str, Any]] | None = None) -> ExchangeView:
    """Our view of a ccxt order; fills from `fills` (myTrades) or the order's own trades."""
    parsed = [_fill(t) for t in (fills if fills is not None else raw.get("trades") or [])]
    return ExchangeView(
        exchange_order_id=str(raw["id"]),
        status=str(raw.get("status") or "open"),
        filled=dec(raw.get("filled")) or Decimal(0),
        fills=tuple(f for f in parsed if f is not None),
    )


async def submit(client: Any, symbol: str, order: Order) -> dict[str, Any]:
    """Sends the order once, signed with the timestamp of its signed_time (no -1021 retry
    here: a re-signed request must be recorded first, see orders/execution.py)."""
    price = float(order.price) if order.price is not None else None
    params: dict[str, Any] = {"clientOrderId": order.client_order_id}
    if order.signed_time is not None and client.id in SIGNS_WITH_TIMESTAMP:
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


async def by_client_id(client: Any, symbol: str, order: Order) -> dict[str, Any]:
    """The exchange's order for our client order id; raises OrderNotFound when it has none."""
    params = {"origClientOrderId": order.client_order_id}
    return await clock_safe(client, lambda: client.fetch_order("", symbol, params))  # type: ignore[no-any-return]


async def fills_of(client: Any, symbol: str, exchange_order_id: str) -> list[dict[str, Any]]:
    params = {"orderId": exchange_order_id}
    return await clock_safe(client, lambda: client.fetch_my_trades(symbol, None, None, params))  # type: ignore[no-any-return]


async def cancel(client: Any, symbol: str, exchange_order_id: str) -> dict[str, Any]:
    return await clock_safe(client, lambda: client.cancel_order(exchange_order_id, symbol))  # type: ignore[no-any-return]
