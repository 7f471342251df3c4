"""TradingService: thin; every call acts for the authenticated principal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import grpc
from botmesh.trading.v1 import resources_pb2 as pb
from botmesh.trading.v1 import trading_service_pb2 as api
from botmesh.trading.v1 import trading_service_pb2_grpc as rpc

from mesh.auth import acting_principal, authenticate_stream, caller
from mesh.decimals import dec_str
from mesh.idempotency import HEADER as IDEMPOTENCY_HEADER
from mesh.timestamps import ts
from trading_svc.convert import order_pb, side_from_pb, trade_pb, type_from_pb
from trading_svc.events.hub import EventHub
from trading_svc.orders.model import intent_key
from trading_svc.orders.service import OrderService
from trading_svc.orders.status import StatusReader
from trading_svc.orders.subscriptions import SubscriptionReader
from trading_svc.servicers.market_data import heartbeat
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
        status: StatusReader,
        subs: SubscriptionReader,
        events: EventHub,
        heartbeat_s: float,
        limits: StreamLimits,
    ) -> None:
        self._orders = orders
        self._status = status
        self._subs = subs
        self._events = events
        self._heartbeat_s = heartbeat_s
        self._limits = limits

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
        status = await self._status.status(acting_principal(), request.subscription_id)
        sub = status.subscription
        return api.GetBotStatusResponse(
            status=pb.BotStatus(
                subscription_id=sub.subscription_id,
                state=pb.BotState.Value(f"BOT_STATE_{status.state}"),
                market=sub.market,
                position=dec_str(status.exposure.position),
                committed=dec_str(status.exposure.committed),
                allocation=dec_str(sub.allocation),
            )
        )

    async def GetPerformance(
        self, request: api.GetPerformanceRequest, context: grpc.aio.ServicerContext
    ) -> api.GetPerformanceResponse:
        report = await self._status.performance(acting_principal(), request.subscription_id)
        perf = pb.Performance(
            subscription_id=report.subscription_id,
            equity=dec_str(report.equity),
            realized_pnl=dec_str(report.realized_pnl),
            unrealized_pnl=dec_str(report.unrealized_pnl),
            trade_count=report.trade_count,
            as_of=ts(report.as_of),
        )
        if report.metrics is not None:
            m = report.metrics
            perf.total_return = m.total_return
            perf.win_rate = m.win_rate
            perf.max_drawdown = m.max_drawdown
            perf.sharpe = m.sharpe
            perf.sortino = m.sortino
            perf.profit_factor = m.profit_factor_or_zero
        return api.GetPerformanceResponse(performance=perf)

    async def StreamEvents(
        self, request: api.StreamEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[api.StreamEventsResponse]:
        who = authenticate_stream(request.access_token)
        sub = await self._subs.for_principal(who.principal, request.subscription_id)
        async with (
            self._limits.open(who) as lease,
            self._events.listen(sub.subscription_id, request.after) as listener,
        ):
            while True:
                batch = await listener.next(await lease.wait_s(self._heartbeat_s))
                if not batch:
                    yield api.StreamEventsResponse(heartbeat=heartbeat())
                for event in batch:
                    yield api.StreamEventsResponse(event=event)
