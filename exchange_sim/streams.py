"""Binance market-stream names and event payloads (pure; the websocket glue is in ws.py).

Supported streams: ``<symbol>@ticker``, ``@miniTicker``, ``@kline_<interval>``,
``@bookTicker``, ``@depth5|10|20`` (optionally ``@100ms``/``@1000ms``), ``!ticker@arr`` and
``!miniTicker@arr``.  These are the streams ccxt.pro's watch_ticker(s), watch_ohlcv,
watch_bids_asks and partial-depth consumers subscribe to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exchange_sim import candles
from exchange_sim.errors import BinanceError
from exchange_sim.simulator import Simulator
from exchange_sim.views import (
    book_ticker_json,
    fmt,
    fmt_price,
    fmt_qty,
    ticker_24h_json,
)

_KINDS = ("ticker", "miniTicker", "bookTicker")


@dataclass(frozen=True)
class Stream:
    """A parsed stream name."""

    name: str
    kind: str  # ticker | miniTicker | kline | bookTicker | depth | ticker_arr | miniTicker_arr
    symbol: str | None = None
    interval: str | None = None
    levels: int = 0


def parse(name: str, sim: Simulator) -> Stream | None:
    """Parse a stream name; None if unknown (the subscription is then rejected)."""
    if name in ("!ticker@arr", "!miniTicker@arr"):
        return Stream(name, name[1:].replace("@arr", "_arr"))
    lowered, _, channel = name.partition("@")
    symbol = lowered.upper()
    if symbol not in sim.markets or not channel:
        return None
    channel = channel.removesuffix("@100ms").removesuffix("@1000ms")
    if channel in _KINDS:
        return Stream(name, channel, symbol)
    if channel.startswith("kline_"):
        interval = channel[len("kline_") :]
        try:
            candles.validate(interval)
        except BinanceError:
            return None
        return Stream(name, "kline", symbol, interval=interval)
    if channel in ("depth5", "depth10", "depth20"):
        return Stream(name, "depth", symbol, levels=int(channel[len("depth") :]))
    return None


def _ticker(sim: Simulator, symbol: str, event_ms: int) -> dict[str, Any]:
    market = sim.markets[symbol]
    now = sim.sim_ms()
    rest = ticker_24h_json(market.spec, market.rolling_24h(now), sim.book(market))
    return {
        "e": "24hrTicker",
        "E": event_ms,
        "s": symbol,
        "p": rest["priceChange"],
        "P": rest["priceChangePercent"],
        "w": rest["weightedAvgPrice"],
        "x": rest["prevClosePrice"],
        "c": rest["lastPrice"],
        "Q": rest["lastQty"],
        "b": rest["bidPrice"],
        "B": rest["bidQty"],
        "a": rest["askPrice"],
        "A": rest["askQty"],
        "o": rest["openPrice"],
        "h": rest["highPrice"],
        "l": rest["lowPrice"],
        "v": rest["volume"],
        "q": rest["quoteVolume"],
        "O": rest["openTime"],
        "C": rest["closeTime"],
        "F": rest["firstId"],
        "L": rest["lastId"],
        "n": rest["count"],
    }


def _mini(sim: Simulator, symbol: str, event_ms: int) -> dict[str, Any]:
    full = _ticker(sim, symbol, event_ms)
    keys = ("E", "s", "c", "o", "h", "l", "v", "q")
    return {"e": "24hrMiniTicker", **{k: full[k] for k in keys}}


def _kline(sim: Simulator, symbol: str, interval: str, event_ms: int) -> dict[str, Any]:
    market = sim.markets[symbol]
    now = sim.sim_ms()
    bar = market.klines(interval, None, None, 1, now)[0]
    tick = market.spec.tick_size
    return {
        "e": "kline",
        "E": event_ms,
        "s": symbol,
        "k": {
            "t": bar.open_ms,
            "T": bar.close_ms,
            "s": symbol,
            "i": interval,
            "f": 0,
            "L": max(bar.trades - 1, 0),
            "o": fmt_price(bar.open, tick),
            "c": fmt_price(bar.close, tick),
            "h": fmt_price(bar.high, tick),
            "l": fmt_price(bar.low, tick),
            "v": fmt_qty(bar.volume),
            "n": bar.trades,
            "x": now >= bar.close_ms,
            "q": fmt_qty(bar.quote_volume),
            "V": fmt_qty(bar.volume / 2),
            "Q": fmt_qty(bar.quote_volume / 2),
            "B": "0",
        },
    }


def event(sim: Simulator, stream: Stream) -> Any:
    """Current payload of ``stream`` (what Binance pushes on each update)."""
    event_ms = sim.now_ms()
    if stream.kind in ("ticker_arr", "miniTicker_arr"):
        build = _ticker if stream.kind == "ticker_arr" else _mini
        return [build(sim, symbol, event_ms) for symbol in sim.markets]
    assert stream.symbol is not None
    if stream.kind == "ticker":
        return _ticker(sim, stream.symbol, event_ms)
    if stream.kind == "miniTicker":
        return _mini(sim, stream.symbol, event_ms)
    if stream.kind == "kline":
        assert stream.interval is not None
        return _kline(sim, stream.symbol, stream.interval, event_ms)
    market = sim.markets[stream.symbol]
    if stream.kind == "bookTicker":
        book = sim.book(market)
        rest = book_ticker_json(market.spec, book)
        return {
            "u": book.last_update_id,
            "s": rest["symbol"],
            "b": rest["bidPrice"],
            "B": rest["bidQty"],
            "a": rest["askPrice"],
            "A": rest["askQty"],
        }
    book = sim.book(market, stream.levels)
    return {
        "lastUpdateId": book.last_update_id,
        "bids": [[fmt(p), fmt(q)] for p, q in book.bids],
        "asks": [[fmt(p), fmt(q)] for p, q in book.asks],
    }
