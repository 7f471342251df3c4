"""ccxt's exceptions as our domain errors, and which of them leave an order's fate open.

Two vocabularies, one per question: `to_domain` answers for a request made with a stored
credential (orders, market data); `verification_error` answers for a key being verified.

ccxt's messages carry response bodies and URLs (with signatures), so none is ever passed on
or logged: callers see a fixed message and a reason, logs see the exception's class name.
"""

from __future__ import annotations

import ccxt.async_support as ccxt

from mesh.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)

# Binance answers a second submission of an open client order id with -2010 "Duplicate
# order sent." (ccxt: InvalidOrder): the order exists, so it is resolved, not rejected.
_DUPLICATE = "Duplicate order"


def is_ambiguous(exc: BaseException) -> bool:
    """True when the request may have executed although we got no answer: timeouts, 5xx,
    dropped connections, Binance's -1007. A rate limit (429/418) or a stale timestamp
    (-1021) is refused before execution, so those are not ambiguous."""
    if isinstance(exc, ccxt.DDoSProtection | ccxt.InvalidNonce):
        return False
    if isinstance(exc, ccxt.InvalidOrder) and _DUPLICATE in str(exc):
        return True
    return isinstance(exc, ccxt.NetworkError | TimeoutError)


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, ccxt.OrderNotFound)


def to_domain(exc: BaseException, exchange: str) -> DomainError:
    """The caller-facing error for a ccxt failure."""
    meta = {"exchange": exchange, "error": type(exc).__name__}
    if isinstance(exc, ccxt.AuthenticationError | ccxt.AccountSuspended):
        return FailedPrecondition(
            "the exchange rejected the credential", reason="CREDENTIAL_REJECTED", metadata=meta
        )
    if isinstance(exc, ccxt.InsufficientFunds):
        return FailedPrecondition(
            "the exchange account has insufficient funds",
            reason="INSUFFICIENT_FUNDS",
            metadata=meta,
        )
    if isinstance(exc, ccxt.OrderNotFound):
        return NotFound("the exchange has no such order", reason="EXCHANGE_ORDER_NOT_FOUND")
    if isinstance(exc, ccxt.BadSymbol):
        return InvalidArgument(
            "the exchange does not list this market", reason="MARKET_UNKNOWN", metadata=meta
        )
    if isinstance(exc, ccxt.InvalidOrder | ccxt.BadRequest):
        return InvalidArgument(
            "the exchange refused the order", reason="ORDER_REFUSED_BY_EXCHANGE", metadata=meta
        )
    if isinstance(exc, ccxt.DDoSProtection):
        return ResourceExhausted(
            "the exchange is rate limiting this account; retry later",
            retry_after_s=1.0,
            reason="EXCHANGE_RATE_LIMITED",
        )
    if isinstance(exc, ccxt.InvalidNonce):
        return Unavailable(
            "the exchange refused our clock; retry", reason="EXCHANGE_CLOCK_SKEW", metadata=meta
        )
    if isinstance(exc, ccxt.NetworkError | TimeoutError):
        return Unavailable(
            "the exchange could not be reached; retry", reason="EXCHANGE_UNAVAILABLE", metadata=meta
        )
    return FailedPrecondition(
        "the exchange refused the request", reason="EXCHANGE_ERROR", metadata=meta
    )


def verification_error(exc: BaseException) -> DomainError:
    """The caller-facing error for a failed key verification (balance or permissions)."""
    if isinstance(exc, ccxt.AuthenticationError):
        return FailedPrecondition("the exchange rejected the key", reason="EXCHANGE_AUTH_FAILED")
    if isinstance(exc, ccxt.NetworkError | TimeoutError):
        return Unavailable(
            "the exchange could not be reached; try again", reason="EXCHANGE_UNAVAILABLE"
        )
    return FailedPrecondition("the exchange refused the verification", reason="EXCHANGE_ERROR")
