"""Concurrent orders of one subscription see each other's exposure: OrderStore.create locks
the subscription's row in trading_svc's own projection (upserted from credential_svc's
answer) before checking the allocation, so a burst through Envoy never commits more than
the allocation, and exactly as many orders as fit are placed."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from exchange_sim import SimServer
from tests.e2e.trading_support import idem, open_account

BURST = 12
# Limit buys far below the market rest open on the exchange: each reserves 0.001 * 30000
# plus the fee buffer (30.06), so three fit in 100 and a fourth does not.
ORDER = {
    "side": "ORDER_SIDE_BUY",
    "type": "ORDER_TYPE_LIMIT",
    "quantity": "0.001",
    "price": "30000",
}


async def test_a_burst_of_orders_never_exceeds_the_allocation(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    engine,  # type: ignore[no-untyped-def]
    exchange_sim: SimServer,
) -> None:
    async with exchange_sim.admin() as admin:
        account = await open_account(rest, keys, engine, admin, allocation="100")

        async def one() -> tuple[int, str]:
            resp = await rest.post(
                account.path("/orders"), json=ORDER, headers=idem(account.headers), timeout=30
            )
            body = resp.json()
            reason = next((d["reason"] for d in body.get("details", []) if "reason" in d), "placed")
            return resp.status_code, reason

        answers = Counter(await asyncio.gather(*(one() for _ in range(BURST))))
        resting = await admin.orders(account.sim.api_key)
    assert answers == {(200, "placed"): 3, (400, "ALLOCATION_EXCEEDED"): BURST - 3}, answers
    assert len(resting) == 3
