"""The fuzzing principal's world, made through REST: a user with a verified credential, a
bot, a paid subscription with an order, and a backtest. Fuzz cases name these ids most of
the time, so they get past "not found" into the handlers' deeper paths."""

from __future__ import annotations

import os
import random
from typing import Any

import httpx

from mesh.ids import new_id
from tests.e2e.fuzz_cases import World
from tests.e2e.subscription_support import make_renter, payment

SEED_ENV = "BOTMESH_FUZZ_SEED"


def fuzz_seed() -> int:
    """The run's seed: BOTMESH_FUZZ_SEED to replay a failure, else a fresh one."""
    return int(os.environ.get(SEED_ENV) or random.SystemRandom().getrandbits(32))


async def build_world(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: Any
) -> tuple[World, str]:
    renter = await make_renter(rest, keys, exchange_sim)
    idem = {**renter.headers, "idempotency-key": ""}
    ids: dict[str, list[str]] = {
        "bot_id": [renter.bot_id],
        "credential_id": [renter.credential_id],
        "subscription_id": [],
        "order_id": [],
        "backtest_id": [],
        "after": ["0", "0-0"],
    }
    for _ in range(2):
        sub = await rest.post(
            "/v1/subscriptions",
            json={
                "bot_id": renter.bot_id,
                "credential_id": renter.credential_id,
                "market": "BTC-USDT",
                "allocation": "250",
            },
            headers={**idem, "idempotency-key": new_id("fz")},
        )
        assert sub.status_code == 200, sub.text
        sub_id = sub.json()["subscription"]["subscription_id"]
        ids["subscription_id"].append(sub_id)
        # Paid, so orders reach the exchange (refused payments leave it unpaid: still useful).
        await rest.post(
            f"/v1/subscriptions/{sub_id}/payments",
            json=payment(),
            headers={**idem, "idempotency-key": new_id("fz")},
        )
        order = await rest.post(
            f"/v1/subscriptions/{sub_id}/orders",
            json={"side": "ORDER_SIDE_BUY", "type": "ORDER_TYPE_MARKET", "quantity": "0.001"},
            headers={**idem, "idempotency-key": new_id("fz")},
        )
        if order.status_code == 200:
            ids["order_id"].append(order.json()["order"]["order_id"])
    backtest = await rest.post(
        "/v1/backtests",
        json={
            "strategy": {"name": "ma_crossover"},
            "market": "BTC-USDT",
            "timeframe": "1h",
            "start_time": "2026-10-01T00:00:00Z",
            "end_time": "2026-10-03T00:00:00Z",
            "initial_balance": "1000",
        },
        headers={"x-api-key": keys["read"], "idempotency-key": new_id("fz")},
    )
    if backtest.status_code == 200:
        ids["backtest_id"].append(backtest.json()["backtest"]["backtest_id"])
    return World(ids={k: v for k, v in ids.items() if v}), renter.principal
