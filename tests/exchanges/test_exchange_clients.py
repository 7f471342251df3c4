"""ClientFactory: each exchange id gets its own ccxt class; on the sim venue, one that really
works against exchange_sim (here ccxt.binanceus: markets, balance, permissions, an order
filled and fetched, a ticker over ccxt.pro); capabilities are checked before any client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest

from exchange_sim import AdminClient, Credentials, SimConfig, SimServer, running_sim
from exchanges.clients import ClientFactory, ClientSettings
from exchanges.permissions import Permissions, read_permissions
from mesh.errors import FailedPrecondition

SETTINGS = ClientSettings(timeout_ms=3000, rate_limit=False, recv_window_ms=5000, time_sync=True)


@dataclass(frozen=True)
class Keys:
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    passphrase: str = field(repr=False, default="")


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with running_sim(SimConfig(seed=11)) as server:
        yield server


@pytest.fixture
async def account(sim: SimServer) -> Credentials:
    async with AdminClient(sim.base_url, token=sim.simulator.config.admin_token) as admin:
        return await admin.create_account({"USDT": "10000"})


async def test_binanceus_is_its_own_class_and_trades_on_the_sim(
    sim: SimServer, account: Credentials
) -> None:
    factory = ClientFactory("sim", sim.base_url, SETTINGS)
    client = factory.rest("binanceus", Keys(account.api_key, account.api_secret))
    try:
        assert type(client) is ccxt_async.binanceus and client.id == "binanceus"
        assert client.timeout == 3000 and client.enableRateLimit is False
        assert client.options["recvWindow"] == 5000
        assert client.options["adjustForTimeDifference"] is True
        assert client.timeout_on_exit == 0
        await client.load_markets()
        assert client.markets["BTC/USDT"]["spot"]
        assert (await client.fetch_balance())["USDT"]["free"] == 10000
        assert await read_permissions(client) == Permissions(can_trade=True, can_withdraw=False)
        order = await client.create_order(
            "BTC/USDT", "market", "buy", 0.001, None, {"clientOrderId": "us-1"}
        )
        assert order["status"] == "closed" and order["filled"] == 0.001
        found = await client.fetch_order("", "BTC/USDT", {"origClientOrderId": "us-1"})
        assert found["id"] == order["id"]
        trades = await client.fetch_my_trades("BTC/USDT", None, None, {"orderId": order["id"]})
        assert sum(t["amount"] for t in trades) == pytest.approx(0.001)
    finally:
        await client.close()


async def test_binanceus_streams_a_ticker_from_the_sim(sim: SimServer) -> None:
    client = ClientFactory("sim", sim.base_url, SETTINGS).streaming("binanceus")
    try:
        assert type(client) is ccxt_pro.binanceus
        ticker = await asyncio.wait_for(client.watch_ticker("BTC/USDT"), 10)
        assert ticker["symbol"] == "BTC/USDT" and ticker["last"] > 0
    finally:
        await client.close()


async def test_live_clients_keep_the_exchanges_own_urls() -> None:
    factory = ClientFactory("live", "http://127.0.0.1:1", SETTINGS)
    client = factory.rest("binanceus", Keys("k" * 16, "s" * 16, "pass"))
    try:
        assert urlsplit(client.urls["api"]["public"]).hostname == "api.binance.us"
        assert client.apiKey == "k" * 16 and client.password == "pass"
        assert client.options["defaultType"] == "spot"
    finally:
        await client.close()


def test_capabilities_are_checked_before_a_client_is_built() -> None:
    factory = ClientFactory("sim", "http://127.0.0.1:1", SETTINGS)
    with pytest.raises(FailedPrecondition) as lacking:
        factory.rest("kraken", Keys("k" * 16, "s" * 16))
    assert lacking.value.reason == "EXCHANGE_LACKS_CAPABILITY"
    assert lacking.value.metadata["missing"] == "permissions"
    with pytest.raises(FailedPrecondition) as unknown:
        factory.streaming("nosuchexchange")
    assert unknown.value.reason == "EXCHANGE_UNSUPPORTED"
    with pytest.raises(ValueError):
        ClientFactory("paper", "http://127.0.0.1:1", SETTINGS)
