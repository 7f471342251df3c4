"""ccxt's exceptions as our errors: fixed messages and reasons, never ccxt's text."""

from __future__ import annotations

import ccxt.async_support as ccxt
import pytest

from exchanges.errors import is_ambiguous, is_not_found, to_domain, verification_error

# ccxt's messages carry URLs with signatures and response bodies.
LEAK = "binance GET http://127.0.0.1/api/v3/order?signature=deadbeef {'msg': 'secret'}"


@pytest.mark.parametrize(
    ("exc", "code", "reason"),
    [
        (ccxt.AuthenticationError(LEAK), "FAILED_PRECONDITION", "CREDENTIAL_REJECTED"),
        (ccxt.AccountSuspended(LEAK), "FAILED_PRECONDITION", "CREDENTIAL_REJECTED"),
        (ccxt.InsufficientFunds(LEAK), "FAILED_PRECONDITION", "INSUFFICIENT_FUNDS"),
        (ccxt.OrderNotFound(LEAK), "NOT_FOUND", "EXCHANGE_ORDER_NOT_FOUND"),
        (ccxt.BadSymbol(LEAK), "INVALID_ARGUMENT", "MARKET_UNKNOWN"),
        (ccxt.InvalidOrder(LEAK), "INVALID_ARGUMENT", "ORDER_REFUSED_BY_EXCHANGE"),
        (ccxt.BadRequest(LEAK), "INVALID_ARGUMENT", "ORDER_REFUSED_BY_EXCHANGE"),
        (ccxt.DDoSProtection(LEAK), "RESOURCE_EXHAUSTED", "EXCHANGE_RATE_LIMITED"),
        (ccxt.InvalidNonce(LEAK), "UNAVAILABLE", "EXCHANGE_CLOCK_SKEW"),
        (ccxt.RequestTimeout(LEAK), "UNAVAILABLE", "EXCHANGE_UNAVAILABLE"),
        (ccxt.ExchangeNotAvailable(LEAK), "UNAVAILABLE", "EXCHANGE_UNAVAILABLE"),
        (TimeoutError(), "UNAVAILABLE", "EXCHANGE_UNAVAILABLE"),
        (ccxt.ExchangeError(LEAK), "FAILED_PRECONDITION", "EXCHANGE_ERROR"),
    ],
)
def test_to_domain_keeps_its_rules_and_passes_nothing_on(
    exc: BaseException, code: str, reason: str
) -> None:
    error = to_domain(exc, "binanceus")
    assert (error.code, error.reason) == (code, reason)
    assert "signature" not in error.message and "secret" not in error.message
    assert "signature" not in str(error.metadata) and "secret" not in str(error.metadata)
    if error.metadata:
        assert error.metadata["exchange"] == "binanceus"


def test_ambiguity_and_absence() -> None:
    assert is_ambiguous(ccxt.RequestTimeout(LEAK)) and is_ambiguous(TimeoutError())
    assert is_ambiguous(ccxt.InvalidOrder("binance -2010 Duplicate order sent."))
    assert not is_ambiguous(ccxt.DDoSProtection(LEAK))
    assert not is_ambiguous(ccxt.InvalidNonce(LEAK))
    assert not is_ambiguous(ccxt.InsufficientFunds(LEAK))
    assert is_not_found(ccxt.OrderNotFound(LEAK)) and not is_not_found(ccxt.BadSymbol(LEAK))


@pytest.mark.parametrize(
    ("exc", "code", "reason"),
    [
        (ccxt.AuthenticationError(LEAK), "FAILED_PRECONDITION", "EXCHANGE_AUTH_FAILED"),
        (ccxt.RequestTimeout(LEAK), "UNAVAILABLE", "EXCHANGE_UNAVAILABLE"),
        (ccxt.ExchangeNotAvailable(LEAK), "UNAVAILABLE", "EXCHANGE_UNAVAILABLE"),
        (ccxt.ExchangeError(LEAK), "FAILED_PRECONDITION", "EXCHANGE_ERROR"),
        (ccxt.BadRequest(LEAK), "FAILED_PRECONDITION", "EXCHANGE_ERROR"),
    ],
)
def test_verification_errors(exc: BaseException, code: str, reason: str) -> None:
    error = verification_error(exc)
    assert (error.code, error.reason) == (code, reason)
    assert "signature" not in error.message and error.metadata == {}
