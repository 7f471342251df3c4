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
from tests.e2e.subscription_support import make_renter, payment, subscribe

SEED_ENV = "BOTMESH_FUZZ_SEED"
# Multiplies the number of cases, for a longer soak: BOTMESH_FUZZ_SCALE=10.
SCALE_ENV = "BOTMESH_FUZZ_SCALE"


def fuzz_seed() -> int:
    """The run's seed: BOTMESH_FUZZ_SEED to replay a failure, else a fresh one."""
    return int(os.environ.get(SEED_ENV) or random.SystemRandom().getrandbits(32))


def fuzz_cases(normal: int) -> int:
    return normal * int(os.environ.get(SCALE_ENV) or 1)


async def build_world(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: Any
) -> tuple[World, str]:
    renter = await make_renter(rest, keys, exchange_sim)

    def idem() -> dict[str, str]:
        return {**renter.headers, "idempotency-key": new_id("fz")}

    ids: dict[str, list[str]] = {
        "bot_id": [renter.bot_id],
        "credential_id": [renter.credential_id],
        "subscription_id": [],
        "order_id": [],
        "backtest_id": [],
        "after": ["0", "0-0"],
        # A listing, where subscriptions are bound to one.
        "listing_id": [str(getattr(renter, "listing_id", ""))],
    }
    for _ in range(2):
        sub_id = (await subscribe(rest, renter))["subscription_id"]
        ids["subscription_id"].append(sub_id)
        # Paid, so orders reach the exchange (a refused payment leaves it unpaid: still useful).
        await rest.post(f"/v1/subscriptions/{sub_id}/payments", json=payment(), headers=idem())
        order = await rest.post(
            f"/v1/subscriptions/{sub_id}/orders",
            json={"side": "ORDER_SIDE_BUY", "type": "ORDER_TYPE_MARKET", "quantity": "0.001"},
            headers=idem(),
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
    real = {name: [v for v in values if v] for name, values in ids.items()}
    return World(ids={name: values for name, values in real.items() if values}), renter.principal
