"""Dashboard-token streams through Envoy: a cap on concurrent streams per token and per
principal (RESOURCE_EXHAUSTED, 429 over SSE), slots freed when a stream closes, and every
stream ending when its token expires (UNAUTHENTICATED, ACCESS_TOKEN_EXPIRED). The mesh runs
with the default caps: 4 streams per token, 16 per principal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from botmesh.trading.v1 import market_data_service_pb2 as md
from botmesh.trading.v1 import market_data_service_pb2_grpc as md_rpc
from google.rpc import error_details_pb2, status_pb2

from cli.launcher import Mesh
from exchange_sim import AdminClient, SimServer
from tests.e2e.test_bots_rest import assert_error
from tests.e2e.trading_support import idem, open_account
from tests.e2e.vault_support import new_principal, ph, register
from trading_svc.stream_limits import DEFAULT_PER_PRINCIPAL, DEFAULT_PER_TOKEN

PRICES = "/v1/markets/BTC-USDT/prices:stream"
pytestmark = pytest.mark.usefixtures("exchange_sim")


async def dashboard_token(rest: httpx.AsyncClient, key: str, principal: str, ttl_s: int = 0) -> str:
    made = await rest.post(
        "/v1/dashboard-tokens", json={"ttl_seconds": ttl_s}, headers=idem(ph(key, principal))
    )
    assert made.status_code == 200, made.text
    token: str = made.json()["token"]
    return token


@contextlib.asynccontextmanager
async def sse(
    rest: httpx.AsyncClient, url: str, params: dict[str, str]
) -> AsyncIterator[httpx.Response]:
    """An open SSE stream whose first message has arrived (so the server holds its slot)."""
    async with rest.stream("GET", url, params=params, timeout=30) as resp:
        if resp.status_code == 200:
            lines = resp.aiter_lines()
            while not (await anext(lines)).startswith("data: "):
                pass
        yield resp


async def refused(rest: httpx.AsyncClient, url: str, token: str) -> httpx.Response:
    async with rest.stream("GET", url, params={"access_token": token}, timeout=30) as resp:
        await resp.aread()
        return resp


@pytest.fixture
async def principal(rest: httpx.AsyncClient, keys: dict[str, str]) -> str:
    who = new_principal()
    await register(rest, keys["marketplace"], who)
    return who


async def test_a_token_holds_at_most_its_cap_of_streams(
    rest: httpx.AsyncClient, keys: dict[str, str], principal: str
) -> None:
    token = await dashboard_token(rest, keys["marketplace"], principal)
    async with contextlib.AsyncExitStack() as open_streams:
        for _ in range(DEFAULT_PER_TOKEN):
            stream = await open_streams.enter_async_context(
                sse(rest, PRICES, {"access_token": token})
            )
            assert stream.status_code == 200
        over = await refused(rest, PRICES, token)
        body = assert_error(over, 429, reason="STREAMS_PER_TOKEN_LIMIT")
        assert body["code"] == 8
        # Another token of the same principal is within the principal's cap.
        other = await dashboard_token(rest, keys["marketplace"], principal, ttl_s=1800)
        async with sse(rest, PRICES, {"access_token": other}) as theirs:
            assert theirs.status_code == 200
    # Closed streams give their slots back (once the server sees the disconnect).
    deadline = time.monotonic() + 15
    while True:
        async with sse(rest, PRICES, {"access_token": token}) as again:
            if again.status_code == 200 or time.monotonic() > deadline:
                break
        await asyncio.sleep(0.2)
    assert again.status_code == 200


async def test_a_principal_holds_at_most_its_cap_across_tokens(
    rest: httpx.AsyncClient, keys: dict[str, str], principal: str
) -> None:
    # Distinct lifetimes: a token names its principal and expiry second, nothing else.
    tokens = [
        await dashboard_token(rest, keys["marketplace"], principal, ttl_s=900 + n)
        for n in range(DEFAULT_PER_PRINCIPAL // DEFAULT_PER_TOKEN)
    ]
    async with contextlib.AsyncExitStack() as open_streams:
        for token in tokens:
            for _ in range(DEFAULT_PER_TOKEN):
                stream = await open_streams.enter_async_context(
                    sse(rest, PRICES, {"access_token": token})
                )
                assert stream.status_code == 200
        fresh = await dashboard_token(rest, keys["marketplace"], principal, ttl_s=1800)
        over = await refused(rest, PRICES, fresh)
        assert_error(over, 429, reason="STREAMS_PER_PRINCIPAL_LIMIT")
        # Another principal is not held back by this one's streams.
        stranger = new_principal()
        await register(rest, keys["marketplace"], stranger)
        theirs = await dashboard_token(rest, keys["marketplace"], stranger)
        async with sse(rest, PRICES, {"access_token": theirs}) as ok:
            assert ok.status_code == 200


async def _read_until_closed(resp: httpx.Response) -> list[str]:
    return [line async for line in resp.aiter_lines() if line.startswith("data: ")]


async def test_a_price_stream_over_sse_ends_when_its_token_expires(
    rest: httpx.AsyncClient, keys: dict[str, str], principal: str
) -> None:
    token = await dashboard_token(rest, keys["marketplace"], principal, ttl_s=5)
    async with rest.stream("GET", PRICES, params={"access_token": token}, timeout=30) as resp:
        assert resp.status_code == 200
        messages = await asyncio.wait_for(_read_until_closed(resp), 25)
    assert messages and all("ticker" in m or "heartbeat" in m for m in messages)
    # The expired token opens nothing new either.
    after = await refused(rest, PRICES, token)
    assert_error(after, 401, reason="ACCESS_TOKEN_EXPIRED")


def _reason(error: grpc.aio.AioRpcError) -> str:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)  # type: ignore[arg-type]
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return str(info.reason)
    return ""


async def test_a_grpc_price_stream_closes_unauthenticated_at_expiry(
    mesh: Mesh, rest: httpx.AsyncClient, keys: dict[str, str], principal: str
) -> None:
    token = await dashboard_token(rest, keys["marketplace"], principal, ttl_s=5)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{mesh.settings.envoy_port}") as channel:
        stub = md_rpc.MarketDataServiceStub(channel)
        call = stub.StreamPrices(
            md.StreamPricesRequest(market="BTC-USDT"), metadata=(("x-access-token", token),)
        )
        received = 0

        async def drain() -> None:
            nonlocal received
            async for _ in call:
                received += 1

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await asyncio.wait_for(drain(), 25)
    assert received > 0
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert _reason(caught.value) == "ACCESS_TOKEN_EXPIRED"


@pytest.fixture
async def admin(exchange_sim: SimServer) -> AsyncIterator[AdminClient]:
    async with exchange_sim.admin() as client:
        yield client


async def test_an_event_stream_ends_when_its_token_expires(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    engine: Any,
    admin: AdminClient,
) -> None:
    account = await open_account(rest, keys, engine, admin)
    token = await dashboard_token(rest, keys["marketplace"], account.principal, ttl_s=5)
    url = account.path("/events:stream")
    async with rest.stream(
        "GET", url, params={"access_token": token, "after": "0"}, timeout=30
    ) as resp:
        assert resp.status_code == 200, await resp.aread()
        messages = await asyncio.wait_for(_read_until_closed(resp), 25)
    assert messages
    assert all(set(json.loads(m[len("data: ") :])) <= {"event", "heartbeat"} for m in messages)
