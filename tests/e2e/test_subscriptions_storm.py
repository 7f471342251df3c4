"""ICP replica storms on the subscription POSTs: 13 identical copies with one
Idempotency-Key, through Envoy over IPv6 loopback (the only way HTTPS outcalls arrive), make
one subscription or one payment and 13 byte-identical answers."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import sqlalchemy as sa

from credential_svc.tables import payments, subscriptions
from mesh.settings import Settings
from tests.e2e.subscription_support import changes_of, make_renter, payment, subscribe, terms

COPIES = 13


async def _count(engine: Any, query: sa.Select[Any]) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def _storm(settings: Settings, path: str, body: dict[str, Any], headers: dict[str, str]):  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=f"http://[::1]:{settings.envoy_port}", timeout=30) as v6:
        return await asyncio.gather(
            *[v6.post(path, json=body, headers=headers) for _ in range(COPIES)]
        )


def _identical(replies: list[httpx.Response]) -> None:
    assert {r.status_code for r in replies} == {200}, [r.text for r in replies]
    assert len({r.content for r in replies}) == 1
    varying = {"date", "x-envoy-upstream-service-time"}
    headers = {
        tuple(sorted((k, v) for k, v in r.headers.items() if k not in varying)) for r in replies
    }
    assert len(headers) == 1


async def test_thirteen_replicas_create_one_subscription(
    rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings, engine, exchange_sim
) -> None:  # type: ignore[no-untyped-def]
    renter = await make_renter(rest, keys, exchange_sim)
    headers = {**renter.headers, "idempotency-key": secrets.token_hex(16)}
    replies = await _storm(settings, "/v1/subscriptions", terms(renter), headers)
    _identical(replies)
    owned = sa.select(sa.func.count()).where(subscriptions.c.user_id == renter.user_id)
    assert await _count(engine, owned) == 1
    sid = replies[0].json()["subscription"]["subscription_id"]
    assert [e["change"] for e in await changes_of(settings, sid)] == ["created"]

    # The same key with another body is refused, and creates nothing.
    other = await rest.post(
        "/v1/subscriptions", json=terms(renter, allocation="10"), headers=headers
    )
    assert other.status_code == 400
    assert other.json()["details"][0]["reason"] == "IDEMPOTENCY_KEY_REUSED"
    assert await _count(engine, owned) == 1


async def test_thirteen_replicas_record_one_payment(
    rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings, engine, exchange_sim
) -> None:  # type: ignore[no-untyped-def]
    renter = await make_renter(rest, keys, exchange_sim)
    sid = (await subscribe(rest, renter))["subscription_id"]
    headers = {**renter.headers, "idempotency-key": secrets.token_hex(16)}
    body = payment()
    replies = await _storm(settings, f"/v1/subscriptions/{sid}/payments", body, headers)
    _identical(replies)
    paid = sa.select(sa.func.count()).where(payments.c.subscription_id == sid)
    assert await _count(engine, paid) == 1
    assert [e["change"] for e in await changes_of(settings, sid)] == ["created", "paid"]

    other = await rest.post(
        f"/v1/subscriptions/{sid}/payments", json={**body, "period_days": 7}, headers=headers
    )
    assert other.status_code == 400
    assert other.json()["details"][0]["reason"] == "IDEMPOTENCY_KEY_REUSED"
    assert await _count(engine, paid) == 1


async def test_thirteen_reports_of_one_block_without_a_key_credit_it_once(
    rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings, engine, exchange_sim
) -> None:  # type: ignore[no-untyped-def]
    """Replicas whose outcalls carry no shared key (or distinct keys) still credit the block
    once: (ledger, block_index) is the payment's own idempotency key."""
    renter = await make_renter(rest, keys, exchange_sim)
    sid = (await subscribe(rest, renter))["subscription_id"]
    body = payment()
    replies = await asyncio.gather(
        *[
            rest.post(
                f"/v1/subscriptions/{sid}/payments",
                json=body,
                headers={**renter.headers, "idempotency-key": secrets.token_hex(8)},
            )
            for _ in range(COPIES)
        ]
    )
    assert {r.status_code for r in replies} == {200}, [r.text for r in replies]
    assert len({r.json()["payment"]["payment_id"] for r in replies}) == 1
    assert len({r.json()["subscription"]["paid_until"] for r in replies}) == 1
    paid = sa.select(sa.func.count()).where(payments.c.subscription_id == sid)
    assert await _count(engine, paid) == 1
