"""What a market-data call needs of an exchange, read from ccxt's own classes: bitflyer has
no OHLCV endpoint, so its candles are refused with the capability named; binanceus has all."""

from __future__ import annotations

import ccxt.async_support as ccxt_async
import pytest

from mesh.errors import FailedPrecondition
from trading_svc.marketdata.service import KNOWN_EXCHANGES, require


async def test_a_missing_capability_is_named() -> None:
    lacking, full = ccxt_async.bitflyer(), ccxt_async.binanceus()
    try:
        require(lacking, "bitflyer", "fetchTicker")
        with pytest.raises(FailedPrecondition) as caught:
            require(lacking, "bitflyer", "fetchOHLCV")
        assert caught.value.reason == "EXCHANGE_LACKS_CAPABILITY"
        assert caught.value.metadata == {"exchange": "bitflyer", "missing": "fetchOHLCV"}
        for needs in ("fetchTicker", "fetchOHLCV"):
            require(full, "binanceus", needs)
    finally:
        await lacking.close()
        await full.close()


def test_known_exchanges_are_ccxt_ids() -> None:
    assert {"binance", "binanceus", "bitflyer"} <= KNOWN_EXCHANGES
    assert "nosuchvenue" not in KNOWN_EXCHANGES
