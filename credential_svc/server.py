"""credential_svc wiring: identity, vault, catalog, subscriptions."""

from __future__ import annotations

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
from credential_svc.servicers.admin import AdminServicer
from credential_svc.servicers.marketplace import MarketplaceServicer
from mesh.apikey_store import ApiKeyStore
from mesh.server import ServiceContext, ServiceSpec, unimplemented


def register(server: grpc.aio.Server, ctx: ServiceContext) -> Sequence[str]:
    marketplace_service_pb2_grpc.add_MarketplaceServiceServicer_to_server(
        MarketplaceServicer(Catalog(CatalogStore(ctx.engine), ctx.redis)), server
    )
    internal_service_pb2_grpc.add_AdminServiceServicer_to_server(
        AdminServicer(ApiKeyStore(ctx.engine), ctx.settings.api_key_pepper), server
    )
    # Owned by the vault and subscription work; they answer UNIMPLEMENTED until it lands.
    credential_service_pb2_grpc.add_CredentialServiceServicer_to_server(
        unimplemented(credential_service_pb2_grpc.CredentialServiceServicer), server
    )
    subscription_service_pb2_grpc.add_SubscriptionServiceServicer_to_server(
        unimplemented(subscription_service_pb2_grpc.SubscriptionServiceServicer), server
    )
    internal_service_pb2_grpc.add_InternalCredentialServiceServicer_to_server(
        unimplemented(internal_service_pb2_grpc.InternalCredentialServiceServicer), server
    )
    return [
        marketplace_service_pb2.DESCRIPTOR.services_by_name["MarketplaceService"].full_name,
        credential_service_pb2.DESCRIPTOR.services_by_name["CredentialService"].full_name,
        subscription_service_pb2.DESCRIPTOR.services_by_name["SubscriptionService"].full_name,
        internal_service_pb2.DESCRIPTOR.services_by_name["InternalCredentialService"].full_name,
        internal_service_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    ]


SPEC = ServiceSpec(name="credential_svc", address=lambda s: s.credential, register=register)
