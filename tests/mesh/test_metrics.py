"""RPC metrics: every call is counted by method and code, unary calls' handling time lands in
the histogram's buckets (cumulative, as Prometheus reads them), and in-flight calls are a
gauge; read from the registry's exposition, as a scrape reads them."""

from __future__ import annotations

import grpc
import pytest
from botmesh.analysis.v1 import analysis_service_pb2 as api
from botmesh.analysis.v1 import analysis_service_pb2_grpc as rpc
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from mesh.apikey_store import ApiKeyStore
from mesh.auth import Authenticator
from mesh.interceptor import InterceptingServer
from mesh.metrics import RPC, CircuitBreakers, RpcMetrics
from mesh.server import unimplemented
from mesh.settings import Settings


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_counts_buckets_and_in_flight_are_exposed_as_prometheus_reads_them() -> None:
    metrics = RpcMetrics()
    registry = CollectorRegistry()
    registry.register(metrics)  # type: ignore[arg-type]
    stats = metrics.method("svc", "GetThing")
    for seconds in (0.0004, 0.0005, 0.003, 20.0):
        stats.begin()
        stats.end("OK", seconds)
    stats.begin()
    stats.end("NOT_FOUND", 0.002)
    stats.begin()  # still running
    labels = {"service": "svc", "method": "GetThing"}

    assert sample(registry, "botmesh_rpc_total", **labels, code="OK") == 4
    assert sample(registry, "botmesh_rpc_total", **labels, code="NOT_FOUND") == 1
    assert sample(registry, "botmesh_rpc_in_flight", **labels) == 1
    bucket = "botmesh_rpc_latency_seconds_bucket"
    assert sample(registry, bucket, **labels, le="0.0005") == 2  # a bound is inclusive
    assert sample(registry, bucket, **labels, le="0.0025") == 3
    assert sample(registry, bucket, **labels, le="0.005") == 4
    assert sample(registry, bucket, **labels, le="10.0") == 4
    assert sample(registry, bucket, **labels, le="+Inf") == 5
    assert sample(registry, "botmesh_rpc_latency_seconds_count", **labels) == 5
    assert sample(registry, "botmesh_rpc_latency_seconds_sum", **labels) == pytest.approx(20.0059)
    assert b"# TYPE botmesh_rpc_latency_seconds histogram" in generate_latest(registry)


def test_a_stream_is_counted_without_a_handling_time() -> None:
    metrics = RpcMetrics()
    stats = metrics.method("svc", "StreamThings")
    stats.begin()
    stats.end("CANCELLED")
    assert (stats.codes, sum(stats.buckets), stats.in_flight) == ({"CANCELLED": 1}, 0, 0)


async def test_the_interceptor_counts_every_call_in_the_process_registry(
    settings: Settings, engine, issue_key
) -> None:  # type: ignore[no-untyped-def]
    auth = Authenticator(
        ApiKeyStore(engine),
        pepper=settings.api_key_pepper,
        internal_token=settings.internal_token,
        cache_ttl_s=1,
    )
    server = grpc.aio.server()
    rpc.add_AnalysisServiceServicer_to_server(
        unimplemented(rpc.AnalysisServiceServicer), InterceptingServer(server, "metrics", auth)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    _, key = await issue_key("read")
    labels = {"service": "metrics", "method": "GetBacktest"}
    before = RPC.method("metrics", "GetBacktest").codes.copy()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = rpc.AnalysisServiceStub(channel)
            for metadata in ((("x-api-key", key),), (), (("x-api-key", key),)):
                with pytest.raises(grpc.aio.AioRpcError):
                    await stub.GetBacktest(
                        api.GetBacktestRequest(backtest_id="bt_1"), metadata=metadata
                    )
    finally:
        await server.stop(None)
    counted = {
        code: (sample(REGISTRY, "botmesh_rpc_total", **labels, code=code) or 0)
        - before.get(code, 0)
        for code in ("UNIMPLEMENTED", "UNAUTHENTICATED")
    }
    assert counted == {"UNIMPLEMENTED": 2, "UNAUTHENTICATED": 1}
    assert sample(REGISTRY, "botmesh_rpc_in_flight", **labels) == 0
    assert sample(REGISTRY, "botmesh_rpc_latency_seconds_count", **labels) == sum(
        RPC.method("metrics", "GetBacktest").codes.values()
    )


def test_every_kind_of_circuit_breaker_is_one_family_counted_at_scrape() -> None:
    registry = CollectorRegistry()
    breakers = CircuitBreakers()
    registry.register(breakers)  # type: ignore[arg-type]
    open_now = {"exchange_account": 2}
    breakers.register("exchange_account", lambda: open_now["exchange_account"])
    breakers.register("advisor_endpoint", lambda: 0)

    def open_ones(breaker: str) -> float | None:
        return sample(registry, "botmesh_circuit_breakers_open", breaker=breaker)

    assert (open_ones("exchange_account"), open_ones("advisor_endpoint")) == (2, 0)
    open_now["exchange_account"] = 0  # read at scrape, not when registered
    assert open_ones("exchange_account") == 0
