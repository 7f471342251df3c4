"""ListCandles' use case with the candle store's database unreachable: the store is a copy of
the venue's history, so pages come from the venue alone (as before the store), never a 503;
the write-through of what they proved fails quietly."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cli.launcher import free_port
from exchange_sim import SimConfig, SimServer, start_sim
from mesh.db import make_engine
from mesh.pagination import encode_int_token
from mesh.redis import make_redis
from mesh.settings import Settings
from tests.trading_svc.test_exchange_pool_public import pool_on
from trading_svc.marketdata.candle_store import CandleStore
from trading_svc.marketdata.service import MarketData

M = 60_000


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    server = await start_sim(SimConfig(seed=3), port=0)
    yield server
    await server.close()


async def test_pages_come_from_the_venue_while_the_database_is_down(
    sim: SimServer, settings: Settings
) -> None:
    # Nothing listens there: every statement fails to connect, as in an outage.
    engine = make_engine(f"mysql+aiomysql://root@127.0.0.1:{free_port()}/nowhere")
    redis = make_redis(settings.redis_url)
    pool = pool_on(sim)
    data = MarketData(redis, pool, "binance", CandleStore(engine))
    try:
        start = (int(sim.simulator.sim_ms()) // M - 500) * M
        candles, token = await data.candles(
            "BTC-USDT", "1m", None, None, 200, encode_int_token(start)
        )
        assert len(candles) == 200 and token
        assert candles[0].open_time.ToMilliseconds() == start
        await data.recorder.drain()  # the write-through failed, quietly
    finally:
        await pool.close()
        await redis.aclose()
        await engine.dispose()
