"""The ledger's rules (trading_svc/performance/ledger.py): fees as the exchange charges them,
average cost, realized PnL net of every fee, round trips through partial exits and dust, and
the helpers the risk checks use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from trading_svc.performance.ledger import (
    LedgerFill,
    equity,
    exposure,
    last_loss_exit,
    realized_since,
    replay,
    trips_between,
    unrealized,
)

T0 = datetime(2026, 12, 1, tzinfo=UTC)
MARKET = "BTC-USDT"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def buy(qty: str, price: str, fee: str = "0", asset: str = "USDT", t: int = 0) -> LedgerFill:
    return LedgerFill("buy", MARKET, D(price), D(qty), D(fee), asset, at(t))


def sell(qty: str, price: str, fee: str = "0", asset: str = "USDT", t: int = 1) -> LedgerFill:
    return LedgerFill("sell", MARKET, D(price), D(qty), D(fee), asset, at(t))


def test_no_fills_is_flat_with_nothing_realized() -> None:
    state = replay([])
    assert (state.position, state.realized, state.fees, state.round_trips) == (0, 0, 0, ())
    assert state.entry_price is None and state.flat
    assert equity(state, D(1000), D(50)) == D(1000)
    assert last_loss_exit(state) is None


def test_a_round_trip_with_quote_fees_realizes_its_pnl_net_of_both_fees() -> None:
    state = replay([buy("1", "100", fee="0.1"), sell("1", "110", fee="0.11", t=5)])
    assert state.position == 0 and state.flat and state.entry_price is None
    assert state.fees == D("0.21")
    assert state.realized == D("110") - D("0.11") - D("100") - D("0.1")
    [trip] = state.round_trips
    assert (trip.entry_time, trip.exit_time, trip.pnl) == (at(0), at(5), D("9.79"))
    assert equity(state, D(1000), D(999)) == D("1009.79")


def test_a_buy_fee_in_the_base_asset_lowers_the_position_and_counts_at_the_fill_price() -> None:
    state = replay([buy("1", "100", fee="0.001", asset="BTC")])
    assert state.position == D("0.999")
    assert state.fees == D("0.1")  # 0.001 BTC at 100
    assert state.entry_price == D("100")  # the market price paid, fees aside
    assert state.cost == D("100")  # all the quote paid, for 0.999 BTC
    assert unrealized(state, D("100")) == D("99.9") - D("100")
    assert exposure(state, D("120")) == D("119.88")
    # Equity is the quote left plus the coins at the price: 900 + 0.999 x 120.
    assert equity(state, D(1000), D("120")) == D("900") + D("119.88")


def test_selling_to_dust_closes_the_round_trip_and_the_dust_keeps_its_cost() -> None:
    fills = [
        buy("1", "100", fee="0.001", asset="BTC"),
        sell("0.99", "110", fee="0.1089", t=3),  # 0.999 held; the lot step leaves 0.009
    ]
    state = replay(fills)
    assert state.position == D("0.009") and state.flat
    [trip] = state.round_trips
    released = D(100) * D("0.99") / D("0.999")
    assert trip.pnl == D("108.9") - D("0.1089") - released == state.realized
    assert state.cost == D(100) - released
    # Equity still adds up: quote left (900 + 108.7911) plus the dust at the price.
    assert equity(state, D(1000), D(110)) == D("900") + D("108.7911") + D("0.009") * 110


def test_a_fee_in_the_base_asset_on_a_sell_leaves_with_the_coins() -> None:
    state = replay([buy("2", "100"), sell("1", "150", fee="0.01", asset="BTC", t=2)])
    assert state.position == D("0.99")
    assert state.fees == D("1.5")
    assert state.realized == D(150) - D(101)  # 1.01 BTC left at a cost of 100 each
    assert not state.flat


def test_partial_exits_keep_the_entry_price_and_the_trip_sums_its_sells() -> None:
    state = replay([buy("2", "100", t=0), sell("1", "120", t=1)])
    assert state.entry_price == D(100) and not state.flat
    assert state.realized == D(20) and state.round_trips == ()
    state = replay([buy("1", "130", t=2)], state)
    assert state.entry_price == D(115)  # (100 x 1 held + 130 x 1) / 2
    state = replay([sell("2", "90", t=3)], state)
    assert state.position == 0 and state.flat
    [trip] = state.round_trips
    assert trip.pnl == D(20) + D(180) - D(230) == D(-30)
    assert (trip.entry_time, trip.exit_time) == (at(0), at(3))
    assert last_loss_exit(state) == at(3)


def test_the_risk_helpers_see_losses_and_realized_pnl_by_time() -> None:
    fills = [
        buy("1", "100", t=0),
        sell("1", "90", t=10),  # a loss of 10
        buy("1", "100", t=20),
        sell("1", "130", t=30),  # a win of 30
        buy("2", "100", t=40),
        sell("1", "95", t=50),  # a partial exit losing 5, trip still open
    ]
    state = replay(fills)
    assert [t.pnl for t in state.round_trips] == [D(-10), D(30)]
    assert last_loss_exit(state) == at(10)  # the open trip's loss is not an exit yet
    assert realized_since(state, at(0)) == D(15)
    assert realized_since(state, at(30)) == D(25)
    assert realized_since(state, at(31)) == D(-5)
    assert [t.pnl for t in trips_between(state, at(10), at(30))] == [D(-10)]
    assert unrealized(state, D(110)) == D(10)
    assert equity(state, D(1000), D(110)) == D(1000) + D(15) + D(10)


def test_a_sell_of_more_than_is_held_realizes_only_what_was_held() -> None:
    state = replay([buy("1", "100"), sell("1.5", "120", fee="0.18", t=1)])
    assert state.position == 0
    assert state.realized == D(20) - D("0.18")


def test_equity_is_quote_left_plus_coins_at_the_price() -> None:
    fills = [
        buy("0.5", "200", fee="0.1", t=0),
        buy("0.25", "180", fee="0.00025", asset="BTC", t=1),
        sell("0.3", "210", fee="0.063", t=2),
        buy("0.1", "190", fee="0.019", t=3),
        sell("0.2", "170", fee="0.034", t=4),
    ]
    state = replay(fills)
    cash = D(1000)
    for f in fills:
        value = f.price * f.quantity
        quote_fee = f.fee if f.fee_asset == "USDT" else D(0)
        cash += -value - quote_fee if f.side == "buy" else value - quote_fee
    held = D("0.5") + D("0.25") - D("0.00025") - D("0.3") + D("0.1") - D("0.2")
    assert state.position == held
    assert equity(state, D(1000), D(205)) == cash + held * 205
