"""A market only a dashboard watches reaches the candle store: while a price stream of a pair
is open, trading_svc records the pair's 1-minute closes (no bot trades it and the session
mesh runs no scheduler, so nothing else asks for this pair's latest candles)."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
from botmesh.trading.v1 import market_data_service_pb2 as md_api
from botmesh.trading.v1 import market_data_service_pb2_grpc as md_rpc
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.settings import Settings
from tests.e2e.runtime_support import eventually
from trading_svc.marketdata.candle_store import CandleStore
from trading_svc.marketdata.chunks import Series

M = 60_000
DAY = 1440 * M


async def test_a_watched_market_has_its_latest_close_recorded(
    settings: Settings,
    keys: dict[str, str],
    engine: AsyncEngine,
    exchange_sim: object,
    mesh: object,
) -> None:
    series = Series("binanceus", "SOL-USDT", "1m")
    store = CandleStore(engine)
    async with grpc.aio.insecure_channel(settings.trading.target) as channel:
        call = md_rpc.MarketDataServiceStub(channel).StreamPrices(
            md_api.StreamPricesRequest(market="SOL-USDT", exchange="binanceus"),
            metadata=(("x-api-key", keys["read"]),),
        )
        first = await call.read()
        assert first.HasField("ticker") or first.HasField("heartbeat")

        async def latest_close_covered() -> bool | None:
            now = int(exchange_sim.simulator.sim_ms())  # type: ignore[attr-defined]
            newest = now // M * M - M  # the newest candle that has closed
            covered = await store.coverage(series, newest - DAY, newest + M)
            return True if any(lo <= newest < hi for lo, hi in covered) else None

        try:
            await eventually(latest_close_covered, "the watched market's close", timeout_s=30)
        finally:
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await call.read()
