"""Envoy's own Prometheus metrics, without exposing its admin API.

Envoy's admin API can drain listeners, change log levels and quit the process, so it stays
on loopback. Prometheus instead scrapes a listener of its own (the standard pattern):
- it answers only `GET /metrics`, routed to the admin's read-only `/stats/prometheus`
  through a cluster that reaches the admin on loopback; every other path or method is a
  plain 404 from Envoy itself, and never reaches the admin;
- it binds BOTMESH_METRICS_ADDRESS:BOTMESH_ENVOY_METRICS_PORT (loopback by default; 0.0.0.0
  in containers, where Prometheus scrapes from another one), and port 0 leaves it out;
- nothing of the public listener is shared: no transcoder, no rate limit, no access log.
"""

from __future__ import annotations

from datetime import timedelta

from envoy_data_plane.envoy.config.cluster.v3 import Cluster, ClusterDiscoveryType
from envoy_data_plane.envoy.config.core.v3 import Address, SocketAddress
from envoy_data_plane.envoy.config.endpoint.v3 import (
    ClusterLoadAssignment,
    Endpoint,
    LbEndpoint,
    LocalityLbEndpoints,
)
from envoy_data_plane.envoy.config.listener.v3 import Filter, FilterChain, Listener
from envoy_data_plane.envoy.config.route.v3 import (
    DirectResponseAction,
    HeaderMatcher,
    Route,
    RouteAction,
    RouteConfiguration,
    RouteMatch,
    VirtualHost,
)
from envoy_data_plane.envoy.extensions.filters.http.router.v3 import Router
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
    HttpConnectionManager,
    HttpFilter,
)
from envoy_data_plane.envoy.type.matcher.v3 import StringMatcher
from envoy_data_plane.google.protobuf import Any as AnyPb

STATS_CLUSTER = "envoy_admin_stats"
METRICS_PATH = "/metrics"
PROMETHEUS_PATH = "/stats/prometheus"


def _socket(host: str, port: int) -> Address:
    return Address(socket_address=SocketAddress(address=host, port_value=port))


def stats_listener(address: str, port: int) -> Listener:
    """The listener serving GET /metrics from the admin's /stats/prometheus, and 404 else."""
    routes = [
        Route(
            match=RouteMatch(
                path=METRICS_PATH,
                headers=[HeaderMatcher(name=":method", string_match=StringMatcher(exact="GET"))],
            ),
            route=RouteAction(
                cluster=STATS_CLUSTER,
                prefix_rewrite=PROMETHEUS_PATH,
                timeout=timedelta(seconds=10),
            ),
        ),
        Route(match=RouteMatch(prefix="/"), direct_response=DirectResponseAction(status=404)),
    ]
    manager = HttpConnectionManager(
        stat_prefix="stats",
        route_config=RouteConfiguration(
            name="stats", virtual_hosts=[VirtualHost(name="stats", domains=["*"], routes=routes)]
        ),
        http_filters=[
            HttpFilter(name="envoy.filters.http.router", typed_config=AnyPb.pack(Router()))
        ],
    )
    return Listener(
        name="stats",
        address=_socket(address, port),
        filter_chains=[
            FilterChain(
                filters=[
                    Filter(
                        name="envoy.filters.network.http_connection_manager",
                        typed_config=AnyPb.pack(manager),
                    )
                ]
            )
        ],
    )


def stats_cluster(admin_port: int) -> Cluster:
    """The admin API on loopback, reachable only through the stats listener's one route."""
    return Cluster(
        name=STATS_CLUSTER,
        type=ClusterDiscoveryType.STATIC,
        connect_timeout=timedelta(seconds=1),
        load_assignment=ClusterLoadAssignment(
            cluster_name=STATS_CLUSTER,
            endpoints=[
                LocalityLbEndpoints(
                    lb_endpoints=[
                        LbEndpoint(endpoint=Endpoint(address=_socket("127.0.0.1", admin_port)))
                    ]
                )
            ],
        ),
    )
