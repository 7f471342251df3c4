"""Idempotency under a caller who gives up, a dependency that fails for a moment, and a look
at the table: through Envoy, on MariaDB, against exchange_sim.

- A client abort does not cancel the work: the order the first request started completes,
  and the retry with the same key answers with that order. One order, on our side and on the
  exchange.
- A transient failure (UNAVAILABLE, before any side effect) is answered but not pinned: the
  retry with the same key runs afresh and succeeds, and is then replayed.
- Recorded answers carrying bearer secrets are sealed: the table never holds the token, nor
  the principal.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import httpx
import pytest
import sqlalchemy as sa

from exchange_sim import SimServer
from mesh.ids import new_id
from tests.e2e.idempotency_support import stored_rows
from tests.e2e.trading_support import open_account
from tests.e2e.vault_support import add_credential, new_principal, ph, register
from trading_svc.tables import orders

MARKET_BUY = {"side": "ORDER_SIDE_BUY", "type": "ORDER_TYPE_MARKET", "quantity": "0.001"}


async def order_rows(engine, sub_id: str) -> list[sa.Row]:  # type: ignore[no-untyped-def, type-arg]
    async with engine.connect() as conn:
        query = sa.select(orders).where(orders.c.subscription_id == sub_id)
        return list((await conn.execute(query)).all())


@pytest.mark.parametrize("give_up_after_s", [0.2, 0.9])
async def test_a_client_that_gives_up_mid_order_and_retries_gets_the_one_order(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    engine,  # type: ignore[no-untyped-def]
    exchange_sim: SimServer,
    give_up_after_s: float,
) -> None:
    async with exchange_sim.admin() as admin:
        account = await open_account(rest, keys, engine, admin)
        # The exchange answers the order 1.5 s late (within our exchange timeout).
        await admin.add_fault(
            "latency",
            api_key=account.sim.api_key,
            method="POST",
            path="/api/v3/order",
            latency_ms=1500,
            count=1,
        )
        headers = {**account.headers, "idempotency-key": new_id("idem")}
        with pytest.raises(httpx.TimeoutException):
            await rest.post(
                account.path("/orders"), json=MARKET_BUY, headers=headers, timeout=give_up_after_s
            )
        retry = await rest.post(account.path("/orders"), json=MARKET_BUY, headers=headers)
        assert retry.status_code == 200, retry.text
        assert retry.json()["order"]["state"] == "ORDER_STATE_FILLED"
        again = await rest.post(account.path("/orders"), json=MARKET_BUY, headers=headers)
        assert again.content == retry.content
        on_exchange = await admin.orders(account.sim.api_key)

    rows = await order_rows(engine, account.subscription_id)
    assert [r.order_id for r in rows] == [retry.json()["order"]["order_id"]]
    assert [o["clientOrderId"] for o in on_exchange] == [rows[0].client_order_id]


async def test_a_client_that_gives_up_does_not_stop_the_order_completing(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    engine,  # type: ignore[no-untyped-def]
    exchange_sim: SimServer,
) -> None:
    """No retry at all: the abandoned request's order still completes on its own."""
    async with exchange_sim.admin() as admin:
        account = await open_account(rest, keys, engine, admin)
        await admin.add_fault(
            "latency",
            api_key=account.sim.api_key,
            method="POST",
            path="/api/v3/order",
            latency_ms=1000,
            count=1,
        )
        headers = {**account.headers, "idempotency-key": new_id("idem")}
        with pytest.raises(httpx.TimeoutException):
            await rest.post(account.path("/orders"), json=MARKET_BUY, headers=headers, timeout=0.3)
        for _ in range(100):
            rows = await order_rows(engine, account.subscription_id)
            if rows and rows[0].state == "FILLED":
                break
            await asyncio.sleep(0.1)
        assert [r.state for r in rows] == ["FILLED"]
        assert len(await admin.orders(account.sim.api_key)) == 1


ABORTED_ORDERS = 40


async def test_orders_abandoned_at_random_moments_and_retried_land_exactly_once(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    engine,  # type: ignore[no-untyped-def]
    exchange_sim: SimServer,
) -> None:
    """Every order's first attempt gives up at a random moment (some before the handler
    starts, some mid-submission under exchange latency); it is then retried with its key
    until answered. Each intent becomes exactly one order, here and on the exchange."""
    rng = random.Random(8)
    async with exchange_sim.admin() as admin:
        account = await open_account(
            rest, keys, engine, admin, funds={"USDT": "100000"}, allocation="100000"
        )
        await admin.add_fault(
            "latency",
            api_key=account.sim.api_key,
            method="POST",
            path="/api/v3/order",
            latency_ms=800,
            probability=0.5,
            seed=8,
        )
        gate = asyncio.Semaphore(8)

        async def intent(give_up_after_s: float) -> bytes:
            headers = {**account.headers, "idempotency-key": new_id("idem")}
            async with gate:
                with contextlib.suppress(httpx.TimeoutException):
                    await rest.post(
                        account.path("/orders"),
                        json=MARKET_BUY,
                        headers=headers,
                        timeout=give_up_after_s,
                    )
                while True:
                    answer = await rest.post(
                        account.path("/orders"), json=MARKET_BUY, headers=headers, timeout=30
                    )
                    if answer.status_code == 200:
                        return answer.content
                    assert answer.status_code == 503, answer.text  # in progress: try again
                    await asyncio.sleep(0.2)

        answers = await asyncio.gather(
            *(intent(rng.uniform(0.01, 1.0)) for _ in range(ABORTED_ORDERS))
        )
        on_exchange = await admin.orders(account.sim.api_key)

    rows = await order_rows(engine, account.subscription_id)
    assert len(rows) == ABORTED_ORDERS
    assert len(set(answers)) == ABORTED_ORDERS  # one distinct order per intent
    assert sorted(o["clientOrderId"] for o in on_exchange) == sorted(
        r.client_order_id for r in rows
    )


async def test_a_transient_failure_is_answered_but_not_pinned(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: SimServer
) -> None:
    key, principal = keys["marketplace"], new_principal()
    await register(rest, key, principal)
    async with exchange_sim.admin() as admin:
        sim = await admin.create_account({"USDT": "1000"})
        cred = await add_credential(rest, key, principal, sim.api_key, sim.api_secret)
        await admin.add_fault("http_5xx", api_key=sim.api_key, count=1)  # the exchange blips
    path = f"/v1/credentials/{cred['credential_id']}:verify"
    headers = {**ph(key, principal), "idempotency-key": new_id("idem")}

    first = await rest.post(path, json={}, headers=headers)
    assert first.status_code == 503, first.text
    assert first.json()["details"][0]["reason"] == "EXCHANGE_UNAVAILABLE"
    retry = await rest.post(path, json={}, headers=headers)
    assert retry.status_code == 200, retry.text
    assert retry.json()["accepted"] is True
    assert retry.json()["credential"]["state"] == "CREDENTIAL_STATE_ACTIVE"
    replay = await rest.post(path, json={}, headers=headers)
    assert replay.content == retry.content


async def test_a_retry_during_a_long_execution_hears_in_progress_then_the_answer(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: SimServer
) -> None:
    """A verification the exchange drags out for ~13 s: the first caller gives up at once;
    a retry waits (at most 10 s, under Envoy's 15 s) and hears 503 IDEMPOTENCY_IN_PROGRESS
    with RetryInfo; the next retry gets the one verification's answer."""
    key, principal = keys["marketplace"], new_principal()
    await register(rest, key, principal)
    async with exchange_sim.admin() as admin:
        sim = await admin.create_account({"USDT": "1000"})
        cred = await add_credential(rest, key, principal, sim.api_key, sim.api_secret)
        for path in ("/api/v3/account", "/sapi/v1/account/apiRestrictions"):
            await admin.add_fault(
                "latency", api_key=sim.api_key, path=path, latency_ms=6500, count=1
            )
    path = f"/v1/credentials/{cred['credential_id']}:verify"
    headers = {**ph(key, principal), "idempotency-key": new_id("idem")}

    with pytest.raises(httpx.TimeoutException):
        await rest.post(path, json={}, headers=headers, timeout=0.5)
    waiting = await rest.post(path, json={}, headers=headers, timeout=30)
    assert waiting.status_code == 503, waiting.text
    details = waiting.json()["details"]
    assert details[0]["reason"] == "IDEMPOTENCY_IN_PROGRESS"
    assert any(d["@type"].endswith("google.rpc.RetryInfo") for d in details)
    answer = await rest.post(path, json={}, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] is True
    assert (await rest.post(path, json={}, headers=headers)).content == answer.content


async def test_a_dashboard_token_is_never_stored_in_plaintext(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    engine,  # type: ignore[no-untyped-def]
) -> None:
    key, principal = keys["marketplace"], new_principal()
    await register(rest, key, principal)
    idempotency_key = new_id("idem")
    headers = {**ph(key, principal), "idempotency-key": idempotency_key}
    issued = await rest.post("/v1/dashboard-tokens", json={"ttl_seconds": 600}, headers=headers)
    assert issued.status_code == 200, issued.text
    token = issued.json()["token"]
    payload, mac = token.removeprefix("bmd_").split(".")

    rows = await stored_rows(engine, idempotency_key)
    assert len(rows) == 1
    for secret in (token, payload, mac, principal):
        assert secret.encode() not in rows[0]
    # The replay is still the exact answer, the token included.
    replay = await rest.post("/v1/dashboard-tokens", json={"ttl_seconds": 600}, headers=headers)
    assert replay.content == issued.content
