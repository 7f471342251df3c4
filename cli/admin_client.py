"""gRPC calls from the CLI to AdminService. The CLI runs beside the services, so it holds
the internal service identity (from the shared settings) as well as an admin key."""

from __future__ import annotations

from datetime import datetime

from botmesh.credential.v1 import internal_service_pb2 as api
from botmesh.credential.v1 import internal_service_pb2_grpc as rpc

from mesh.auth import API_KEY_HEADER, INTERNAL_HEADER
from mesh.scopes import PB_TO_SCOPE, SCOPE_TO_PB
from mesh.settings import Settings
from mesh.timestamps import ts
from mesh.tls import aio_channel, internal_tls


def _metadata(settings: Settings, admin_key: str) -> tuple[tuple[str, str], ...]:
    return ((API_KEY_HEADER, admin_key), (INTERNAL_HEADER, settings.internal_token))


async def create_key(
    settings: Settings,
    admin_key: str,
    name: str,
    scopes: list[str],
    expires: datetime | None,
    rate_limit_per_s: int = 0,
) -> tuple[str, str]:
    unknown = [s for s in scopes if s not in SCOPE_TO_PB]
    if unknown:
        raise SystemExit(f"unknown scopes: {', '.join(unknown)}; use {', '.join(SCOPE_TO_PB)}")
    request = api.CreateApiKeyRequest(
        name=name, scopes=[SCOPE_TO_PB[s] for s in scopes], rate_limit_per_s=rate_limit_per_s
    )
    if expires is not None:
        request.expire_time.CopyFrom(ts(expires))
    async with aio_channel(settings.credential.target, tls=internal_tls(settings)) as channel:
        reply = await rpc.AdminServiceStub(channel).CreateApiKey(
            request, metadata=_metadata(settings, admin_key), timeout=10
        )
    return reply.api_key.key_id, reply.key


async def list_keys(settings: Settings, admin_key: str) -> list[str]:
    lines, token = [], ""
    async with aio_channel(settings.credential.target, tls=internal_tls(settings)) as channel:
        stub = rpc.AdminServiceStub(channel)
        while True:
            reply = await stub.ListApiKeys(
                api.ListApiKeysRequest(page_size=100, page_token=token),
                metadata=_metadata(settings, admin_key),
                timeout=10,
            )
            for key in reply.api_keys:
                scopes = ",".join(PB_TO_SCOPE[s] for s in key.scopes)
                state = "revoked" if key.HasField("revoke_time") else "active"
                lines.append(f"{key.key_id}\t{state}\t{scopes}\t{key.name}")
            token = reply.next_page_token
            if not token:
                return lines


async def revoke_key(settings: Settings, admin_key: str, key_id: str) -> str:
    async with aio_channel(settings.credential.target, tls=internal_tls(settings)) as channel:
        reply = await rpc.AdminServiceStub(channel).RevokeApiKey(
            api.RevokeApiKeyRequest(key_id=key_id),
            metadata=_metadata(settings, admin_key),
            timeout=10,
        )
    return f"revoked {reply.api_key.key_id}"


async def rotate_encryption_key(settings: Settings, admin_key: str, retire_previous: bool) -> str:
    async with aio_channel(settings.credential.target, tls=internal_tls(settings)) as channel:
        reply = await rpc.AdminServiceStub(channel).RotateEncryptionKey(
            api.RotateEncryptionKeyRequest(retire_previous=retire_previous),
            metadata=_metadata(settings, admin_key),
            timeout=30,
        )
    return (
        f"keyring version {reply.key_version} is active; rewrapping "
        f"{reply.pending_rewrap} data keys in the background"
        + ("; older versions are retired when it finishes" if retire_previous else "")
    )
