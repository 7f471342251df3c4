"""`botmesh demo` walks the README's marketplace flow through Envoy against a running mesh:
every step's request and answer printed, no secret printed, exit 1 at the first failed step;
on a fast market clock it shows the rented bot deciding by itself."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from cli.demo import DemoOptions, run_demo
from cli.launcher import Mesh
from exchange_sim import SimServer
from tests.e2e.degraded_support import issue
from tests.e2e.private_mesh import PrivateMeshes
from tests.e2e.runtime_support import start_runtime_mesh
from tests.support import run_command

ROOT = Path(__file__).resolve().parents[2]


async def _botmesh_demo(api_key: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "BOTMESH_API_KEY": api_key}
    return await run_command(
        [sys.executable, "-m", "cli.main", "demo", *args], cwd=ROOT, env=env, limit_s=180
    )


async def test_the_walk_through_runs_every_step_and_prints_no_secret(
    mesh: Mesh, issue_key, exchange_sim: SimServer
) -> None:  # type: ignore[no-untyped-def]
    _, key = await issue_key("admin", "bots:write", "marketplace", "read", name="demo")
    lines: list[str] = []
    options = DemoOptions(
        rest_url=mesh.rest_url,
        sim_url=exchange_sim.base_url,
        api_key=key,
        market="BTC-USDT",
        wait_for_bot_s=0,
    )
    ids = await run_demo(options, lines.append)
    printed = "\n".join(lines)
    assert set(ids) == {"bot", "listing", "credential", "subscription"}
    for request in (
        "POST /v1/bots",
        f"POST /v1/bots/{ids['bot']}/listings",
        "POST /v1/users",
        "POST /v1/credentials",
        f"POST /v1/credentials/{ids['credential']}:verify",
        "POST /v1/subscriptions",
        f"POST /v1/subscriptions/{ids['subscription']}/payments",
        f"POST /v1/subscriptions/{ids['subscription']}/orders",
        f"GET /v1/subscriptions/{ids['subscription']}/performance",
        "POST /v1/dashboard-tokens",
        f"GET /v1/subscriptions/{ids['subscription']}/events:stream",
        "GET /v1/markets/BTC-USDT/prices:stream",
        "POST /v1/analysis:analyze",
        "POST /v1/backtests",
        "GET /v1/backtests/",
    ):
        assert f"> {request}" in printed, request
    assert '"state":"CREDENTIAL_STATE_ACTIVE"' in printed
    assert '"state":"SUBSCRIPTION_STATE_ACTIVE"' in printed
    assert '"state":"ORDER_STATE_FILLED"' in printed
    assert printed.count('< data: {"ticker"') >= 3
    assert '"state":"BACKTEST_STATE_SUCCEEDED"' in printed
    # Secrets: the API key's secret, the exchange key and secret, the dashboard token.
    assert key.rsplit("_", 1)[1] not in printed
    account = next(a for a in exchange_sim.simulator.accounts.all() if a.api_key[-4:] in printed)
    assert account.api_secret not in printed and account.api_key not in printed
    assert "access_token=…" in printed
    assert '"token":"…' in printed


async def test_botmesh_demo_command_exits_0_after_the_walk_through(
    mesh: Mesh, issue_key, exchange_sim: SimServer
) -> None:  # type: ignore[no-untyped-def]
    _, key = await issue_key("admin", "bots:write", "marketplace", "read", name="demo cli")
    code, out, err = await _botmesh_demo(key, "--url", mesh.rest_url, "--wait-for-bot", "0")
    assert code == 0, out + err
    assert "demo complete:" in out
    assert key not in out + err


async def test_botmesh_demo_stops_at_the_first_failed_step(mesh: Mesh) -> None:
    code, out, err = await _botmesh_demo("bm_nosuchkey_notasecret", "--url", mesh.rest_url)
    assert code == 1
    assert "demo FAILED: POST /v1/bots answered 401" in err
    assert "API_KEY_INVALID" in err
    assert "POST /v1/users" not in out
    assert "notasecret" not in out + err


@pytest.mark.parametrize("url", ["http://127.0.0.1:9"])
async def test_botmesh_demo_says_when_the_mesh_is_not_running(url: str) -> None:
    code, _, err = await _botmesh_demo("bm_x_y", "--url", url)
    assert code == 1
    assert "cannot reach the mesh" in err


async def test_on_a_fast_clock_the_demo_shows_the_bot_deciding_by_itself(
    private_meshes: PrivateMeshes,
) -> None:
    mesh = start_runtime_mesh(private_meshes)
    key = await issue(mesh.settings, "admin", "bots:write", "marketplace", "read")
    lines: list[str] = []
    options = DemoOptions(
        rest_url=mesh.rest_url,
        sim_url=mesh.settings.exchange_sim_url,
        api_key=key,
        wait_for_bot_s=60,
    )
    await run_demo(options, lines.append)
    printed = "\n".join(lines)
    assert "  the bot decided: {" in printed
    assert '"outcome":' in printed.split("the bot decided:")[1].splitlines()[0]
