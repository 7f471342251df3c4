"""The interceptor's error stage: a handler that meets a Redis or database outage answers
UNAVAILABLE with ErrorInfo DEPENDENCY_UNAVAILABLE and RetryInfo, whatever the handler; a bug
still answers INTERNAL without detail. A real grpc.aio server, a real unreachable Redis and
database (free ports nothing listens on)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import grpc
import pytest
import sqlalchemy as sa
from botmesh.analysis.v1 import analysis_service_pb2 as api
from botmesh.analysis.v1 import analysis_service_pb2_grpc as rpc
from google.rpc import error_details_pb2, status_pb2

from cli.launcher import free_port
from mesh.apikey_store import ApiKeyStore
from mesh.auth import Authenticator
from mesh.db import make_engine
from mesh.interceptor import InterceptingServer
from mesh.redis import make_redis
from mesh.settings import Settings


class Failing(rpc.AnalysisServiceServicer):
    """GetBacktest fails the way the backtest id names: Redis, database or a bug."""

    async def GetBacktest(
        self, request: api.GetBacktestRequest, context: grpc.aio.ServicerContext
    ) -> api.GetBacktestResponse:
        if request.backtest_id == "bt_redis":
            redis = make_redis(f"redis://127.0.0.1:{free_port()}/0")
            try:
                await redis.get("x")
            finally:
                await redis.aclose()
        if request.backtest_id == "bt_database":
            engine = make_engine(f"mysql+aiomysql://root@127.0.0.1:{free_port()}/botmesh")
            try:
                async with engine.connect() as conn:
                    await conn.execute(sa.text("SELECT 1"))
            finally:
                await engine.dispose()
        raise ValueError("a bug, with a secret: s3cr3t")


@pytest.fixture
async def stub(settings: Settings, engine, issue_key) -> AsyncIterator[tuple[object, str]]:  # type: ignore[no-untyped-def]
    auth = Authenticator(
        ApiKeyStore(engine),
        pepper=settings.api_key_pepper,
        internal_token=settings.internal_token,
        cache_ttl_s=1,
    )
    server = grpc.aio.server()
    servicer = cast(Any, Failing)()  # the others answer UNIMPLEMENTED; only GetBacktest is called
    rpc.add_AnalysisServiceServicer_to_server(servicer, InterceptingServer(server, "t", auth))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    _, key = await issue_key("read")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield rpc.AnalysisServiceStub(channel), key
    finally:
        await server.stop(None)


async def _call(stub: tuple[object, str], backtest_id: str) -> grpc.aio.AioRpcError:
    client, key = stub
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.GetBacktest(  # type: ignore[attr-defined]
            api.GetBacktestRequest(backtest_id=backtest_id), metadata=(("x-api-key", key),)
        )
    return caught.value


def _details(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    raw = dict(error.trailing_metadata() or ())["grpc-status-details-bin"]
    return status_pb2.Status.FromString(raw)


@pytest.mark.parametrize("dependency", ["redis", "database"])
async def test_an_outage_answers_unavailable_with_a_retry_delay(
    stub: tuple[object, str], dependency: str
) -> None:
    error = await _call(stub, f"bt_{dependency}")
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    status = _details(error)
    assert status.details[0].Unpack(info) and status.details[1].Unpack(retry)
    assert (info.reason, dict(info.metadata)) == (
        "DEPENDENCY_UNAVAILABLE",
        {"dependency": dependency},
    )
    assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (1, 0)


async def test_a_bug_still_answers_internal_without_detail(stub: tuple[object, str]) -> None:
    error = await _call(stub, "bt_bug")
    assert error.code() == grpc.StatusCode.INTERNAL
    assert error.details() == "internal error"
