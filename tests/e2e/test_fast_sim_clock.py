"""A mesh whose exchange_sim runs its clock 60x (`botmesh up --sim-speed 60`): a 1-minute
candle closes every wall second, and ListCandles calls a candle closed by the exchange's
clock, not by ours. The latest candles end with the one still open; candles up to a
recent end time are all closed, though on the wall clock their minutes have not passed.

A mesh of this test's own (tests/e2e/private_mesh.py), since its clock is not the session's."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import httpx

from mesh.ids import new_id
from tests.e2e.degraded_support import issue
from tests.e2e.private_mesh import PrivateMeshes, sim_of
from tests.e2e.subscription_support import make_renter, pay, subscribe

SPEED = 60.0
MINUTE_S = 60


def opened(candle: dict[str, Any]) -> float:
    return datetime.fromisoformat(candle["open_time"].replace("Z", "+00:00")).timestamp()


async def candles(rest: httpx.AsyncClient, key: str, **params: Any) -> list[dict[str, Any]]:
    resp = await rest.get(
        "/v1/markets/BTC-USDT/candles",
        params={"timeframe": "1m", **params},
        headers={"x-api-key": key},
    )
    assert resp.status_code == 200, resp.text
    return list(resp.json()["candles"])


async def test_candles_close_by_the_exchange_clock_when_it_runs_fast(
    private_meshes: PrivateMeshes,
) -> None:
    mesh = private_meshes.start(sim_speed=SPEED)
    clock = await sim_of(mesh).clock()
    assert clock["speed"] == SPEED
    assert clock["sim_time"] > clock["server_time"]  # ahead of the wall clock already
    key = await issue(mesh.settings, "read")
    async with httpx.AsyncClient(base_url=mesh.rest_url, timeout=30) as rest:
        latest = await candles(rest, key, page_size=5)
        assert len(latest) == 5
        # The sim's minutes run ahead of ours: its open candle opened in our future.
        assert opened(latest[-1]) > time.time()
        assert [c["closed"] for c in latest] == [True, True, True, True, False]

        # Up to the open candle's start, every candle is closed, by the exchange's clock.
        end = latest[-1]["open_time"]
        bounded = await candles(rest, key, page_size=5, end_time=end)
        assert [c["open_time"] for c in bounded[1:]] == [c["open_time"] for c in latest[:-1]]
        assert all(c["closed"] for c in bounded)

        # A few wall seconds later, the candle that was open has closed and others followed.
        await asyncio.sleep(3)
        later = await candles(rest, key, page_size=5)
        assert opened(later[-1]) >= opened(latest[-1]) + 2 * MINUTE_S
        was_open = [c for c in later if c["open_time"] == latest[-1]["open_time"]]
        assert was_open and was_open[0]["closed"]
        assert [c["closed"] for c in later] == [True, True, True, True, False]


async def test_a_renter_trades_on_a_fast_clock_through_the_shared_helpers(
    private_meshes: PrivateMeshes,
) -> None:
    """Signing and order times stay on the wall clock at any speed; the support code the
    session's tests use (make_renter, subscribe, pay) takes the private mesh's sim."""
    mesh = private_meshes.start(sim_speed=SPEED)
    keys = {s: await issue(mesh.settings, s) for s in ("marketplace", "bots:write")}
    async with httpx.AsyncClient(base_url=mesh.rest_url, timeout=30) as rest:
        renter = await make_renter(rest, keys, sim_of(mesh))
        sub = await subscribe(rest, renter)
        await pay(rest, renter, sub["subscription_id"])
        order = await rest.post(
            f"/v1/subscriptions/{sub['subscription_id']}/orders",
            json={"side": "ORDER_SIDE_BUY", "type": "ORDER_TYPE_MARKET", "quantity": "0.001"},
            headers={**renter.headers, "idempotency-key": new_id("fast")},
        )
        assert order.status_code == 200, order.text
        assert order.json()["order"]["state"] == "ORDER_STATE_FILLED"
