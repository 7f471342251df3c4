"""Asks the exchange, through ccxt, what an API key may do.

The exchange must offer everything a rented bot uses (exchanges/capabilities.py: else
FAILED_PRECONDITION EXCHANGE_UNSUPPORTED or EXCHANGE_LACKS_CAPABILITY, before any call).
Then two signed calls: the balance (the key and secret work at all) and the key's
permissions through its exchange family's reader (binance family: /sapi/v1/account/
apiRestrictions: may it trade, may it withdraw).

ccxt's exception messages carry response bodies and URLs, so none is ever passed on: callers
see a fixed message and a reason (exchanges/errors.py `verification_error`), logs the class
name. ccxt's logger is held at WARNING (mesh/logs.py) because its DEBUG output includes
signed requests.
"""

from __future__ import annotations

import logging

import ccxt.async_support as ccxt_async

from credential_svc.vault.crypto import SecretBundle
from exchanges.capabilities import require
from exchanges.clients import ClientFactory, ClientSettings
from exchanges.errors import verification_error
from exchanges.permissions import Permissions, read_permissions
from mesh.errors import Unavailable

log = logging.getLogger("botmesh.vault.exchange")
# One verification is a handful of requests: no client-side throttle, no clock sync.
SETTINGS = ClientSettings(timeout_ms=10_000, rate_limit=False)


class ExchangeCheck:
    """Callable checker; one ccxt client per check, closed afterwards (keys differ per
    user, and a client holds its key)."""

    def __init__(self, venue: str, sim_url: str) -> None:
        self._factory = ClientFactory(venue, sim_url, SETTINGS)

    async def __call__(self, exchange: str, bundle: SecretBundle) -> Permissions:
        require(exchange)
        client = self._factory.rest(exchange, bundle)
        try:
            await client.fetch_balance()
            return await read_permissions(client)
        except ccxt_async.BaseError as exc:
            error = verification_error(exc)
            if error.reason != "EXCHANGE_AUTH_FAILED":  # a wrong key is the caller's, not ours
                unreachable = isinstance(error, Unavailable)
                log.warning(
                    "exchange unreachable" if unreachable else "exchange refused verification",
                    extra={"fields": {"exchange": exchange, "error": type(exc).__name__}},
                )
            raise error from None
        finally:
            await client.close()
