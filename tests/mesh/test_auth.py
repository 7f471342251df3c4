"""Every call is authenticated against real key rows; scopes, principals and the internal
identity are enforced by the rules the protos declare."""

from __future__ import annotations

import asyncio

import pytest
from botmesh.credential.v1 import (  # noqa: F401 - registers the services' descriptors
    credential_service_pb2,
    internal_service_pb2,
    marketplace_service_pb2,
)

from mesh.access import access_for
from mesh.apikey_admin import revoke_key
from mesh.apikey_store import ApiKeyStore
from mesh.auth import Authenticator
from mesh.errors import InvalidArgument, PermissionDenied, Unauthenticated
from mesh.settings import Settings

GET_BOT = access_for("/botmesh.credential.v1.MarketplaceService/GetBot")
CREATE_BOT = access_for("/botmesh.credential.v1.MarketplaceService/CreateBot")
GET_USER = access_for("/botmesh.credential.v1.CredentialService/GetUser")
LIST_KEYS = access_for("/botmesh.credential.v1.AdminService/ListApiKeys")
PRINCIPAL = "rrkah-fqaaa-aaaaa-aaaaq-cai"


@pytest.fixture
def auth(settings: Settings, engine) -> Authenticator:  # type: ignore[no-untyped-def]
    return Authenticator(
        ApiKeyStore(engine),
        pepper=settings.api_key_pepper,
        internal_token=settings.internal_token,
        cache_ttl_s=0.5,
    )


def test_access_rules_come_from_the_protos() -> None:
    assert GET_BOT is not None and CREATE_BOT is not None and GET_USER is not None
    assert GET_BOT.scopes == {"read", "bots:write", "marketplace"}
    assert CREATE_BOT.scopes == {"bots:write", "marketplace", "admin"}
    assert GET_USER.principal and LIST_KEYS is not None and LIST_KEYS.internal
    assert access_for("/grpc.health.v1.Health/Check") is None
    unknown = access_for("/botmesh.credential.v1.MarketplaceService/Nope")
    assert unknown is not None and unknown.internal and not unknown.scopes


async def test_a_valid_key_with_the_scope_passes(auth: Authenticator, issue_key) -> None:  # type: ignore[no-untyped-def]
    key_id, key = await issue_key("read")
    caller = await auth.authenticate(GET_BOT, {"x-api-key": key})  # type: ignore[arg-type]
    assert caller.key_id == key_id and caller.principal is None


@pytest.mark.parametrize(
    ("presented", "reason"),
    [
        (None, "API_KEY_MISSING"),
        ("garbage", "API_KEY_INVALID"),
        ("bm_000000000000_" + "x" * 43, "API_KEY_INVALID"),
    ],
)
async def test_missing_or_bad_keys_are_unauthenticated(
    auth: Authenticator, presented: str | None, reason: str
) -> None:
    md = {} if presented is None else {"x-api-key": presented}
    with pytest.raises(Unauthenticated) as caught:
        await auth.authenticate(GET_BOT, md)  # type: ignore[arg-type]
    assert caught.value.reason == reason


async def test_a_wrong_secret_for_a_real_key_id_is_unauthenticated(
    auth: Authenticator, issue_key
) -> None:  # type: ignore[no-untyped-def]
    _, key = await issue_key("read")
    with pytest.raises(Unauthenticated):
        await auth.authenticate(GET_BOT, {"x-api-key": key[:-2] + "zz"})  # type: ignore[arg-type]


async def test_a_key_without_the_scope_is_permission_denied(auth: Authenticator, issue_key) -> None:  # type: ignore[no-untyped-def]
    _, key = await issue_key("read")
    with pytest.raises(PermissionDenied) as caught:
        await auth.authenticate(CREATE_BOT, {"x-api-key": key})  # type: ignore[arg-type]
    assert caught.value.reason == "SCOPE_MISSING"


async def test_revocation_takes_effect_after_the_cache_ttl(
    auth: Authenticator, issue_key, engine
) -> None:  # type: ignore[no-untyped-def]
    key_id, key = await issue_key("read")
    await auth.authenticate(GET_BOT, {"x-api-key": key})  # type: ignore[arg-type]
    await revoke_key(ApiKeyStore(engine), key_id)
    await asyncio.sleep(0.6)
    with pytest.raises(Unauthenticated) as caught:
        await auth.authenticate(GET_BOT, {"x-api-key": key})  # type: ignore[arg-type]
    assert caught.value.reason == "API_KEY_REVOKED"


async def test_only_marketplace_keys_may_name_a_principal(auth: Authenticator, issue_key) -> None:  # type: ignore[no-untyped-def]
    _, reader = await issue_key("read")
    with pytest.raises(PermissionDenied) as caught:
        await auth.authenticate(GET_BOT, {"x-api-key": reader, "x-principal-id": PRINCIPAL})  # type: ignore[arg-type]
    assert caught.value.reason == "PRINCIPAL_NOT_ALLOWED"
    _, market = await issue_key("marketplace")
    caller = await auth.authenticate(GET_USER, {"x-api-key": market, "x-principal-id": PRINCIPAL})  # type: ignore[arg-type]
    assert caller.principal == PRINCIPAL


async def test_user_scoped_calls_need_a_valid_principal(auth: Authenticator, issue_key) -> None:  # type: ignore[no-untyped-def]
    _, market = await issue_key("marketplace")
    with pytest.raises(Unauthenticated) as missing:
        await auth.authenticate(GET_USER, {"x-api-key": market})  # type: ignore[arg-type]
    assert missing.value.reason == "PRINCIPAL_MISSING"
    with pytest.raises(InvalidArgument):
        await auth.authenticate(
            GET_USER, {"x-api-key": market, "x-principal-id": "rrkah-fqaaa-aaaaa-aaaaq-cab"}
        )  # type: ignore[arg-type]


async def test_internal_methods_need_the_internal_identity(
    auth: Authenticator, issue_key, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    _, admin = await issue_key("admin")
    with pytest.raises(PermissionDenied) as caught:
        await auth.authenticate(LIST_KEYS, {"x-api-key": admin, "x-botmesh-internal": "guess"})  # type: ignore[arg-type]
    assert caught.value.reason == "INTERNAL_ONLY"
    caller = await auth.authenticate(
        LIST_KEYS,
        {"x-api-key": admin, "x-botmesh-internal": settings.internal_token},  # type: ignore[arg-type]
    )
    assert caller.internal


async def test_the_internal_identity_stands_in_for_a_read_key_on_read_methods(
    auth: Authenticator, settings: Settings
) -> None:
    caller = await auth.authenticate(GET_BOT, {"x-botmesh-internal": settings.internal_token})  # type: ignore[arg-type]
    assert caller.internal and caller.scopes == {"read"} and caller.key_id is None
    with pytest.raises(Unauthenticated):
        await auth.authenticate(CREATE_BOT, {"x-botmesh-internal": settings.internal_token})  # type: ignore[arg-type]
    with pytest.raises(Unauthenticated):
        await auth.authenticate(GET_BOT, {"x-botmesh-internal": "forged"})  # type: ignore[arg-type]
