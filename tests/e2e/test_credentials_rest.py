"""Users and the credential vault over REST through Envoy, plus release over internal gRPC."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

import grpc
import httpx
import pytest
from botmesh.credential.v1 import credential_service_pb2

from mesh import dashboard_tokens
from mesh.db import utcnow
from mesh.settings import Settings
from tests.e2e.test_bots_rest import assert_error
from tests.e2e.vault_support import (
    add_credential,
    grpc_reason,
    insert_subscription,
    make_bot,
    mark_verified,
    new_principal,
    ph,
    register,
    release,
    subscription_state,
)

Call = Callable[[httpx.AsyncClient, dict[str, str], str], Awaitable[httpx.Response]]

# How principal B aims each user-scoped RPC at principal A's credential. A new RPC in
# CredentialService fails test_the_matrix_covers_every_rpc until it is added here.
ISOLATION: dict[str, Call] = {
    "GetUser": lambda r, h, c: r.get("/v1/users/me", headers=h),
    "CreateUser": lambda r, h, c: r.post("/v1/users", json={}, headers=h),
    "DeleteUser": lambda r, h, c: r.delete("/v1/users/me", headers=h),
    "CreateExchangeCredential": lambda r, h, c: r.post(
        "/v1/credentials",
        json={"exchange": "binance", "api_key": "bkey-000001", "api_secret": "bsecret-0001"},
        headers=h,
    ),
    "ListExchangeCredentials": lambda r, h, c: r.get("/v1/credentials", headers=h),
    "GetExchangeCredential": lambda r, h, c: r.get(f"/v1/credentials/{c}", headers=h),
    "DeleteExchangeCredential": lambda r, h, c: r.delete(f"/v1/credentials/{c}", headers=h),
    "VerifyExchangeCredential": lambda r, h, c: r.post(
        f"/v1/credentials/{c}:verify", json={}, headers=h
    ),
    "CreateDashboardToken": lambda r, h, c: r.post("/v1/dashboard-tokens", json={}, headers=h),
}
# RPCs that name no object of A: B acting on its own user must not see or touch A's.
OWN_SCOPE = {
    "GetUser",
    "CreateUser",
    "DeleteUser",
    "CreateExchangeCredential",
    "CreateDashboardToken",
    "ListExchangeCredentials",
}


def test_the_matrix_covers_every_rpc() -> None:
    service = credential_service_pb2.DESCRIPTOR.services_by_name["CredentialService"]
    assert set(ISOLATION) == {m.name for m in service.methods}


async def test_user_and_masked_credential_lifecycle(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    key, principal = keys["marketplace"], new_principal()
    assert_error(
        await rest.get("/v1/users/me", headers=ph(key, principal)), 404, reason="USER_NOT_FOUND"
    )
    user = await register(rest, key, principal)
    assert user["principal"] == principal and user["state"] == "USER_STATE_ACTIVE"
    assert_error(
        await rest.post("/v1/users", json={}, headers=ph(key, principal)), 409, reason="USER_EXISTS"
    )
    secret = "sec-" + os.urandom(12).hex()
    cred = await add_credential(rest, key, principal, "AKIAabcdefa1b2", secret)
    assert cred["key_hint"] == "****a1b2" and len(str(cred["fingerprint"])) == 16
    assert cred["state"] == "CREDENTIAL_STATE_UNVERIFIED"
    listed = await rest.get("/v1/credentials", headers=ph(key, principal))
    assert [c["credential_id"] for c in listed.json()["credentials"]] == [cred["credential_id"]]
    got = await rest.get(f"/v1/credentials/{cred['credential_id']}", headers=ph(key, principal))
    assert got.json()["credential"] == cred
    assert secret not in listed.text + got.text and "AKIAabcdefa1b2" not in listed.text
    gone = await rest.delete(f"/v1/credentials/{cred['credential_id']}", headers=ph(key, principal))
    assert gone.json()["credential"]["state"] == "CREDENTIAL_STATE_DELETED"
    assert_error(
        await rest.get(f"/v1/credentials/{cred['credential_id']}", headers=ph(key, principal)),
        404,
        reason="CREDENTIAL_NOT_FOUND",
    )


async def test_a_read_key_cannot_act_for_a_principal(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    resp = await rest.get("/v1/users/me", headers=ph(keys["read"], new_principal()))
    assert_error(resp, 403)
    resp = await rest.get("/v1/users/me", headers={"x-api-key": keys["marketplace"]})
    assert_error(resp, 401, reason="PRINCIPAL_MISSING")


@pytest.mark.parametrize("rpc", sorted(ISOLATION))
async def test_isolation_matrix(
    rpc: str, rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    key, alice, bob = keys["marketplace"], new_principal(), new_principal()
    await register(rest, key, alice)
    await register(rest, key, bob)
    a_cred = await add_credential(rest, key, alice, "alicekey" + os.urandom(4).hex(), "alice-sec-1")
    cid = str(a_cred["credential_id"])
    resp = await ISOLATION[rpc](rest, ph(key, bob), cid)
    if rpc in OWN_SCOPE:
        assert cid not in resp.text and alice not in resp.text
    else:
        missing = await ISOLATION[rpc](rest, ph(key, bob), "cred_doesnotexist")
        assert_error(resp, 404, reason="CREDENTIAL_NOT_FOUND")
        # Byte for byte the answer for an id that does not exist, but for the id itself.
        assert resp.text.replace(cid, "cred_doesnotexist") == missing.text
    # A's credential is untouched and B never lists it.
    still = await rest.get(f"/v1/credentials/{cid}", headers=ph(key, alice))
    assert still.status_code == 200 and still.json()["credential"]["state"] == a_cred["state"]
    bobs = await rest.get("/v1/credentials", headers=ph(key, bob))
    assert cid not in bobs.text


async def test_dashboard_token_is_bound_to_the_principal(
    rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    key, principal = keys["marketplace"], new_principal()
    await register(rest, key, principal)
    resp = await rest.post(
        "/v1/dashboard-tokens", json={"ttl_seconds": 60}, headers=ph(key, principal)
    )
    assert resp.status_code == 200, resp.text
    token = resp.json()["token"]
    assert token.startswith("bmd_")
    assert dashboard_tokens.verify(settings.api_key_pepper, token, utcnow()) == principal
    too_long = await rest.post(
        "/v1/dashboard-tokens", json={"ttl_seconds": 86401}, headers=ph(key, principal)
    )
    assert_error(too_long, 400, field="ttl_seconds")


async def test_verify_accepts_trading_keys_and_refuses_withdrawal_keys(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim
) -> None:  # type: ignore[no-untyped-def]
    key, principal = keys["marketplace"], new_principal()
    await register(rest, key, principal)
    async with exchange_sim.admin() as admin:
        trading = await admin.create_account({"USDT": "1000"})
        withdrawing = await admin.create_account({"USDT": "1000"}, can_withdraw=True)
    good = await add_credential(rest, key, principal, trading.api_key, trading.api_secret)
    bad = await add_credential(rest, key, principal, withdrawing.api_key, withdrawing.api_secret)
    ok = await rest.post(
        f"/v1/credentials/{good['credential_id']}:verify", json={}, headers=ph(key, principal)
    )
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["accepted"] is True and body["credential"]["state"] == "CREDENTIAL_STATE_ACTIVE"
    assert body["credential"]["permissions"]["can_trade"] is True
    refused = await rest.post(
        f"/v1/credentials/{bad['credential_id']}:verify", json={}, headers=ph(key, principal)
    )
    body = refused.json()
    assert body.get("accepted", False) is False and body["refusal_reason"] == "WITHDRAWAL_ENABLED"
    assert body["credential"]["state"] == "CREDENTIAL_STATE_REFUSED"
    assert body["credential"]["permissions"]["can_withdraw"] is True
    wrong = await add_credential(rest, key, principal, trading.api_key, "not-the-secret-at-all")
    failed = await rest.post(
        f"/v1/credentials/{wrong['credential_id']}:verify", json={}, headers=ph(key, principal)
    )
    assert_error(failed, 400, reason="EXCHANGE_AUTH_FAILED")


async def test_release_needs_the_internal_identity_and_an_active_subscription(
    rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings, engine
) -> None:  # type: ignore[no-untyped-def]
    key, principal = keys["marketplace"], new_principal()
    user = await register(rest, key, principal)
    secret = "rel-" + os.urandom(8).hex()
    cred = await add_credential(rest, key, principal, "relkey" + os.urandom(4).hex(), secret)
    bot = await make_bot(rest, keys["bots:write"])
    active = await insert_subscription(
        engine, str(user["user_id"]), bot, str(cred["credential_id"])
    )
    paused = await insert_subscription(
        engine, str(user["user_id"]), bot, str(cred["credential_id"]), "PAUSED"
    )
    with pytest.raises(grpc.aio.AioRpcError) as unverified:
        await release(settings, active)
    assert unverified.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert grpc_reason(unverified.value) == "CREDENTIAL_NOT_ACTIVE"
    await mark_verified(engine, str(cred["credential_id"]))  # this fake key cannot verify
    out = await release(settings, active)
    assert (out.credential_id, out.api_secret) == (cred["credential_id"], secret)
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await release(settings, active, internal_identity=False)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert secret not in str(denied.value)
    with pytest.raises(grpc.aio.AioRpcError) as inactive:
        await release(settings, paused)
    assert inactive.value.code() == grpc.StatusCode.NOT_FOUND

    # Erasure: subscriptions canceled, credentials shredded, principal free again.
    erased = await rest.delete("/v1/users/me", headers=ph(key, principal))
    assert erased.status_code == 200, erased.text
    anon = erased.json()["user"]
    assert (
        anon["state"] == "USER_STATE_ERASED"
        and not anon.get("principal")
        and not anon.get("display_name")
    )
    assert await subscription_state(engine, active) == "CANCELED"
    with pytest.raises(grpc.aio.AioRpcError) as after:
        await release(settings, active)
    assert after.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # credential DELETED
    again = await register(rest, key, principal)
    assert again["user_id"] != user["user_id"]
    assert (await rest.get("/v1/credentials", headers=ph(key, principal))).json().get(
        "credentials", []
    ) == []
