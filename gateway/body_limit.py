"""One request-body limit for REST and gRPC.

REST bodies are bounded by the transcoder (max_request_body_size). gRPC requests pass the
transcoder untouched, so a buffer filter just before the router bounds them too: a request
whose body passes the limit is answered by Envoy itself and never reaches a service. Envoy
answers that as 413, which a gRPC client would read as UNKNOWN; the local-reply mapper turns
it into RESOURCE_EXHAUSTED for gRPC callers. Every RPC is unary or server-streaming (one
request message), so buffering the request whole costs nothing a handler would not wait for.
"""

from __future__ import annotations

from envoy_data_plane.envoy.config.accesslog.v3 import (
    AccessLogFilter,
    AndFilter,
    ComparisonFilter,
    ComparisonFilterOp,
    HeaderFilter,
    StatusCodeFilter,
)
from envoy_data_plane.envoy.config.core.v3 import HeaderValue, HeaderValueOption, RuntimeUInt32
from envoy_data_plane.envoy.config.route.v3 import HeaderMatcher
from envoy_data_plane.envoy.extensions.filters.http.buffer.v3 import Buffer
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
    HttpFilter,
    LocalReplyConfig,
    ResponseMapper,
)
from envoy_data_plane.google.protobuf import Any as AnyPb

PAYLOAD_TOO_LARGE = 413
RESOURCE_EXHAUSTED = 8


def buffer_filter(max_bytes: int) -> HttpFilter:
    """Holds each request until it is whole, refusing it past max_bytes (gRPC framing
    included: a 64 KiB limit takes a message of 64 KiB - 5 bytes)."""
    return HttpFilter(
        name="envoy.filters.http.buffer",
        typed_config=AnyPb.pack(Buffer(max_request_bytes=max_bytes)),
    )


def local_replies() -> LocalReplyConfig:
    """gRPC callers refused for size get RESOURCE_EXHAUSTED with a message, not UNKNOWN."""
    too_large = AccessLogFilter(
        and_filter=AndFilter(
            filters=[
                AccessLogFilter(
                    status_code_filter=StatusCodeFilter(
                        comparison=ComparisonFilter(
                            op=ComparisonFilterOp.EQ,
                            value=RuntimeUInt32(
                                default_value=PAYLOAD_TOO_LARGE, runtime_key="body_limit_status"
                            ),
                        )
                    )
                ),
                AccessLogFilter(
                    header_filter=HeaderFilter(
                        header=HeaderMatcher(name="content-type", prefix_match="application/grpc")
                    )
                ),
            ]
        )
    )
    return LocalReplyConfig(
        mappers=[
            ResponseMapper(
                filter=too_large,
                headers_to_add=[
                    _header("grpc-status", str(RESOURCE_EXHAUSTED)),
                    _header("grpc-message", "request body too large"),
                ],
            )
        ]
    )


def _header(name: str, value: str) -> HeaderValueOption:
    return HeaderValueOption(header=HeaderValue(key=name, value=value))
