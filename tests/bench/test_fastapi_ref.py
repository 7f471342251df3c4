"""The FastAPI reference that bench/getbot.py measures the mesh against does the same work:
for the same key it answers the same bot JSON as GetBot through Envoy, from the same
database, and it refuses what the mesh refuses (no key, a wrong secret, a key without a
GetBot scope, a bot that does not exist). Run under uvicorn with two workers, as measured."""

from __future__ import annotations

import os
import secrets
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bench.fastapi_ref import run as fastapi_ref
from cli.launcher import Mesh, free_port, mesh_env


@pytest.fixture(scope="module")
def reference(mesh: Mesh, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("fastapi-ref") / "uvicorn.log"
    proc = fastapi_ref.start(port, 2, mesh_env(), log)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)


async def publish(client: httpx.AsyncClient, key: str, **extra: Any) -> str:
    body = {
        "name": "reference bot",
        "strategy": "ma_crossover",
        "strategy_params": {"fast": "9", "slow": "21"},
        "markets": ["BTC-USDT", "ETH-USDT"],
        "timeframe": "1h",
        **extra,
    }
    headers = {"x-api-key": key, "idempotency-key": secrets.token_hex(8)}
    created = await client.post("/v1/bots", json=body, headers=headers)
    assert created.status_code == 200, created.text
    return str(created.json()["bot"]["bot_id"])


async def both(
    mesh: Mesh, reference: str, path: str, headers: dict[str, str]
) -> tuple[httpx.Response, httpx.Response]:
    async with httpx.AsyncClient(timeout=10) as client:
        via_mesh = await client.get(mesh.rest_url + path, headers=headers)
        via_reference = await client.get(reference + path, headers=headers)
    return via_mesh, via_reference


async def test_the_same_key_reads_the_same_bot_json_from_both(
    mesh: Mesh, reference: str, issue_key
) -> None:  # type: ignore[no-untyped-def]
    _, author = await issue_key("bots:write")
    _, reader = await issue_key("read")
    async with httpx.AsyncClient(base_url=mesh.rest_url, timeout=10) as client:
        plain = await publish(client, author)
        staked = await publish(
            client,
            author,
            description="with limits and a stake",
            risk_limits={"stop_loss_pct": "0.05", "cooldown_seconds": 60},
            stake={"fixed_quote": "100"},
            advisor_enabled=True,
        )
    for bot_id in (plain, staked):
        for _ in range(3):  # the first read fills the caches, the next ones hit them
            via_mesh, via_reference = await both(
                mesh, reference, f"/v1/bots/{bot_id}", {"x-api-key": reader}
            )
            assert via_mesh.status_code == via_reference.status_code == 200
            assert via_reference.json() == via_mesh.json()
    assert via_mesh.json()["bot"]["stake"] == {"fixed_quote": "100"}


async def test_both_refuse_what_the_mesh_refuses(mesh: Mesh, reference: str, issue_key) -> None:  # type: ignore[no-untyped-def]
    _, author = await issue_key("bots:write")
    _, reader = await issue_key("read")
    _, admin_only = await issue_key("admin")
    async with httpx.AsyncClient(base_url=mesh.rest_url, timeout=10) as client:
        bot_id = await publish(client, author)
    path = f"/v1/bots/{bot_id}"
    wrong_secret = reader[:-4] + ("aaaa" if not reader.endswith("aaaa") else "bbbb")
    cases = [
        (path, {}, 401),
        (path, {"x-api-key": "not-a-key"}, 401),
        (path, {"x-api-key": wrong_secret}, 401),
        (path, {"x-api-key": admin_only}, 403),
        ("/v1/bots/bot_doesnotexist", {"x-api-key": reader}, 404),
    ]
    for case_path, headers, status in cases:
        via_mesh, via_reference = await both(mesh, reference, case_path, headers)
        assert (via_mesh.status_code, via_reference.status_code) == (status, status), headers
