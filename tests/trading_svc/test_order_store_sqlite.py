"""The order store on SQLite, the `make run` default, migrated by the project's migrations:
an order's average price, fee and the subscription's exposure come out exact (the bug was
an average price of 59827.059999999996), and a fee in the base asset lowers the position."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.db import make_engine
from mesh.ids import new_id
from tests.support import alembic
from trading_svc.orders.model import (
    BUY,
    MANUAL,
    MARKET,
    PENDING_SUBMIT,
    ExchangeView,
    Fill,
    Order,
    client_order_id,
)
from trading_svc.orders.store import OrderStore
from trading_svc.tables import orders

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[tuple[OrderStore, AsyncEngine]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'botmesh.db'}"
    migrated = alembic(url, "upgrade", "head")
    assert migrated.returncode == 0, migrated.stderr
    engine = make_engine(url)
    yield OrderStore(engine), engine
    await engine.dispose()


async def _order(engine: AsyncEngine, subscription_id: str, quantity: str) -> Order:
    order_id = new_id("ord")
    order = Order(
        order_id=order_id,
        subscription_id=subscription_id,
        credential_id="cred_1",
        exchange="binance",
        client_order_id=client_order_id(order_id),
        exchange_order_id=None,
        market="BTC-USDT",
        side=BUY,
        type=MARKET,
        quantity=Decimal(quantity),
        price=None,
        filled_quantity=Decimal(0),
        average_price=None,
        fee=Decimal(0),
        state=PENDING_SUBMIT,
        source=MANUAL,
        tick_key=None,
        reject_reason="",
        create_time=NOW,
        update_time=NOW,
    )
    async with engine.begin() as conn:  # foreign keys are not enforced on SQLite
        await conn.execute(orders.insert().values(**order.__dict__))
    return order


def _fill(trade_id: str, price: str, qty: str, fee: str, asset: str) -> Fill:
    return Fill(trade_id, Decimal(price), Decimal(qty), Decimal(fee), asset, NOW)


async def test_average_price_of_several_fills_is_exact(
    store: tuple[OrderStore, AsyncEngine],
) -> None:
    orders_, engine = store
    order = await _order(engine, "sub_a", "0.003")
    fills = (
        _fill("1", "59827.05", "0.001", "0.05982705", "USDT"),
        _fill("2", "59827.07", "0.001", "0.05982707", "USDT"),
        _fill("3", "59827.06", "0.001", "0.05982706", "USDT"),
    )
    view = ExchangeView("9001", "closed", Decimal("0.003"), fills)
    _, after, new = await orders_.record_view(order.order_id, view)
    again = await orders_.load(order.order_id)
    assert len(new) == 3
    assert after.state == again.state == "FILLED"
    assert again.average_price == Decimal("59827.06")
    assert again.filled_quantity == Decimal("0.003")
    assert again.fee == Decimal("0.17948118")
    exposure = await orders_.exposure("sub_a", Decimal(0))
    assert exposure.position == Decimal("0.003")
    assert exposure.net_spent == Decimal("179.48118") + Decimal("0.17948118")


async def test_an_average_that_does_not_terminate_is_kept_to_18_places(
    store: tuple[OrderStore, AsyncEngine],
) -> None:
    orders_, engine = store
    order = await _order(engine, "sub_b", "0.003")
    fills = (
        _fill("1", "59827.05", "0.001", "0", "USDT"),
        _fill("2", "59827.05", "0.001", "0", "USDT"),
        _fill("3", "59827.06", "0.001", "0", "USDT"),
    )
    await orders_.record_view(
        order.order_id, ExchangeView("9002", "closed", Decimal("0.003"), fills)
    )
    assert (await orders_.load(order.order_id)).average_price == Decimal("59827.053333333333333333")


async def test_a_fee_in_the_base_asset_lowers_the_position_not_the_quote(
    store: tuple[OrderStore, AsyncEngine],
) -> None:
    orders_, engine = store
    order = await _order(engine, "sub_c", "0.002")
    fills = (
        _fill("1", "60000", "0.001", "0.000001", "BTC"),
        _fill("2", "60000.1", "0.001", "0.000001", "BTC"),
    )
    await orders_.record_view(
        order.order_id, ExchangeView("9003", "closed", Decimal("0.002"), fills)
    )
    exposure = await orders_.exposure("sub_c", Decimal(0))
    assert exposure.position == Decimal("0.001998")
    assert exposure.net_spent == Decimal("120.0001")
