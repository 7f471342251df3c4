"""InternalCredentialService, for trading_svc only: the access rule in the proto admits only
callers with the internal service identity. GetTradingSubscription, its batch forms (by id;
by (id, principal) asks) and its list form are the answers about subscriptions that
trading_svc gets, all with one verdict (subscriptions/trading_view.py); PauseForRisk is
the runtime's pause, answered with that same view (subscriptions/risk_pause.py).
ReleaseCredential's response holds plaintext secrets; it is built here and serialised by
gRPC, and nothing logs it."""

from __future__ import annotations

import grpc
from botmesh.credential.v1 import internal_service_pb2 as api
from botmesh.credential.v1 import internal_service_pb2_grpc as rpc

from credential_svc.servicers.convert_vault import STATE_REASON_NAMES, trading_subscription_to_pb
from credential_svc.subscriptions.risk_pause import RiskPauses
from credential_svc.subscriptions.trading_view import TradingSubscriptions
from credential_svc.vault.service import TRADE, WIND_DOWN, Vault
from mesh.principal import parse_principal


class InternalServicer(rpc.InternalCredentialServiceServicer):
    def __init__(
        self, vault: Vault, subscriptions: TradingSubscriptions, risk_pauses: RiskPauses
    ) -> None:
        self._vault = vault
        self._subscriptions = subscriptions
        self._risk_pauses = risk_pauses

    async def ReleaseCredential(
        self, request: api.ReleaseCredentialRequest, context: grpc.aio.ServicerContext
    ) -> api.ReleaseCredentialResponse:
        purpose = WIND_DOWN if request.purpose == api.RELEASE_PURPOSE_WIND_DOWN else TRADE
        release = await self._vault.release(request.subscription_id, purpose)
        return api.ReleaseCredentialResponse(
            credential_id=release.credential_id,
            exchange=release.exchange,
            api_key=release.bundle.api_key,
            api_secret=release.bundle.api_secret,
            passphrase=release.bundle.passphrase,
        )

    async def GetTradingSubscription(
        self, request: api.GetTradingSubscriptionRequest, context: grpc.aio.ServicerContext
    ) -> api.GetTradingSubscriptionResponse:
        if request.principal:  # the checksum too, beyond the proto's pattern
            parse_principal(request.principal, field="principal")
        view = await self._subscriptions.get(request.subscription_id, request.principal)
        return api.GetTradingSubscriptionResponse(subscription=trading_subscription_to_pb(view))

    async def BatchGetTradingSubscriptions(
        self, request: api.BatchGetTradingSubscriptionsRequest, context: grpc.aio.ServicerContext
    ) -> api.BatchGetTradingSubscriptionsResponse:
        views = await self._subscriptions.batch_get(list(request.subscription_ids))
        return api.BatchGetTradingSubscriptionsResponse(
            subscriptions=[trading_subscription_to_pb(v) for v in views]
        )

    async def BatchGetOwnedSubscriptions(
        self, request: api.BatchGetOwnedSubscriptionsRequest, context: grpc.aio.ServicerContext
    ) -> api.BatchGetOwnedSubscriptionsResponse:
        for i, ask in enumerate(request.asks):  # the checksums too, beyond the proto's pattern
            parse_principal(ask.principal, field=f"asks[{i}].principal")
        answers = await self._subscriptions.batch_owned(
            [(a.subscription_id, a.principal) for a in request.asks]
        )
        return api.BatchGetOwnedSubscriptionsResponse(
            answers=[
                api.OwnedSubscription(principal=who, subscription=trading_subscription_to_pb(v))
                for who, v in answers
            ]
        )

    async def ListTradingSubscriptions(
        self, request: api.ListTradingSubscriptionsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListTradingSubscriptionsResponse:
        views, token = await self._subscriptions.list_live(request.page_size, request.page_token)
        return api.ListTradingSubscriptionsResponse(
            subscriptions=[trading_subscription_to_pb(v) for v in views], next_page_token=token
        )

    async def PauseForRisk(
        self, request: api.PauseForRiskRequest, context: grpc.aio.ServicerContext
    ) -> api.PauseForRiskResponse:
        view = await self._risk_pauses.pause(
            request.subscription_id, STATE_REASON_NAMES.get(request.reason, ""), request.message
        )
        return api.PauseForRiskResponse(subscription=trading_subscription_to_pb(view))
