"""The bot runtime's metrics move as bots tick, decide and order, as a scrape of trading_svc
finds them (a private mesh, exchange_sim's clock at 60x: a 1-minute candle closes every
second).

Two quick crossover bots are rented: one trades, the other's stake is larger than its
allocation, so every entry it wants is blocked by the allocation cap (a risk action). The
numbers agree with each other: ticks enqueued by the leader >= ticks handled >= decisions
recorded = lag observations; bot orders were placed; and the store gauges (orders by state,
UNKNOWN orders older than a minute, exchange circuits open) are read and served.
"""

from __future__ import annotations

import httpx

from tests.e2e.metrics_support import Scrape, scrape
from tests.e2e.private_mesh import PrivateMeshes
from tests.e2e.runtime_support import (
    QUICK_BOT,
    eventually,
    keys_of,
    rent_quick_bot,
    start_runtime_mesh,
)

TOO_BIG = {**QUICK_BOT, "name": "too big a stake", "stake": {"fixed_quote": "400"}}


async def test_runtime_metrics_count_ticks_decisions_lag_risk_actions_and_orders(
    private_meshes: PrivateMeshes,
) -> None:
    mesh = start_runtime_mesh(private_meshes)
    keys = await keys_of(mesh)
    url = mesh.metrics_urls["trading_svc"]
    quiet = await scrape(url)
    assert quiet.value("botmesh_runtime_decisions_total") == 0
    assert quiet.value("botmesh_runtime_bot_orders_total") == 0

    async with httpx.AsyncClient(base_url=mesh.rest_url, timeout=30) as rest:
        await rent_quick_bot(rest, mesh, keys)
        await rent_quick_bot(rest, mesh, keys, bot=TOO_BIG, allocation="250")

    async def moved() -> Scrape | None:
        now = await scrape(url)
        capped = now.value(
            "botmesh_runtime_risk_actions_total", rule="ALLOCATION_CAP", outcome="BLOCKED"
        )
        placed = now.value("botmesh_runtime_decisions_total", outcome="ORDER_PLACED")
        refreshed = now.value("botmesh_runtime_gauges_refresh_timestamp_seconds")
        return now if capped >= 1 and placed >= 1 and refreshed else None

    now = await eventually(moved, "a bot order and an allocation-cap block", timeout_s=120)

    decisions = now.value("botmesh_runtime_decisions_total")
    handled = now.value("botmesh_runtime_ticks_total")
    enqueued = now.value("botmesh_runtime_ticks_enqueued_total")
    assert enqueued >= handled >= decisions >= 2
    assert now.value("botmesh_runtime_leader") == 1, "the lone trading_svc leads"
    assert now.value("botmesh_runtime_tick_lag_seconds_count") == decisions
    assert now.value("botmesh_runtime_tick_lag_seconds_sum") > 0
    assert now.value("botmesh_runtime_decisions_total", outcome="BLOCKED") >= 1
    filled = now.value("botmesh_runtime_bot_orders_total", side="buy", state="FILLED")
    assert filled >= 1, "exchange_sim fills a market order at once"
    assert now.value("botmesh_runtime_bot_orders_total") <= decisions
    # The store gauges: every state not yet final is reported (none is left open here).
    states = {labels["state"] for name, labels, _ in now.samples if name == "botmesh_orders"}
    assert states == {"PENDING_SUBMIT", "SUBMITTING", "UNKNOWN", "OPEN", "PARTIALLY_FILLED"}
    assert now.has("botmesh_orders_unknown_stale")
    assert now.value("botmesh_orders_unknown_stale") == 0
    assert now.value("botmesh_circuit_breakers_open", breaker="exchange_account") == 0
    assert now.has("botmesh_circuit_breakers_open")
