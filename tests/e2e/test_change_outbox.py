"""Every kind of subscription change reaches the change stream exactly once, through the
outbox, with exactly the entry contract trading_svc reads: made through the mesh (REST
through Envoy), the expiry sweeper and erasure, read back from the run's Redis.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import redis.asyncio as aioredis
import sqlalchemy as sa

from credential_svc.identity.store import UserStore
from credential_svc.subscriptions.expiry import ExpirySweeper
from credential_svc.subscriptions.store import SubscriptionStore
from credential_svc.subscriptions.suspension_store import ErasureSteps
from credential_svc.tables import change_outbox, subscriptions
from mesh.audit import AuditLog, Event
from mesh.db import utcnow
from mesh.settings import Settings
from mesh.tables import audit_log
from tests.e2e.outbox_support import check_contract, outbox_drained, stream_entries
from tests.e2e.subscription_support import Renter, make_renter, pay, subscribe


async def act(rest: httpx.AsyncClient, renter: Renter, sid: str, verb: str) -> None:
    resp = await rest.post(f"/v1/subscriptions/{sid}:{verb}", json={}, headers=renter.headers)
    assert resp.status_code == 200, resp.text


async def verify(rest: httpx.AsyncClient, renter: Renter) -> bool:
    resp = await rest.post(
        f"/v1/credentials/{renter.credential_id}:verify", json={}, headers=renter.headers
    )
    assert resp.status_code == 200, resp.text
    return bool(resp.json()["accepted"])


async def test_every_change_kind_is_in_the_stream_once_with_its_contract(
    rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings, engine, exchange_sim
) -> None:  # type: ignore[no-untyped-def]
    renter = await make_renter(rest, keys, exchange_sim)
    first = (await subscribe(rest, renter))["subscription_id"]
    await pay(rest, renter, first)
    await act(rest, renter, first, "pause")
    await act(rest, renter, first, "resume")
    async with engine.begin() as conn:  # paid time runs out...
        await conn.execute(
            subscriptions.update()
            .where(subscriptions.c.subscription_id == first)
            .values(paid_until=utcnow() - timedelta(seconds=1))
        )
    # ...and the sweeper (this process's, racing the mesh's) expires it, once.
    await ExpirySweeper(SubscriptionStore(engine, AuditLog(settings.api_key_pepper))).sweep()
    await act(rest, renter, first, "cancel")

    second = (await subscribe(rest, renter, market="ETH-USDT"))["subscription_id"]
    await pay(rest, renter, second)
    async with exchange_sim.admin() as admin:
        await admin.set_permissions(renter.exchange_api_key, can_withdraw=True)
        assert not await verify(rest, renter)  # refused: suspended
        await admin.set_permissions(renter.exchange_api_key, can_withdraw=False)
        assert await verify(rest, renter)  # accepted again: lifted
    deleted = await rest.delete(f"/v1/credentials/{renter.credential_id}", headers=renter.headers)
    assert deleted.status_code == 200, deleted.text

    other = await make_renter(rest, keys, exchange_sim)
    third = (await subscribe(rest, other))["subscription_id"]
    await pay(rest, other, third)
    erased = await rest.delete("/v1/users/me", headers=other.headers)
    assert erased.status_code == 200, erased.text

    await outbox_drained(settings)
    redis = aioredis.Redis.from_url(settings.redis_url)
    try:
        stream = await stream_entries(redis)
    finally:
        await redis.aclose()
    check_contract(stream)  # the whole run's stream: contract, once each, versions grow
    ours = {first, second, third}
    of = {sid: [e for e in stream if e["subscription_id"] == sid] for sid in ours}

    def said(sid: str) -> list[tuple[str, str, str]]:
        return [(e["change"], e["state"], e["state_reason"]) for e in of[sid]]

    assert said(first) == [
        ("created", "EXPIRED", ""),
        ("paid", "ACTIVE", ""),
        ("paused", "PAUSED", ""),
        ("resumed", "ACTIVE", ""),
        ("expired", "EXPIRED", ""),
        ("canceled", "CANCELED", "CANCELED_BY_USER"),
    ]
    assert said(second) == [
        ("created", "EXPIRED", ""),
        ("paid", "ACTIVE", ""),
        ("suspended", "SUSPENDED", "CREDENTIAL_REFUSED"),
        ("unsuspended", "ACTIVE", ""),
        ("suspended", "SUSPENDED", "CREDENTIAL_DELETED"),
    ]
    assert said(third) == [
        ("created", "EXPIRED", ""),
        ("paid", "ACTIVE", ""),
        ("erased", "CANCELED", "USER_ERASED"),
    ]
    for sid, entries in of.items():
        who = renter if sid != third else other
        assert {(e["user_id"], e["credential_id"], e["bot_id"]) for e in entries} == {
            (who.user_id, who.credential_id, who.bot_id)
        }
        assert all(e["paid_until"] for e in entries[1:])  # paid from the second on
    assert renter.principal not in str(stream) and other.principal not in str(stream)

    # Each of their outbox rows is in the stream, once; the last version is the row's.
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(change_outbox))).all()
        stored = {
            r.subscription_id: r.update_time
            for r in await conn.execute(
                sa.select(subscriptions).where(subscriptions.c.subscription_id.in_(ours))
            )
        }
    mine: dict[str, Any] = {
        str(r.outbox_id): r for r in rows if json.loads(r.payload)["subscription_id"] in ours
    }
    assert sorted(e["outbox_id"] for s in ours for e in of[s]) == sorted(mine)
    assert all(mine[e["outbox_id"]].publish_time is not None for s in ours for e in of[s])
    for sid in ours:
        assert of[sid][-1]["version"] == stored[sid].isoformat(timespec="microseconds")


async def test_a_subscription_left_live_at_the_erasure_is_announced_too(
    rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings, engine, exchange_sim
) -> None:  # type: ignore[no-untyped-def]
    """The erasure transaction itself cancels whatever is still live (one made after its
    first step): through the outbox and audited, like every other change, never silently."""
    renter = await make_renter(rest, keys, exchange_sim)
    sid = (await subscribe(rest, renter))["subscription_id"]
    await pay(rest, renter, sid)
    store = UserStore(engine, AuditLog(settings.api_key_pepper))
    user = await store.by_principal(renter.principal)
    assert user is not None
    steps = ErasureSteps(engine, AuditLog(settings.api_key_pepper))
    erasure = await store.erase(user, utcnow(), Event("user.erase", user.user_id), steps.cancel_in)
    assert erasure.canceled_subscription_ids == (sid,)

    await outbox_drained(settings)
    redis = aioredis.Redis.from_url(settings.redis_url)
    try:
        entries = [e for e in await stream_entries(redis) if e["subscription_id"] == sid]
    finally:
        await redis.aclose()
    assert [(e["change"], e["state"], e["state_reason"]) for e in entries][-1] == (
        "erased",
        "CANCELED",
        "USER_ERASED",
    )
    assert renter.principal not in str(entries)
    async with engine.connect() as conn:
        audited = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(audit_log)
            .where(audit_log.c.resource == sid, audit_log.c.action == "subscription.cancel")
        )
    assert audited == 1
