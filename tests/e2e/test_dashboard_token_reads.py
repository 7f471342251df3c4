"""A dashboard token reads its principal's own subscription status and performance through
Envoy (the dashboard page shows both), and nothing more: another principal's subscription is
NOT_FOUND, as with an API key, and the token moves nothing (orders, lists outside the rule)."""

from __future__ import annotations

import httpx

from cli.launcher import Mesh
from tests.e2e.runtime_support import SimHandle, keys_of, rent_quick_bot
from tests.e2e.subscription_support import make_renter


async def _token(rest: httpx.AsyncClient, headers: dict[str, str]) -> str:
    made = await rest.post("/v1/dashboard-tokens", json={}, headers=headers)
    assert made.status_code == 200, made.text
    return str(made.json()["token"])


async def test_a_dashboard_token_reads_only_its_own_status_and_performance(
    rest: httpx.AsyncClient, mesh: Mesh, exchange_sim: object
) -> None:
    keys = await keys_of(mesh)
    renter, sid = await rent_quick_bot(rest, mesh, keys)
    stranger = await make_renter(rest, keys, SimHandle(mesh.settings.exchange_sim_url))
    own = {"x-access-token": await _token(rest, renter.headers)}
    other = {"x-access-token": await _token(rest, stranger.headers)}

    status = await rest.get(f"/v1/subscriptions/{sid}/status", headers=own)
    performance = await rest.get(f"/v1/subscriptions/{sid}/performance", headers=own)
    assert status.status_code == 200, status.text
    assert status.json()["status"]["subscription_id"] == sid
    assert performance.status_code == 200, performance.text
    assert performance.json()["performance"]["subscription_id"] == sid

    for path in ("status", "performance"):
        foreign = await rest.get(f"/v1/subscriptions/{sid}/{path}", headers=other)
        assert foreign.status_code == 404, foreign.text
        assert foreign.json()["details"][0]["reason"].endswith("NOT_FOUND")


async def test_a_dashboard_token_places_and_lists_no_orders(
    rest: httpx.AsyncClient, mesh: Mesh, exchange_sim: object
) -> None:
    keys = await keys_of(mesh)
    renter, sid = await rent_quick_bot(rest, mesh, keys)
    own = {"x-access-token": await _token(rest, renter.headers)}
    order = {"side": "ORDER_SIDE_BUY", "type": "ORDER_TYPE_MARKET", "quantity": "0.001"}
    placed = await rest.post(
        f"/v1/subscriptions/{sid}/orders",
        json=order,
        headers={**own, "idempotency-key": "dash-token-order-1"},
    )
    listed = await rest.get(f"/v1/subscriptions/{sid}/orders", headers=own)
    bad = await rest.get(
        f"/v1/subscriptions/{sid}/performance", headers={"x-access-token": "bmd_forged.mac"}
    )
    bare = await rest.get(f"/v1/subscriptions/{sid}/performance")
    assert bare.status_code == 401, bare.text
    assert placed.status_code == 401, placed.text
    assert listed.status_code == 401, listed.text
    assert bad.status_code == 401, bad.text
