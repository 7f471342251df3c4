"""Exactly once under faults: many market orders through Envoy while exchange_sim drops
accepted orders' answers, answers -1007 and 5xx, and delays past our timeout. Every intended
order ends as exactly one exchange order, every fill is stored once, and the account's
balances on the exchange equal the fills we recorded."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from decimal import Decimal

import httpx
import sqlalchemy as sa

from exchange_sim import SimServer
from tests.e2e.trading_support import idem, open_account, settled_orders
from trading_svc.tables import trades

ORDERS = 500
CONCURRENCY = 10
QUANTITY = Decimal("0.0001")
FUNDS = Decimal("100000")
# About a fifth of the account's requests hit a fault, reproducibly.
FAULTS = (
    {"kind": "drop_response", "method": "POST", "path": "/api/v3/order", "probability": 0.06},
    {"kind": "timeout_1007", "method": "POST", "path": "/api/v3/order", "probability": 0.05},
    {
        "kind": "latency",
        "method": "POST",
        "path": "/api/v3/order",
        "probability": 0.04,
        "latency_ms": 2600,
    },
    {"kind": "http_5xx", "probability": 0.05},
)


async def test_every_order_lands_exactly_once(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    engine,
    exchange_sim: SimServer,  # type: ignore[no-untyped-def]
) -> None:
    started = time.monotonic()
    async with exchange_sim.admin() as admin:
        account = await open_account(
            rest, keys, engine, admin, funds={"USDT": str(FUNDS)}, allocation=str(FUNDS)
        )
        for seed, fault in enumerate(FAULTS, start=1):
            await admin.add_fault(api_key=account.sim.api_key, seed=seed, **fault)  # type: ignore[arg-type]
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one() -> int:
            async with gate:
                resp = await rest.post(
                    account.path("/orders"),
                    json={
                        "side": "ORDER_SIDE_BUY",
                        "type": "ORDER_TYPE_MARKET",
                        "quantity": str(QUANTITY),
                    },
                    headers=idem(account.headers),
                    timeout=30,
                )
                return resp.status_code

        codes = Counter(await asyncio.gather(*(one() for _ in range(ORDERS))))
        rows = await settled_orders(engine, account.subscription_id, 60)
        fired = sum(int(f.get("fired", 0)) for f in await admin.faults())
        await admin.clear_faults()
        on_exchange = await admin.orders(account.sim.api_key)
        fills_on_exchange = await admin.trades(account.sim.api_key)
        balances = (await admin.account(account.sim.api_key))["balances"]

    print(
        f"\n{ORDERS} orders, {fired} faults fired, answers {dict(codes)}, "
        f"{time.monotonic() - started:.1f}s"
    )
    assert fired >= ORDERS * 0.1
    assert len(rows) == ORDERS
    states = Counter(r.state for r in rows)
    assert states == {"FILLED": ORDERS}, states
    per_client_id = Counter(o["clientOrderId"] for o in on_exchange)
    assert set(per_client_id) == {r.client_order_id for r in rows}
    assert set(per_client_id.values()) == {1}

    async with engine.connect() as conn:
        ours = (
            await conn.execute(
                sa.select(trades).where(trades.c.subscription_id == account.subscription_id)
            )
        ).all()
    assert sorted(str(t.exchange_trade_id) for t in ours) == sorted(
        str(t["id"]) for t in fills_on_exchange
    )
    for row in rows:
        assert row.filled_quantity == QUANTITY
    bought = sum(t.quantity for t in ours)
    spent = sum(t.price * t.quantity + t.fee for t in ours)
    assert Decimal(balances["BTC"]["free"]) == bought == QUANTITY * ORDERS
    assert Decimal(balances["USDT"]["free"]) + Decimal(balances["USDT"]["locked"]) == FUNDS - spent
