"""One set of request-size limits for REST and gRPC, answered in the contract's error shape.

REST bodies are bounded by the transcoder (max_request_body_size). gRPC requests pass the
transcoder untouched, so a buffer filter just before the router bounds them too: a request
whose body passes the limit is answered by Envoy itself and never reaches a service. Every
RPC is unary or server-streaming (one request message), so buffering the request whole costs
nothing a handler would not wait for.

Envoy answers an oversize body 413, which a gRPC client reads as UNKNOWN; the local-reply
mappers make it RESOURCE_EXHAUSTED with an ErrorInfo reason for gRPC callers, and a
google.rpc.Status JSON body for REST ones.

Headers are bounded by the REST guard (gateway/rest_guard.lua, constants from lua_constants()):
the services' gRPC servers take at most 16 KiB of metadata and refuse more without our error
shape, and the transcoder forwards a REST path twice (:path and x-envoy-original-path).
"""

from __future__ import annotations

import base64
import json

from envoy_data_plane.envoy.config.accesslog.v3 import (
    AccessLogFilter,
    AndFilter,
    ComparisonFilter,
    ComparisonFilterOp,
    HeaderFilter,
    StatusCodeFilter,
)
from envoy_data_plane.envoy.config.core.v3 import (
    DataSource,
    HeaderValue,
    HeaderValueOption,
    RuntimeUInt32,
    SubstitutionFormatString,
)
from envoy_data_plane.envoy.config.route.v3 import HeaderMatcher
from envoy_data_plane.envoy.extensions.filters.http.buffer.v3 import Buffer
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
    HttpFilter,
    LocalReplyConfig,
    ResponseMapper,
)
from envoy_data_plane.envoy.type.matcher.v3 import StringMatcher
from envoy_data_plane.google.protobuf import Any as AnyPb
from google.rpc import error_details_pb2, status_pb2

DOMAIN = "botmesh.dev"
RESOURCE_EXHAUSTED = 8
INVALID_ARGUMENT = 3
# HTTP status -> (ErrorInfo reason, message) of Envoy's own size refusals.
REFUSALS = {413: ("REQUEST_TOO_LARGE", "request body too large")}
# All request headers, names and values, at most; a REST path and query at most.
MAX_HEADER_BYTES = 8 * 1024
MAX_PATH_BYTES = 4 * 1024


def buffer_filter(max_bytes: int) -> HttpFilter:
    """Holds each request until it is whole, refusing it past max_bytes (gRPC framing
    included: a 64 KiB limit takes a message of 64 KiB - 5 bytes)."""
    return HttpFilter(
        name="envoy.filters.http.buffer",
        typed_config=AnyPb.pack(Buffer(max_request_bytes=max_bytes)),
    )


def local_replies() -> LocalReplyConfig:
    mappers = []
    for status, (reason, message) in REFUSALS.items():
        mappers.append(
            ResponseMapper(
                filter=_when(status, grpc=True),
                headers_to_add=[
                    _header("grpc-status", str(RESOURCE_EXHAUSTED)),
                    _header("grpc-message", message),
                    _header("grpc-status-details-bin", _grpc_details(reason, message)),
                ],
            )
        )
        mappers.append(
            ResponseMapper(
                filter=_when(status, grpc=False),
                body_format_override=SubstitutionFormatString(
                    text_format_source=DataSource(inline_string=_rest_body(reason, message)),
                    content_type="application/json",
                ),
            )
        )
    return LocalReplyConfig(mappers=mappers)


def lua_constants() -> str:
    """The guard's limits, and the gRPC status details it answers its refusals with."""
    details = _grpc_details("HEADERS_TOO_LARGE", "request headers too large")
    invalid = _grpc_details(
        "INVALID_HEADER", "a header is not valid gRPC metadata", code=INVALID_ARGUMENT
    )
    return (
        f"MAX_HEADER_BYTES = {MAX_HEADER_BYTES}\n"
        f"MAX_PATH_BYTES = {MAX_PATH_BYTES}\n"
        f'HEADERS_TOO_LARGE_DETAILS = "{details}"\n'
        f'INVALID_HEADER_DETAILS = "{invalid}"\n'
    )


def _when(status: int, *, grpc: bool) -> AccessLogFilter:
    is_grpc = HeaderMatcher(
        name="content-type", string_match=StringMatcher(prefix="application/grpc")
    )
    if not grpc:
        is_grpc.invert_match = True
    return AccessLogFilter(
        and_filter=AndFilter(
            filters=[
                AccessLogFilter(
                    status_code_filter=StatusCodeFilter(
                        comparison=ComparisonFilter(
                            op=ComparisonFilterOp.EQ,
                            value=RuntimeUInt32(
                                default_value=status, runtime_key=f"size_limit_status_{status}"
                            ),
                        )
                    )
                ),
                AccessLogFilter(header_filter=HeaderFilter(header=is_grpc)),
            ]
        )
    )


def _grpc_details(reason: str, message: str, *, code: int = RESOURCE_EXHAUSTED) -> str:
    """grpc-status-details-bin: a google.rpc.Status with the ErrorInfo, unpadded base64."""
    status = status_pb2.Status(code=code, message=message)
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN))
    return base64.b64encode(status.SerializeToString()).decode().rstrip("=")


def _rest_body(reason: str, message: str) -> str:
    info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}
    body = {
        "code": INVALID_ARGUMENT,
        "message": message,
        "details": [{**info, "domain": DOMAIN, "metadata": {}}],
    }
    # Envoy's format strings treat "%" as a command; the body has none.
    return json.dumps(body, separators=(",", ":"))


def _header(name: str, value: str) -> HeaderValueOption:
    return HeaderValueOption(header=HeaderValue(key=name, value=value))
