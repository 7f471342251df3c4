"""The bot runtime's Prometheus metrics, as plain numbers collected at scrape.

Rules (the cost model of mesh/metrics.py): the hot path only adds to ints and floats of
RUNTIME, on the event loop's thread, without a lock; the collector turns them into families
when /metrics is scraped, on the exporter's thread, reading each number whole. What the
store knows (orders by state, UNKNOWN orders older than a minute, accounts whose exchange
circuit is open) is not counted on the hot path but read by `StoreGauges` every
GAUGE_REFRESH_S with a few indexed statements, and the latest answer is served.

What each process exports (see `collect` for the names):
- ticks: enqueued by this process while it led the scheduler, and handled (acknowledged)
  by its consumer; whether it leads;
- decisions by outcome (ORDER_PLACED, HELD, BLOCKED, CLOSED, SKIPPED, FAILED), risk actions
  by rule and outcome, bot orders by side and the state they were in once placed;
- tick lag: wall time from a tick's enqueue (its Redis stream entry id's time) to its
  decision being recorded, a histogram;
- the store gauges, cluster-wide (every replica reports the same numbers: alert on max); the
  open exchange circuits among them through mesh.metrics.BREAKERS, the family every kind
  of breaker shares.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from mesh.metrics import BREAKERS

LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
# Orders in these states are counted from the store; the terminal ones (FILLED, CANCELED,
# REJECTED) grow without bound and are not.
OPEN_STATES = ("PENDING_SUBMIT", "SUBMITTING", "UNKNOWN", "OPEN", "PARTIALLY_FILLED")
# botmesh_circuit_breakers_open{breaker=...} of exchange accounts in backoff (mesh.metrics).
EXCHANGE_ACCOUNT_BREAKER = "exchange_account"


class RuntimeMetrics:
    """This process's runtime numbers. Counters only grow; gauges are set whole."""

    def __init__(self) -> None:
        self.enqueued = 0
        self.handled = 0
        self.leading = 0
        self.decisions: dict[str, int] = {}
        self.risk_actions: dict[tuple[str, str], int] = {}
        self.bot_orders: dict[tuple[str, str], int] = {}
        # Observations per bucket (not cumulative); the last one is +Inf.
        self.lag_buckets = [0] * (len(LAG_BUCKETS) + 1)
        self.lag_sum = 0.0
        # From the store (StoreGauges); None until first read.
        self.orders_by_state: dict[str, int] | None = None
        self.unknown_stale: int | None = None
        self.breakers_open: dict[str, int] = {}
        self.gauges_time = 0.0

    def decided(self, outcome: str, risk_rule: str, risk_outcome: str, lag_s: float) -> None:
        """A decision this process recorded, `lag_s` after its tick was enqueued."""
        self.decisions[outcome] = self.decisions.get(outcome, 0) + 1
        if risk_rule:
            key = (risk_rule, risk_outcome)
            self.risk_actions[key] = self.risk_actions.get(key, 0) + 1
        self.lag_buckets[bisect_left(LAG_BUCKETS, max(lag_s, 0.0))] += 1
        self.lag_sum += max(lag_s, 0.0)

    def bot_order(self, side: str, state: str) -> None:
        """An order a bot placed, in the state it was in once placed."""
        key = (side, state)
        self.bot_orders[key] = self.bot_orders.get(key, 0) + 1

    def collect(self) -> Iterator[Metric]:
        yield _counter(
            "botmesh_runtime_ticks_enqueued",
            "Ticks enqueued while leading",
            [],
            {(): self.enqueued},
        )
        yield _counter(
            "botmesh_runtime_ticks",
            "Ticks handled (acknowledged) by this consumer",
            [],
            {(): self.handled},
        )
        yield _gauge(
            "botmesh_runtime_leader",
            "1 while this process leads the tick scheduler",
            [],
            {(): self.leading},
        )
        yield _counter(
            "botmesh_runtime_decisions",
            "Tick decisions recorded, by outcome",
            ["outcome"],
            {(k,): v for k, v in list(self.decisions.items())},
        )
        yield _counter(
            "botmesh_runtime_risk_actions",
            "Risk actions taken, by rule and outcome",
            ["rule", "outcome"],
            dict(list(self.risk_actions.items())),
        )
        yield _counter(
            "botmesh_runtime_bot_orders",
            "Orders bots placed, by side and state once placed",
            ["side", "state"],
            dict(list(self.bot_orders.items())),
        )
        lag = HistogramMetricFamily(
            "botmesh_runtime_tick_lag_seconds", "Wall time from a tick's enqueue to its decision"
        )
        running, cumulative = 0, []
        for bound, count in zip((*LAG_BUCKETS, float("inf")), list(self.lag_buckets), strict=True):
            running += count
            cumulative.append((floatToGoString(bound), running))
        lag.add_metric([], cumulative, sum_value=self.lag_sum)
        yield lag
        if self.orders_by_state is not None:
            yield _gauge(
                "botmesh_orders",
                "Orders not yet final in the store, by state",
                ["state"],
                {(s,): self.orders_by_state.get(s, 0) for s in OPEN_STATES},
            )
        if self.unknown_stale is not None:
            yield _gauge(
                "botmesh_orders_unknown_stale",
                "UNKNOWN orders created over a minute ago",
                [],
                {(): self.unknown_stale},
            )
        if self.gauges_time:
            yield _gauge(
                "botmesh_runtime_gauges_refresh_timestamp_seconds",
                "When the store gauges were last read",
                [],
                {(): self.gauges_time},
            )


def _counter(name: str, doc: str, labels: list[str], values: dict[tuple[str, ...], int]) -> Metric:
    family = CounterMetricFamily(name, doc, labels=labels)
    for key, value in values.items():
        family.add_metric(list(key), value)
    return family


def _gauge(name: str, doc: str, labels: list[str], values: dict[tuple[str, ...], float]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for key, value in values.items():
        family.add_metric(list(key), value)
    return family


def entry_lag_s(entry_id: str, now: float | None = None) -> float:
    """Seconds since a Redis stream entry was added, from its id (`<ms>-<seq>`); 0 for an id
    that carries no time."""
    head = entry_id.split("-", 1)[0]
    if not head.isdigit():
        return 0.0
    return (now if now is not None else time.time()) - int(head) / 1000


RUNTIME = RuntimeMetrics()
REGISTRY.register(RUNTIME)  # type: ignore[arg-type]
BREAKERS.register(
    EXCHANGE_ACCOUNT_BREAKER, lambda: RUNTIME.breakers_open.get(EXCHANGE_ACCOUNT_BREAKER, 0)
)
