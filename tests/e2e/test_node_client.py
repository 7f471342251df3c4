"""The Node.js client (clients/node) speaks to the mesh through Envoy's gRPC port from the same
protos/: its smoke script creates a bot with an API key, lists bots, reads ten ticks from
StreamPrices and is refused UNAUTHENTICATED without a key, exiting non-zero on any failure."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from cli.launcher import Mesh
from exchange_sim import SimServer
from tests.support import run_command

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "node"
NODE = shutil.which("node") or "node"  # make setup needs Node.js already (buf, npm ci)


async def _smoke(mesh: Mesh, api_key: str | None, *args: str) -> tuple[int, str, str]:
    assert (CLIENT / "node_modules").is_dir(), "run `make setup` (npm ci in clients/node)"
    env = {k: v for k, v in os.environ.items() if k != "BOTMESH_API_KEY"}
    if api_key is not None:
        env["BOTMESH_API_KEY"] = api_key
    address = f"127.0.0.1:{mesh.settings.envoy_port}"
    argv = [NODE, "smoke.mjs", "--address", address, *args]
    return await run_command(argv, cwd=CLIENT, env=env, limit_s=120)


async def test_smoke_creates_lists_streams_and_is_refused_without_a_key(
    mesh: Mesh, issue_key, exchange_sim: SimServer
) -> None:  # type: ignore[no-untyped-def]
    _, key = await issue_key("bots:write", "read", name="node client")
    code, out, err = await _smoke(mesh, key, "--market", "ETH-USDT")
    assert code == 0, out + err
    assert "CreateBot with the API key\n  ok: bot_" in out
    assert out.count("  tick ") == 10
    assert "UNAUTHENTICATED (API_KEY_MISSING)" in out
    assert "smoke: all steps passed" in out
    secret = key.rsplit("_", 1)[1]
    assert secret not in out + err


async def test_smoke_fails_with_the_status_when_the_key_is_wrong(mesh: Mesh) -> None:
    code, out, err = await _smoke(mesh, "bm_nosuchkey_notasecret")
    assert code == 1
    assert "smoke FAILED: UNAUTHENTICATED" in err
    assert '"reason":"API_KEY_INVALID"' in err
    assert "notasecret" not in out + err


async def test_smoke_refuses_to_run_without_a_key(mesh: Mesh) -> None:
    code, out, err = await _smoke(mesh, None)
    assert code == 1
    assert "set BOTMESH_API_KEY" in err
    assert "- CreateBot" not in out
