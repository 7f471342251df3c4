"""Which exchange a request's candles come from: the one it names, else the deployment's
default (BOTMESH_MARKET_DATA_EXCHANGE). An exchange that cannot serve candles is refused
here, before any fetch, with FAILED_PRECONDITION naming what it lacks (exchanges/)."""

from __future__ import annotations

from exchanges.capabilities import MARKET_DATA, require

DEFAULT_EXCHANGE = "binance"


def candle_exchange(requested: str, default: str) -> str:
    name = requested or default
    require(name, MARKET_DATA)
    return name
