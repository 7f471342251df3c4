"""Fixtures for exchange_sim tests: real simulator servers on free loopback ports, funded
accounts, ccxt clients pointed at them, and a raw signed-request helper for exact checks."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest
import pytest_asyncio

from exchange_sim import AdminClient, Credentials, SimConfig, SimServer, start_sim
from exchange_sim.auth import sign

FUNDS = {"USDT": "100000", "BTC": "2", "ETH": "20"}


def fast_config(seed: int, **overrides: Any) -> SimConfig:
    """Config with quick websocket pushes and matching, so tests stay short."""
    return SimConfig(seed=seed, ws_interval_s=0.1, match_interval_s=0.05, **overrides)


@pytest_asyncio.fixture(scope="session")
async def sim() -> AsyncIterator[SimServer]:
    """Shared simulator for tests that do not change global state (prices, limits, faults)."""
    server = await start_sim(fast_config(seed=11))
    yield server
    await server.close()


@pytest_asyncio.fixture
async def fresh_sim() -> AsyncIterator[SimServer]:
    """A private simulator for tests that force prices, pause matching, or inject faults."""
    server = await start_sim(fast_config(seed=5))
    yield server
    await server.close()


@pytest_asyncio.fixture
async def admin(sim: SimServer) -> AsyncIterator[AdminClient]:
    """Admin client of the shared simulator."""
    async with sim.admin() as client:
        yield client


@pytest_asyncio.fixture
async def fresh_admin(fresh_sim: SimServer) -> AsyncIterator[AdminClient]:
    """Admin client of the private simulator."""
    async with fresh_sim.admin() as client:
        yield client


@pytest_asyncio.fixture
async def creds(admin: AdminClient) -> Credentials:
    """A freshly funded account on the shared simulator (isolates tests from each other)."""
    return await admin.create_account(FUNDS)


ExchangeFactory = Callable[..., ccxt_async.binance]


@pytest_asyncio.fixture
async def make_exchange() -> AsyncIterator[ExchangeFactory]:
    """Factory of ccxt clients (``make_exchange(server, creds=None, pro=False, **config)``)."""
    made: list[Any] = []

    def factory(
        server: SimServer, creds: Credentials | None = None, *, pro: bool = False, **extra: Any
    ) -> Any:
        extra.setdefault("enableRateLimit", False)
        extra.setdefault("timeout", 5000)
        config = server.ccxt_config(
            creds.api_key if creds else None, creds.api_secret if creds else None, **extra
        )
        exchange = (ccxt_pro.binance if pro else ccxt_async.binance)(config)
        exchange.timeout_on_exit = 0  # ccxt sleeps 250 ms in close() for TLS; plain loopback
        made.append(exchange)
        return exchange

    yield factory
    await asyncio.gather(*(exchange.close() for exchange in made))


@pytest_asyncio.fixture
async def exchange(
    sim: SimServer, creds: Credentials, make_exchange: ExchangeFactory
) -> ccxt_async.binance:
    """ccxt binance client with a funded account on the shared simulator, markets loaded."""
    client = make_exchange(sim, creds)
    await client.load_markets()
    return client


@dataclass
class RawResponse:
    """Status, headers and decoded body of a raw HTTP call."""

    status: int
    headers: dict[str, str]
    body: Any


SignedCall = Callable[..., Awaitable[RawResponse]]


async def raw_call(
    base_url: str,
    method: str,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    creds: Credentials | None = None,
    secret: str | None = None,
    timestamp_ms: int | None = None,
    sign_request: bool = True,
    tamper: dict[str, Any] | None = None,
) -> RawResponse:
    """Binance-style request signed by hand, so tests control every byte (and can break it)."""
    query = dict(params or {})
    headers: dict[str, str] = {}
    if creds is not None:
        headers["X-MBX-APIKEY"] = creds.api_key
        query.setdefault("timestamp", timestamp_ms or int(time.time() * 1000))
    encoded = urllib.parse.urlencode(query)
    if creds is not None and sign_request:
        encoded += "&signature=" + sign(secret or creds.api_secret, encoded)
    if tamper:
        encoded += "&" + urllib.parse.urlencode(tamper)
    url = f"{base_url}{path}"
    async with aiohttp.ClientSession() as session:
        if method in ("GET", "DELETE"):
            req = session.request(method, f"{url}?{encoded}" if encoded else url, headers=headers)
        else:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            req = session.request(method, url, data=encoded, headers=headers)
        async with req as resp:
            text = await resp.text()
            try:
                body: Any = json.loads(text)
            except ValueError:
                body = text
            return RawResponse(resp.status, dict(resp.headers), body)


@pytest.fixture
def signed() -> SignedCall:
    """The raw signed-call helper as a fixture."""
    return raw_call
