"""trading_svc's own knobs, from BOTMESH_* environment variables.

They live here rather than in mesh/settings.py because only trading_svc reads them. The
defaults are production-shaped: the exchange timeout stays under Envoy's 15 s unary route
timeout together with the inline resolution budget, and recvWindow is Binance's default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from exchanges.clients import ClientSettings


def _env(name: str, default: str) -> str:
    return os.environ.get(f"BOTMESH_{name}", default)


@dataclass(frozen=True)
class TradingConfig:
    # ccxt's per-request timeout. A request that outlives it leaves its order UNKNOWN.
    exchange_timeout_ms: int = 5000
    # Sent as recvWindow: the exchange refuses a signed request older than this, which is
    # what lets us prove that a lost submission can no longer execute.
    recv_window_ms: int = 5000
    # ccxt's own client-side throttle (token bucket by the exchange's declared weights).
    rate_limit: bool = True
    # How long PlaceOrder itself keeps resolving an UNKNOWN order before answering.
    inline_resolve_s: float = 2.0
    # Seconds between passes of the reconciler over unsettled orders.
    reconcile_interval_s: float = 30.0
    # Orders one full reconciliation pass looks at, unsettled ones first.
    reconcile_batch: int = 500
    # Unsettled orders older than this whose submission is proven lost are rejected.
    abandon_after_s: float = 600.0
    # Seconds between heartbeats on idle price and event streams.
    heartbeat_interval_s: float = 10.0
    # Clients of credentials unused this long are closed.
    client_idle_s: float = 600.0
    # Events kept per subscription's event stream in Redis (older ones are trimmed).
    event_stream_maxlen: int = 10_000
    # Concurrent dashboard-token streams (trading_svc/stream_limits.py), across processes.
    streams_per_token: int = 4
    # Concurrent dashboard-token streams per principal, across processes.
    streams_per_principal: int = 16
    # The bot runtime (runtime/): whether this process schedules and consumes ticks.
    runtime_enabled: bool = True
    # Seconds between the runtime leader's looks for closed candles.
    runtime_poll_s: float = 1.0
    # The runtime leader lock's TTL, ms: the failover bound.
    runtime_lock_ttl_ms: int = 10_000
    # How long a tick may sit unacknowledged with a consumer before another takes it (and
    # how long a decision claim is honoured), ms.
    runtime_reclaim_idle_ms: int = 15_000
    # Ticks the runtime decides at once per process.
    runtime_concurrency: int = 32

    def client_settings(self) -> ClientSettings:
        """ccxt clients for trading: signed with the exchange's clock (resynced on -1021),
        within recvWindow, throttled as configured."""
        return ClientSettings(
            timeout_ms=self.exchange_timeout_ms,
            rate_limit=self.rate_limit,
            recv_window_ms=self.recv_window_ms,
            time_sync=True,
        )

    @classmethod
    def from_env(cls) -> TradingConfig:
        return cls(
            exchange_timeout_ms=int(_env("EXCHANGE_TIMEOUT_MS", "5000")),
            recv_window_ms=int(_env("EXCHANGE_RECV_WINDOW_MS", "5000")),
            rate_limit=_env("EXCHANGE_RATE_LIMIT", "true").lower() in ("1", "true", "yes"),
            inline_resolve_s=float(_env("ORDER_INLINE_RESOLVE_S", "2.0")),
            reconcile_interval_s=float(_env("RECONCILE_INTERVAL_S", "30")),
            reconcile_batch=int(_env("RECONCILE_BATCH", "500")),
            abandon_after_s=float(_env("ORDER_ABANDON_AFTER_S", "600")),
            heartbeat_interval_s=float(_env("STREAM_HEARTBEAT_S", "10")),
            client_idle_s=float(_env("EXCHANGE_CLIENT_IDLE_S", "600")),
            event_stream_maxlen=int(_env("EVENT_STREAM_MAXLEN", "10000")),
            streams_per_token=int(_env("STREAMS_PER_TOKEN", "4")),
            streams_per_principal=int(_env("STREAMS_PER_PRINCIPAL", "16")),
            runtime_enabled=_env("RUNTIME_ENABLED", "true").lower() in ("1", "true", "yes"),
            runtime_poll_s=float(_env("RUNTIME_POLL_S", "1.0")),
            runtime_lock_ttl_ms=int(_env("RUNTIME_LOCK_TTL_MS", "10000")),
            runtime_reclaim_idle_ms=int(_env("RUNTIME_RECLAIM_IDLE_MS", "15000")),
            runtime_concurrency=int(_env("RUNTIME_CONCURRENCY", "32")),
        )
