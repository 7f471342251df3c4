"""Which exchange a request's candles come from: the one it names, else the deployment's
default (BOTMESH_MARKET_DATA_EXCHANGE). An exchange that cannot serve candles, or that the
venue does not serve (exchange_sim speaks the binance family's API), is refused here, before
any fetch or backtest row, with FAILED_PRECONDITION naming why (exchanges/)."""

from __future__ import annotations

from dataclasses import dataclass

from exchanges.capabilities import MARKET_DATA
from exchanges.clients import LIVE, require_on

DEFAULT_EXCHANGE = "binance"


@dataclass(frozen=True)
class CandleExchanges:
    default: str = DEFAULT_EXCHANGE
    venue: str = LIVE

    def resolve(self, requested: str) -> str:
        name = requested or self.default
        require_on(self.venue, name, MARKET_DATA)
        return name


# Tests and scripts that build the use cases without settings: binance, no venue check.
DEFAULT_EXCHANGES = CandleExchanges()
