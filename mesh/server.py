"""The grpc.aio server bootstrap every service uses: interceptors, health, reflection,
keepalive and message limits, Prometheus metrics and graceful shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import grpc
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.apikey_store import ApiKeyStore
from mesh.auth import Authenticator
from mesh.db import make_engine
from mesh.idempotency import IdempotencyStore
from mesh.interceptor import InterceptingServer
from mesh.logs import setup_logging
from mesh.metrics import serve_metrics
from mesh.ratelimit import RateLimiter
from mesh.redis import make_redis
from mesh.settings import ServiceAddress, Settings, load_settings
from mesh.tls import internal_tls

log = logging.getLogger("botmesh.server")

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
SERVER_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.max_connection_idle_ms", 15 * 60_000),
    ("grpc.so_reuseport", 1),
    # Calls the event loop has not picked up yet wait in grpc's pending queue (1,000 soft,
    # 3,000 hard by default); a burst of dashboards reconnecting needs more room.
    ("grpc.server.max_pending_requests", 20_000),
    ("grpc.server.max_pending_requests_hard_limit", 40_000),
    # grpc.aio asks core for one call per event-loop round trip, so while the loop is busy a
    # burst of new calls waits in that queue; core cancels a call left there longer than
    # this (30 s by default: 3,542 of 10,000 streams opened at 1,000/s, bench/streams.py).
    ("grpc.server_max_unrequested_time_in_server", 120),
]


@dataclass
class ServiceContext:
    """What a service's servicers are built from."""

    settings: Settings
    engine: AsyncEngine
    redis: Redis
    auth: Authenticator
    background: list[asyncio.Task[None]] = field(default_factory=list)


Register = Callable[[grpc.aio.Server, ServiceContext], Sequence[str]]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    address: Callable[[Settings], ServiceAddress]
    # Adds servicers to the server; returns the full names of the services it added.
    register: Register
    # Optional work started after the server is up (consumers, reconcilers).
    on_start: Callable[[ServiceContext], Awaitable[None]] | None = None


def unimplemented(servicer_class: type) -> Any:
    """The generated base servicer, whose methods answer UNIMPLEMENTED: a placeholder for
    services whose behaviour a later change owns."""
    return cast(Any, servicer_class)()


async def _usage_flusher(auth: Authenticator) -> None:
    while True:
        await asyncio.sleep(5)
        try:
            await auth.flush_usage()
        except Exception:
            log.warning("could not record API key use", exc_info=True)


async def _idempotency_purger(store: IdempotencyStore) -> None:
    """Drops idempotency records past their 24 h; jittered so replicas do not align."""
    while True:
        await asyncio.sleep(3600 * (0.5 + random.random()))
        try:
            await store.purge_expired()
        except Exception:
            log.warning("could not purge idempotency records", exc_info=True)


async def serve(spec: ServiceSpec, settings: Settings | None = None) -> None:
    settings = settings or load_settings(spec.name)
    setup_logging(spec.name, settings.log_level)
    engine = make_engine(settings.database_url)
    redis = make_redis(settings.redis_url)
    auth = Authenticator(
        ApiKeyStore(engine),
        pepper=settings.api_key_pepper,
        internal_token=settings.internal_token,
        cache_ttl_s=settings.auth_cache_ttl_s,
        limiter=RateLimiter(redis, default_rate_per_s=settings.rate_limit_per_s),
    )
    ctx = ServiceContext(settings=settings, engine=engine, redis=redis, auth=auth)
    server = grpc.aio.server(options=SERVER_OPTIONS)
    # Servicers register through the interceptor, which wraps each method once.
    idempotency = IdempotencyStore(engine, secret=settings.api_key_pepper)
    names = list(spec.register(InterceptingServer(server, spec.name, auth, idempotency), ctx))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [
            *names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    address = spec.address(settings)
    tls = internal_tls(settings)
    if tls is None:
        bound = server.add_insecure_port(address.bind)
    else:
        bound = server.add_secure_port(address.bind, tls.server_credentials())
    metrics_port = serve_metrics(settings.metrics_address, settings.metrics_port)
    await server.start()
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    ctx.background.append(asyncio.create_task(_usage_flusher(auth)))
    ctx.background.append(asyncio.create_task(_idempotency_purger(idempotency)))
    if spec.on_start is not None:
        await spec.on_start(ctx)
    log.info(
        "serving",
        extra={
            "fields": {
                "address": f"{address.host}:{bound}",
                "replica": settings.replica_id,
                "metrics": f"{settings.metrics_address}:{metrics_port}" if metrics_port else "off",
            }
        },
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    # Graceful: report NOT_SERVING so balancers drain us, let in-flight calls finish.
    log.info("draining")
    await health_servicer.enter_graceful_shutdown()
    await server.stop(settings.grace_period_s)
    # Executions shielded from requests that went away finish within the grace period too.
    await idempotency.drain(settings.grace_period_s)
    for task in ctx.background:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    with contextlib.suppress(Exception):
        await auth.flush_usage()
    await redis.aclose()
    await engine.dispose()
    log.info("stopped")


def run(spec: ServiceSpec) -> None:
    """Process entry point: one uvloop event loop per process."""
    uvloop.run(serve(spec))
