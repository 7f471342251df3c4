"""The interceptor around a real grpc.aio server: placeholders answer UNIMPLEMENTED, not 500."""

from __future__ import annotations

import grpc
import pytest
from botmesh.analysis.v1 import analysis_service_pb2 as api
from botmesh.analysis.v1 import analysis_service_pb2_grpc as rpc

from mesh.apikey_store import ApiKeyStore
from mesh.auth import Authenticator
from mesh.interceptor import InterceptingServer
from mesh.server import unimplemented
from mesh.settings import Settings


async def test_a_placeholder_method_answers_unimplemented(
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
        unimplemented(rpc.AnalysisServiceServicer), InterceptingServer(server, "test", auth)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    _, key = await issue_key("read")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await rpc.AnalysisServiceStub(channel).GetBacktest(
                    api.GetBacktestRequest(backtest_id="bt_1"), metadata=(("x-api-key", key),)
                )
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
        with pytest.raises(grpc.aio.AioRpcError) as unauthenticated:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                await rpc.AnalysisServiceStub(channel).GetBacktest(
                    api.GetBacktestRequest(backtest_id="bt_1")
                )
        assert unauthenticated.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await server.stop(None)
