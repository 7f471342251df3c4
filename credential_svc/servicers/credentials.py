"""CredentialService: the acting principal's user and exchange-credential vault.

Every method starts from the acting principal (mesh.auth.caller(), set only from a
marketplace key's x-principal-id), resolves its user, and hands that user to the domain,
whose queries all filter by it.
"""

from __future__ import annotations

import grpc
from botmesh.credential.v1 import credential_service_pb2 as api
from botmesh.credential.v1 import credential_service_pb2_grpc as rpc

from credential_svc.identity.service import Users
from credential_svc.identity.store import UserRecord
from credential_svc.servicers.convert_vault import credential_to_pb, user_to_pb
from credential_svc.vault.crypto import SecretBundle
from credential_svc.vault.service import Vault
from mesh import dashboard_tokens
from mesh.auth import acting_principal
from mesh.db import utcnow
from mesh.timestamps import ts


class CredentialServicer(rpc.CredentialServiceServicer):
    def __init__(self, users: Users, vault: Vault, token_pepper: str) -> None:
        self._users = users
        self._vault = vault
        self._pepper = token_pepper

    async def _user(self) -> UserRecord:
        return await self._users.acting_user(acting_principal())

    async def CreateUser(
        self, request: api.CreateUserRequest, context: grpc.aio.ServicerContext
    ) -> api.CreateUserResponse:
        user = await self._users.create(acting_principal(), request.display_name, request.email)
        return api.CreateUserResponse(user=user_to_pb(user))

    async def GetUser(
        self, request: api.GetUserRequest, context: grpc.aio.ServicerContext
    ) -> api.GetUserResponse:
        return api.GetUserResponse(user=user_to_pb(await self._user()))

    async def DeleteUser(
        self, request: api.DeleteUserRequest, context: grpc.aio.ServicerContext
    ) -> api.DeleteUserResponse:
        erasure = await self._users.erase(acting_principal())
        return api.DeleteUserResponse(user=user_to_pb(erasure.user))

    async def CreateExchangeCredential(
        self, request: api.CreateExchangeCredentialRequest, context: grpc.aio.ServicerContext
    ) -> api.CreateExchangeCredentialResponse:
        bundle = SecretBundle(request.api_key, request.api_secret, request.passphrase)
        record = await self._vault.create(
            await self._user(), request.exchange, request.label, bundle
        )
        return api.CreateExchangeCredentialResponse(credential=credential_to_pb(record))

    async def ListExchangeCredentials(
        self, request: api.ListExchangeCredentialsRequest, context: grpc.aio.ServicerContext
    ) -> api.ListExchangeCredentialsResponse:
        records, token = await self._vault.list(
            await self._user(), request.page_size, request.page_token
        )
        return api.ListExchangeCredentialsResponse(
            credentials=[credential_to_pb(r) for r in records], next_page_token=token
        )

    async def GetExchangeCredential(
        self, request: api.GetExchangeCredentialRequest, context: grpc.aio.ServicerContext
    ) -> api.GetExchangeCredentialResponse:
        record = await self._vault.get(await self._user(), request.credential_id)
        return api.GetExchangeCredentialResponse(credential=credential_to_pb(record))

    async def DeleteExchangeCredential(
        self, request: api.DeleteExchangeCredentialRequest, context: grpc.aio.ServicerContext
    ) -> api.DeleteExchangeCredentialResponse:
        record = await self._vault.delete(await self._user(), request.credential_id)
        return api.DeleteExchangeCredentialResponse(credential=credential_to_pb(record))

    async def VerifyExchangeCredential(
        self, request: api.VerifyExchangeCredentialRequest, context: grpc.aio.ServicerContext
    ) -> api.VerifyExchangeCredentialResponse:
        outcome = await self._vault.verify(await self._user(), request.credential_id)
        return api.VerifyExchangeCredentialResponse(
            credential=credential_to_pb(outcome.credential),
            accepted=outcome.accepted,
            refusal_reason=outcome.refusal_reason,
        )

    async def CreateDashboardToken(
        self, request: api.CreateDashboardTokenRequest, context: grpc.aio.ServicerContext
    ) -> api.CreateDashboardTokenResponse:
        user = await self._user()  # only a registered principal gets a token
        token, expires = dashboard_tokens.issue(
            self._pepper, user.principal or acting_principal(), request.ttl_seconds, utcnow()
        )
        return api.CreateDashboardTokenResponse(token=token, expire_time=ts(expires))
