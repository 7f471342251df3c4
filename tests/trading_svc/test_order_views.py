"""ccxt's order and trade dicts read into ExchangeView and Fill (orders/views.py): exact
decimals, fills from myTrades when given, trades without an id skipped."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from trading_svc.orders.model import Fill
from trading_svc.orders.views import view_of

TRADE = {
    "id": "77",
    "price": 60000.1,
    "amount": 0.001,
    "fee": {"cost": 0.06000010, "currency": "USDT"},
    "timestamp": 1_700_000_000_000,
}


def test_an_order_with_its_own_trades() -> None:
    view = view_of(
        {"id": 9001, "status": "closed", "filled": 0.001, "trades": [TRADE, {"id": None}]}
    )
    assert (view.exchange_order_id, view.status, view.filled) == (
        "9001",
        "closed",
        Decimal("0.001"),
    )
    assert view.fills == (
        Fill(
            "77",
            Decimal("60000.1"),
            Decimal("0.001"),
            Decimal("0.0600001"),
            "USDT",
            datetime.fromtimestamp(1_700_000_000, UTC),
        ),
    )


def test_fills_from_my_trades_replace_the_orders_own_and_missing_numbers_read_as_zero() -> None:
    raw = {"id": "5", "status": None, "filled": None, "trades": [TRADE]}
    view = view_of(raw, [{"id": 1, "price": None, "amount": 0.5, "fee": None}])
    assert view.status == "open" and view.filled == 0
    [fill] = view.fills
    assert fill.exchange_trade_id == "1" and fill.price == 0 and fill.quantity == Decimal("0.5")
    assert fill.fee == 0 and fill.fee_asset == ""
