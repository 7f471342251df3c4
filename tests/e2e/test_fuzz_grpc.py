"""No input makes a 500 over gRPC either: generated protobuf requests for every public RPC
through Envoy, with what JSON cannot carry (unknown enum numbers, int64 bounds, timestamps
out of range, huge repeated fields and maps, bytes that are no valid message). And gRPC
bodies have REST's size limit: Envoy refuses them, the service never sees them."""

from __future__ import annotations

import random
import time

import grpc
import httpx
import pytest
from botmesh.credential.v1 import marketplace_service_pb2 as api
from botmesh.credential.v1 import marketplace_service_pb2_grpc as rpc
from google.rpc import error_details_pb2, status_pb2

from cli.launcher import Mesh
from tests.e2e.fuzz_cases import public_rpcs
from tests.e2e.fuzz_support import Auth, send_grpc
from tests.e2e.fuzz_support import run_cases as run
from tests.e2e.fuzz_world import build_world, fuzz_cases, fuzz_seed
from tests.e2e.test_fuzz_rest import report

CASES = 1000
CONCURRENCY = 16


@pytest.fixture
async def envoy_channel(mesh: Mesh):  # type: ignore[no-untyped-def]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{mesh.settings.envoy_port}") as channel:
        yield channel


async def test_every_public_rpc_over_grpc_answers_without_a_server_error(
    rest: httpx.AsyncClient,
    envoy_channel: grpc.aio.Channel,
    keys: dict[str, str],
    exchange_sim: object,
) -> None:
    seed = fuzz_seed()
    world, principal = await build_world(rest, keys, exchange_sim)
    auth = Auth(keys, principal)
    rpcs = public_rpcs()

    async def send(method, rng, tally):  # type: ignore[no-untyped-def]
        await send_grpc(envoy_channel, method, world, auth, rng, tally)

    start = time.perf_counter()
    tally = await run(fuzz_cases(CASES), CONCURRENCY, rpcs, random.Random(seed), send)
    summary = report("gRPC", seed, tally, time.perf_counter() - start)
    print(summary)
    assert tally.cases == fuzz_cases(CASES)
    assert set(tally.per_rpc) == {r.name for r in rpcs}
    assert not tally.failures, summary


async def upstream_requests(mesh: Mesh, cluster: str) -> int:
    async with httpx.AsyncClient() as admin:
        stats = await admin.get(f"http://127.0.0.1:{mesh.settings.envoy_admin_port}/stats")
    line = next(
        x for x in stats.text.splitlines() if x.startswith(f"cluster.{cluster}.upstream_rq_total:")
    )
    return int(line.rsplit(":", 1)[1])


async def test_a_grpc_body_over_64_kib_is_refused_by_envoy_before_the_service(
    mesh: Mesh, envoy_channel: grpc.aio.Channel, keys: dict[str, str]
) -> None:
    stub = rpc.MarketplaceServiceStub(envoy_channel)
    writer = (("x-api-key", keys["bots:write"]),)
    before = await upstream_requests(mesh, "credential_svc")
    big = api.CreateBotRequest(
        name="big",
        strategy="ma_crossover",
        markets=["BTC-USDT"],
        timeframe="1h",
        description="x" * (100 * 1024),
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.CreateBot(big, metadata=writer)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    raw = dict(refused.value.trailing_metadata() or ())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(raw)  # type: ignore[arg-type]
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info) and info.reason == "REQUEST_TOO_LARGE"
    assert await upstream_requests(mesh, "credential_svc") == before

    # Just under the limit, the same call reaches the service, which applies its own rule.
    small = api.CreateBotRequest(
        name="big",
        strategy="ma_crossover",
        markets=["BTC-USDT"],
        timeframe="1h",
        description="x" * (60 * 1024),
    )
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await stub.CreateBot(small, metadata=writer)
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "description" in (invalid.value.details() or "")
    assert await upstream_requests(mesh, "credential_svc") == before + 1


async def test_a_rest_body_over_64_kib_is_refused_the_same_way(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    body = {
        "name": "big",
        "strategy": "ma_crossover",
        "markets": ["BTC-USDT"],
        "timeframe": "1h",
        "description": "x" * (100 * 1024),
    }
    resp = await rest.post("/v1/bots", json=body, headers={"x-api-key": keys["bots:write"]})
    assert resp.status_code == 413, resp.text
    assert resp.json()["details"][0]["reason"] == "REQUEST_TOO_LARGE"


async def test_oversize_paths_and_headers_are_refused_at_the_gateway(
    rest: httpx.AsyncClient, envoy_channel: grpc.aio.Channel, keys: dict[str, str]
) -> None:
    read = {"x-api-key": keys["read"]}
    long_path = await rest.get("/v1/bots/" + "b" * 5000, headers=read)
    assert long_path.status_code == 414, long_path.text
    assert long_path.json()["details"][0]["reason"] == "URI_TOO_LONG"
    long_header = await rest.get("/v1/bots", headers={**read, "x-junk": "j" * 12_000})
    assert long_header.status_code == 431, long_header.text
    assert long_header.json()["details"][0]["reason"] == "HEADERS_TOO_LARGE"

    stub = rpc.MarketplaceServiceStub(envoy_channel)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.ListBots(
            api.ListBotsRequest(), metadata=(*read.items(), ("x-junk", "j" * 12_000))
        )
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
