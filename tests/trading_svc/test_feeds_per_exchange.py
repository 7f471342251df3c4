"""Price feeds against exchange_sim and the real Redis: one feed per (exchange, market),
each publishing its own exchange's tickers under its own names, and an exchange's clients
closed with its last feed while another exchange's feed goes on."""

from __future__ import annotations

import asyncio
import contextlib

from botmesh.trading.v1 import resources_pb2 as pb

from exchanges.clients import ClientFactory
from mesh.redis import make_redis
from mesh.settings import Settings
from trading_svc.config import TradingConfig
from trading_svc.marketdata.feed import FeedManager
from trading_svc.marketdata.keys import Pair, latest_key, lock_key

MARKET = "SOL-USDT"
BINANCE, US = Pair("binance", MARKET), Pair("binanceus", MARKET)


async def _latest(redis, pair: Pair) -> pb.Ticker:  # type: ignore[no-untyped-def]
    for _ in range(100):
        raw = await redis.get(latest_key(pair))
        if raw is not None:
            return pb.Ticker.FromString(raw)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no ticker for {pair}")


async def test_one_feed_per_exchange_and_market(settings: Settings, exchange_sim: object) -> None:
    redis = make_redis(settings.redis_url)
    factory = ClientFactory(
        "sim", settings.exchange_sim_url, TradingConfig.from_env().client_settings()
    )
    feeds = FeedManager(redis, factory)
    try:
        await redis.delete(latest_key(BINANCE), latest_key(US))
        feeds.demand(BINANCE, 1)
        feeds.demand(US, 1)
        for pair in (BINANCE, US):
            ticker = await _latest(redis, pair)
            assert (ticker.exchange, ticker.market) == pair and float(ticker.last) > 0
            assert await redis.get(lock_key(pair)) is not None
        assert feeds.open_clients() == {"binance", "binanceus"}

        feeds.demand(US, 0)  # binanceus's last feed: its lock and clients go
        for _ in range(100):
            if feeds.open_clients() == {"binance"}:
                break
            await asyncio.sleep(0.05)
        assert feeds.open_clients() == {"binance"}
        assert await redis.get(lock_key(US)) is None
        assert await redis.get(lock_key(BINANCE)) is not None
    finally:
        with contextlib.suppress(Exception):
            await feeds.close()
        await redis.aclose()
