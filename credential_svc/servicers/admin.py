"""AdminService: API keys and encryption-key rotation, for the botmesh CLI."""

from __future__ import annotations

import grpc
from botmesh.credential.v1 import internal_service_pb2 as api
from botmesh.credential.v1 import internal_service_pb2_grpc as rpc

from credential_svc.servicers.convert import api_key_to_pb
from credential_svc.vault.rotation import Rotator
from mesh.apikey_admin import issue_key, list_keys, revoke_key
from mesh.apikey_store import ApiKeyStore
from mesh.audit import AuditLog
from mesh.errors import InvalidArgument
from mesh.scopes import PB_TO_SCOPE
from mesh.timestamps import from_ts


class AdminServicer(rpc.AdminServiceServicer):
    def __init__(self, store: ApiKeyStore, pepper: str, rotator: Rotator) -> None:
        self._store = store
        self._pepper = pepper
        self._rotator = rotator

    async def CreateApiKey(
        self, request: api.CreateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> api.CreateApiKeyResponse:
        if any(s not in PB_TO_SCOPE for s in request.scopes):
            raise InvalidArgument.for_field("scopes", "holds an unknown scope")
        record, key = await issue_key(
            self._store,
            pepper=self._pepper,
            name=request.name,
            scopes=[PB_TO_SCOPE[s] for s in request.scopes],
            expire_time=from_ts(request.expire_time) if request.HasField("expire_time") else None,
            rate_limit_per_s=request.rate_limit_per_s or None,
        )
        return api.CreateApiKeyResponse(api_key=api_key_to_pb(record), key=key)

    async def ListApiKeys(
        self, request: api.ListApiKeysRequest, context: grpc.aio.ServicerContext
    ) -> api.ListApiKeysResponse:
        keys, token = await list_keys(self._store, request.page_size, request.page_token)
        return api.ListApiKeysResponse(
            api_keys=[api_key_to_pb(k) for k in keys], next_page_token=token
        )

    async def RevokeApiKey(
        self, request: api.RevokeApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> api.RevokeApiKeyResponse:
        return api.RevokeApiKeyResponse(
            api_key=api_key_to_pb(
                await revoke_key(self._store, request.key_id, audit=AuditLog(self._pepper))
            )
        )

    async def RotateEncryptionKey(
        self, request: api.RotateEncryptionKeyRequest, context: grpc.aio.ServicerContext
    ) -> api.RotateEncryptionKeyResponse:
        rotation = await self._rotator.rotate(request.retire_previous)
        return api.RotateEncryptionKeyResponse(
            key_version=rotation.version, pending_rewrap=rotation.pending
        )
