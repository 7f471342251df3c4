"""What trading_svc relies on: GetTradingSubscription (internal, principal-scoped, never
cached, nothing of the principal after erasure), and a subscription whose paid time runs out stopping at once and being marked EXPIRED by the
sweeper, with an `expired` entry on the change stream."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import grpc
import httpx
import pytest
import sqlalchemy as sa
from botmesh.credential.v1 import internal_service_pb2 as internal
from botmesh.credential.v1 import internal_service_pb2_grpc as internal_rpc
from botmesh.credential.v1 import resources_pb2 as pb

from credential_svc.tables import subscriptions
from mesh.auth import INTERNAL_HEADER
from mesh.db import utcnow
from mesh.redis import make_redis
from mesh.settings import Settings
from tests.e2e.subscription_support import changes_of, make_renter, pay, subscribe
from tests.e2e.test_bots_rest import assert_error
from tests.e2e.vault_support import new_principal, register, release, subscription_state


async def trading_view(
    settings: Settings, sub_id: str, principal: str = "", *, internal_identity: bool = True
) -> internal.TradingSubscription:
    md = ((INTERNAL_HEADER, settings.internal_token),) if internal_identity else ()
    async with grpc.aio.insecure_channel(settings.credential.target) as channel:
        stub = internal_rpc.InternalCredentialServiceStub(channel)
        reply = await stub.GetTradingSubscription(
            internal.GetTradingSubscriptionRequest(subscription_id=sub_id, principal=principal),
            metadata=md,
            timeout=10,
        )
    return reply.subscription


async def refusal(settings: Settings, sub_id: str, principal: str = "") -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await trading_view(settings, sub_id, principal)
    return refused.value


def status_bytes(error: grpc.aio.AioRpcError, sub_id: str) -> bytes:
    """The error as sent (code, message, google.rpc.Status details), its subscription id
    blanked, so two refusals about different ids compare byte for byte."""
    details = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin", b"")
    assert isinstance(details, bytes) and details
    text = f"{error.code().name}|{error.details()}|".encode() + details
    return text.replace(sub_id.encode(), b"<id>")


async def test_get_trading_subscription_answers_with_the_verdict_scoped_to_the_principal(
    rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings, exchange_sim: Any
) -> None:
    renter = await make_renter(rest, keys, exchange_sim)
    unpaid = (await subscribe(rest, renter))["subscription_id"]
    paid = (await subscribe(rest, renter, market="ETH-USDT"))["subscription_id"]
    await pay(rest, renter, paid)

    out = await trading_view(settings, paid, renter.principal)
    assert (out.subscription_id, out.user_id) == (paid, renter.user_id)
    assert (out.credential_id, out.exchange, out.market) == (
        renter.credential_id,
        "binance",
        "ETH-USDT",
    )
    assert out.may_trade and out.state == pb.SUBSCRIPTION_STATE_ACTIVE
    assert out.effective_state == pb.SUBSCRIPTION_STATE_ACTIVE
    assert out.credential_state == pb.CREDENTIAL_STATE_ACTIVE
    assert out.HasField("paid_until") and out.HasField("update_time")
    assert renter.principal not in str(out)
    # Background work (no principal) gets the same answer.
    assert await trading_view(settings, paid) == out

    never_paid = await trading_view(settings, unpaid, renter.principal)
    assert not never_paid.may_trade
    assert never_paid.effective_state == pb.SUBSCRIPTION_STATE_EXPIRED

    # Never cached: a pause shows at once, with a newer version.
    paused = await rest.post(f"/v1/subscriptions/{paid}:pause", json={}, headers=renter.headers)
    assert paused.status_code == 200, paused.text
    after = await trading_view(settings, paid, renter.principal)
    assert not after.may_trade and after.effective_state == pb.SUBSCRIPTION_STATE_PAUSED
    assert after.update_time.ToDatetime() > out.update_time.ToDatetime()

    # Another principal's subscription is refused exactly like one that does not exist.
    stranger = new_principal()
    await register(rest, keys["marketplace"], stranger)
    owned_by_another = await refusal(settings, paid, stranger)
    absent = "sub_" + "0" * (len(paid) - 4)  # as long as `paid`: the lengths are in the bytes
    missing = await refusal(settings, absent, stranger)
    assert owned_by_another.code() == grpc.StatusCode.NOT_FOUND
    assert status_bytes(owned_by_another, paid) == status_bytes(missing, absent)
    assert (await refusal(settings, "sub_missing")).code() == grpc.StatusCode.NOT_FOUND

    # Only the internal identity may ask; the rules in the proto check every field.
    with pytest.raises(grpc.aio.AioRpcError) as outside:
        await trading_view(settings, paid, renter.principal, internal_identity=False)
    assert outside.value.code() == grpc.StatusCode.PERMISSION_DENIED
    for sub_id, principal in (("", ""), ("bad id!", ""), (paid, "not-a-principal")):
        bad = await refusal(settings, sub_id, principal)
        assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT, (sub_id, principal)


async def test_after_erasure_nothing_answers_for_the_principal(
    rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings, exchange_sim: Any
) -> None:
    renter = await make_renter(rest, keys, exchange_sim)
    sid = (await subscribe(rest, renter))["subscription_id"]
    await pay(rest, renter, sid)
    assert (await trading_view(settings, sid, renter.principal)).may_trade

    erased = await rest.delete(
        "/v1/users/me", headers={**renter.headers, "idempotency-key": "erase-1"}
    )
    assert erased.status_code == 200, erased.text
    assert (await refusal(settings, sid, renter.principal)).code() == grpc.StatusCode.NOT_FOUND
    left = await trading_view(settings, sid)  # what winding down still sees: no principal
    assert not left.may_trade and left.state == pb.SUBSCRIPTION_STATE_CANCELED
    assert left.state_reason == pb.SUBSCRIPTION_STATE_REASON_USER_ERASED
    assert renter.principal not in str(left)
    redis = make_redis(settings.redis_url)
    try:  # no cache entry, key or stream field names the principal
        found = [k async for k in redis.scan_iter(match=f"*{renter.principal}*")]
        assert found == []
        assert [k async for k in redis.scan_iter(match="botmesh:principal:*")] == []
        for entry in await changes_of(settings, sid):
            assert renter.principal not in str(entry)
    finally:
        await redis.aclose()


async def test_running_out_of_paid_time_stops_trading(
    rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings, engine, exchange_sim
) -> None:  # type: ignore[no-untyped-def]
    renter = await make_renter(rest, keys, exchange_sim)
    sid = (await subscribe(rest, renter))["subscription_id"]
    await pay(rest, renter, sid)
    assert (await release(settings, sid)).credential_id == renter.credential_id
    # Time passes: the paid period ended a second ago.
    async with engine.begin() as conn:
        await conn.execute(
            subscriptions.update()
            .where(subscriptions.c.subscription_id == sid)
            .values(paid_until=utcnow() - timedelta(seconds=1))
        )
    got = await rest.get(f"/v1/subscriptions/{sid}", headers=renter.headers)
    assert got.json()["subscription"]["state"] == "SUBSCRIPTION_STATE_EXPIRED"
    with pytest.raises(grpc.aio.AioRpcError) as stopped:
        await release(settings, sid)
    assert stopped.value.code() == grpc.StatusCode.NOT_FOUND

    for _ in range(100):  # the sweeper runs every ~5 s
        if await subscription_state(engine, sid) == "EXPIRED":
            break
        await asyncio.sleep(0.1)
    assert await subscription_state(engine, sid) == "EXPIRED"
    events = await changes_of(settings, sid)
    assert [e["change"] for e in events] == ["created", "paid", "expired"]

    # Paying again restarts it from now.
    again = await pay(rest, renter, sid)
    assert again["subscription"]["state"] == "SUBSCRIPTION_STATE_ACTIVE"
    assert (await release(settings, sid)).credential_id == renter.credential_id
    async with engine.connect() as conn:
        audit = (
            await conn.execute(
                sa.text("SELECT action FROM audit_log WHERE resource = :r ORDER BY seq"),
                {"r": sid},
            )
        ).scalars()
        assert list(audit) == ["subscription.create", "subscription.expire"]
    assert_error(
        await rest.get("/v1/subscriptions/sub_unknown", headers=renter.headers),
        404,
        reason="SUBSCRIPTION_NOT_FOUND",
    )
