"""Domain records to protobuf messages (protobuf, not grpc: events use them too)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botmesh.trading.v1 import resources_pb2 as pb

from mesh.decimals import dec_str
from mesh.timestamps import ts, ts_ms
from trading_svc.orders.model import BUY, LIMIT, MANUAL, Order, Trade

_SIDES = {BUY: pb.ORDER_SIDE_BUY, "sell": pb.ORDER_SIDE_SELL}
_TYPES = {"market": pb.ORDER_TYPE_MARKET, LIMIT: pb.ORDER_TYPE_LIMIT}


def side_from_pb(value: int) -> str:
    return BUY if value == pb.ORDER_SIDE_BUY else "sell"


def type_from_pb(value: int) -> str:
    return LIMIT if value == pb.ORDER_TYPE_LIMIT else "market"


def order_pb(order: Order) -> pb.Order:
    return pb.Order(
        order_id=order.order_id,
        subscription_id=order.subscription_id,
        client_order_id=order.client_order_id,
        exchange_order_id=order.exchange_order_id or "",
        market=order.market,
        side=_SIDES[order.side],
        type=_TYPES[order.type],
        quantity=dec_str(order.quantity),
        price=dec_str(order.price),
        filled_quantity=dec_str(order.filled_quantity),
        average_price=dec_str(order.average_price),
        fee=dec_str(order.fee),
        state=pb.OrderState.Value(f"ORDER_STATE_{order.state}"),
        source=pb.ORDER_SOURCE_MANUAL if order.source == MANUAL else pb.ORDER_SOURCE_BOT,
        reject_reason=order.reject_reason,
        create_time=ts(order.create_time),
        update_time=ts(order.update_time),
    )


def trade_pb(trade: Trade) -> pb.Trade:
    return pb.Trade(
        trade_id=trade.trade_id,
        order_id=trade.order_id,
        exchange_trade_id=trade.exchange_trade_id,
        market=trade.market,
        side=_SIDES[trade.side],
        price=dec_str(trade.price),
        quantity=dec_str(trade.quantity),
        fee=dec_str(trade.fee),
        fee_asset=trade.fee_asset,
        time=ts(trade.time),
    )


def ticker_pb(market: str, ticker: dict[str, Any]) -> pb.Ticker:
    """A ccxt unified ticker."""
    return pb.Ticker(
        market=market,
        last=dec_str(ticker.get("last")),
        bid=dec_str(ticker.get("bid")),
        ask=dec_str(ticker.get("ask")),
        high=dec_str(ticker.get("high")),
        low=dec_str(ticker.get("low")),
        base_volume=dec_str(ticker.get("baseVolume")),
        quote_volume=dec_str(ticker.get("quoteVolume")),
        change_percent=dec_str(ticker.get("percentage")),
        time=ts_ms(ticker.get("timestamp")) or ts(datetime.now(UTC)),
    )
