"""Binance exchangeInfo symbol filters and their enforcement (-1013 "Filter failure: X").

The same ``MarketSpec`` values are published in exchangeInfo and checked here, so a client that
rounds with the published tickSize/stepSize (as ccxt does) always passes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exchange_sim import errors
from exchange_sim.config import MarketSpec

MAX_NUM_ORDERS = 200


def _fmt(value: Decimal) -> str:
    return f"{value:.8f}"


def exchange_filters(spec: MarketSpec) -> list[dict[str, Any]]:
    """The ``filters`` array of the symbol in exchangeInfo."""
    return [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": _fmt(spec.tick_size),
            "maxPrice": _fmt(spec.max_price),
            "tickSize": _fmt(spec.tick_size),
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": _fmt(spec.min_qty),
            "maxQty": _fmt(spec.max_qty),
            "stepSize": _fmt(spec.step_size),
        },
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": _fmt(Decimal(0)),
            "maxQty": _fmt(spec.max_qty),
            "stepSize": _fmt(Decimal(0)),
        },
        {
            "filterType": "NOTIONAL",
            "minNotional": _fmt(spec.min_notional),
            "applyMinToMarket": True,
            "maxNotional": _fmt(Decimal("9000000")),
            "applyMaxToMarket": False,
            "avgPriceMins": 5,
        },
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": MAX_NUM_ORDERS},
    ]


def check_price(spec: MarketSpec, price: Decimal) -> None:
    """PRICE_FILTER: within [minPrice, maxPrice] and a multiple of tickSize."""
    if price < spec.tick_size or price > spec.max_price or price % spec.tick_size != 0:
        raise errors.filter_failure("PRICE_FILTER")


def check_quantity(spec: MarketSpec, qty: Decimal) -> None:
    """LOT_SIZE: within [minQty, maxQty] and minQty + k * stepSize."""
    if qty < spec.min_qty or qty > spec.max_qty or (qty - spec.min_qty) % spec.step_size != 0:
        raise errors.filter_failure("LOT_SIZE")


def check_notional(spec: MarketSpec, notional: Decimal) -> None:
    """NOTIONAL: price * quantity at least minNotional (market orders use the mid price)."""
    if notional < spec.min_notional:
        raise errors.filter_failure("NOTIONAL")


def check_open_orders(open_count: int) -> None:
    """MAX_NUM_ORDERS: open orders per account and symbol."""
    if open_count >= MAX_NUM_ORDERS:
        raise errors.filter_failure("MAX_NUM_ORDERS")
