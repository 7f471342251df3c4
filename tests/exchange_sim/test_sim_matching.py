"""Order rules at the domain level (no HTTP): fills, slippage, fees, locks, filters, errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchange_sim import SimConfig, Simulator, params
from exchange_sim.accounts import Account
from exchange_sim.errors import BinanceError
from exchange_sim.orders import Order, OrderRequest, OrderType, Side, Status, TimeInForce

D = Decimal
WALL = 1_750_000_000.0  # frozen wall clock: the book is then fixed too


@pytest.fixture
def sim() -> Simulator:
    return Simulator(SimConfig(seed=2), wall=lambda: WALL)


@pytest.fixture
def acct(sim: Simulator) -> Account:
    return sim.create_account(balances={"USDT": D("1000000"), "BTC": D("5")})


def place(sim: Simulator, acct: Account, **fields: object) -> Order:
    defaults: dict[str, object] = {"symbol": "BTCUSDT", "client_order_id": "cid"}
    return sim.engine.place(acct, OrderRequest(**{**defaults, **fields}))  # type: ignore[arg-type]


def reject_code(exc: pytest.ExceptionInfo[BinanceError]) -> tuple[int, str]:
    return exc.value.code, exc.value.msg


def test_market_buy_walks_the_book_with_slippage_and_pays_fee_in_quote(
    sim: Simulator, acct: Account
) -> None:
    book = sim.book(sim.markets["BTCUSDT"])
    qty = book.asks[0][1] + book.asks[1][1] + D("0.001")  # needs three levels
    order = place(sim, acct, side=Side.BUY, type=OrderType.MARKET, quantity=qty)
    assert order.status is Status.FILLED and order.executed_qty == qty
    assert [f.price for f in order.fills] == [p for p, _ in book.asks[:3]]
    assert order.cum_quote / qty > book.best_ask  # average is worse than the touch
    fees = sum(f.commission for f in order.fills)
    assert fees == sum((f.quote_qty * D("0.001")).quantize(D("1e-8")) for f in order.fills)
    assert {f.commission_asset for f in order.fills} == {"USDT"}
    assert acct.free("USDT") == D("1000000") - order.cum_quote - fees
    assert acct.free("BTC") == D("5") + qty


def test_market_sell_deducts_the_fee_from_the_proceeds(sim: Simulator, acct: Account) -> None:
    order = place(sim, acct, side=Side.SELL, type=OrderType.MARKET, quantity=D("0.1"))
    fee = sum(f.commission for f in order.fills)
    assert fee > 0
    assert acct.free("USDT") == D("1000000") + order.cum_quote - fee
    assert acct.free("BTC") == D("4.9")


def test_quote_order_qty_market_buy_spends_no_more_than_the_quote_amount(
    sim: Simulator, acct: Account
) -> None:
    order = place(sim, acct, side=Side.BUY, type=OrderType.MARKET, quote_qty=D("1000"))
    step = sim.markets["BTCUSDT"].spec.step_size
    assert order.status is Status.FILLED
    assert D("1000") - order.fills[-1].price * step < order.cum_quote <= D("1000")
    assert order.orig_quote_qty == D("1000") and order.orig_qty == order.executed_qty


def test_limit_buy_locks_price_times_qty_plus_fee_and_cancel_releases_it(
    sim: Simulator, acct: Account
) -> None:
    order = place(
        sim,
        acct,
        side=Side.BUY,
        type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        quantity=D("1"),
        price=D("30000"),
    )
    assert order.status is Status.NEW
    assert acct.balance("USDT").locked == D("30030")  # 30000 * (1 + 0.1 %)
    sim.engine.cancel(acct, order)
    assert order.status is Status.CANCELED
    assert acct.balance("USDT").locked == 0 and acct.free("USDT") == D("1000000")
    with pytest.raises(BinanceError) as again:
        sim.engine.cancel(acct, order)
    assert reject_code(again) == (-2011, "Unknown order sent.")


def test_insufficient_balance_is_rejected_and_no_order_is_recorded(sim: Simulator) -> None:
    poor = sim.create_account(balances={"USDT": D("10")})
    with pytest.raises(BinanceError) as exc:
        place(sim, poor, side=Side.BUY, type=OrderType.MARKET, quantity=D("0.01"))
    assert reject_code(exc) == (-2010, "Account has insufficient balance for requested action.")
    with pytest.raises(BinanceError):
        place(
            sim,
            poor,
            side=Side.SELL,
            type=OrderType.LIMIT,
            time_in_force=TimeInForce.GTC,
            quantity=D("0.01"),
            price=D("90000"),
        )
    assert sim.engine.orders_of(poor.api_key) == []
    assert poor.free("USDT") == D("10")


def test_client_order_id_is_unique_among_open_orders_only(sim: Simulator, acct: Account) -> None:
    resting = {"side": Side.BUY, "type": OrderType.LIMIT, "time_in_force": TimeInForce.GTC}
    first = place(sim, acct, quantity=D("0.01"), price=D("30000"), client_order_id="dup", **resting)
    with pytest.raises(BinanceError) as exc:
        place(sim, acct, quantity=D("0.01"), price=D("30000"), client_order_id="dup", **resting)
    assert reject_code(exc) == (-2010, "Duplicate order sent.")
    sim.engine.cancel(acct, first)
    second = place(
        sim, acct, quantity=D("0.01"), price=D("30000"), client_order_id="dup", **resting
    )
    assert second.order_id != first.order_id
    found = sim.engine.find(acct.api_key, "BTCUSDT", None, "dup")
    assert found is second  # the most recent order with that id


def test_limit_maker_that_would_cross_is_rejected(sim: Simulator, acct: Account) -> None:
    ask = sim.book(sim.markets["BTCUSDT"]).best_ask
    with pytest.raises(BinanceError) as exc:
        place(sim, acct, side=Side.BUY, type=OrderType.LIMIT_MAKER, quantity=D("0.01"), price=ask)
    assert reject_code(exc) == (-2010, "Order would immediately match and take.")


def test_marketable_limit_fills_as_taker_never_worse_than_its_price(
    sim: Simulator, acct: Account
) -> None:
    book = sim.book(sim.markets["BTCUSDT"])
    limit_price = book.asks[1][0]  # crosses two levels
    qty = book.asks[0][1] + book.asks[1][1] + D("1")  # more than those two levels hold
    order = place(
        sim,
        acct,
        side=Side.BUY,
        type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        quantity=qty,
        price=limit_price,
    )
    assert order.status is Status.PARTIALLY_FILLED
    assert all(f.price <= limit_price and not f.is_maker for f in order.fills)
    assert order.remaining == D("1")
    assert sim.engine.open_orders(acct.api_key, "BTCUSDT") == [order]


def test_ioc_and_fok_never_rest(sim: Simulator, acct: Account) -> None:
    book = sim.book(sim.markets["BTCUSDT"])
    common = {"side": Side.BUY, "type": OrderType.LIMIT, "price": book.best_ask}
    too_big = book.asks[0][1] + D("1")
    ioc = place(sim, acct, time_in_force=TimeInForce.IOC, quantity=too_big, **common)
    assert ioc.status is Status.EXPIRED and ioc.executed_qty == book.asks[0][1]
    fok = place(
        sim, acct, time_in_force=TimeInForce.FOK, quantity=too_big, client_order_id="f", **common
    )
    assert fok.status is Status.EXPIRED and fok.executed_qty == 0 and fok.fills == []
    assert acct.balance("USDT").locked == 0


def test_resting_order_fills_as_maker_partially_then_fully_when_price_crosses(
    sim: Simulator, acct: Account
) -> None:
    order = place(
        sim,
        acct,
        side=Side.SELL,
        type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        quantity=D("0.3"),
        price=D("70000"),
    )
    assert sim.match_step() == 0 and order.status is Status.NEW
    sim.markets["BTCUSDT"].maker_liquidity = D("0.1")
    sim.set_price("BTCUSDT", D("71000"), hold=True)
    assert sim.match_step() == 1
    assert order.status is Status.PARTIALLY_FILLED and order.executed_qty == D("0.1")
    sim.match_step()
    sim.match_step()
    assert order.status is Status.FILLED and len(order.fills) == 3
    assert all(f.is_maker and f.price == D("70000") for f in order.fills)
    assert acct.balance("BTC").locked == 0
    assert acct.free("USDT") == D("1000000") + D("21000") - D("21")  # 0.1 % maker fee


@pytest.mark.parametrize(
    ("price", "qty", "failure"),
    [
        (D("60000.001"), D("0.01"), "PRICE_FILTER"),
        (D("60000"), D("0.000001"), "LOT_SIZE"),
        (D("60000"), D("0.000015"), "LOT_SIZE"),
        (D("100"), D("0.01"), "NOTIONAL"),
    ],
)
def test_filters_reject_with_binance_code_1013(
    sim: Simulator, acct: Account, price: Decimal, qty: Decimal, failure: str
) -> None:
    with pytest.raises(BinanceError) as exc:
        place(
            sim,
            acct,
            side=Side.BUY,
            type=OrderType.LIMIT,
            time_in_force=TimeInForce.GTC,
            quantity=qty,
            price=price,
        )
    assert reject_code(exc) == (-1013, f"Filter failure: {failure}")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"side": "BUY", "type": "LIMIT", "quantity": "1", "price": "1"}, -1102),  # no TIF
        ({"side": "BUY", "type": "MARKET", "quantity": "1", "price": "1"}, -1106),
        ({"side": "BUY", "type": "MARKET"}, -1102),
        ({"side": "UP", "type": "MARKET", "quantity": "1"}, -1117),
        ({"side": "BUY", "type": "STOP", "quantity": "1"}, -1116),
        ({"side": "BUY", "type": "MARKET", "quantity": "1e3"}, -1100),
        ({"symbol": "NOPE", "side": "BUY", "type": "MARKET", "quantity": "1"}, -1121),
    ],
)
def test_malformed_order_parameters_get_binance_codes(
    sim: Simulator, fields: dict[str, str], code: int
) -> None:
    with pytest.raises(BinanceError) as exc:
        params.order_request({"symbol": "BTCUSDT", **fields}, sim.markets)
    assert exc.value.code == code


def test_fee_in_received_asset_takes_a_buys_fee_from_the_base_bought(sim: Simulator) -> None:
    acct = sim.create_account(balances={"USDT": D("1000000"), "BTC": D("5")}, fee_asset="received")
    order = place(sim, acct, side=Side.BUY, type=OrderType.MARKET, quantity=D("0.5"))
    fees = sum(f.commission for f in order.fills)
    assert fees == sum((f.qty * D("0.001")).quantize(D("1e-8")) for f in order.fills) > 0
    assert {f.commission_asset for f in order.fills} == {"BTC"}
    assert acct.free("USDT") == D("1000000") - order.cum_quote  # no quote fee on top
    assert acct.free("BTC") == D("5") + D("0.5") - fees


def test_fee_in_received_asset_takes_a_sells_fee_from_the_quote_received(
    sim: Simulator,
) -> None:
    acct = sim.create_account(balances={"USDT": D("1000"), "BTC": D("5")}, fee_asset="received")
    order = place(sim, acct, side=Side.SELL, type=OrderType.MARKET, quantity=D("0.1"))
    fee = sum(f.commission for f in order.fills)
    assert {f.commission_asset for f in order.fills} == {"USDT"}
    assert acct.free("USDT") == D("1000") + order.cum_quote - fee
    assert acct.free("BTC") == D("4.9")


def test_a_resting_buy_fills_with_its_fee_in_base_when_asked(sim: Simulator) -> None:
    acct = sim.create_account(balances={"USDT": D("1000000")}, fee_asset="received")
    book = sim.book(sim.markets["BTCUSDT"])
    order = place(
        sim,
        acct,
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=D("0.01"),
        price=book.best_ask,
        time_in_force=TimeInForce.GTC,
    )
    assert order.status is Status.FILLED
    fee = sum(f.commission for f in order.fills)
    assert acct.free("BTC") == D("0.01") - fee and fee == D("0.00001")
    assert acct.free("USDT") + acct.balance("USDT").locked == D("1000000") - order.cum_quote


def test_an_unknown_fee_asset_is_refused(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="fee_asset"):
        sim.create_account(balances={}, fee_asset="bnb")
