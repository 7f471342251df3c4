"""Builds ccxt clients: any ccxt exchange id on the "live" venue, and on the "sim" venue
ccxt's own binance class pointed at exchange_sim (every id is served by it there).

Every client gets ccxt's rate limiter, Binance's recvWindow and time-difference sync
(`adjustForTimeDifference`, refreshed on -1021), and a timeout. ccxt's logger is held at
WARNING by mesh/logs.py because its DEBUG output holds signed requests; `verbose` stays off.
"""

from __future__ import annotations

from typing import Any

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro

from exchange_sim.ccxt_compat import ccxt_config
from mesh.errors import FailedPrecondition
from trading_svc.config import TradingConfig
from trading_svc.credentials import Credential

SIM_CLASS = "binance"


class ClientFactory:
    def __init__(self, venue: str, sim_url: str, config: TradingConfig) -> None:
        self._venue = venue
        self._sim_url = sim_url
        self._config = config

    def _options(self) -> dict[str, Any]:
        return {
            "adjustForTimeDifference": True,
            "recvWindow": self._config.recv_window_ms,
        }

    def _base(self, credential: Credential | None) -> dict[str, Any]:
        common = {
            "timeout": self._config.exchange_timeout_ms,
            "enableRateLimit": self._config.rate_limit,
            "verbose": False,
        }
        key = credential.api_key if credential else None
        secret = credential.api_secret if credential else None
        if self._venue == "sim":
            return ccxt_config(self._sim_url, key, secret, options=self._options(), **common)
        config: dict[str, Any] = {"options": self._options(), **common}
        if credential is not None:
            config.update(apiKey=key, secret=secret)
            if credential.passphrase:
                config["password"] = credential.passphrase
        return config

    def _class(self, module: Any, exchange: str) -> Any:
        name = SIM_CLASS if self._venue == "sim" else exchange
        klass = getattr(module, name, None)
        if klass is None:
            raise FailedPrecondition(
                f"exchange {exchange} is not supported", reason="EXCHANGE_UNSUPPORTED"
            )
        return klass

    def rest(self, exchange: str, credential: Credential | None = None) -> Any:
        """An async REST client; with a credential, one that can trade for it."""
        client = self._class(ccxt_async, exchange)(self._base(credential))
        if self._venue == "sim":
            client.timeout_on_exit = 0  # no TLS on loopback: nothing to wait for in close()
        return client

    def streaming(self, exchange: str) -> Any:
        """A ccxt.pro client for public websocket market data."""
        client = self._class(ccxt_pro, exchange)(self._base(None))
        if self._venue == "sim":
            client.timeout_on_exit = 0
        return client
