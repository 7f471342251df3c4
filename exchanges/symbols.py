"""Markets in our API and symbols in ccxt's: `BTC-USDT` <-> `BTC/USDT`.

A market is BASE-QUOTE (the protos allow exactly one "-", letters and digits around it); a
ccxt spot symbol is BASE/QUOTE. Only the separator between base and quote changes, so the
two functions invert each other on every valid market.
"""

from __future__ import annotations


def to_symbol(market: str) -> str:
    """ "BTC-USDT" (our paths) -> "BTC/USDT" (ccxt's unified spot symbol)."""
    base, sep, quote = market.partition("-")
    return f"{base}/{quote}" if sep else market


def to_market(symbol: str) -> str:
    """ "BTC/USDT" -> "BTC-USDT"; a settle suffix (":USDT", derivatives) is not ours."""
    base, sep, quote = symbol.partition("/")
    return f"{base}-{quote}" if sep else symbol


def base_asset(market: str) -> str:
    """ "BTC-USDT" -> "BTC": the asset a buy receives (a fee charged in it comes off)."""
    return market.partition("-")[0]
