"""Unmodified ccxt.binance against the simulator: markets and market data."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import ccxt.async_support as ccxt
import pytest

from exchange_sim import AdminClient, SimConfig, SimServer, running_sim

pytestmark = pytest.mark.timeout(60)  # every wait below is bounded; this is a backstop
ExchangeFactory = Callable[..., Any]


async def test_load_markets_exposes_binance_filters_as_ccxt_precision_and_limits(
    sim: SimServer, make_exchange: ExchangeFactory
) -> None:
    ex = make_exchange(sim)
    markets = await ex.load_markets()
    assert {"BTC/USDT", "ETH/USDT", "SOL/USDT"} <= set(markets)
    btc = markets["BTC/USDT"]
    assert btc["spot"] and btc["active"] and btc["id"] == "BTCUSDT"
    assert btc["precision"]["price"] == 0.01 and btc["precision"]["amount"] == 0.00001
    assert btc["limits"]["amount"]["min"] == 0.00001
    assert btc["limits"]["cost"]["min"] == 5.0


async def test_default_ccxt_options_also_work_because_sapi_helpers_are_served(
    sim: SimServer, admin: AdminClient, make_exchange: ExchangeFactory
) -> None:
    creds = await admin.create_account({"USDT": "1"})
    ex = make_exchange(sim, creds, options={"fetchCurrencies": True, "fetchMargins": True})
    await ex.load_markets()
    assert {"BTC", "USDT"} <= set(ex.currencies)


async def test_fetch_time_is_the_wall_clock(sim: SimServer, make_exchange: ExchangeFactory) -> None:
    server_ms = await make_exchange(sim).fetch_time()
    assert abs(server_ms - time.time() * 1000) < 2000


async def test_fetch_ticker_is_sane(sim: SimServer, make_exchange: ExchangeFactory) -> None:
    ticker = await make_exchange(sim).fetch_ticker("ETH/USDT")
    assert ticker["symbol"] == "ETH/USDT"
    assert 0 < ticker["bid"] < ticker["ask"]
    assert ticker["low"] <= ticker["last"] <= ticker["high"]
    assert ticker["baseVolume"] > 0 and ticker["quoteVolume"] > ticker["baseVolume"]
    assert 1000 < ticker["last"] < 9000  # around the 3000 reference


async def test_fetch_ohlcv_returns_contiguous_candles_up_to_the_live_one(
    sim: SimServer, make_exchange: ExchangeFactory
) -> None:
    candles = await make_exchange(sim).fetch_ohlcv("BTC/USDT", "1m", limit=30)
    assert len(candles) == 30
    times = [c[0] for c in candles]
    assert times == list(range(times[0], times[0] + 30 * 60_000, 60_000))
    assert times[-1] <= time.time() * 1000 < times[-1] + 120_000  # live (or just rolled)
    for _ts, o, h, low, c, v in candles:
        assert low <= min(o, c) and max(o, c) <= h and v > 0


async def test_fetch_ohlcv_since_returns_history_that_is_reproducible_for_a_seed(
    make_exchange: ExchangeFactory,
) -> None:
    since = 1_735_689_600_000  # 2025-01-01
    rows = []
    for _ in range(2):
        async with running_sim(SimConfig(seed=42)) as server:
            rows.append(await make_exchange(server).fetch_ohlcv("SOL/USDT", "1h", since, 48))
    async with running_sim(SimConfig(seed=43)) as other:
        different = await make_exchange(other).fetch_ohlcv("SOL/USDT", "1h", since, 48)
    assert rows[0] == rows[1] and len(rows[0]) == 48 and rows[0][0][0] == since
    assert different != rows[0]


async def test_fetch_order_book_has_sorted_levels_around_the_mid(
    sim: SimServer, make_exchange: ExchangeFactory
) -> None:
    book = await make_exchange(sim).fetch_order_book("BTC/USDT", 10)
    bids, asks = book["bids"], book["asks"]
    assert len(bids) == len(asks) == 10
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0][0] < asks[0][0]
    assert all(qty > 0 for _, qty in bids + asks)


async def test_unknown_symbol_and_interval_get_binance_errors(sim: SimServer, signed: Any) -> None:
    bad_symbol = await signed(sim.base_url, "GET", "/api/v3/ticker/price", {"symbol": "XXXYYY"})
    assert (bad_symbol.status, bad_symbol.body) == (400, {"code": -1121, "msg": "Invalid symbol."})
    bad_interval = await signed(
        sim.base_url, "GET", "/api/v3/klines", {"symbol": "BTCUSDT", "interval": "7m"}
    )
    assert bad_interval.body == {"code": -1120, "msg": "Invalid interval."}


async def test_ccxt_reports_unserved_endpoints_as_errors_not_real_binance_calls(
    sim: SimServer, make_exchange: ExchangeFactory
) -> None:
    ex = make_exchange(sim)
    try:
        await ex.fapiPublicGetPing()
    except ccxt.ExchangeNotAvailable as exc:
        assert sim.base_url in str(exc)  # it went to the simulator, which 404s
    else:  # pragma: no cover
        raise AssertionError("futures endpoints are not served")
