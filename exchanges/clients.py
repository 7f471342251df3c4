"""Builds ccxt (async_support) and ccxt.pro clients for an exchange id on a venue.

- "live": the exchange's own class with ccxt's defaults (its real URLs).
- "sim": the exchange's own class with every URL pointed at exchange_sim (exchanges/sim.py),
  so `binanceus` is driven by `ccxt.binanceus`, `binance` by `ccxt.binance`.

The exchange's capabilities are checked before a client is built (exchanges/capabilities.py):
a trading client needs TRADING, a public one MARKET_DATA, a streaming one STREAMING; on the
sim venue the exchange must also be one whose API exchange_sim speaks (the binance family).

Every client gets a timeout, ccxt's rate limiter as configured, spot as its default market
type and, when asked for, recvWindow and ccxt's time-difference sync (refreshed on -1021).
ccxt's logger is held at WARNING by mesh/logs.py because its DEBUG output holds signed
requests; `verbose` stays off. On the sim (loopback, no TLS) close() has nothing to wait
for, so `timeout_on_exit` is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro

from exchanges.capabilities import MARKET_DATA, STREAMING, TRADING, require
from exchanges.sim import require_served, sim_config

LIVE, SIM = "live", "sim"


def require_on(venue: str, exchange: str, needs: tuple[str, ...]) -> None:
    """Raises FAILED_PRECONDITION unless `exchange` has `needs` and `venue` serves it."""
    require(exchange, needs)
    if venue == SIM:
        require_served(exchange)


class Keys(Protocol):
    """An API key as the client needs it (the vault's bundle and trading's Credential)."""

    @property
    def api_key(self) -> str: ...

    @property
    def api_secret(self) -> str: ...

    @property
    def passphrase(self) -> str: ...


@dataclass(frozen=True)
class ClientSettings:
    timeout_ms: int = 10_000
    # ccxt's client-side throttle (token bucket by the exchange's declared weights).
    rate_limit: bool = True
    # Sent as recvWindow where the exchange takes one (Binance); None keeps ccxt's.
    recv_window_ms: int | None = None
    # ccxt's adjustForTimeDifference: sign with the exchange's clock, not ours.
    time_sync: bool = False


class ClientFactory:
    def __init__(self, venue: str, sim_url: str, settings: ClientSettings) -> None:
        if venue not in (LIVE, SIM):
            raise ValueError(f"unknown venue {venue!r}")
        self._venue = venue
        self._sim_url = sim_url
        self._settings = settings

    @property
    def venue(self) -> str:
        return self._venue

    def rest(self, exchange: str, credential: Keys | None = None) -> Any:
        """An async REST client; with a credential, one that can trade for it."""
        require_on(self._venue, exchange, TRADING if credential is not None else MARKET_DATA)
        return self._finish(getattr(ccxt_async, exchange)(self._config(exchange, credential)))

    def streaming(self, exchange: str) -> Any:
        """A ccxt.pro client for public websocket market data."""
        require_on(self._venue, exchange, STREAMING)
        return self._finish(getattr(ccxt_pro, exchange)(self._config(exchange, None)))

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "defaultType": "spot",
            "adjustForTimeDifference": self._settings.time_sync,
        }
        if self._settings.recv_window_ms is not None:
            options["recvWindow"] = self._settings.recv_window_ms
        return options

    def _config(self, exchange: str, credential: Keys | None) -> dict[str, Any]:
        common: dict[str, Any] = {
            "timeout": self._settings.timeout_ms,
            "enableRateLimit": self._settings.rate_limit,
            "verbose": False,
        }
        key = credential.api_key if credential is not None else None
        secret = credential.api_secret if credential is not None else None
        if self._venue == SIM:
            return sim_config(
                exchange, self._sim_url, key, secret, options=self._options(), **common
            )
        config: dict[str, Any] = {"options": self._options(), **common}
        if credential is not None:
            config.update(apiKey=key, secret=secret)
            if credential.passphrase:
                config["password"] = credential.passphrase
        return config

    def _finish(self, client: Any) -> Any:
        if self._venue == SIM:
            client.timeout_on_exit = 0  # no TLS on loopback: nothing to wait for in close()
        return client
