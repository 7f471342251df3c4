"""The upstream side of Envoy's bootstrap: one cluster per service listing every replica
(cli/replicas.py), balanced round robin over HTTP/2, with active gRPC health checks; and the
retry policy that sends a request no replica received to another replica.

Only failures before the request reached a replica are retried (a refused or failed
connection, a refused stream, a reset before the request went out), for every method: such
a request did nothing anywhere, so repeating it is safe even for a non-idempotent call. A
replica that died is routed around at once this way, before its health checks mark it down.
A request a replica may have started is never retried here: its caller retries with its
Idempotency-Key.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta

from envoy_data_plane.envoy.config.cluster.v3 import (
    CircuitBreakers,
    CircuitBreakersThresholds,
    Cluster,
    ClusterDiscoveryType,
)
from envoy_data_plane.envoy.config.core.v3 import (
    Address,
    HealthCheck,
    HealthCheckGrpcHealthCheck,
    Http2ProtocolOptions,
    SocketAddress,
    TransportSocket,
)
from envoy_data_plane.envoy.config.endpoint.v3 import (
    ClusterLoadAssignment,
    Endpoint,
    LbEndpoint,
    LocalityLbEndpoints,
)
from envoy_data_plane.envoy.config.route.v3 import RetryPolicy, RetryPolicyRetryHostPredicate
from envoy_data_plane.envoy.extensions.retry.host.previous_hosts.v3 import PreviousHostsPredicate
from envoy_data_plane.envoy.extensions.upstreams.http.v3 import (
    HttpProtocolOptions,
    HttpProtocolOptionsExplicitHttpConfig,
)
from envoy_data_plane.google.protobuf import Any as AnyPb


def _socket(host: str, port: int) -> Address:
    return Address(socket_address=SocketAddress(address=host, port_value=port))


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


# Failures where the request never reached a replica: safe to send to another, for any method.
RETRY_ON = "connect-failure,refused-stream,reset-before-request"


def retry_policy() -> RetryPolicy:
    """Another replica for a request no replica received (a dead one's refused connection)."""
    return RetryPolicy(
        retry_on=RETRY_ON,
        num_retries=2,
        retry_host_predicate=[
            RetryPolicyRetryHostPredicate(
                name="envoy.retry_host_predicates.previous_hosts",
                typed_config=AnyPb.pack(PreviousHostsPredicate()),
            )
        ],
        host_selection_retry_max_attempts=3,
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def discovery(endpoints: list[tuple[str, int]]) -> ClusterDiscoveryType:
    """STATIC for addresses (`botmesh up`: one per replica); STRICT_DNS when a host is a
    name (compose's service name, a headless Kubernetes Service): Envoy re-resolves it and
    every address it returns (every replica) becomes an endpoint."""
    if all(_is_ip(host) for host, _ in endpoints):
        return ClusterDiscoveryType.STATIC
    return ClusterDiscoveryType.STRICT_DNS


def cluster(
    name: str, endpoints: list[tuple[str, int]], transport_socket: TransportSocket | None = None
) -> Cluster:
    """The service's cluster: every replica in `endpoints`, health-checked over gRPC, through
    `transport_socket` (TLS, gateway/tls.py) when given, else plaintext."""
    http2 = HttpProtocolOptions(
        explicit_http_config=HttpProtocolOptionsExplicitHttpConfig(
            http2_protocol_options=Http2ProtocolOptions(max_concurrent_streams=1024)
        )
    )
    return Cluster(
        name=name,
        type=discovery(endpoints),
        connect_timeout=_seconds(1),
        transport_socket=transport_socket,
        typed_extension_protocol_options={
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": AnyPb.pack(http2)
        },
        load_assignment=ClusterLoadAssignment(
            cluster_name=name,
            endpoints=[
                LocalityLbEndpoints(
                    lb_endpoints=[
                        LbEndpoint(endpoint=Endpoint(address=_socket(host, port)))
                        for host, port in endpoints
                    ]
                )
            ],
        ),
        health_checks=[
            HealthCheck(
                timeout=_seconds(1),
                interval=_seconds(5),
                unhealthy_threshold=2,
                healthy_threshold=1,
                grpc_health_check=HealthCheckGrpcHealthCheck(),
            )
        ],
        circuit_breakers=CircuitBreakers(
            thresholds=[
                CircuitBreakersThresholds(max_requests=100_000, max_pending_requests=100_000)
            ]
        ),
    )
