"""Binance JSON shapes of domain objects (orders, trades, account, markets, candles, tickers).

Binance sends every decimal as a string with 8 decimals and every time in ms; clients parse
exactly these field names, so they are all built here, in one place.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from exchange_sim.accounts import Account
from exchange_sim.config import MarketSpec
from exchange_sim.depth import Book
from exchange_sim.filters import exchange_filters
from exchange_sim.market import Bar
from exchange_sim.matching import Fees
from exchange_sim.orders import Fill, Order

Json = dict[str, Any]


def fmt(value: Decimal) -> str:
    """Binance decimal string: fixed point, 8 decimals."""
    return f"{value.quantize(Decimal('0.00000001'), rounding=ROUND_HALF_UP):.8f}"


def fmt_price(value: float, tick: Decimal) -> str:
    """A float market price rounded to ``tick``."""
    ticks = (Decimal(repr(value)) / tick).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return fmt(ticks * tick)


def fmt_qty(value: float) -> str:
    """A float volume as an 8-decimal string."""
    return fmt(Decimal(repr(value)))


# -- orders and trades -----------------------------------------------------------------------
def fill_json(fill: Fill) -> Json:
    """Element of the ``fills`` array of a FULL new-order response."""
    return {
        "price": fmt(fill.price),
        "qty": fmt(fill.qty),
        "commission": fmt(fill.commission),
        "commissionAsset": fill.commission_asset,
        "tradeId": fill.trade_id,
    }


def trade_json(fill: Fill) -> Json:
    """Row of GET /api/v3/myTrades."""
    return {
        "symbol": fill.symbol,
        "id": fill.trade_id,
        "orderId": fill.order_id,
        "orderListId": -1,
        "price": fmt(fill.price),
        "qty": fmt(fill.qty),
        "quoteQty": fmt(fill.quote_qty),
        "commission": fmt(fill.commission),
        "commissionAsset": fill.commission_asset,
        "time": fill.time_ms,
        "isBuyer": fill.is_buyer,
        "isMaker": fill.is_maker,
        "isBestMatch": True,
    }


def _order_core(order: Order) -> Json:
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": fmt(order.price),
        "origQty": fmt(order.orig_qty),
        "executedQty": fmt(order.executed_qty),
        "cummulativeQuoteQty": fmt(order.cum_quote),
        "status": order.status.value,
        "timeInForce": order.time_in_force.value,
        "type": order.type.value,
        "side": order.side.value,
    }


def new_order_json(order: Order, resp_type: str) -> Json:
    """POST /api/v3/order response for newOrderRespType ACK, RESULT or FULL."""
    ack: Json = {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": order.time_ms,
    }
    if resp_type == "ACK":
        return ack
    result = {
        **ack,
        **_order_core(order),
        "origQuoteOrderQty": fmt(order.orig_quote_qty),
        "workingTime": order.time_ms,
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }
    if resp_type == "FULL":
        result["fills"] = [fill_json(f) for f in order.fills]
    return result


def order_json(order: Order) -> Json:
    """GET /api/v3/order, openOrders and allOrders element."""
    return {
        **_order_core(order),
        "stopPrice": fmt(Decimal(0)),
        "icebergQty": fmt(Decimal(0)),
        "time": order.time_ms,
        "updateTime": order.update_ms,
        "isWorking": True,
        "workingTime": order.time_ms,
        "origQuoteOrderQty": fmt(order.orig_quote_qty),
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def cancel_json(order: Order, cancel_client_id: str, now_ms: int) -> Json:
    """DELETE /api/v3/order response (``clientOrderId`` is the cancel request's own id)."""
    core = _order_core(order)
    core["clientOrderId"] = cancel_client_id
    return {
        "origClientOrderId": order.client_order_id,
        **core,
        "transactTime": now_ms,
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


# -- account ---------------------------------------------------------------------------------
def account_json(account: Account, fees: Fees, now_ms: int, omit_zero: bool) -> Json:
    """GET /api/v3/account."""
    balances = [
        {"asset": asset, "free": fmt(row.free), "locked": fmt(row.locked)}
        for asset, row in sorted(account.balances.items())
        if not (omit_zero and row.free == 0 and row.locked == 0)
    ]
    perms = account.permissions
    return {
        "makerCommission": int(fees.maker * 10000),
        "takerCommission": int(fees.taker * 10000),
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": fmt(fees.maker),
            "taker": fmt(fees.taker),
            "buyer": fmt(Decimal(0)),
            "seller": fmt(Decimal(0)),
        },
        "canTrade": perms.can_trade,
        "canWithdraw": perms.can_withdraw,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": now_ms,
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": account.uid,
    }


def api_restrictions_json(account: Account) -> Json:
    """GET /sapi/v1/account/apiRestrictions."""
    perms = account.permissions
    return {
        "ipRestrict": perms.ip_restrict,
        "createTime": account.create_time_ms,
        "enableReading": perms.can_read,
        "enableWithdrawals": perms.can_withdraw,
        "enableInternalTransfer": False,
        "enableMargin": False,
        "enableFutures": False,
        "permitsUniversalTransfer": False,
        "enableVanillaOptions": False,
        "enableFixApiTrade": False,
        "enableFixReadOnly": False,
        "enableSpotAndMarginTrading": perms.can_trade,
        "enablePortfolioMarginTrading": False,
    }


# -- market data -----------------------------------------------------------------------------
def symbol_json(spec: MarketSpec) -> Json:
    """One entry of exchangeInfo ``symbols``."""
    return {
        "symbol": spec.symbol,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": exchange_filters(spec),
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def exchange_info_json(specs: list[MarketSpec], server_ms: int, weight_limit: int) -> Json:
    """GET /api/v3/exchangeInfo."""
    return {
        "timezone": "UTC",
        "serverTime": server_ms,
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": weight_limit,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
        ],
        "exchangeFilters": [],
        "symbols": [symbol_json(s) for s in specs],
    }


def kline_row(bar: Bar, tick: Decimal) -> list[Any]:
    """One row of GET /api/v3/klines."""
    return [
        bar.open_ms,
        fmt_price(bar.open, tick),
        fmt_price(bar.high, tick),
        fmt_price(bar.low, tick),
        fmt_price(bar.close, tick),
        fmt_qty(bar.volume),
        bar.close_ms,
        fmt_qty(bar.quote_volume),
        bar.trades,
        fmt_qty(bar.volume / 2),
        fmt_qty(bar.quote_volume / 2),
        "0",
    ]


def depth_json(book: Book) -> Json:
    """GET /api/v3/depth."""
    return {
        "lastUpdateId": book.last_update_id,
        "bids": [[fmt(p), fmt(q)] for p, q in book.bids],
        "asks": [[fmt(p), fmt(q)] for p, q in book.asks],
    }


def ticker_24h_json(spec: MarketSpec, day: Bar, book: Book) -> Json:
    """GET /api/v3/ticker/24hr (FULL)."""
    tick = spec.tick_size
    open_p = Decimal(fmt_price(day.open, tick))
    last = Decimal(fmt_price(day.close, tick))
    change = last - open_p
    pct = (change / open_p * 100) if open_p else Decimal(0)
    vwap = day.quote_volume / day.volume if day.volume else day.close
    return {
        "symbol": spec.symbol,
        "priceChange": fmt(change),
        "priceChangePercent": f"{pct:.3f}",
        "weightedAvgPrice": fmt_price(vwap, tick),
        "prevClosePrice": fmt(open_p),
        "lastPrice": fmt(last),
        "lastQty": fmt(spec.min_qty),
        "bidPrice": fmt(book.best_bid),
        "bidQty": fmt(book.bids[0][1]),
        "askPrice": fmt(book.best_ask),
        "askQty": fmt(book.asks[0][1]),
        "openPrice": fmt(open_p),
        "highPrice": fmt_price(day.high, tick),
        "lowPrice": fmt_price(day.low, tick),
        "volume": fmt_qty(day.volume),
        "quoteVolume": fmt_qty(day.quote_volume),
        "openTime": day.open_ms,
        "closeTime": day.close_ms,
        "firstId": 0,
        "lastId": max(day.trades - 1, 0),
        "count": day.trades,
    }


def book_ticker_json(spec: MarketSpec, book: Book) -> Json:
    """GET /api/v3/ticker/bookTicker."""
    return {
        "symbol": spec.symbol,
        "bidPrice": fmt(book.best_bid),
        "bidQty": fmt(book.bids[0][1]),
        "askPrice": fmt(book.best_ask),
        "askQty": fmt(book.asks[0][1]),
    }


def coin_json(asset: str, account: Account) -> Json:
    """Element of /sapi/v1/capital/config/getall (one network per coin, named after it)."""
    row = account.balances.get(asset)
    return {
        "coin": asset,
        "name": asset,
        "depositAllEnable": True,
        "withdrawAllEnable": account.permissions.can_withdraw,
        "free": fmt(row.free if row else Decimal(0)),
        "locked": fmt(row.locked if row else Decimal(0)),
        "freeze": fmt(Decimal(0)),
        "withdrawing": fmt(Decimal(0)),
        "isLegalMoney": False,
        "trading": True,
        "networkList": [
            {
                "network": asset,
                "coin": asset,
                "name": asset,
                "isDefault": True,
                "depositEnable": True,
                "withdrawEnable": account.permissions.can_withdraw,
                "withdrawFee": fmt(Decimal(0)),
                "withdrawMin": fmt(Decimal(0)),
                "withdrawMax": fmt(Decimal("9000000")),
                "withdrawIntegerMultiple": fmt(Decimal("0.00000001")),
                "minConfirm": 1,
            }
        ],
    }
