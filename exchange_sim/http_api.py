"""Binance spot REST routes (/api/v3, /sapi/v1).  Thin: parse, call the simulator, render."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from exchange_sim import candles, errors, params, views
from exchange_sim.accounts import Account
from exchange_sim.auth import Need, SignedRequest, authenticate
from exchange_sim.keys import SIMULATOR
from exchange_sim.market import MarketState
from exchange_sim.orders import Order
from exchange_sim.simulator import Simulator

routes = web.RouteTableDef()


def _sim(request: web.Request) -> Simulator:
    return request.app[SIMULATOR]


async def _signed(request: web.Request, need: Need) -> tuple[Account, dict[str, str]]:
    raw_query = request.rel_url.raw_query_string
    raw_body = await request.text() if request.body_exists else ""
    merged = dict(parse_qsl(raw_query, keep_blank_values=True))
    merged.update(parse_qsl(raw_body, keep_blank_values=True))
    sreq = SignedRequest(
        api_key=request.headers.get("X-MBX-APIKEY"),
        raw_query=raw_query,
        raw_body=raw_body,
        params=merged,
        remote=request.remote or "",
    )
    sim = _sim(request)
    return authenticate(sim.accounts, sreq, sim.now_ms(), need), merged


def _json(data: Any) -> web.Response:
    return web.json_response(data)


def _symbols(sim: Simulator, query: dict[str, str]) -> list[MarketState] | None:
    """``symbol`` / ``symbols`` selection of market-data endpoints (None = all)."""
    if query.get("symbol"):
        return [sim.market(query["symbol"])]
    if query.get("symbols"):
        try:
            names = json.loads(query["symbols"])
        except ValueError as exc:
            raise errors.illegal_chars("symbols") from exc
        return [sim.market(str(name)) for name in names]
    return None


# -- general / market data -------------------------------------------------------------------
@routes.get("/api/v3/ping")
async def ping(request: web.Request) -> web.Response:
    """Connectivity check."""
    return _json({})


@routes.get("/api/v3/time")
async def server_time(request: web.Request) -> web.Response:
    """Server (wall) time; ccxt uses it for adjustForTimeDifference."""
    return _json({"serverTime": _sim(request).now_ms()})


@routes.get("/api/v3/exchangeInfo")
async def exchange_info(request: web.Request) -> web.Response:
    """Markets with their filters and the rate limits."""
    sim = _sim(request)
    chosen = _symbols(sim, dict(request.query))
    markets = chosen if chosen is not None else list(sim.markets.values())
    info = views.exchange_info_json(
        [m.spec for m in markets], sim.now_ms(), sim.limiter.settings.limit
    )
    return _json(info)


@routes.get("/api/v3/depth")
async def depth(request: web.Request) -> web.Response:
    """Synthetic order book."""
    sim = _sim(request)
    market = sim.market(request.query.get("symbol"))
    levels = params.limit(request.query, 100, 5000)
    return _json(views.depth_json(sim.book(market, levels)))


@routes.get("/api/v3/klines")
@routes.get("/api/v3/uiKlines")
async def klines(request: web.Request) -> web.Response:
    """Candles of the seeded path (history is reproducible for a given seed)."""
    sim = _sim(request)
    query = request.query
    market = sim.market(query.get("symbol"))
    interval = candles.validate(params.required(query, "interval"))
    bars = market.klines(
        interval,
        params.opt_int(query, "startTime"),
        params.opt_int(query, "endTime"),
        params.limit(query, 500, 1000),
        sim.sim_ms(),
    )
    return _json([views.kline_row(b, market.spec.tick_size) for b in bars])


@routes.get("/api/v3/ticker/24hr")
async def ticker_24hr(request: web.Request) -> web.Response:
    """Rolling 24 h statistics."""
    sim = _sim(request)
    now = sim.sim_ms()
    chosen = _symbols(sim, dict(request.query))
    markets = chosen if chosen is not None else list(sim.markets.values())
    rows = [views.ticker_24h_json(m.spec, m.rolling_24h(now), sim.book(m)) for m in markets]
    return _json(rows[0] if request.query.get("symbol") else rows)


@routes.get("/api/v3/ticker/price")
async def ticker_price(request: web.Request) -> web.Response:
    """Last price(s)."""
    sim = _sim(request)
    chosen = _symbols(sim, dict(request.query))
    markets = chosen if chosen is not None else list(sim.markets.values())
    rows = [{"symbol": m.spec.symbol, "price": views.fmt(m.mid(sim.sim_ms()))} for m in markets]
    return _json(rows[0] if request.query.get("symbol") else rows)


@routes.get("/api/v3/ticker/bookTicker")
async def book_ticker(request: web.Request) -> web.Response:
    """Best bid/ask."""
    sim = _sim(request)
    chosen = _symbols(sim, dict(request.query))
    markets = chosen if chosen is not None else list(sim.markets.values())
    rows = [views.book_ticker_json(m.spec, sim.book(m)) for m in markets]
    return _json(rows[0] if request.query.get("symbol") else rows)


@routes.get("/api/v3/avgPrice")
async def avg_price(request: web.Request) -> web.Response:
    """5-minute average price."""
    sim = _sim(request)
    market = sim.market(request.query.get("symbol"))
    now = sim.sim_ms()
    bar = market.bar(int(now) - 300_000, int(now), now)
    price = views.fmt_price((bar.open + bar.close) / 2, market.spec.tick_size)
    return _json({"mins": 5, "price": price, "closeTime": int(now)})


# -- account and orders ----------------------------------------------------------------------
@routes.get("/api/v3/account")
async def account_info(request: web.Request) -> web.Response:
    """Balances and commission rates."""
    account, query = await _signed(request, Need.READ)
    sim = _sim(request)
    omit = query.get("omitZeroBalances", "false").lower() == "true"
    return _json(views.account_json(account, sim.engine.fees, sim.now_ms(), omit))


@routes.post("/api/v3/order")
async def new_order(request: web.Request) -> web.Response:
    """Place an order (MARKET, LIMIT, LIMIT_MAKER)."""
    account, query = await _signed(request, Need.TRADE)
    sim = _sim(request)
    req, resp_type = params.order_request(query, sim.markets)
    order = sim.engine.place(account, req)
    return _json(views.new_order_json(order, resp_type))


@routes.post("/api/v3/order/test")
async def test_order(request: web.Request) -> web.Response:
    """Validate an order without placing it."""
    _, query = await _signed(request, Need.TRADE)
    params.order_request(query, _sim(request).markets)
    return _json({})


def _lookup(sim: Simulator, account: Account, query: dict[str, str]) -> Order | None:
    market = sim.market(query.get("symbol"))
    order_id = params.opt_int(query, "orderId")
    client_id = query.get("origClientOrderId") or None
    if order_id is None and client_id is None:
        raise errors.BinanceError(
            -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )
    return sim.engine.find(account.api_key, market.spec.symbol, order_id, client_id)


@routes.get("/api/v3/order")
async def query_order(request: web.Request) -> web.Response:
    """Order by orderId or origClientOrderId."""
    account, query = await _signed(request, Need.READ)
    order = _lookup(_sim(request), account, query)
    if order is None:
        raise errors.no_such_order()
    return _json(views.order_json(order))


@routes.delete("/api/v3/order")
async def cancel_order(request: web.Request) -> web.Response:
    """Cancel an open order by orderId or origClientOrderId."""
    account, query = await _signed(request, Need.TRADE)
    sim = _sim(request)
    order = _lookup(sim, account, query)
    if order is None:
        raise errors.unknown_order_cancel()
    sim.engine.cancel(account, order)
    cancel_id = params.client_order_id(query)
    return _json(views.cancel_json(order, cancel_id, sim.now_ms()))


@routes.get("/api/v3/openOrders")
async def open_orders(request: web.Request) -> web.Response:
    """Open orders, of one symbol or all."""
    account, query = await _signed(request, Need.READ)
    sim = _sim(request)
    symbol = sim.market(query["symbol"]).spec.symbol if query.get("symbol") else None
    return _json([views.order_json(o) for o in sim.engine.open_orders(account.api_key, symbol)])


@routes.delete("/api/v3/openOrders")
async def cancel_open_orders(request: web.Request) -> web.Response:
    """Cancel all open orders of a symbol."""
    account, query = await _signed(request, Need.TRADE)
    sim = _sim(request)
    symbol = sim.market(query.get("symbol")).spec.symbol
    open_now = sim.engine.open_orders(account.api_key, symbol)
    if not open_now:
        raise errors.unknown_order_cancel()
    now = sim.now_ms()
    out = []
    for order in open_now:
        sim.engine.cancel(account, order)
        out.append(views.cancel_json(order, params.new_client_order_id(), now))
    return _json(out)


def _window(rows: list[Any], query: dict[str, str], time_of: Any, id_of: Any) -> list[Any]:
    start, end = params.opt_int(query, "startTime"), params.opt_int(query, "endTime")
    from_id = params.opt_int(query, "fromId")
    if start is not None:
        rows = [r for r in rows if time_of(r) >= start]
    if end is not None:
        rows = [r for r in rows if time_of(r) <= end]
    if from_id is not None:
        rows = [r for r in rows if id_of(r) >= from_id]
        return rows[: params.limit(query, 500, 1000)]
    return rows[-params.limit(query, 500, 1000) :]


@routes.get("/api/v3/allOrders")
async def all_orders(request: web.Request) -> web.Response:
    """All orders of a symbol (any status)."""
    account, query = await _signed(request, Need.READ)
    sim = _sim(request)
    symbol = sim.market(query.get("symbol")).spec.symbol
    rows = [o for o in sim.engine.orders_of(account.api_key) if o.symbol == symbol]
    if "orderId" in query:
        query = {**query, "fromId": query["orderId"]}
    picked = _window(rows, query, lambda o: o.time_ms, lambda o: o.order_id)
    return _json([views.order_json(o) for o in picked])


@routes.get("/api/v3/myTrades")
async def my_trades(request: web.Request) -> web.Response:
    """Fills of a symbol (optionally of one order)."""
    account, query = await _signed(request, Need.READ)
    sim = _sim(request)
    symbol = sim.market(query.get("symbol")).spec.symbol
    order_id = params.opt_int(query, "orderId")
    rows = [
        f
        for f in sim.engine.trades_of(account.api_key)
        if f.symbol == symbol and (order_id is None or f.order_id == order_id)
    ]
    picked = _window(rows, query, lambda f: f.time_ms, lambda f: f.trade_id)
    return _json([views.trade_json(f) for f in picked])


# -- sapi ------------------------------------------------------------------------------------
@routes.get("/sapi/v1/account/apiRestrictions")
async def api_restrictions(request: web.Request) -> web.Response:
    """Permissions of the calling API key (withdrawals, trading, IP restriction)."""
    account, _ = await _signed(request, Need.READ)
    return _json(views.api_restrictions_json(account))


@routes.get("/sapi/v1/capital/config/getall")
async def capital_config(request: web.Request) -> web.Response:
    """Minimal coin list, so ccxt's fetchCurrencies works with default options."""
    account, _ = await _signed(request, Need.READ)
    sim = _sim(request)
    assets = sorted(
        {m.spec.base for m in sim.markets.values()} | {m.spec.quote for m in sim.markets.values()}
    )
    return _json([views.coin_json(asset, account) for asset in assets])


@routes.get("/sapi/v1/margin/allPairs")
@routes.get("/sapi/v1/margin/isolated/allPairs")
async def margin_pairs(request: web.Request) -> web.Response:
    """No margin trading in the simulator: empty pair lists (ccxt's fetchMargins asks)."""
    await _signed(request, Need.READ)
    return _json([])


@routes.get("/sapi/v1/asset/tradeFee")
async def trade_fee(request: web.Request) -> web.Response:
    """Per-symbol commission rates."""
    await _signed(request, Need.READ)
    sim = _sim(request)
    fees = sim.engine.fees
    return _json(
        [
            {
                "symbol": symbol,
                "makerCommission": views.fmt(fees.maker),
                "takerCommission": views.fmt(fees.taker),
            }
            for symbol in sim.markets
        ]
    )
