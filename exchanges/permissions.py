"""What an API key may do, read from the exchange: one reader per exchange family.

ccxt has no unified call for a key's permissions, so each family that has one gets a small
reader here. An exchange whose class belongs to no family lacks the "permissions"
capability (exchanges/capabilities.py) and is refused before any key is stored: a key we
cannot prove unable to withdraw is never accepted.

- binance family (ccxt's binance class and its subclasses, e.g. binanceus):
  GET /sapi/v1/account/apiRestrictions, `enableSpotAndMarginTrading`, `enableWithdrawals`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import ccxt


@dataclass(frozen=True)
class Permissions:
    can_trade: bool
    can_withdraw: bool


Reader = Callable[[Any], Awaitable[Permissions]]


async def _binance(client: Any) -> Permissions:
    restrictions = await client.sapi_get_account_apirestrictions()
    return Permissions(
        can_trade=bool(restrictions.get("enableSpotAndMarginTrading")),
        can_withdraw=bool(restrictions.get("enableWithdrawals")),
    )


# (family's base class name in ccxt, reader); a class belongs to the first family it
# derives from.
_READERS: tuple[tuple[str, Reader], ...] = (("binance", _binance),)


def reader_for(exchange: str) -> Reader | None:
    """The permission reader of `exchange`'s family, or None when it has none."""
    klass = getattr(ccxt, exchange, None) if exchange in ccxt.exchanges else None
    if klass is None:
        return None
    for family, reader in _READERS:
        if issubclass(klass, getattr(ccxt, family)):
            return reader
    return None


async def read_permissions(client: Any) -> Permissions:
    """The permissions of the key `client` holds. Raises ccxt's errors as they come; callers
    check the capability first (a client of a family without a reader is a bug)."""
    reader = reader_for(str(client.id))
    if reader is None:
        raise LookupError(f"no permission reader for {client.id}")
    return await reader(client)
