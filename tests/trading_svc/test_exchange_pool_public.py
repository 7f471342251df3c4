"""The shared market-data client of an exchange, against an exchange_sim of the test's own:
a venue that fails while the client loads its markets answers UNAVAILABLE (never INTERNAL,
whatever closing the failed client does), a caller that goes away mid-load leaves nothing
behind, and the next call builds a working client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from exchange_sim import SimConfig, SimServer, start_sim
from exchanges.clients import ClientFactory, ClientSettings
from mesh.errors import Unavailable
from trading_svc.credentials import TRADE, Credential
from trading_svc.exchange.pool import ExchangePool

EXCHANGE_INFO = "/api/v3/exchangeInfo"


class NoCredentials:
    """Market data needs no credential; trading is not exercised here."""

    async def release(self, subscription_id: str, purpose: int = TRADE) -> Credential:
        raise AssertionError("no credential is released for market data")

    async def close(self) -> None:
        return None


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    server = await start_sim(SimConfig(seed=3), port=0)
    yield server
    await server.close()


def pool_on(sim: SimServer) -> ExchangePool:
    factory = ClientFactory("sim", sim.base_url, ClientSettings(timeout_ms=1000))
    return ExchangePool(NoCredentials(), factory, idle_s=60)


@pytest.mark.parametrize("fault", ["drop_response", "http_5xx", "timeout_1007"])
async def test_a_venue_failing_while_markets_load_is_unavailable_then_recovers(
    sim: SimServer, fault: str
) -> None:
    pool = pool_on(sim)
    try:
        async with sim.admin() as admin:
            await admin.add_fault(fault, path=EXCHANGE_INFO)
            with pytest.raises(Unavailable) as refused:
                await pool.public("binance")
            assert refused.value.reason == "EXCHANGE_UNAVAILABLE"
            await admin.clear_faults()
        client = await pool.public("binance")  # the venue is back: a fresh client loads
        assert "BTC/USDT" in client.markets
        assert await pool.public("binance") is client
    finally:
        await pool.close()


async def test_a_caller_gone_mid_load_leaves_the_next_one_a_working_client(
    sim: SimServer,
) -> None:
    pool = pool_on(sim)
    try:
        async with sim.admin() as admin:
            await admin.add_fault("hang", path=EXCHANGE_INFO, count=1, hang_ms=5000)
        loading = asyncio.create_task(pool.public("binance"))
        await asyncio.sleep(0.3)
        loading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loading
        client = await pool.public("binance")
        assert "BTC/USDT" in client.markets
    finally:
        await pool.close()
