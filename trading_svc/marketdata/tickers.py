"""A ccxt ticker as our Ticker, stamped with the exchange it came from (a dashboard showing
two venues' prices of one market tells them apart by it)."""

from __future__ import annotations

from typing import Any

from botmesh.trading.v1 import resources_pb2 as pb

from trading_svc.convert import ticker_pb
from trading_svc.marketdata.keys import Pair


def ticker_of(pair: Pair, raw: dict[str, Any]) -> pb.Ticker:
    ticker = ticker_pb(pair.market, raw)
    ticker.exchange = pair.exchange
    return ticker
