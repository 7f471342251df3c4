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


@pytest.mark.parametrize(
    "junk",
    [
        b"\x0a\x02\xff\xfe",  # backtest_id, a string that is not UTF-8
        b"\x0a\xff\xff\xff\xff\x0f",  # a length past the end
        b"\x07",  # a wire type that does not exist
    ],
)
async def test_bytes_that_are_no_message_are_invalid_argument_once_authenticated(
    settings: Settings, engine, issue_key, junk: bytes
) -> None:  # type: ignore[no-untyped-def]
    from google.rpc import error_details_pb2, status_pb2

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
            call = channel.unary_unary(
                "/botmesh.analysis.v1.AnalysisService/GetBacktest",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )
            with pytest.raises(grpc.aio.AioRpcError) as anonymous:
                await call(junk)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call(junk, metadata=(("x-api-key", key),))
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        raw = dict(caught.value.trailing_metadata() or ())["grpc-status-details-bin"]
        info = error_details_pb2.ErrorInfo()
        status_pb2.Status.FromString(raw).details[0].Unpack(info)  # type: ignore[arg-type]
        assert info.reason == "MALFORMED_REQUEST"
    finally:
        await server.stop(None)
