"""Market streams: ccxt.pro watch_ticker/watch_ohlcv, and Binance's raw stream protocol."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from exchange_sim import SimServer

pytestmark = pytest.mark.timeout(60)  # every wait below is bounded; this is a backstop
ExchangeFactory = Callable[..., Any]


async def test_ccxt_pro_watch_ticker_receives_mini_tickers_repeatedly(
    sim: SimServer, make_exchange: ExchangeFactory
) -> None:
    pro = make_exchange(sim, pro=True)
    first = await asyncio.wait_for(pro.watch_ticker("BTC/USDT"), 5)
    second = await asyncio.wait_for(pro.watch_ticker("BTC/USDT"), 5)
    assert first["symbol"] == "BTC/USDT" and first["info"]["e"] == "24hrMiniTicker"
    assert first["low"] <= first["last"] <= first["high"]
    assert second["info"]["E"] > first["info"]["E"]


async def test_ccxt_pro_watch_ticker_full_stream_has_bid_and_ask(
    sim: SimServer, make_exchange: ExchangeFactory
) -> None:
    pro = make_exchange(sim, pro=True)
    ticker = await asyncio.wait_for(pro.watch_ticker("SOL/USDT", {"name": "ticker"}), 5)
    assert ticker["info"]["e"] == "24hrTicker"
    assert 0 < ticker["bid"] < ticker["ask"] and ticker["last"] > 0


async def test_ccxt_pro_watch_ohlcv_receives_the_live_candle(
    sim: SimServer, make_exchange: ExchangeFactory
) -> None:
    pro = make_exchange(sim, pro=True)
    candles = await asyncio.wait_for(pro.watch_ohlcv("ETH/USDT", "1m"), 5)
    rest = await make_exchange(sim).fetch_ohlcv("ETH/USDT", "1m", limit=1)
    ts, o, h, low, c, v = candles[-1]
    assert ts == rest[-1][0] or ts == rest[-1][0] - 60_000  # same minute (or just rolled)
    assert low <= min(o, c) <= max(o, c) <= h and v >= 0


async def test_ccxt_pro_watch_tickers_uses_mini_tickers(
    sim: SimServer, make_exchange: ExchangeFactory
) -> None:
    pro = make_exchange(sim, pro=True)
    tickers = await asyncio.wait_for(pro.watch_tickers(["BTC/USDT", "SOL/USDT"]), 5)
    assert set(tickers) <= {"BTC/USDT", "SOL/USDT"} and tickers
    assert all(t["info"]["e"] == "24hrMiniTicker" for t in tickers.values())


async def _next_json(ws: aiohttp.ClientWebSocketResponse) -> Any:
    msg = await asyncio.wait_for(ws.receive(), 5)
    return json.loads(msg.data)


async def test_combined_stream_wraps_mini_ticker_and_kline_events(sim: SimServer) -> None:
    url = f"{sim.ws_url}/stream?streams=btcusdt@miniTicker/btcusdt@kline_1m"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        seen: dict[str, Any] = {}
        while len(seen) < 2:
            msg = await _next_json(ws)
            seen[msg["stream"]] = msg["data"]
    mini, kline = seen["btcusdt@miniTicker"], seen["btcusdt@kline_1m"]
    assert mini["e"] == "24hrMiniTicker" and mini["s"] == "BTCUSDT"
    assert set(mini) == {"e", "E", "s", "c", "o", "h", "l", "v", "q"}
    k = kline["k"]
    assert kline["e"] == "kline" and k["i"] == "1m" and k["T"] == k["t"] + 59_999
    assert float(k["l"]) <= float(k["c"]) <= float(k["h"])


async def test_subscribe_protocol_replies_lists_and_unsubscribes(sim: SimServer) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{sim.ws_url}/ws") as ws:
        await ws.send_json({"method": "SUBSCRIBE", "params": ["solusdt@bookTicker"], "id": 7})
        assert await _next_json(ws) == {"result": None, "id": 7}
        event = await _next_json(ws)
        assert event["s"] == "SOLUSDT" and float(event["b"]) < float(event["a"])
        await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 8})
        reply = await _next_json(ws)
        while "id" not in reply:
            reply = await _next_json(ws)
        assert reply == {"result": ["solusdt@bookTicker"], "id": 8}
        await ws.send_json({"method": "SUBSCRIBE", "params": ["nope@ticker"], "id": 9})
        reply = await _next_json(ws)
        while "id" not in reply:
            reply = await _next_json(ws)
        assert reply["id"] == 9 and reply["error"]["code"] == 2
        await ws.send_json({"method": "UNSUBSCRIBE", "params": ["solusdt@bookTicker"], "id": 10})
        reply = await _next_json(ws)
        while "id" not in reply:
            reply = await _next_json(ws)
        assert reply == {"result": None, "id": 10}
        with pytest.raises(asyncio.TimeoutError):  # nothing is pushed any more
            await ws.receive(timeout=0.3)


async def test_raw_stream_in_path_pushes_unwrapped_depth(sim: SimServer) -> None:
    url = f"{sim.ws_url}/ws/ethusdt@depth5@100ms"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        event = await _next_json(ws)
    assert len(event["bids"]) == len(event["asks"]) == 5
    assert float(event["bids"][0][0]) < float(event["asks"][0][0])
