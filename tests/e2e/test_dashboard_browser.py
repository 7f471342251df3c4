"""The dashboard page in a real browser (headless Chromium), against a private mesh whose
rented bot trades by itself on exchange_sim's fast clock.

The page is served from a second local origin, which the mesh's CORS list names, as a
marketplace frontend on an ICP asset canister would be: it opens both SSE streams through
Envoy with a dashboard token and shows live ticks and the bot's trade with no console error;
the time from page open to the first tick and to the first fill is printed. When the
streams break (the trading service is killed and comes back) it reconnects by itself and
resumes after its cursor: the events it shows are exactly the stream's, none lost, none
twice. The same page served by Envoy itself works too. A page of an origin not on the list
is refused by the browser: its fetch fails and its EventSource closes unopened, while the
listed origin, in the same run, reads both. A tab's token never follows a link that names
another gateway. Screenshots are kept under .artifacts/browser/.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.e2e import browser_support as browser
from tests.e2e.private_mesh import PrivateMeshes
from tests.e2e.runtime_support import RUNTIME_ENV, SIM_SPEED, keys_of, pay_for, rent_quick_bot

pytestmark = pytest.mark.skipif(
    browser.chromium() is None, reason="needs Debian's chromium (tools/ensure_chromium.sh)"
)
TIMEOUT_MS = 150_000
MORE_EVENTS_AFTER_RESUME = 3


async def _stream_cursors(api: str, sid: str, token: str, want: int) -> list[str]:
    """The first `want` event ids of the subscription's stream, read from its start."""
    ids: list[str] = []
    params = {"after": "0", "access_token": token}
    async with (
        httpx.AsyncClient(base_url=api, timeout=30) as http,
        http.stream("GET", f"/v1/subscriptions/{sid}/events:stream", params=params) as resp,
    ):
        assert resp.status_code == 200
        async for line in resp.aiter_lines():
            if line.startswith("data: ") and '"event"' in line:
                ids.append(json.loads(line[6:])["event"]["event_id"])
                if len(ids) >= want:
                    break
    return ids


def _no_errors(result: dict[str, Any]) -> None:
    assert result["errors"] == [], result["errors"]
    assert result["exceptions"] == [], result["exceptions"]


async def test_the_dashboard_shows_live_ticks_and_the_bots_trades_across_origins(
    private_meshes: PrivateMeshes,
) -> None:
    # Both origins are bound before the mesh starts, so no process of it can take their ports.
    with browser.other_origin() as site, browser.other_origin() as stranger:
        await _across_origins(private_meshes, site, stranger)


async def _across_origins(private_meshes: PrivateMeshes, site: str, stranger: str) -> None:
    env = {**RUNTIME_ENV, "BOTMESH_CORS_ORIGINS": site}
    mesh = private_meshes.start(sim_speed=SIM_SPEED, env=env)
    api = f"http://127.0.0.1:{mesh.settings.envoy_port}"
    browser.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    keys = await keys_of(mesh)
    rest = httpx.AsyncClient(base_url=mesh.rest_url, timeout=30)
    renter, sid = await rent_quick_bot(rest, mesh, keys, pay=False)
    made = await rest.post("/v1/dashboard-tokens", json={}, headers=renter.headers)
    assert made.status_code == 200, made.text
    token = made.json()["token"]

    query = urlencode({"token": token, "subscription": sid, "api": api})
    shots = [browser.ARTIFACTS / f"dashboard-{n}.png" for n in ("live", "resumed")]
    driver = await browser.Driver.start(
        mode="dashboard",
        url=f"{site}/index.html?{query}",
        timeoutMs=TIMEOUT_MS,
        phases=[
            {"waitFor": ["firstTickMs"]},
            {"waitFor": ["firstFillMs"], "screenshot": str(shots[0])},
            {"more": MORE_EVENTS_AFTER_RESUME, "reopened": 2, "screenshot": str(shots[1])},
        ],
    )
    try:
        ticking = await driver.read()
        _no_errors(ticking)
        assert "token" not in ticking["address"], "the token leaves the address bar"
        # The page is open and ticking; the renter pays, and the bot starts trading.
        await pay_for(rest, renter, sid)
        await driver.say("paid")
        live = await driver.read()
        _no_errors(live)
        timings = live["timings"]
        print(
            f"\ndashboard (cross-origin): page open -> first tick {timings['firstTickMs']} ms,"
            f" -> first order event {timings['firstOrderMs']} ms,"
            f" -> first fill (trade) event {timings['firstFillMs']} ms"
            f" (paid at about {ticking['timings']['firstTickMs']} ms and later);"
            f" screenshots {shots[0]} {shots[1]}"
        )
        assert live["state"] == "running" and "equity" in live["performance"]
        assert int(live["opened"]["performanceReads"]) >= 1, "GetPerformance read"

        # Break both streams: the trading service dies, and comes back.
        trading = mesh.plan["trading_svc"][0].name
        mesh.kill(trading)
        mesh.start_replica(trading)
        await driver.say("broken")
        resumed = await driver.read()
    finally:
        await driver.close()
        await rest.aclose()
    assert resumed["exceptions"] == []
    shown = list(reversed(resumed["cursors"]))
    assert len(shown) == len(set(shown)), "no event shown twice"
    assert shown == await _stream_cursors(api, sid, token, len(shown)), "none lost"

    own = await browser.run(
        mode="dashboard",
        url=f"{api}/dashboard/?{urlencode({'token': token, 'subscription': sid})}",
        timeoutMs=TIMEOUT_MS,
        phases=[
            {
                "waitFor": ["firstTickMs", "firstFillMs"],
                "screenshot": str(browser.ARTIFACTS / "dashboard-same-origin.png"),
            }
        ],
    )
    _no_errors(own)
    print(f"dashboard (served by Envoy): first tick {own['timings']['firstTickMs']} ms")

    probe = {
        "mode": "probe",
        "ticker": f"{api}/v1/markets/BTC-USDT/ticker",
        "stream": f"{api}/v1/markets/BTC-USDT/prices:stream?access_token={token}",
        "timeoutMs": 20_000,
    }
    allowed = await browser.run(url=f"{site}/style.css", **probe)
    refused = await browser.run(url=f"{stranger}/style.css", **probe)
    # The listed origin reads the answers (a 401 without a key is still readable) ...
    assert allowed["fetched"] == {"status": 401}
    assert "data" in allowed["streamed"], allowed
    # ... an unlisted one gets nothing: a network error, an EventSource closed unopened.
    assert "refused" in refused["fetched"], refused
    assert refused["streamed"] == {"error": True, "readyState": 2}, refused
    assert any("CORS" in e for e in refused["errors"]), refused["errors"]


def _token_shaped(name: str) -> str:
    """A string the page takes for a dashboard token, expiring in an hour."""
    payload = json.dumps({"sub": name, "exp": int(time.time()) + 3600}).encode()
    return f"bmd_{base64.urlsafe_b64encode(payload).decode().rstrip('=')}.{name}mac"


async def test_a_link_naming_another_gateway_never_gets_the_tabs_token() -> None:
    """A tab holding a dashboard token is sent (a crafted link, a redirect) to the page again,
    naming another host as its gateway (api=): the page finds no token for that host, asks for
    one, and sends the host nothing. Only a token given with the link itself goes there, as
    the control shows. The page logic alone is under test: no mesh is needed."""
    held, given = _token_shaped("held"), _token_shaped("given")
    with browser.other_origin() as site, browser.recorder() as (elsewhere, seen):
        own = urlencode({"token": held, "subscription": "s1", "api": site})
        crafted = urlencode({"subscription": "s1", "api": elsewhere})
        steered = await browser.run(
            mode="relink",
            urls=[f"{site}/index.html?{own}", f"{site}/index.html?{crafted}"],
            settleMs=1500,
        )
        assert "open this page with ?token" in steered["connection"], steered
        assert seen == [], "the other host was sent nothing"

        control = urlencode({"token": given, "subscription": "s1", "api": elsewhere})
        await browser.run(mode="relink", urls=[f"{site}/index.html?{control}"], settleMs=1500)
    assert any(given in request for request in seen), "the control reached the other host"
    assert not any(held in request for request in seen)
