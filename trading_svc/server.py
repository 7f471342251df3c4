"""trading_svc wiring: exchange access, market data, orders. No behaviour lives here."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
from botmesh.trading.v1 import (
    internal_service_pb2,
    internal_service_pb2_grpc,
    market_data_service_pb2,
    market_data_service_pb2_grpc,
    trading_service_pb2,
    trading_service_pb2_grpc,
)

from exchanges.clients import ClientFactory
from mesh.audit import AuditLog
from mesh.changes import SUBSCRIPTION_CHANGES
from mesh.server import ServiceContext, ServiceSpec
from mesh.tls import internal_tls
from trading_svc.config import TradingConfig
from trading_svc.credentials import InternalCredentialClient
from trading_svc.events.hub import EventHub
from trading_svc.events.log import EventLog
from trading_svc.exchange.pool import ExchangePool
from trading_svc.lifecycle.cursor import CursorStore
from trading_svc.lifecycle.follower import ChangeFollower
from trading_svc.lifecycle.winddown import WindDown
from trading_svc.marketdata.candle_store import CandleStore
from trading_svc.marketdata.closes import DashboardCloses
from trading_svc.marketdata.feed import FeedManager
from trading_svc.marketdata.history import CandleHistory
from trading_svc.marketdata.hub import PriceHub
from trading_svc.marketdata.keys import Pair
from trading_svc.marketdata.service import MarketData
from trading_svc.orders.audit import OrderAudit
from trading_svc.orders.execution import Executor
from trading_svc.orders.projection import ProjectionStore
from trading_svc.orders.reconciler import Reconciler
from trading_svc.orders.service import OrderService
from trading_svc.orders.store import OrderStore
from trading_svc.orders.submission import Submitter
from trading_svc.orders.subscriptions import SubscriptionReader
from trading_svc.performance.hourly import HourlySnapshots, ticker_price
from trading_svc.performance.service import PerformanceService
from trading_svc.performance.store import PerformanceStore
from trading_svc.runtime.analysis import AnalysisClient
from trading_svc.runtime.backoff import AccountBackoff
from trading_svc.runtime.batch import TickRunner
from trading_svc.runtime.changes import ChangeAnnouncer
from trading_svc.runtime.consumer import TickConsumer
from trading_svc.runtime.decisions import DecisionStore
from trading_svc.runtime.gauges import StoreGauges
from trading_svc.runtime.queue import TickQueue
from trading_svc.runtime.scheduler import Scheduler
from trading_svc.runtime.service import BotRuntime
from trading_svc.runtime.state import RuntimeStore
from trading_svc.runtime.status import BotStatusReader
from trading_svc.runtime.tick import Trading
from trading_svc.servicers.frames import FRAMED_METHODS, event_frame, pass_through, price_frame
from trading_svc.servicers.internal import InternalTradingServicer
from trading_svc.servicers.market_data import MarketDataServicer
from trading_svc.servicers.trading import TradingServicer
from trading_svc.stream_limits import StreamLimits

# How long shutdown waits for order submissions still in flight.
SUBMISSION_DRAIN_S = 10.0


@dataclass
class Runtime:
    config: TradingConfig
    pool: ExchangePool
    feeds: FeedManager
    closes: DashboardCloses
    hub: PriceHub
    event_hub: EventHub
    reconciler: Reconciler
    submitter: Submitter
    follower: ChangeFollower
    subs: SubscriptionReader
    bots: BotRuntime
    data: MarketData

    async def start(self, ctx: ServiceContext) -> None:
        ctx.background.append(asyncio.create_task(self.reconciler.run()))
        ctx.background.append(asyncio.create_task(self.follower.run()))
        ctx.background.extend(self.bots.start())
        ctx.background.append(asyncio.create_task(self._housekeeping()))

    async def _housekeeping(self) -> None:
        """Closes idle exchange clients; on shutdown (cancellation) closes everything."""
        try:
            while True:
                await asyncio.sleep(60)
                await self.pool.close_idle()
        finally:
            with contextlib.suppress(Exception):
                # Submissions in flight finish before their exchange clients close.
                await self.submitter.drain(SUBMISSION_DRAIN_S)
                await self.data.recorder.drain()
                await self.hub.close()
                await self.event_hub.close()
                await self.feeds.close()
                await self.closes.close()
                await self.pool.close()
                await self.subs.close()
                await self.bots.close()


def build(
    ctx: ServiceContext, config: TradingConfig
) -> tuple[Runtime, TradingServicer, MarketDataServicer, InternalTradingServicer]:
    settings = ctx.settings
    factory = ClientFactory(
        settings.exchange_venue, settings.exchange_sim_url, config.client_settings()
    )
    credential_svc = (settings.credential.target, settings.internal_token)
    tls = internal_tls(settings)
    credentials = InternalCredentialClient(
        *credential_svc, settings.credential.channel_options, tls
    )
    pool = ExchangePool(credentials, factory, config.client_idle_s)
    events = EventLog(ctx.redis, config.event_stream_maxlen)
    store = OrderStore(ctx.engine)
    subs = SubscriptionReader(*credential_svc, settings.credential.channel_options, tls)
    executor = Executor(store, events, config.recv_window_ms, config.abandon_after_s)
    audit = OrderAudit(ctx.engine, AuditLog(settings.api_key_pepper))
    reconciler = Reconciler(
        ctx.engine,
        store,
        subs,
        pool,
        executor,
        config.reconcile_interval_s,
        batch=config.reconcile_batch,
        audit=audit,
    )
    candles = CandleStore(ctx.engine)
    data = MarketData(ctx.redis, pool, settings.market_data_exchange, candles)
    executor.on_incomplete = reconciler.follow_up
    submitter = Submitter(
        store, executor, config.inline_resolve_s, reconciler.follow_up, audit.placed
    )
    orders = OrderService(subs, store, pool, executor, submitter, data, audit)
    internal = InternalTradingServicer(
        WindDown(ctx.engine, subs, pool, executor, audit),
        CandleHistory(candles, data, ctx.redis, replica=settings.replica_id),
    )
    projection = ProjectionStore(ctx.engine)
    runtime_store = RuntimeStore(ctx.engine)
    decisions = DecisionStore(ctx.engine, timedelta(milliseconds=config.runtime_reclaim_idle_ms))
    follower = ChangeFollower(
        settings.redis_url,
        pool,
        projection,
        CursorStore(ctx.engine, SUBSCRIPTION_CHANGES),
        subs,
        ChangeAnnouncer(ctx.redis, runtime_store, subs, decisions, events),
    )
    feeds = FeedManager(ctx.redis, factory)
    closes = DashboardCloses(data)

    def demand(pair: Pair, consumers: int) -> None:  # a watched pair is fed and recorded
        feeds.demand(pair, consumers)
        closes.demand(pair, consumers)

    hub = PriceHub(ctx.redis, demand, frame=price_frame)
    limits = StreamLimits(
        ctx.redis,
        per_token=config.streams_per_token,
        per_principal=config.streams_per_principal,
    )
    performance_store = PerformanceStore(ctx.engine)
    performance = PerformanceService(performance_store, subs)
    hourly = HourlySnapshots(
        performance, performance_store, subs, ticker_price(data), publish=events.performance
    )
    analysis = AnalysisClient(
        settings.analysis.target,
        settings.internal_token,
        settings.analysis.channel_options,
        internal_tls(settings),
    )
    queue = TickQueue(ctx.redis, config.runtime_reclaim_idle_ms)
    backoff = AccountBackoff(ctx.redis)
    runner = TickRunner(
        decisions,
        runtime_store,
        Trading(analysis, orders, store, pool, backoff),
        performance,
        events,
        subs,
        settings.replica_id,
        config.runtime_concurrency,
    )
    bots = BotRuntime(
        Scheduler(
            ctx.redis,
            projection,
            subs,
            data,
            queue,
            settings.replica_id,
            config.runtime_poll_s,
            config.runtime_lock_ttl_ms,
        ),
        TickConsumer(queue, subs, runner),
        hourly,
        analysis,
        config.runtime_enabled,
        StoreGauges(ctx.engine, backoff),
    )
    status = BotStatusReader(subs, store, runtime_store, decisions, performance)
    event_hub = EventHub(ctx.redis, events, frame=event_frame)
    trading = TradingServicer(
        orders, status, subs, event_hub, config.heartbeat_interval_s, limits, performance
    )
    market_data = MarketDataServicer(data, hub, config.heartbeat_interval_s, limits)
    runtime = Runtime(
        config,
        pool,
        feeds,
        closes,
        hub,
        event_hub,
        reconciler,
        submitter,
        follower,
        subs,
        bots,
        data,
    )
    return runtime, trading, market_data, internal


class _Framed:
    """Registers through `server`, giving the streaming methods whose servicers yield frames
    (servicers/frames.py) the pass-through response serializer."""

    def __init__(self, server: Any) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        framed = FRAMED_METHODS.get(service, frozenset())
        self._server.add_registered_method_handlers(
            service,
            {
                name: h._replace(response_serializer=pass_through) if name in framed else h
                for name, h in handlers.items()
            },
        )


class _Wiring:
    runtime: Runtime | None = None

    def register(self, server: grpc.aio.Server, ctx: ServiceContext) -> Sequence[str]:
        self.runtime, trading, market_data, internal = build(ctx, TradingConfig.from_env())
        framed: Any = _Framed(server)
        trading_service_pb2_grpc.add_TradingServiceServicer_to_server(trading, framed)
        market_data_service_pb2_grpc.add_MarketDataServiceServicer_to_server(market_data, framed)
        internal_service_pb2_grpc.add_InternalTradingServiceServicer_to_server(internal, server)
        return [
            internal_service_pb2.DESCRIPTOR.services_by_name["InternalTradingService"].full_name,
            trading_service_pb2.DESCRIPTOR.services_by_name["TradingService"].full_name,
            market_data_service_pb2.DESCRIPTOR.services_by_name["MarketDataService"].full_name,
        ]

    async def start(self, ctx: ServiceContext) -> None:
        assert self.runtime is not None
        await self.runtime.start(ctx)


_wiring = _Wiring()
SPEC = ServiceSpec(
    name="trading_svc",
    address=lambda s: s.trading,
    register=_wiring.register,
    on_start=_wiring.start,
)
