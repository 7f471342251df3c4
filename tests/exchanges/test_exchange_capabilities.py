"""Capability checks from ccxt's own classes: what trading here needs, named when lacking."""

from __future__ import annotations

import pytest

from exchanges.capabilities import EVERYTHING, MARKET_DATA, TRADING, missing, require
from exchanges.permissions import reader_for
from mesh.errors import FailedPrecondition


@pytest.mark.parametrize("exchange", ["binance", "binanceus"])
def test_the_binance_family_has_everything(exchange: str) -> None:
    assert missing(exchange) == ()
    require(exchange)
    assert reader_for(exchange) is not None


def test_an_exchange_without_a_permission_reader_is_refused_naming_it() -> None:
    assert reader_for("kraken") is None
    with pytest.raises(FailedPrecondition) as caught:
        require("kraken")
    error = caught.value
    assert error.reason == "EXCHANGE_LACKS_CAPABILITY"
    assert error.metadata == {"exchange": "kraken", "missing": "permissions"}
    assert "permissions" in error.message
    # Market data alone needs no key, so kraken offers that much.
    require("kraken", MARKET_DATA)


def test_a_futures_only_exchange_lacks_spot() -> None:
    # binanceusdm is in the binance family (a permission reader) but lists no spot markets.
    assert reader_for("binanceusdm") is not None
    with pytest.raises(FailedPrecondition) as caught:
        require("binanceusdm", TRADING)
    assert caught.value.metadata["missing"] == "spot"


def test_every_missing_capability_is_named_in_order() -> None:
    lacking = missing("kraken", ("watchTicker", "permissions", "fetchTicker"))
    assert lacking == ("permissions",)
    assert set(EVERYTHING) >= {"spot", "fetchBalance", "permissions", "createOrder", "fetchOHLCV"}


@pytest.mark.parametrize("exchange", ["nosuchexchange", "base", "pro", "exchanges", "Exchange"])
def test_an_unknown_id_is_unsupported(exchange: str) -> None:
    # "base", "pro" and "exchanges" are attributes of the ccxt module, not exchanges.
    with pytest.raises(FailedPrecondition) as caught:
        require(exchange)
    assert caught.value.reason == "EXCHANGE_UNSUPPORTED"
    assert caught.value.metadata == {"exchange": exchange}
