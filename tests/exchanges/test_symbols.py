"""One mapping between our markets and ccxt's symbols, inverse of each other."""

from __future__ import annotations

import pytest

from exchanges.symbols import to_market, to_symbol


@pytest.mark.parametrize("market", ["BTC-USDT", "ETH-BTC", "1INCH-USDT", "AB-CD"])
def test_markets_and_symbols_round_trip(market: str) -> None:
    symbol = to_symbol(market)
    assert symbol == market.replace("-", "/")
    assert to_market(symbol) == market


def test_only_the_separator_between_base_and_quote_changes() -> None:
    assert to_symbol("BTC-USDT-X") == "BTC/USDT-X"
    assert to_market("BTC/USDT:USDT") == "BTC-USDT:USDT"
    assert to_symbol("BTCUSDT") == "BTCUSDT" and to_market("BTCUSDT") == "BTCUSDT"
