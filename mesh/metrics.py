"""Prometheus metrics of RPCs: count by code, latency histogram and in-flight gauge."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RPC_TOTAL = Counter(
    "botmesh_rpc_total", "RPCs handled, by method and status code", ["service", "method", "code"]
)
RPC_LATENCY = Histogram(
    "botmesh_rpc_latency_seconds",
    "RPC handling time",
    ["service", "method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)
RPC_IN_FLIGHT = Gauge("botmesh_rpc_in_flight", "RPCs being handled", ["service", "method"])
AUTH_KEY_LOOKUPS = Counter(
    "botmesh_auth_key_lookups_total", "Database reads of API key rows, by outcome", ["result"]
)
