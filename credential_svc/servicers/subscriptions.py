"""SubscriptionService: the acting principal (set by the interceptor only from a marketplace
key's x-principal-id) and the validated request go to the subscription use cases; records
come back as protobuf."""

from __future__ import annotations

import grpc
from botmesh.credential.v1 import resources_pb2 as pb
from botmesh.credential.v1 import subscription_service_pb2 as api
from botmesh.credential.v1 import subscription_service_pb2_grpc as rpc

from credential_svc.servicers.convert import risk_to_dict, risk_to_pb
from credential_svc.servicers.convert_vault import SUBSCRIPTION_STATE_REASONS, SUBSCRIPTION_STATES
from credential_svc.subscriptions.model import PaymentRecord, SubscriptionRecord
from credential_svc.subscriptions.service import PaymentReport, Subscriptions
from mesh.auth import acting_principal
from mesh.timestamps import ts


def subscription_pb(sub: SubscriptionRecord) -> pb.Subscription:
    return pb.Subscription(
        subscription_id=sub.subscription_id,
        bot_id=sub.bot_id,
        credential_id=sub.credential_id,
        market=sub.market,
        allocation=format(sub.allocation.normalize(), "f"),
        risk_overrides=risk_to_pb(sub.risk_overrides),
        state=SUBSCRIPTION_STATES.get(sub.state, pb.SUBSCRIPTION_STATE_UNSPECIFIED),
        state_reason=SUBSCRIPTION_STATE_REASONS.get(
            sub.state_reason, pb.SUBSCRIPTION_STATE_REASON_UNSPECIFIED
        ),
        paid_until=ts(sub.paid_until),
        create_time=ts(sub.create_time),
        update_time=ts(sub.update_time),
        listing_id=sub.listing_id or "",
        price_e8s=sub.price_e8s or 0,
        period_days=sub.period_days or 0,
    )


def payment_pb(payment: PaymentRecord) -> pb.Payment:
    return pb.Payment(
        payment_id=payment.payment_id,
        subscription_id=payment.subscription_id,
        ledger=payment.ledger,
        block_index=payment.block_index,
        amount_e8s=payment.amount_e8s,
        period_days=payment.period_days,
        paid_until=ts(payment.paid_until),
        create_time=ts(payment.create_time),
    )


class SubscriptionServicer(rpc.SubscriptionServiceServicer):
    def __init__(self, subscriptions: Subscriptions) -> None:
        self._subs = subscriptions

    async def CreateSubscription(
        self, request: api.CreateSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> api.CreateSubscriptionResponse:
        sub = await self._subs.create(
            acting_principal(),
            bot_id=request.bot_id,
            listing_id=request.listing_id,
            credential_id=request.credential_id,
            market=request.market,
            allocation=request.allocation,
            risk_overrides=risk_to_dict(request.risk_overrides),
        )
        return api.CreateSubscriptionResponse(subscription=subscription_pb(sub))

    async def ListSubscriptions(
        self, request: api.ListSubscriptionsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListSubscriptionsResponse:
        subs, token = await self._subs.list(
            acting_principal(), request.page_size, request.page_token
        )
        return api.ListSubscriptionsResponse(
            subscriptions=[subscription_pb(s) for s in subs], next_page_token=token
        )

    async def GetSubscription(
        self, request: api.GetSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> api.GetSubscriptionResponse:
        sub = await self._subs.get(acting_principal(), request.subscription_id)
        return api.GetSubscriptionResponse(subscription=subscription_pb(sub))

    async def PauseSubscription(
        self, request: api.PauseSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> api.PauseSubscriptionResponse:
        sub = await self._subs.pause(acting_principal(), request.subscription_id)
        return api.PauseSubscriptionResponse(subscription=subscription_pb(sub))

    async def ResumeSubscription(
        self, request: api.ResumeSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> api.ResumeSubscriptionResponse:
        sub = await self._subs.resume(acting_principal(), request.subscription_id)
        return api.ResumeSubscriptionResponse(subscription=subscription_pb(sub))

    async def CancelSubscription(
        self, request: api.CancelSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> api.CancelSubscriptionResponse:
        sub = await self._subs.cancel(acting_principal(), request.subscription_id)
        return api.CancelSubscriptionResponse(subscription=subscription_pb(sub))

    async def RecordPayment(
        self, request: api.RecordPaymentRequest, context: grpc.aio.ServicerContext
    ) -> api.RecordPaymentResponse:
        report = PaymentReport(
            ledger=request.ledger,
            block_index=request.block_index,
            amount_e8s=request.amount_e8s,
            period_days=request.period_days,
        )
        payment, sub = await self._subs.record_payment(
            acting_principal(), request.subscription_id, report
        )
        return api.RecordPaymentResponse(
            payment=payment_pb(payment), subscription=subscription_pb(sub)
        )
