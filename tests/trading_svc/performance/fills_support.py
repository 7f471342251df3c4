"""Fills for the performance tests, written as the order path stores them: one FILLED order
row per fill, and the fill in `trades`."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.ids import new_id
from trading_svc.orders.model import FILLED, MANUAL, MARKET, client_order_id
from trading_svc.performance.ledger import LedgerFill
from trading_svc.tables import orders, trades


async def record_fills(engine: AsyncEngine, subscription_id: str, fills: list[LedgerFill]) -> None:
    async with engine.begin() as conn:
        for fill in fills:
            order_id = new_id("ord")
            await conn.execute(
                orders.insert().values(
                    order_id=order_id,
                    subscription_id=subscription_id,
                    credential_id="cred_perf",
                    exchange="binance",
                    client_order_id=client_order_id(order_id),
                    exchange_order_id=new_id("x"),
                    market=fill.market,
                    side=fill.side,
                    type=MARKET,
                    quantity=fill.quantity,
                    price=None,
                    filled_quantity=fill.quantity,
                    average_price=fill.price,
                    fee=fill.fee,
                    state=FILLED,
                    source=MANUAL,
                    create_time=fill.time,
                    update_time=fill.time,
                )
            )
            await conn.execute(
                trades.insert().values(
                    trade_id=new_id("trd"),
                    order_id=order_id,
                    subscription_id=subscription_id,
                    exchange="binance",
                    market=fill.market,
                    exchange_trade_id=new_id("t"),
                    side=fill.side,
                    price=fill.price,
                    quantity=fill.quantity,
                    fee=fill.fee,
                    fee_asset=fill.fee_asset,
                    time=fill.time,
                )
            )
