"""Two credential_svc processes behind Envoy (`botmesh up --replicas credential=2`): GetBot
through Envoy is served by both, and a bot updated through one is read new through the other
at once (each process's near cache is invalidated over Redis pub/sub). The gateway runs the
worker count BOTMESH_ENVOY_CONCURRENCY asks for.

A mesh of this test's own (tests/e2e/private_mesh.py)."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx

from tests.e2e.degraded_support import issue
from tests.e2e.private_mesh import PrivateMeshes, served_by

READS = 40


def command_line(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


async def names_read(rest: httpx.AsyncClient, key: str, bot_id: str, n: int) -> set[str]:
    names = set()
    for _ in range(n):
        resp = await rest.get(f"/v1/bots/{bot_id}", headers={"x-api-key": key})
        assert resp.status_code == 200, resp.text
        names.add(resp.json()["bot"]["name"])
    return names


async def test_getbot_is_served_by_both_credential_replicas_and_updates_reach_both(
    private_meshes: PrivateMeshes,
) -> None:
    mesh = private_meshes.start(
        replicas={"credential_svc": 2}, env={"BOTMESH_ENVOY_CONCURRENCY": "1"}
    )
    first, second = mesh.plan["credential_svc"]
    assert (first.name, second.name) == ("credential_svc-0", "credential_svc-1")
    author = await issue(mesh.settings, "bots:write")
    reader = await issue(mesh.settings, "read")
    async with httpx.AsyncClient(base_url=mesh.rest_url, timeout=30) as rest:
        created = await rest.post(
            "/v1/bots",
            json={
                "name": "before",
                "strategy": "ma_crossover",
                "markets": ["BTC-USDT"],
                "timeframe": "1h",
            },
            headers={"x-api-key": author, "idempotency-key": secrets.token_hex(8)},
        )
        assert created.status_code == 200, created.text
        bot_id = created.json()["bot"]["bot_id"]
        # Both processes read it once and keep it in their near caches.
        assert await names_read(rest, reader, bot_id, READS) == {"before"}
        assert served_by(mesh, "credential_svc") == {first.port, second.port}

        updated = await rest.patch(
            f"/v1/bots/{bot_id}",
            params={"update_mask": "name"},
            json={"name": "after"},
            headers={"x-api-key": author, "idempotency-key": secrets.token_hex(8)},
        )
        assert updated.status_code == 200, updated.text
        # The update ran on one process; neither answers the old name any more.
        assert await names_read(rest, reader, bot_id, READS) == {"after"}

    envoy = command_line(mesh.processes["envoy"].pid)
    assert envoy[envoy.index("--concurrency") + 1] == "1"
