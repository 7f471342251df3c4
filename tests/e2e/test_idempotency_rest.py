"""ICP replica storm: identical POSTs with one Idempotency-Key, through Envoy over IPv6."""

from __future__ import annotations

import asyncio
import secrets

import grpc
import httpx
from botmesh.credential.v1 import marketplace_service_pb2 as api
from botmesh.credential.v1 import marketplace_service_pb2_grpc as rpc

from cli.launcher import Mesh
from mesh.settings import Settings
from tests.support import count_rows

BOT = {"name": "storm bot", "strategy": "ma_crossover", "markets": ["BTC-USDT"], "timeframe": "1h"}


async def test_thirteen_replicas_create_one_bot_with_identical_answers(
    mesh: Mesh, keys: dict[str, str], settings: Settings
) -> None:
    headers = {"x-api-key": keys["bots:write"], "idempotency-key": secrets.token_hex(16)}
    before = count_rows(settings, "bots")
    async with httpx.AsyncClient(base_url=f"http://[::1]:{settings.envoy_port}", timeout=30) as v6:
        replies = await asyncio.gather(
            *[v6.post("/v1/bots", json=BOT, headers=headers) for _ in range(13)]
        )
    assert {r.status_code for r in replies} == {200}
    assert len({r.content for r in replies}) == 1
    assert count_rows(settings, "bots") == before + 1
    varying = {"date"}
    assert (
        len(
            {
                tuple(sorted((k, v) for k, v in r.headers.items() if k not in varying))
                for r in replies
            }
        )
        == 1
    )


async def test_the_same_key_with_a_different_body_is_refused(
    rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    headers = {"x-api-key": keys["bots:write"], "idempotency-key": secrets.token_hex(16)}
    first = await rest.post("/v1/bots", json=BOT, headers=headers)
    assert first.status_code == 200
    before = count_rows(settings, "bots")
    other = await rest.post("/v1/bots", json={**BOT, "name": "another"}, headers=headers)
    assert other.status_code == 400
    assert other.json()["details"][0]["reason"] == "IDEMPOTENCY_KEY_REUSED"
    assert count_rows(settings, "bots") == before
    replay = await rest.post("/v1/bots", json=BOT, headers=headers)
    assert replay.content == first.content


async def test_a_recorded_error_replays_identically(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    headers = {"x-api-key": keys["bots:write"], "idempotency-key": secrets.token_hex(16)}
    listing = {
        "canister_id": "rrkah-fqaaa-aaaaa-aaaaq-cai",
        "marketplace_listing_id": "L1",
        "price_e8s": "100000000",
        "period_days": 30,
    }
    first = await rest.post("/v1/bots/bot_missing/listings", json=listing, headers=headers)
    second = await rest.post("/v1/bots/bot_missing/listings", json=listing, headers=headers)
    assert first.status_code == second.status_code == 404
    assert first.content == second.content


async def test_grpc_callers_use_idempotency_key_metadata(
    mesh: Mesh, keys: dict[str, str], settings: Settings
) -> None:
    metadata = (("x-api-key", keys["bots:write"]), ("idempotency-key", secrets.token_hex(16)))
    request = api.CreateBotRequest(
        name="grpc storm", strategy="macd_cross", markets=["ETH-USDT"], timeframe="5m"
    )
    before = count_rows(settings, "bots")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{settings.envoy_port}") as channel:
        stub = rpc.MarketplaceServiceStub(channel)
        replies = await asyncio.gather(
            *[stub.CreateBot(request, metadata=metadata) for _ in range(5)]
        )
    assert len({r.SerializeToString() for r in replies}) == 1
    assert count_rows(settings, "bots") == before + 1
