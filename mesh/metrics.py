"""Prometheus metrics of RPCs: count by code, latency histogram and in-flight gauge.

The interceptor records every call, so recording must cost next to nothing. Each method keeps
plain numbers (MethodStats), updated on the event loop's thread without a lock, and a
collector turns them into Prometheus families only when /metrics is scraped; prometheus_client's
own Counter and Histogram take a lock per update (five updates a call, about 5 µs). A scrape
runs on the exporter's thread while calls update: each number is read whole, so a scrape may
be a call behind, never torn; the histogram's count is the sum of its bucket counts.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, Counter, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

log = logging.getLogger("botmesh.metrics")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)


class MethodStats:
    """One method's numbers. `begin` when a call starts, `end` once when it ends."""

    __slots__ = ("buckets", "codes", "in_flight", "latency_sum", "method", "service")

    def __init__(self, service: str, method: str) -> None:
        self.service = service
        self.method = method
        self.codes: dict[str, int] = {}
        # Observations per bucket (not cumulative); the last one is +Inf.
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.in_flight = 0

    def begin(self) -> None:
        self.in_flight += 1

    def end(self, code: str, seconds: float | None = None) -> None:
        """The call ended with `code`; a unary call's handling time goes to the histogram."""
        self.in_flight -= 1
        self.codes[code] = self.codes.get(code, 0) + 1
        if seconds is not None:
            self.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self.latency_sum += seconds


class RpcMetrics:
    """The collector of every method's MethodStats in this process."""

    def __init__(self) -> None:
        self._methods: dict[tuple[str, str], MethodStats] = {}

    def method(self, service: str, method: str) -> MethodStats:
        key = (service, method)
        stats = self._methods.get(key)
        if stats is None:
            stats = self._methods[key] = MethodStats(service, method)
        return stats

    def collect(self) -> Iterator[Metric]:
        total = CounterMetricFamily(
            "botmesh_rpc",
            "RPCs handled, by method and status code",
            labels=["service", "method", "code"],
        )
        latency = HistogramMetricFamily(
            "botmesh_rpc_latency_seconds", "RPC handling time", labels=["service", "method"]
        )
        in_flight = GaugeMetricFamily(
            "botmesh_rpc_in_flight", "RPCs being handled", labels=["service", "method"]
        )
        for stats in list(self._methods.values()):
            labels = [stats.service, stats.method]
            for code, count in list(stats.codes.items()):
                total.add_metric([*labels, code], count)
            counts, running, cumulative = list(stats.buckets), 0, []
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), counts, strict=True):
                running += count
                cumulative.append((floatToGoString(bound), running))
            latency.add_metric(labels, cumulative, sum_value=stats.latency_sum)
            in_flight.add_metric(labels, stats.in_flight)
        yield total
        yield latency
        yield in_flight


class CircuitBreakers:
    """`botmesh_circuit_breakers_open{breaker}`: each kind of circuit breaker a process has
    (an exchange account's backoff, an LLM endpoint's breaker) registers how to count its open
    ones, and the count is read at scrape. One family for every kind, so one alert rule covers
    them all, and services share it without one knowing another."""

    def __init__(self) -> None:
        self._sources: dict[str, Callable[[], float]] = {}

    def register(self, breaker: str, count_open: Callable[[], float]) -> None:
        self._sources[breaker] = count_open

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "botmesh_circuit_breakers_open", "Circuit breakers open, by breaker", labels=["breaker"]
        )
        for breaker, count_open in list(self._sources.items()):
            family.add_metric([breaker], count_open())
        yield family


RPC = RpcMetrics()
REGISTRY.register(RPC)  # type: ignore[arg-type]
BREAKERS = CircuitBreakers()
REGISTRY.register(BREAKERS)  # type: ignore[arg-type]
AUTH_KEY_LOOKUPS = Counter(
    "botmesh_auth_key_lookups_total", "Database reads of API key rows, by outcome", ["result"]
)


def serve_metrics(address: str, port: int) -> int:
    """Serves this process's registry as Prometheus text on http://address:port/metrics, on
    its own thread; returns the port bound (0: off). Port 0 is off; a negative port ("auto")
    binds a free one. A port already taken (two services started by hand on one host with
    the default) is logged and leaves metrics off: the service itself still serves."""
    if port == 0:
        return 0
    try:
        httpd, _ = start_http_server(max(port, 0), addr=address)
    except OSError as exc:
        log.warning(
            "metrics not served",
            extra={"fields": {"address": f"{address}:{port}", "error": str(exc)}},
        )
        return 0
    return int(httpd.server_port)
