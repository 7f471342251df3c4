"""The same catalog through generated gRPC stubs, on Envoy's port and directly; health,
reflection, and internal services kept internal."""

from __future__ import annotations

import grpc
import pytest
from botmesh.credential.v1 import internal_service_pb2 as admin_api
from botmesh.credential.v1 import internal_service_pb2_grpc as admin_rpc
from botmesh.credential.v1 import marketplace_service_pb2 as api
from botmesh.credential.v1 import marketplace_service_pb2_grpc as rpc
from google.protobuf import field_mask_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from cli.launcher import SERVICES, Mesh, service_address


def md(key: str) -> tuple[tuple[str, str], ...]:
    return (("x-api-key", key),)


@pytest.fixture
async def envoy_channel(mesh: Mesh):  # type: ignore[no-untyped-def]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{mesh.settings.envoy_port}") as channel:
        yield channel


async def test_create_get_list_update_through_envoy(envoy_channel, keys: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    stub = rpc.MarketplaceServiceStub(envoy_channel)
    writer, reader = md(keys["bots:write"]), md(keys["read"])
    request = api.CreateBotRequest(
        name="grpc bot", strategy="rsi_mean_reversion", markets=["SOL-USDT"], timeframe="15m"
    )
    await stub.CreateBot(request, metadata=writer)
    created = (await stub.CreateBot(request, metadata=writer)).bot
    got = (await stub.GetBot(api.GetBotRequest(bot_id=created.bot_id), metadata=reader)).bot
    assert got == created
    page = await stub.ListBots(api.ListBotsRequest(page_size=1), metadata=reader)
    assert len(page.bots) == 1 and page.next_page_token
    second = await stub.ListBots(
        api.ListBotsRequest(page_size=1, page_token=page.next_page_token), metadata=reader
    )
    assert second.bots[0].bot_id != page.bots[0].bot_id
    updated = (
        await stub.UpdateBot(
            api.UpdateBotRequest(
                bot={"bot_id": created.bot_id, "advisor_enabled": True},
                update_mask=field_mask_pb2.FieldMask(paths=["advisor_enabled"]),
            ),
            metadata=writer,
        )
    ).bot
    assert updated.advisor_enabled and updated.name == "grpc bot"


async def test_grpc_errors_carry_canonical_codes(envoy_channel, keys: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    stub = rpc.MarketplaceServiceStub(envoy_channel)
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stub.ListBots(api.ListBotsRequest(page_size=500), metadata=md(keys["read"]))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as unauth:
        await stub.ListBots(api.ListBotsRequest())
    assert unauth.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stub.CreateBot(
            api.CreateBotRequest(
                name="x", strategy="ma_crossover", markets=["BTC-USDT"], timeframe="1h"
            ),
            metadata=md(keys["read"]),
        )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_internal_services_are_not_routed_by_envoy(
    envoy_channel, keys: dict[str, str], settings
) -> None:  # type: ignore[no-untyped-def]
    stub = admin_rpc.AdminServiceStub(envoy_channel)
    metadata = (*md(keys["admin"]), ("x-botmesh-internal", settings.internal_token))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListApiKeys(admin_api.ListApiKeysRequest(), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_internal_services_need_the_internal_identity(
    mesh: Mesh, keys: dict[str, str], settings
) -> None:  # type: ignore[no-untyped-def]
    host, port = service_address(mesh.settings, "credential_svc")
    async with grpc.aio.insecure_channel(f"{host}:{port}") as channel:
        stub = admin_rpc.AdminServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListApiKeys(admin_api.ListApiKeysRequest(), metadata=md(keys["admin"]))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        reply = await stub.ListApiKeys(
            admin_api.ListApiKeysRequest(page_size=100),
            metadata=(*md(keys["admin"]), ("x-botmesh-internal", settings.internal_token)),
        )
        assert reply.api_keys


async def test_a_direct_call_authenticates_like_one_through_envoy(mesh: Mesh) -> None:
    host, port = service_address(mesh.settings, "credential_svc")
    async with grpc.aio.insecure_channel(f"{host}:{port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await rpc.MarketplaceServiceStub(channel).ListBots(api.ListBotsRequest())
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("service", SERVICES)
async def test_every_service_is_healthy_and_reflects_its_services(mesh: Mesh, service: str) -> None:
    host, port = service_address(mesh.settings, service)
    async with grpc.aio.insecure_channel(f"{host}:{port}") as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {s.name async for r in responses for s in r.list_services_response.service}
    expected = {
        "credential_svc": {
            "botmesh.credential.v1.MarketplaceService",
            "botmesh.credential.v1.CredentialService",
            "botmesh.credential.v1.SubscriptionService",
        },
        "trading_svc": {
            "botmesh.trading.v1.TradingService",
            "botmesh.trading.v1.MarketDataService",
        },
        "analysis_svc": {"botmesh.analysis.v1.AnalysisService"},
    }[service]
    assert expected <= names
    assert "grpc.health.v1.Health" in names
