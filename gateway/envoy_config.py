"""Renders Envoy's bootstrap from typed envoy-data-plane messages, so a misspelt field fails
here, in Python, rather than as a proxy that will not start.

What it sets up:
- one dual-stack listener (IPv6 with IPv4-mapped addresses: ICP outcalls arrive over IPv6);
- REST transcoding of every public service, with gRPC passing through on the same port;
- routes per public service; streaming methods without a route timeout;
- internal-only identity headers stripped from outside requests;
- a Lua REST guard: unknown JSON fields refused, gateway errors as JSON, no grpc-* headers
  on REST responses;
- a local rate limit: a whole-gateway bucket and a bucket per client address (the TCP peer,
  never a header a client can forge), both before anything reaches a service, so an
  unauthenticated flood from one address gets 429 from Envoy itself;
- one request-body limit for REST and gRPC alike (gateway/size_limits.py), JSON access logs
  carrying x-request-id;
- one cluster per service listing every replica, health-checked, and retries of requests no
  replica received (gateway/upstreams.py);
- static files (the dashboard page, /openapi.json) answered by Envoy itself, GET/HEAD only;
- TLS on the public listener when the edge has a certificate, and to the services when
  internal TLS is set (gateway/tls.py); plaintext otherwise;
- CORS for the configured browser origins on the REST routes and SSE streams, preflight
  included (gateway/cors.py);
- admin on loopback only; Prometheus metrics on a stats listener of their own
  (gateway/stats_listener.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from envoy_data_plane.envoy.config.accesslog.v3 import AccessLog
from envoy_data_plane.envoy.config.bootstrap.v3 import Admin, Bootstrap, BootstrapStaticResources
from envoy_data_plane.envoy.config.core.v3 import (
    Address,
    DataSource,
    Http2ProtocolOptions,
    RuntimeFractionalPercent,
    SocketAddress,
    SubstitutionFormatString,
)
from envoy_data_plane.envoy.config.listener.v3 import Filter, FilterChain, Listener
from envoy_data_plane.envoy.config.route.v3 import (
    RateLimit,
    RateLimitAction,
    RateLimitActionRemoteAddress,
    Route,
    RouteAction,
    RouteConfiguration,
    RouteMatch,
    VirtualHost,
)
from envoy_data_plane.envoy.extensions.access_loggers.stream.v3 import StdoutAccessLog
from envoy_data_plane.envoy.extensions.common.ratelimit.v3 import (
    LocalRateLimitDescriptor,
    RateLimitDescriptorEntry,
)
from envoy_data_plane.envoy.extensions.filters.http.grpc_json_transcoder.v3 import (
    GrpcJsonTranscoder,
    GrpcJsonTranscoderPrintOptions,
    GrpcJsonTranscoderRequestValidationOptions,
)
from envoy_data_plane.envoy.extensions.filters.http.local_ratelimit.v3 import LocalRateLimit
from envoy_data_plane.envoy.extensions.filters.http.lua.v3 import Lua
from envoy_data_plane.envoy.extensions.filters.http.router.v3 import Router
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
    HttpConnectionManager,
    HttpFilter,
)
from envoy_data_plane.envoy.type.v3 import (
    FractionalPercent,
    FractionalPercentDenominatorType,
    TokenBucket,
)
from envoy_data_plane.google.protobuf import Any as AnyPb
from envoy_data_plane.google.protobuf import Struct

from gateway.contract import PublicService
from gateway.cors import cors_filter, rest_route
from gateway.size_limits import buffer_filter, local_replies
from gateway.static_files import StaticFile, max_body_bytes, static_routes
from gateway.stats_listener import stats_cluster, stats_listener
from gateway.tls import downstream_socket, upstream_socket
from gateway.upstreams import cluster, retry_policy
from mesh.auth import INTERNAL_HEADER
from mesh.tls import EdgeTls, InternalTls

# Headers only our own services may set. Envoy drops them from every outside request.
INTERNAL_ONLY_HEADERS = (INTERNAL_HEADER,)
ACCESS_LOG_FORMAT = {
    "time": "%START_TIME%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "method": "%REQ(:METHOD)%",
    # Without the query: SSE routes carry dashboard tokens as ?access_token=.
    "path": "%PATH(NQ:ORIG_OR_PATH)%",
    "protocol": "%PROTOCOL%",
    "status": "%RESPONSE_CODE%",
    "grpc_status": "%GRPC_STATUS(NUMBER)%",
    "flags": "%RESPONSE_FLAGS%",
    "bytes_in": "%BYTES_RECEIVED%",
    "bytes_out": "%BYTES_SENT%",
    "duration_ms": "%DURATION%",
    "upstream": "%UPSTREAM_HOST%",
    "client": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
}


@dataclass(frozen=True)
class GatewayConfig:
    listen_port: int
    admin_port: int
    descriptor_set: Path
    services: list[PublicService]
    # cluster name -> [(host, port)], one entry per service process.
    upstreams: dict[str, list[tuple[str, int]]]
    # Lua source of the REST guard (schema tables + gateway/rest_guard.lua).
    rest_guard_lua: str = ""
    # "::" with ipv4_compat takes IPv6 and IPv4 on one socket; an IPv4 address takes IPv4 only.
    listen_address: str = "::"
    request_timeout_s: int = 15
    max_request_body_bytes: int = 64 * 1024
    # A REST answer is transcoded whole: the largest (a backtest with its 2,000 trades and
    # 500 equity points, ~1-2 MB of JSON) must fit, or Envoy answers 500.
    max_response_body_bytes: int = 8 * 1024 * 1024
    # Whole-gateway token bucket: a guard against floods, not per-key fairness.
    rate_limit_per_s: int = 20_000
    # Per client address (requests/s; the burst is twice that). Addresses tracked at once are
    # bounded (LRU), so a spray of source addresses cannot grow Envoy's memory.
    per_address_rate_limit_per_s: int = 1_000
    max_tracked_addresses: int = 10_000
    # Files Envoy serves itself (gateway/static_files.py): the dashboard, /openapi.json.
    static_files: list[StaticFile] = field(default_factory=list)
    # The public listener's certificate; None: plaintext.
    tls: EdgeTls | None = None
    # Mutual TLS to the services (their CA, Envoy's certificate); None: plaintext.
    upstream_tls: InternalTls | None = None
    # Browser origins (or patterns, mesh/origins.py) allowed cross-origin; () allows none.
    cors_origins: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    # The stats listener (gateway/stats_listener.py): GET /metrics only; port 0 leaves it out.
    stats_address: str = "127.0.0.1"
    stats_port: int = 0


def _socket(host: str, port: int, *, dual_stack: bool = False) -> Address:
    return Address(
        socket_address=SocketAddress(address=host, port_value=port, ipv4_compat=dual_stack)
    )


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _routes(config: GatewayConfig) -> list[Route]:
    routes: list[Route] = static_routes(config.static_files)
    if config.services:
        cluster = config.services[0].cluster
        routes.append(rest_route(config.cors_origins, cluster, config.request_timeout_s))
    for service in config.services:
        for method in service.streaming_methods:
            routes.append(
                Route(
                    match=RouteMatch(path=f"/{service.full_name}/{method}"),
                    route=RouteAction(cluster=service.cluster, timeout=_seconds(0)),
                )
            )
    for service in config.services:
        routes.append(
            Route(
                match=RouteMatch(prefix=f"/{service.full_name}/"),
                route=RouteAction(
                    cluster=service.cluster, timeout=_seconds(config.request_timeout_s)
                ),
            )
        )
    return routes


def _rate_limit(config: GatewayConfig) -> LocalRateLimit:
    """The whole-gateway bucket, plus one bucket per client address: a wildcard descriptor
    (a key with no value) on the remote_address action makes Envoy keep a bucket for each
    address it sees. Both are consumed by every request."""
    always = RuntimeFractionalPercent(
        default_value=FractionalPercent(
            numerator=100, denominator=FractionalPercentDenominatorType.HUNDRED
        ),
        runtime_key="local_rate_limit_enabled",
    )
    per_address = config.per_address_rate_limit_per_s
    return LocalRateLimit(
        stat_prefix="gateway_rate_limit",
        token_bucket=TokenBucket(
            max_tokens=config.rate_limit_per_s,
            tokens_per_fill=config.rate_limit_per_s,
            fill_interval=_seconds(1),
        ),
        filter_enabled=always,
        filter_enforced=always,
        rate_limits=[
            RateLimit(actions=[RateLimitAction(remote_address=RateLimitActionRemoteAddress())])
        ],
        descriptors=[
            LocalRateLimitDescriptor(
                entries=[RateLimitDescriptorEntry(key="remote_address")],
                token_bucket=TokenBucket(
                    max_tokens=2 * per_address,
                    tokens_per_fill=per_address,
                    fill_interval=_seconds(1),
                ),
            )
        ],
        max_dynamic_descriptors=config.max_tracked_addresses,
        always_consume_default_token_bucket=True,
        rate_limited_as_resource_exhausted=True,
    )


def _http_filters(config: GatewayConfig) -> list[HttpFilter]:
    rate_limit = _rate_limit(config)
    transcoder = GrpcJsonTranscoder(
        proto_descriptor=str(config.descriptor_set),
        services=[s.full_name for s in config.services],
        print_options=GrpcJsonTranscoderPrintOptions(
            always_print_primitive_fields=True,
            preserve_proto_field_names=True,
            stream_sse_style_delimited=True,
        ),
        convert_grpc_status=True,
        request_validation_options=GrpcJsonTranscoderRequestValidationOptions(
            reject_unknown_method=True,
            reject_unknown_query_parameters=True,
            reject_binding_body_field_collisions=True,
        ),
        max_request_body_size=config.max_request_body_bytes,
        max_response_body_size=config.max_response_body_bytes,
        query_param_unescape_plus=True,
    )
    guard = Lua(default_source_code=DataSource(inline_string=config.rest_guard_lua))
    return [
        # First: preflights answered before anything else, and every answer after it (the
        # guard's, the rate limit's, the transcoder's errors too) gets the CORS headers.
        cors_filter(),
        HttpFilter(name="envoy.filters.http.lua", typed_config=AnyPb.pack(guard)),
        HttpFilter(name="envoy.filters.http.local_ratelimit", typed_config=AnyPb.pack(rate_limit)),
        HttpFilter(
            name="envoy.filters.http.grpc_json_transcoder", typed_config=AnyPb.pack(transcoder)
        ),
        # After the transcoder: bounds gRPC bodies (REST ones are already bounded above).
        buffer_filter(config.max_request_body_bytes),
        # No x-envoy-upstream-service-time: copies of one ICP outcall must get identical answers.
        HttpFilter(
            name="envoy.filters.http.router",
            typed_config=AnyPb.pack(Router(suppress_envoy_headers=True)),
        ),
    ]


def _listener(config: GatewayConfig) -> Listener:
    access_log = AccessLog(
        name="envoy.access_loggers.stdout",
        typed_config=AnyPb.pack(
            StdoutAccessLog(
                log_format=SubstitutionFormatString(json_format=Struct.from_dict(ACCESS_LOG_FORMAT))
            )
        ),
    )
    route_config = RouteConfiguration(
        name="botmesh",
        internal_only_headers=list(INTERNAL_ONLY_HEADERS),
        max_direct_response_body_size_bytes=max_body_bytes(config.static_files),
        request_headers_to_remove=list(INTERNAL_ONLY_HEADERS),
        virtual_hosts=[
            VirtualHost(
                name="botmesh",
                domains=["*"],
                routes=_routes(config),
                retry_policy=retry_policy(),
            )
        ],
    )
    manager = HttpConnectionManager(
        stat_prefix="ingress",
        use_remote_address=True,
        route_config=route_config,
        http_filters=_http_filters(config),
        access_log=[access_log],
        http2_protocol_options=Http2ProtocolOptions(max_concurrent_streams=1024),
        local_reply_config=local_replies(),
    )
    return Listener(
        name="public",
        address=_socket(
            config.listen_address, config.listen_port, dual_stack=":" in config.listen_address
        ),
        filter_chains=[
            FilterChain(
                transport_socket=downstream_socket(config.tls) if config.tls else None,
                filters=[
                    Filter(
                        name="envoy.filters.network.http_connection_manager",
                        typed_config=AnyPb.pack(manager),
                    )
                ],
            )
        ],
    )


def build_bootstrap(config: GatewayConfig) -> Bootstrap:
    listeners = [_listener(config)]
    tls = upstream_socket(config.upstream_tls) if config.upstream_tls else None
    clusters = [cluster(name, eps, tls) for name, eps in sorted(config.upstreams.items())]
    if config.stats_port:
        listeners.append(stats_listener(config.stats_address, config.stats_port))
        clusters.append(stats_cluster(config.admin_port))
    return Bootstrap(
        admin=Admin(address=_socket("127.0.0.1", config.admin_port)),
        static_resources=BootstrapStaticResources(listeners=listeners, clusters=clusters),
    )


def render(config: GatewayConfig) -> str:
    """The bootstrap as JSON (which Envoy reads as YAML)."""
    return json.dumps(build_bootstrap(config).to_dict(), indent=2, sort_keys=True)
