"""What market data needs of an exchange, read from ccxt's own classes: bitflyer has no OHLCV
endpoint, so its market data is refused with the capability named; binanceus has all; an id
ccxt does not know is unsupported."""

from __future__ import annotations

import pytest

from exchanges.capabilities import MARKET_DATA, require
from mesh.errors import FailedPrecondition


def test_a_missing_capability_is_named() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        require("bitflyer", MARKET_DATA)
    assert caught.value.reason == "EXCHANGE_LACKS_CAPABILITY"
    assert caught.value.metadata == {"exchange": "bitflyer", "missing": "fetchOHLCV"}
    require("binanceus", MARKET_DATA)


def test_an_unknown_id_is_unsupported() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        require("nosuchvenue", MARKET_DATA)
    assert caught.value.reason == "EXCHANGE_UNSUPPORTED"
