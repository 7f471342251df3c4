"""A private mesh whose bots trade by themselves on exchange_sim's fast clock (60x: a
1-minute candle closes every second), and a renter of a quick bot in it, all through Envoy
as the marketplace does it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from cli.launcher import Mesh
from exchange_sim.admin import AdminClient
from tests.e2e.degraded_support import issue
from tests.e2e.private_mesh import PrivateMeshes
from tests.e2e.subscription_support import Renter, make_renter, payment
from tests.e2e.vault_support import make_listing

SIM_SPEED = 60.0
RUNTIME_ENV = {
    "BOTMESH_RUNTIME_ENABLED": "true",
    "BOTMESH_RUNTIME_POLL_S": "0.2",
    "BOTMESH_RUNTIME_RECLAIM_IDLE_MS": "3000",
    "BOTMESH_RUNTIME_LOCK_TTL_MS": "3000",
}
# Crosses often on the sim's random walk: a decision to act every few candles.
QUICK_BOT: dict[str, Any] = {
    "name": "quick crossover",
    "strategy": "ma_crossover",
    "strategy_params": {"fast": "2", "slow": "3"},
    "markets": ["BTC-USDT"],
    "timeframe": "1m",
    "stake": {"fixed_quote": "40"},
}


class SimHandle:
    """exchange_sim started by the launcher, as make_renter wants it."""

    def __init__(self, url: str) -> None:
        self._url = url

    def admin(self) -> AdminClient:
        return AdminClient(self._url)


def start_runtime_mesh(
    meshes: PrivateMeshes, sim_speed: float = SIM_SPEED, **replicas: int
) -> Mesh:
    return meshes.start(
        sim_speed=sim_speed, env=RUNTIME_ENV, replicas={k: v for k, v in replicas.items()}
    )


async def keys_of(mesh: Mesh) -> dict[str, str]:
    return {
        scope: await issue(mesh.settings, scope) for scope in ("marketplace", "bots:write", "read")
    }


async def rent_quick_bot(
    rest: httpx.AsyncClient,
    mesh: Mesh,
    keys: dict[str, str],
    bot: dict[str, Any] | None = None,
    allocation: str = "250",
    *,
    pay: bool = True,
) -> tuple[Renter, str]:
    """A renter of a freshly published quick bot, subscribed and paid (unless `pay` is
    False: then pay_for() starts it): (renter, sub id)."""
    renter = await make_renter(rest, keys, SimHandle(mesh.settings.exchange_sim_url))
    published = await rest.post(
        "/v1/bots", json=bot or QUICK_BOT, headers={"x-api-key": keys["bots:write"]}
    )
    assert published.status_code == 200, published.text
    bot_id = published.json()["bot"]["bot_id"]
    listing = await make_listing(rest, keys["bots:write"], bot_id)
    sub = await rest.post(
        "/v1/subscriptions",
        json={
            "bot_id": bot_id,
            "listing_id": listing["listing_id"],
            "credential_id": renter.credential_id,
            "market": "BTC-USDT",
            "allocation": allocation,
        },
        headers=renter.headers,
    )
    assert sub.status_code == 200, sub.text
    sid = sub.json()["subscription"]["subscription_id"]
    if pay:
        await pay_for(rest, renter, sid)
    return renter, sid


async def pay_for(rest: httpx.AsyncClient, renter: Renter, sid: str) -> None:
    paid = await rest.post(
        f"/v1/subscriptions/{sid}/payments", json=payment(), headers=renter.headers
    )
    assert paid.status_code == 200, paid.text


async def eventually(
    check: Callable[[], Awaitable[Any]], what: str, timeout_s: float = 60.0
) -> Any:
    """Polls `check` until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.5)
