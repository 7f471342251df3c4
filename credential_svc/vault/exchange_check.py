"""Asks the exchange, through ccxt, what an API key may do.

Two signed calls: the balance (the key and secret work at all) and Binance's API restrictions
(/sapi/v1/account/apiRestrictions: may it trade, may it withdraw). On the "sim" venue every
exchange id is served by exchange_sim with ccxt's own binance class pointed at it.

ccxt's exception messages carry response bodies and URLs, so none is ever passed on: callers
see a fixed message and a reason. ccxt's logger is held at WARNING (mesh/logs.py) because its
DEBUG output includes signed requests.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import ccxt.async_support as ccxt_async

from credential_svc.vault.crypto import SecretBundle
from exchange_sim.ccxt_compat import ccxt_config
from mesh.errors import FailedPrecondition, Unavailable

log = logging.getLogger("botmesh.vault.exchange")
TIMEOUT_MS = 10_000
SUPPORTED = ("binance",)


@dataclass(frozen=True)
class Permissions:
    can_trade: bool
    can_withdraw: bool


class ExchangeCheck:
    """Callable checker; one ccxt client per check, closed afterwards (keys differ per
    user, and a client holds its key)."""

    def __init__(self, venue: str, sim_url: str) -> None:
        self._venue = venue
        self._sim_url = sim_url

    def _client(self, exchange: str, bundle: SecretBundle) -> Any:
        if exchange not in SUPPORTED:
            raise FailedPrecondition(
                f"verification is not available for {exchange}", reason="EXCHANGE_UNSUPPORTED"
            )
        if self._venue == "sim":
            config = ccxt_config(self._sim_url, bundle.api_key, bundle.api_secret)
        else:
            config = {"apiKey": bundle.api_key, "secret": bundle.api_secret}
            if bundle.passphrase:
                config["password"] = bundle.passphrase
        config.update(timeout=TIMEOUT_MS, enableRateLimit=False)
        return getattr(ccxt_async, exchange)(config)

    async def __call__(self, exchange: str, bundle: SecretBundle) -> Permissions:
        client = self._client(exchange, bundle)
        try:
            await client.fetch_balance()
            restrictions = await client.sapi_get_account_apirestrictions()
        except ccxt_async.AuthenticationError:
            raise FailedPrecondition(
                "the exchange rejected the key", reason="EXCHANGE_AUTH_FAILED"
            ) from None
        except (ccxt_async.NetworkError, ccxt_async.ExchangeNotAvailable):
            log.warning("exchange unreachable", extra={"fields": {"exchange": exchange}})
            raise Unavailable(
                "the exchange could not be reached; try again", reason="EXCHANGE_UNAVAILABLE"
            ) from None
        except ccxt_async.BaseError as exc:
            log.warning(
                "exchange refused verification",
                extra={"fields": {"exchange": exchange, "error": type(exc).__name__}},
            )
            raise FailedPrecondition(
                "the exchange refused the verification", reason="EXCHANGE_ERROR"
            ) from None
        finally:
            await client.close()
        return Permissions(
            can_trade=bool(restrictions.get("enableSpotAndMarginTrading")),
            can_withdraw=bool(restrictions.get("enableWithdrawals")),
        )
