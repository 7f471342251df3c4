"""Redis names of market data, all here: every one is keyed by (exchange, market).

- `botmesh:prices:<exchange>:<market>`: the channel a feed publishes serialised Tickers on;
- `botmesh:ticker:<exchange>:<market>`: the latest Ticker (a feed's, or GetTicker's answer);
- `botmesh:feed-lock:<exchange>:<market>`: which process feeds the pair.

Exchange ids (`^[a-z][a-z0-9]+$`) and markets (`BASE-QUOTE`) hold no ":", so a channel's name
parses back into its pair without ambiguity.
"""

from __future__ import annotations

from typing import NamedTuple

CHANNEL_PREFIX = "botmesh:prices:"
LATEST_PREFIX = "botmesh:ticker:"
LOCK_PREFIX = "botmesh:feed-lock:"


class Pair(NamedTuple):
    """What market data is kept per: one exchange's market."""

    exchange: str
    market: str

    def __str__(self) -> str:
        return f"{self.exchange}:{self.market}"


def channel(pair: Pair) -> str:
    return f"{CHANNEL_PREFIX}{pair}"


def latest_key(pair: Pair) -> str:
    return f"{LATEST_PREFIX}{pair}"


def lock_key(pair: Pair) -> str:
    return f"{LOCK_PREFIX}{pair}"


def pair_of_channel(name: str) -> Pair | None:
    """The pair a price channel is for; None for any other name."""
    if not name.startswith(CHANNEL_PREFIX):
        return None
    exchange, sep, market = name[len(CHANNEL_PREFIX) :].partition(":")
    return Pair(exchange, market) if sep and exchange and market else None
