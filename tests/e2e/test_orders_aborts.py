"""Exactly once whatever the caller does (issue 8, item 1): clients that give up at random
moments and retry with the same Idempotency-Key, while the exchange is slow and loses
answers of orders it accepted. One intent (key) is one order on the exchange, and every
answer to it names the same order.

On this branch the idempotency layer still releases a key when its request is cancelled, so
a retry reaches PlaceOrder again: these tests show the order's own intent identity holds on
its own.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from decimal import Decimal

import httpx
import sqlalchemy as sa

from exchange_sim import SimServer
from mesh.ids import new_id
from tests.e2e.trading_support import Account, open_account, settled_orders
from trading_svc.tables import trades

INTENTS = 300
CONCURRENCY = 40
# The share of attempts the client abandons at a random moment.
ABORT = 0.35
QUANTITY = Decimal("0.0001")
FUNDS = Decimal("100000")
BUY = {"side": "ORDER_SIDE_BUY", "type": "ORDER_TYPE_MARKET", "quantity": str(QUANTITY)}
# Slow and lossy order entry: the exchange places these orders but answers late (past
# the clients' patience, some past trading_svc's own 2 s timeout) or never.
FAULTS = (
    {"kind": "latency", "method": "POST", "path": "/api/v3/order", "probability": 0.25,
     "latency_ms": 700},
    {"kind": "latency", "method": "POST", "path": "/api/v3/order", "probability": 0.04,
     "latency_ms": 2500},
    {"kind": "drop_response", "method": "POST", "path": "/api/v3/order", "probability": 0.06},
)  # fmt: skip


async def _until_answered(
    rest: httpx.AsyncClient,
    account: Account,
    key: str,
    rng: random.Random,
    answers: list[str],
    refusals: list[str],
) -> int:
    """Posts the intent until it gets an answer, giving up on an attempt after a random
    moment (the connection is closed then) with probability ABORT; returns how many
    attempts were abandoned. Answers other than 200 and "try again" are refusals."""
    abandoned = 0
    headers = {**account.headers, "Idempotency-Key": key}
    while True:
        patience = rng.uniform(0.02, 1.0) if rng.random() < ABORT else 15.0
        try:
            resp = await rest.post(
                account.path("/orders"), json=BUY, headers=headers, timeout=patience
            )
        except httpx.TransportError:  # timed out or cut: the caller never heard
            abandoned += 1
            continue
        if resp.status_code == 200:
            answers.append(resp.json()["order"]["order_id"])
            return abandoned
        if resp.status_code not in (409, 503, 504):  # only "try again" may be retried
            refusals.append(f"{resp.status_code} {resp.text}")
            return abandoned
        await asyncio.sleep(0.05)


async def test_300_intents_with_random_client_aborts_make_300_orders(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    engine,  # type: ignore[no-untyped-def]
    exchange_sim: SimServer,
) -> None:
    started = time.monotonic()
    rng = random.Random(8)
    async with exchange_sim.admin() as admin:
        account = await open_account(
            rest, keys, engine, admin, funds={"USDT": str(FUNDS)}, allocation=str(FUNDS)
        )
        for seed, fault in enumerate(FAULTS, start=1):
            await admin.add_fault(api_key=account.sim.api_key, seed=seed, **fault)  # type: ignore[arg-type]
        gate = asyncio.Semaphore(CONCURRENCY)
        answers: dict[str, list[str]] = defaultdict(list)
        refusals: list[str] = []

        async def intent() -> int:
            key = new_id("idem")
            async with gate:
                abandoned = await _until_answered(rest, account, key, rng, answers[key], refusals)
                # Asked once more after the answer: still the same order.
                await _until_answered(rest, account, key, rng, answers[key], refusals)
                return abandoned

        abandoned = sum(await asyncio.gather(*(intent() for _ in range(INTENTS))))
        answered_s = time.monotonic() - started
        rows = await settled_orders(engine, account.subscription_id, 60)
        fired = sum(int(f.get("fired", 0)) for f in await admin.faults())
        await admin.clear_faults()
        on_exchange = await admin.orders(account.sim.api_key)
        fills_on_exchange = await admin.trades(account.sim.api_key)

    print(
        f"\n{INTENTS} intents, {abandoned} attempts abandoned by the client, {fired} exchange "
        f"faults, all answered after {answered_s:.1f}s, settled after "
        f"{time.monotonic() - started:.1f}s"
    )
    assert refusals == []
    # The premise (the run did abandon and fault a fair share), not the property: how many
    # attempts outlive their patience depends on the machine's speed (87 on a quiet one,
    # 136 under load, for the same seed).
    assert abandoned >= INTENTS * 0.15 and fired >= INTENTS * 0.2
    assert all(len(set(ids)) == 1 for ids in answers.values()), "an intent named two orders"
    answered = {ids[0] for ids in answers.values()}
    assert len(answered) == INTENTS
    assert {r.order_id for r in rows} == answered
    assert Counter(r.state for r in rows) == {"FILLED": INTENTS}
    per_client_id = Counter(o["clientOrderId"] for o in on_exchange)
    assert set(per_client_id) == {r.client_order_id for r in rows}
    assert set(per_client_id.values()) == {1}, "an order was placed twice on the exchange"
    async with engine.connect() as conn:
        ours = (
            await conn.execute(
                sa.select(trades).where(trades.c.subscription_id == account.subscription_id)
            )
        ).all()
    assert sorted(str(t.exchange_trade_id) for t in ours) == sorted(
        str(t["id"]) for t in fills_on_exchange
    )
    assert sum(r.filled_quantity for r in rows) == QUANTITY * INTENTS


async def test_a_retry_after_a_client_abort_answers_the_same_order_as_it_stands_now(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    engine,  # type: ignore[no-untyped-def]
    exchange_sim: SimServer,
) -> None:
    async with exchange_sim.admin() as admin:
        account = await open_account(rest, keys, engine, admin)
        await admin.add_fault(
            "latency",
            api_key=account.sim.api_key,
            method="POST",
            path="/api/v3/order",
            latency_ms=1200,
        )
        headers = {**account.headers, "Idempotency-Key": new_id("idem")}
        try:
            await rest.post(account.path("/orders"), json=BUY, headers=headers, timeout=0.3)
            raise AssertionError("the first attempt should have been abandoned")
        except httpx.TimeoutException:
            pass
        # At once, while the first submission is still with the exchange.
        early = await rest.post(account.path("/orders"), json=BUY, headers=headers)
        assert early.status_code == 200, early.text
        order = early.json()["order"]
        await admin.clear_faults()
        rows = await settled_orders(engine, account.subscription_id, 20)
        later = await rest.post(account.path("/orders"), json=BUY, headers=headers)
        on_exchange = await admin.orders(account.sim.api_key)

    assert [r.order_id for r in rows] == [order["order_id"]]
    assert [o["clientOrderId"] for o in on_exchange] == [order["client_order_id"]]
    assert later.status_code == 200, later.text
    assert later.json()["order"]["order_id"] == order["order_id"]
    assert later.json()["order"]["state"] == "ORDER_STATE_FILLED"
    assert Decimal(later.json()["order"]["filled_quantity"]) == QUANTITY
