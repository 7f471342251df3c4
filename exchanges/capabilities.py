"""What trading here needs from an exchange, and which exchanges lack it.

Read from ccxt alone (its `has` table, its ccxt.pro class, the permission readers), never
from the network, so it answers the same on every venue and costs nothing after the first
look at an exchange id (cached per process).

- Unknown id (not a ccxt exchange): FAILED_PRECONDITION EXCHANGE_UNSUPPORTED.
- Known but lacking: FAILED_PRECONDITION EXCHANGE_LACKS_CAPABILITY; the message and the
  ErrorInfo metadata `missing` name every missing capability, comma-separated, in the order
  below.

A `has` value of True or "emulated" counts as present; None ("unknown") and False do not.
"""

from __future__ import annotations

import functools
from typing import Any

import ccxt
import ccxt.pro

from exchanges.permissions import reader_for
from mesh.errors import FailedPrecondition

SPOT = "spot"
PERMISSIONS = "permissions"
# Trading with a stored key: the account, its permissions, and the order calls we make.
TRADING = (
    SPOT,
    "fetchBalance",
    PERMISSIONS,
    "createOrder",
    "cancelOrder",
    "fetchOrder",
    "fetchMyTrades",
)
# Market data: tickers, candles (REST), and prices streamed over ccxt.pro.
MARKET_DATA = (SPOT, "fetchTicker", "fetchOHLCV")
STREAMING = ("watchTicker",)
# What a credential's exchange must offer: everything a rented bot uses.
EVERYTHING = tuple(dict.fromkeys(TRADING + MARKET_DATA + STREAMING))


def is_known(exchange: str) -> bool:
    return exchange in ccxt.exchanges


@functools.cache
def _present(exchange: str) -> frozenset[str]:
    """The capabilities of a known exchange id, from its ccxt classes."""
    has: dict[str, Any] = dict(getattr(ccxt, exchange)().has)
    if exchange in ccxt.pro.exchanges:
        pro_has = getattr(ccxt.pro, exchange)().has
        has["watchTicker"] = pro_has.get("watchTicker")
    else:
        has["watchTicker"] = False
    present = {name for name, value in has.items() if value is True or value == "emulated"}
    if reader_for(exchange) is not None:
        present.add(PERMISSIONS)
    return frozenset(present)


def missing(exchange: str, needs: tuple[str, ...] = EVERYTHING) -> tuple[str, ...]:
    """The capabilities in `needs` that `exchange` lacks (raises for an unknown id)."""
    if not is_known(exchange):
        raise unsupported(exchange)
    present = _present(exchange)
    return tuple(name for name in needs if name not in present)


def require(exchange: str, needs: tuple[str, ...] = EVERYTHING) -> None:
    """Raises FAILED_PRECONDITION unless `exchange` is a ccxt exchange with all of `needs`."""
    lacking = missing(exchange, needs)
    if lacking:
        names = ",".join(lacking)
        raise FailedPrecondition(
            f"exchange {exchange} lacks what trading here needs: {names}",
            reason="EXCHANGE_LACKS_CAPABILITY",
            metadata={"exchange": exchange, "missing": names},
        )


def unsupported(exchange: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"exchange {exchange} is not supported",
        reason="EXCHANGE_UNSUPPORTED",
        metadata={"exchange": exchange},
    )
