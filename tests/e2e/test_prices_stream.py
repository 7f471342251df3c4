"""Live prices over gRPC and over SSE through Envoy, and bot events resumed by cursor."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from botmesh.trading.v1 import market_data_service_pb2 as md
from botmesh.trading.v1 import market_data_service_pb2_grpc as md_rpc
from botmesh.trading.v1 import trading_service_pb2 as tr
from botmesh.trading.v1 import trading_service_pb2_grpc as tr_rpc

from cli.launcher import Mesh
from exchange_sim import AdminClient, SimServer
from tests.e2e.trading_support import Account, idem, open_account

FIRST_TICK_S = 2.0


@pytest.fixture
async def admin(exchange_sim: SimServer) -> AsyncIterator[AdminClient]:
    async with exchange_sim.admin() as client:
        yield client


@pytest.fixture
async def channel(mesh: Mesh) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{mesh.settings.envoy_port}") as ch:
        yield ch


async def test_first_tick_over_grpc_within_two_seconds(
    channel: grpc.aio.Channel, keys: dict[str, str], exchange_sim: SimServer
) -> None:
    stub = md_rpc.MarketDataServiceStub(channel)
    started = time.monotonic()
    call = stub.StreamPrices(
        md.StreamPricesRequest(market="ETH-USDT"), metadata=(("x-api-key", keys["read"]),)
    )
    async for item in call:
        if item.HasField("ticker"):
            assert item.ticker.market == "ETH-USDT" and float(item.ticker.last) > 0
            break
    assert time.monotonic() - started < FIRST_TICK_S
    call.cancel()


async def _first_sse_event(rest: httpx.AsyncClient, url: str, **kw: object) -> tuple[dict, float]:  # type: ignore[type-arg]
    started = time.monotonic()
    async with rest.stream("GET", url, timeout=10, **kw) as resp:  # type: ignore[arg-type]
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        async for line in resp.aiter_lines():
            if line.startswith("data: "):
                payload = json.loads(line[len("data: ") :])
                if "ticker" in payload:
                    return payload, time.monotonic() - started
    raise AssertionError("the stream ended")


async def test_sse_through_envoy_with_key_and_with_dashboard_token(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: SimServer
) -> None:
    url = "/v1/markets/BTC-USDT/prices:stream"
    event, elapsed = await asyncio.wait_for(
        _first_sse_event(rest, url, headers={"x-api-key": keys["read"]}), 5
    )
    assert event["ticker"]["market"] == "BTC-USDT" and elapsed < FIRST_TICK_S

    from tests.e2e.vault_support import new_principal, ph, register

    principal = new_principal()
    await register(rest, keys["marketplace"], principal)
    token = await rest.post(
        "/v1/dashboard-tokens", json={}, headers=idem(ph(keys["marketplace"], principal))
    )
    assert token.status_code == 200, token.text
    event, elapsed = await asyncio.wait_for(
        _first_sse_event(rest, url, params={"access_token": token.json()["token"]}), 5
    )
    assert elapsed < FIRST_TICK_S
    refused = await rest.get(url, params={"access_token": "not-a-token"})
    assert refused.status_code == 401


async def _events(stub: tr_rpc.TradingServiceStub, account: Account, after: str, want: int) -> list:  # type: ignore[type-arg]
    got = []
    call = stub.StreamEvents(
        tr.StreamEventsRequest(subscription_id=account.subscription_id, after=after),
        metadata=tuple(account.headers.items()),
    )
    async for item in call:
        if item.HasField("event"):
            got.append(item.event)
            if len(got) == want:
                break
    call.cancel()
    return got


async def test_events_resume_from_the_cursor(
    rest: httpx.AsyncClient,
    channel: grpc.aio.Channel,
    keys: dict[str, str],
    engine,  # type: ignore[no-untyped-def]
    admin: AdminClient,
) -> None:
    account = await open_account(rest, keys, engine, admin)
    body = {"side": "ORDER_SIDE_BUY", "type": "ORDER_TYPE_MARKET", "quantity": "0.001"}
    first = await rest.post(account.path("/orders"), json=body, headers=idem(account.headers))
    assert first.status_code == 200, first.text
    stub = tr_rpc.TradingServiceStub(channel)
    seen = await asyncio.wait_for(_events(stub, account, "0", 3), 5)
    kinds = [e.WhichOneof("payload") for e in seen]
    assert kinds.count("order") >= 1 and "trade" in kinds
    cursor = seen[-1].event_id

    # While no one listens, a second order happens; reconnecting with the cursor sees it.
    second = await rest.post(account.path("/orders"), json=body, headers=idem(account.headers))
    order_id = second.json()["order"]["order_id"]
    missed = await asyncio.wait_for(_events(stub, account, cursor, 3), 5)
    assert all(e.event_id > cursor for e in missed)
    assert any(e.WhichOneof("payload") == "order" and e.order.order_id == order_id for e in missed)

    # SSE reaches the same stream, with heartbeats when idle.
    async with rest.stream(
        "GET",
        account.path("/events:stream"),
        params={"after": cursor},
        headers=account.headers,
        timeout=10,
    ) as resp:
        assert resp.status_code == 200
        lines = []
        async for line in resp.aiter_lines():
            if line.startswith("data: "):
                lines.append(json.loads(line[6:]))
                if "heartbeat" in lines[-1]:
                    break
    assert any("event" in item for item in lines) and "heartbeat" in lines[-1]
