"""Unmodified ccxt.binance trading against the simulator: orders, fills, fees, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import ccxt.async_support as ccxt
import pytest

from exchange_sim import AdminClient, Credentials, SimServer

pytestmark = pytest.mark.timeout(60)  # every wait below is bounded; this is a backstop
ExchangeFactory = Callable[..., Any]


def below_market(ticker: dict[str, Any], factor: float = 0.8) -> float:
    return round(ticker["bid"] * factor, 2)


async def test_fetch_balance_shows_admin_funding(exchange: Any) -> None:
    balance = await exchange.fetch_balance()
    assert balance["USDT"] == {"free": 100000.0, "used": 0.0, "total": 100000.0}
    assert balance["BTC"]["total"] == 2.0


async def test_market_buy_fills_against_depth_and_charges_quote_fee(exchange: Any) -> None:
    order = await exchange.create_order("BTC/USDT", "market", "buy", 0.05)
    assert order["status"] == "closed" and order["filled"] == 0.05
    assert order["fee"]["currency"] == "USDT"
    assert order["fee"]["cost"] == pytest.approx(order["cost"] * 0.001, rel=1e-6)
    balance = await exchange.fetch_balance()
    spent = 100000 - balance["USDT"]["total"]
    assert spent == pytest.approx(order["cost"] + order["fee"]["cost"], abs=1e-8)
    assert balance["BTC"]["total"] == pytest.approx(2.05)


async def test_market_buy_by_cost_uses_quote_order_qty(exchange: Any) -> None:
    order = await exchange.create_order("ETH/USDT", "market", "buy", None, None, {"cost": 500})
    assert order["info"]["origQuoteOrderQty"] == "500.00000000"
    assert 499 < order["cost"] <= 500
    assert order["filled"] == pytest.approx(order["cost"] / order["average"])


async def test_market_sell_receives_proceeds_minus_fee(exchange: Any) -> None:
    order = await exchange.create_order("ETH/USDT", "market", "sell", 1)
    balance = await exchange.fetch_balance()
    expected = 100000 + order["cost"] - order["fee"]["cost"]
    assert balance["USDT"]["total"] == pytest.approx(expected)
    assert balance["ETH"]["total"] == pytest.approx(19)


async def test_limit_order_rests_locks_funds_and_is_found_by_id_and_client_id(
    exchange: Any,
) -> None:
    price = below_market(await exchange.fetch_ticker("BTC/USDT"))
    order = await exchange.create_order(
        "BTC/USDT", "limit", "buy", 0.01, price, {"clientOrderId": "rest-1"}
    )
    assert order["status"] == "open" and order["clientOrderId"] == "rest-1"
    by_id = await exchange.fetch_order(order["id"], "BTC/USDT")
    by_client = await exchange.fetch_order(None, "BTC/USDT", {"clientOrderId": "rest-1"})
    assert by_id["id"] == by_client["id"] == order["id"]
    assert by_id["price"] == price and by_id["amount"] == 0.01 and by_id["filled"] == 0
    balance = await exchange.fetch_balance()
    assert balance["USDT"]["used"] == pytest.approx(round(price * 0.01 * 1.001, 8))


async def test_open_orders_and_cancel_release_the_lock(exchange: Any) -> None:
    price = below_market(await exchange.fetch_ticker("ETH/USDT"))
    first = await exchange.create_order("ETH/USDT", "limit", "buy", 0.5, price)
    await exchange.create_order("ETH/USDT", "limit", "buy", 0.5, price, {"clientOrderId": "c2"})
    assert {o["id"] for o in await exchange.fetch_open_orders("ETH/USDT")} >= {first["id"]}
    assert len(await exchange.fetch_open_orders()) == 2
    canceled = await exchange.cancel_order(first["id"], "ETH/USDT")
    assert canceled["status"] == "canceled" and canceled["info"]["origClientOrderId"]
    by_client = await exchange.cancel_order(None, "ETH/USDT", {"clientOrderId": "c2"})
    assert by_client["status"] == "canceled"
    assert await exchange.fetch_open_orders("ETH/USDT") == []
    assert (await exchange.fetch_balance())["USDT"]["used"] == 0


async def test_cancel_of_a_filled_order_and_query_of_unknown_order_raise_order_not_found(
    exchange: Any,
) -> None:
    filled = await exchange.create_order("BTC/USDT", "market", "sell", 0.001)
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        await exchange.cancel_order(filled["id"], "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound, match="-2013"):
        await exchange.fetch_order("999999999", "BTC/USDT")


async def test_duplicate_client_order_id_of_an_open_order_is_rejected(exchange: Any) -> None:
    price = below_market(await exchange.fetch_ticker("BTC/USDT"))
    params = {"clientOrderId": "same-id"}
    first = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, price, params)
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, price, params)
    await exchange.cancel_order(first["id"], "BTC/USDT")
    again = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, price, params)
    assert again["id"] != first["id"]


async def test_insufficient_balance_raises_insufficient_funds_and_places_nothing(
    sim: SimServer, admin: AdminClient, make_exchange: ExchangeFactory
) -> None:
    creds = await admin.create_account({"USDT": "50"})
    ex = make_exchange(sim, creds)
    with pytest.raises(ccxt.InsufficientFunds):
        await ex.create_order("BTC/USDT", "market", "buy", 0.01)
    assert await admin.orders(creds.api_key) == []


async def test_filter_failures_surface_as_ccxt_order_errors(exchange: Any) -> None:
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):
        await exchange.create_order("BTC/USDT", "limit", "buy", 0.00002, 50000)
    with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):  # bypass ccxt's rounding
        await exchange.privatePostOrder(
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.001",
                "price": "50000.005",
            }
        )


async def test_limit_maker_that_would_take_is_rejected(exchange: Any) -> None:
    ask = (await exchange.fetch_order_book("BTC/USDT", 5))["asks"][0][0]
    with pytest.raises(ccxt.InvalidOrder, match="immediately match"):
        await exchange.create_order(
            "BTC/USDT", "limit", "buy", 0.001, ask * 1.01, {"postOnly": True}
        )


async def test_my_trades_report_quote_commission_and_taker_side(exchange: Any) -> None:
    order = await exchange.create_order("BTC/USDT", "market", "buy", 0.02)
    trades = await exchange.fetch_my_trades("BTC/USDT")
    mine = [t for t in trades if t["order"] == order["id"]]
    assert mine and sum(t["amount"] for t in mine) == pytest.approx(0.02)
    for trade in mine:
        assert trade["side"] == "buy" and trade["takerOrMaker"] == "taker"
        assert trade["fee"]["currency"] == "USDT"
        assert trade["fee"]["cost"] == pytest.approx(trade["cost"] * 0.001, abs=1e-8)


async def test_limit_order_partially_then_fully_filled_as_price_crosses(
    fresh_sim: SimServer, fresh_admin: AdminClient, make_exchange: ExchangeFactory
) -> None:
    creds = await fresh_admin.create_account({"USDT": "10000"})
    ex = make_exchange(fresh_sim, creds)
    await fresh_admin.pause_matcher()
    await fresh_admin.set_price("BTCUSDT", "60000")
    order = await ex.create_order("BTC/USDT", "limit", "buy", 0.03, 59000)
    assert order["status"] == "open" and order["filled"] == 0
    await fresh_admin.set_maker_liquidity("BTCUSDT", "0.01")
    await fresh_admin.set_price("BTCUSDT", "58000")  # the market trades through 59000
    assert await fresh_admin.match_step() == 1
    partial = await ex.fetch_order(order["id"], "BTC/USDT")
    assert partial["info"]["status"] == "PARTIALLY_FILLED" and partial["filled"] == 0.01
    await fresh_admin.match_step()
    await fresh_admin.match_step()
    done = await ex.fetch_order(order["id"], "BTC/USDT")
    assert done["status"] == "closed" and done["filled"] == 0.03 and done["average"] == 59000
    trades = await ex.fetch_my_trades("BTC/USDT")
    assert len(trades) == 3 and all(t["takerOrMaker"] == "maker" for t in trades)
    balance = await ex.fetch_balance()
    assert balance["USDT"]["total"] == pytest.approx(10000 - 1770 - 1.77)
    assert balance["USDT"]["used"] == 0 and balance["BTC"]["total"] == pytest.approx(0.03)


async def test_background_matcher_fills_resting_orders_without_help(
    fresh_sim: SimServer, fresh_admin: AdminClient, make_exchange: ExchangeFactory
) -> None:
    creds = await fresh_admin.create_account({"BTC": "1"})
    ex = make_exchange(fresh_sim, creds)
    await fresh_admin.set_price("BTCUSDT", "60000")
    order = await ex.create_order("BTC/USDT", "limit", "sell", 0.01, 61000)
    await fresh_admin.set_price("BTCUSDT", "62000")
    for _ in range(40):
        status = (await ex.fetch_order(order["id"], "BTC/USDT"))["status"]
        if status == "closed":
            break
        await asyncio.sleep(0.05)
    assert status == "closed"


async def test_keys_without_trade_permission_cannot_place_orders(
    sim: SimServer, admin: AdminClient, make_exchange: ExchangeFactory
) -> None:
    creds = await admin.create_account({"USDT": "1000"}, can_trade=False)
    ex = make_exchange(sim, creds)
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        await ex.create_order("BTC/USDT", "market", "buy", 0.001)
    assert (await ex.fetch_balance())["USDT"]["total"] == 1000  # reading still works


@pytest.mark.parametrize("can_withdraw", [True, False])
async def test_api_restrictions_report_the_configured_withdraw_permission(
    sim: SimServer, admin: AdminClient, make_exchange: ExchangeFactory, can_withdraw: bool
) -> None:
    creds: Credentials = await admin.create_account({}, can_withdraw=can_withdraw)
    restrictions = await make_exchange(sim, creds).sapiGetAccountApiRestrictions()
    assert restrictions["enableWithdrawals"] is can_withdraw
    assert restrictions["enableReading"] is True
    assert restrictions["enableSpotAndMarginTrading"] is True
    assert restrictions["ipRestrict"] is False and restrictions["createTime"] > 0


async def test_ip_whitelist_rejects_other_addresses(
    sim: SimServer, admin: AdminClient, make_exchange: ExchangeFactory
) -> None:
    creds = await admin.create_account({}, ip_whitelist=["10.1.2.3"])
    ex = make_exchange(sim, creds)
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        await ex.fetch_balance()
    await admin.set_permissions(creds.api_key, ip_whitelist=["127.0.0.1"])
    assert (await ex.sapiGetAccountApiRestrictions())["ipRestrict"] is True
