"""TradingService: thin; every call acts for the authenticated principal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import grpc
from botmesh.trading.v1 import trading_service_pb2 as api
from botmesh.trading.v1 import trading_service_pb2_grpc as rpc

from mesh.auth import acting_principal, authenticate_stream, caller
from mesh.idempotency import HEADER as IDEMPOTENCY_HEADER
from mesh.timestamps import from_ts
from trading_svc.convert import order_pb, side_from_pb, trade_pb, type_from_pb
from trading_svc.events.hub import EventHub
from trading_svc.orders.model import intent_key
from trading_svc.orders.service import OrderService
from trading_svc.orders.subscriptions import SubscriptionReader
from trading_svc.performance.report import snapshot_pb
from trading_svc.performance.service import PerformanceService
from trading_svc.runtime.events import decision_pb
from trading_svc.runtime.status import BotStatusReader
from trading_svc.servicers.frames import Frame, Heartbeats
from trading_svc.stream_limits import StreamLimits


def _intent(context: grpc.aio.ServicerContext, principal: str, subscription_id: str) -> str | None:
    """The intent of a PlaceOrder that carries an Idempotency-Key (the idempotency layer
    has checked its form), bound to the calling key and acting principal."""
    key = next(
        (str(v) for k, v in context.invocation_metadata() or () if k == IDEMPOTENCY_HEADER),
        None,
    )
    if not key:
        return None
    return intent_key(caller().key_id, principal, key, subscription_id)


class TradingServicer(rpc.TradingServiceServicer):
    def __init__(
        self,
        orders: OrderService,
        bots: BotStatusReader,
        subs: SubscriptionReader,
        events: EventHub,
        heartbeat_s: float,
        limits: StreamLimits,
        performance: PerformanceService,
    ) -> None:
        self._orders = orders
        self._bots = bots
        self._subs = subs
        self._events = events
        self._heartbeat_s = heartbeat_s
        self._limits = limits
        self._performance = performance
        self._heartbeats = Heartbeats(api.StreamEventsResponse)

    async def PlaceOrder(
        self, request: api.PlaceOrderRequest, context: grpc.aio.ServicerContext
    ) -> api.PlaceOrderResponse:
        principal = acting_principal()
        order = await self._orders.place(
            principal,
            request.subscription_id,
            side_from_pb(request.side),
            type_from_pb(request.type),
            Decimal(request.quantity),
            Decimal(request.price) if request.price else None,
            _intent(context, principal, request.subscription_id),
        )
        return api.PlaceOrderResponse(order=order_pb(order))

    async def CancelOrder(
        self, request: api.CancelOrderRequest, context: grpc.aio.ServicerContext
    ) -> api.CancelOrderResponse:
        order = await self._orders.cancel(
            acting_principal(), request.subscription_id, request.order_id
        )
        return api.CancelOrderResponse(order=order_pb(order))

    async def ListOrders(
        self, request: api.ListOrdersRequest, context: grpc.aio.ServicerContext
    ) -> api.ListOrdersResponse:
        rows, token = await self._orders.orders(
            acting_principal(), request.subscription_id, request.page_size, request.page_token
        )
        return api.ListOrdersResponse(orders=[order_pb(o) for o in rows], next_page_token=token)

    async def ListTrades(
        self, request: api.ListTradesRequest, context: grpc.aio.ServicerContext
    ) -> api.ListTradesResponse:
        rows, token = await self._orders.trades(
            acting_principal(), request.subscription_id, request.page_size, request.page_token
        )
        return api.ListTradesResponse(trades=[trade_pb(t) for t in rows], next_page_token=token)

    async def GetBotStatus(
        self, request: api.GetBotStatusRequest, context: grpc.aio.ServicerContext
    ) -> api.GetBotStatusResponse:
        status = await self._bots.status(acting_principal(), request.subscription_id)
        return api.GetBotStatusResponse(status=status)

    async def ListDecisions(
        self, request: api.ListDecisionsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListDecisionsResponse:
        rows, token = await self._bots.decisions(
            acting_principal(), request.subscription_id, request.page_size, request.page_token
        )
        return api.ListDecisionsResponse(
            decisions=[decision_pb(d) for d in rows], next_page_token=token
        )

    async def GetPerformance(
        self, request: api.GetPerformanceRequest, context: grpc.aio.ServicerContext
    ) -> api.GetPerformanceResponse:
        page = await self._performance.get(
            acting_principal(),
            request.subscription_id,
            from_ts(request.start_time) if request.HasField("start_time") else None,
            from_ts(request.end_time) if request.HasField("end_time") else None,
            request.page_size,
            request.page_token,
        )
        return api.GetPerformanceResponse(
            performance=page.performance,
            snapshots=[snapshot_pb(s) for s in page.snapshots],
            next_page_token=page.next_page_token,
        )

    async def StreamEvents(  # type: ignore[override]  # frames: StreamEventsResponse bytes
        self, request: api.StreamEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Frame]:
        who = authenticate_stream(request.access_token)
        sub = await self._subs.for_principal(who.principal, request.subscription_id)
        async with (
            self._limits.open(who) as lease,
            self._events.listen(sub.subscription_id, request.after) as listener,
        ):
            while True:
                batch = await listener.next(await lease.wait_s(self._heartbeat_s))
                if not batch:
                    yield self._heartbeats.frame()
                for frame in batch:
                    yield frame
