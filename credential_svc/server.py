"""credential_svc wiring: identity, vault, catalog, subscriptions."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import grpc
from botmesh.credential.v1 import (
    credential_service_pb2,
    credential_service_pb2_grpc,
    internal_service_pb2,
    internal_service_pb2_grpc,
    marketplace_service_pb2,
    marketplace_service_pb2_grpc,
    subscription_service_pb2,
    subscription_service_pb2_grpc,
)

from credential_svc.catalog.service import Catalog
from credential_svc.catalog.store import CatalogStore
from credential_svc.identity.service import Users
from credential_svc.identity.store import UserStore
from credential_svc.servicers.admin import AdminServicer
from credential_svc.servicers.credentials import CredentialServicer
from credential_svc.servicers.internal import InternalServicer
from credential_svc.servicers.marketplace import MarketplaceServicer
from credential_svc.servicers.subscriptions import SubscriptionServicer
from credential_svc.subscriptions.expiry import ExpirySweeper
from credential_svc.subscriptions.relay import Relay
from credential_svc.subscriptions.risk_pause import RiskPauses
from credential_svc.subscriptions.service import Subscriptions
from credential_svc.subscriptions.store import SubscriptionStore
from credential_svc.subscriptions.suspension_store import ErasureSteps
from credential_svc.subscriptions.trading_view import TradingSubscriptions
from credential_svc.subscriptions.trading_view_store import TradingViewStore
from credential_svc.subscriptions.winddown import TradingWindDown
from credential_svc.vault.crypto import Envelope
from credential_svc.vault.exchange_check import ExchangeCheck
from credential_svc.vault.keyring import Keyring
from credential_svc.vault.rotation import Rotator
from credential_svc.vault.service import Vault
from credential_svc.vault.store import VaultStore
from mesh.apikey_store import ApiKeyStore
from mesh.audit import AuditLog
from mesh.server import ServiceContext, ServiceSpec
from mesh.tls import internal_tls


def register(server: grpc.aio.Server, ctx: ServiceContext) -> Sequence[str]:
    settings = ctx.settings
    audit = AuditLog(settings.api_key_pepper)
    keyring = Keyring.load(settings.keyring_json, settings.keyring_file)
    envelope = Envelope(keyring)
    wind_down = TradingWindDown(
        settings.trading.target,
        settings.internal_token,
        settings.trading.channel_options,
        internal_tls(settings),
    )
    vault_store = VaultStore(ctx.engine, audit)
    vault = Vault(
        vault_store,
        envelope,
        ExchangeCheck(settings.exchange_venue, settings.exchange_sim_url),
        allow_withdrawal=settings.allow_withdrawal_keys,
    )
    users = Users(
        UserStore(ctx.engine, audit),
        ErasureSteps(ctx.engine, audit),
        wind_down=wind_down,
    )
    catalog = Catalog(CatalogStore(ctx.engine, audit), ctx.redis)
    subscription_store = SubscriptionStore(ctx.engine, audit)
    trading_views = TradingSubscriptions(TradingViewStore(ctx.engine))
    # Changes reach the stream through the outbox only (subscriptions/outbox.py).
    _background[id(ctx)] = (ExpirySweeper(subscription_store), Relay(ctx.engine, ctx.redis))
    marketplace_service_pb2_grpc.add_MarketplaceServiceServicer_to_server(
        MarketplaceServicer(catalog), server
    )
    internal_service_pb2_grpc.add_AdminServiceServicer_to_server(
        AdminServicer(
            ApiKeyStore(ctx.engine),
            settings.api_key_pepper,
            Rotator(vault_store, envelope, keyring),
        ),
        server,
    )
    credential_service_pb2_grpc.add_CredentialServiceServicer_to_server(
        CredentialServicer(users, vault, settings.api_key_pepper), server
    )
    subscription_service_pb2_grpc.add_SubscriptionServiceServicer_to_server(
        SubscriptionServicer(
            Subscriptions(
                subscription_store,
                users,
                vault,
                catalog,
                settings.accepted_ledgers,
                wind_down,
            )
        ),
        server,
    )
    internal_service_pb2_grpc.add_InternalCredentialServiceServicer_to_server(
        InternalServicer(vault, trading_views, RiskPauses(subscription_store, trading_views)),
        server,
    )
    return [
        marketplace_service_pb2.DESCRIPTOR.services_by_name["MarketplaceService"].full_name,
        credential_service_pb2.DESCRIPTOR.services_by_name["CredentialService"].full_name,
        subscription_service_pb2.DESCRIPTOR.services_by_name["SubscriptionService"].full_name,
        internal_service_pb2.DESCRIPTOR.services_by_name["InternalCredentialService"].full_name,
        internal_service_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    ]


# The expiry sweeper and the outbox relay built by register(), started once the server is up.
_background: dict[int, tuple[ExpirySweeper, Relay]] = {}


async def start(ctx: ServiceContext) -> None:
    sweeper, relay = _background.pop(id(ctx))
    ctx.background.append(asyncio.create_task(sweeper.run()))
    ctx.background.append(asyncio.create_task(relay.run()))


SPEC = ServiceSpec(
    name="credential_svc", address=lambda s: s.credential, register=register, on_start=start
)
