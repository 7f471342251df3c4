"""The amount step of a market, from the exchange's own filters (its ccxt market list), for
backtests that did not name one: an order amount is truncated to it, live and in backtests.

One public client per exchange per process, built on first use; each market's step is read
once (exchanges/markets.py `filters_for`) and kept for the life of the process: exchanges
change a step rarely, and a backtest replays the past anyway. ccxt's errors are not passed
on (their messages carry URLs): MARKETS_UNAVAILABLE (UNAVAILABLE) instead; a market the
exchange does not list is FAILED_PRECONDITION MARKET_UNKNOWN.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async

from exchanges.clients import ClientFactory, ClientSettings
from exchanges.markets import filters_for
from mesh.errors import Unavailable

log = logging.getLogger("botmesh.analysis.steps")

TIMEOUT_MS = 10_000


class MarketSteps:
    def __init__(self, venue: str, sim_url: str) -> None:
        self._factory = ClientFactory(venue, sim_url, ClientSettings(timeout_ms=TIMEOUT_MS))
        self._clients: dict[str, Any] = {}
        self._steps: dict[tuple[str, str], Decimal | None] = {}

    async def amount_step(self, exchange: str, market: str) -> Decimal | None:
        """The market's amount step on `exchange`; None when the exchange declares none."""
        key = (exchange, market)
        if key not in self._steps:
            client = self._clients.get(exchange)
            if client is None:
                client = self._clients[exchange] = self._factory.rest(exchange)
            try:
                await client.load_markets()
            except ccxt_async.BaseError as exc:
                log.warning(
                    "market filters unavailable",
                    extra={"fields": {"exchange": exchange, "error": type(exc).__name__}},
                )
                raise Unavailable(
                    "the market's filters could not be fetched; try again",
                    reason="MARKETS_UNAVAILABLE",
                ) from None
            self._steps[key] = filters_for(client, market).amount_step
        return self._steps[key]

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
