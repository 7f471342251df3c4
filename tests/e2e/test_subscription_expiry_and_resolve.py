"""What trading_svc relies on: ResolvePrincipal (internal, cached, forgotten on change), and
a subscription whose paid time runs out stopping at once and being marked EXPIRED by the
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
from mesh.settings import Settings
from tests.e2e.subscription_support import changes_of, make_renter, pay, subscribe
from tests.e2e.test_bots_rest import assert_error
from tests.e2e.vault_support import new_principal, release, subscription_state


async def resolve(
    settings: Settings, principal: str, *, internal_identity: bool = True
) -> internal.ResolvePrincipalResponse:
    md = ((INTERNAL_HEADER, settings.internal_token),) if internal_identity else ()
    async with grpc.aio.insecure_channel(settings.credential.target) as channel:
        stub = internal_rpc.InternalCredentialServiceStub(channel)
        return await stub.ResolvePrincipal(
            internal.ResolvePrincipalRequest(principal=principal), metadata=md, timeout=10
        )


async def test_resolve_principal_lists_what_trades_and_forgets_on_change(
    rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings, exchange_sim: Any
) -> None:
    renter = await make_renter(rest, keys, exchange_sim)
    unpaid = (await subscribe(rest, renter))["subscription_id"]
    paid = (await subscribe(rest, renter, market="ETH-USDT"))["subscription_id"]
    await pay(rest, renter, paid)
    out = await resolve(settings, renter.principal)
    assert out.user.user_id == renter.user_id and out.user.principal == renter.principal
    assert [s.subscription_id for s in out.active_subscriptions] == [paid]
    assert out.active_subscriptions[0].state == pb.SUBSCRIPTION_STATE_ACTIVE
    assert unpaid not in str(out)

    # Cached for seconds, but a change drops the entry: the pause shows at once.
    paused = await rest.post(f"/v1/subscriptions/{paid}:pause", json={}, headers=renter.headers)
    assert paused.status_code == 200, paused.text
    assert list((await resolve(settings, renter.principal)).active_subscriptions) == []

    with pytest.raises(grpc.aio.AioRpcError) as outside:
        await resolve(settings, renter.principal, internal_identity=False)
    assert outside.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as nobody:
        await resolve(settings, new_principal())
    assert nobody.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await resolve(settings, "not-a-principal")
    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT


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
