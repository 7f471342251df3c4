"""With MariaDB down the mesh answers from its caches or says 503, and comes back by itself.

A mesh of its own runs against a mariadbd and a redis-server this module started on free
ports (migrated with the project's Alembic). The test stops that mariadbd, keeps calling
through Envoy for longer than the API-key cache TTL, then starts it again on the same port
without touching the mesh:
- a bot cached in Redis, read with a key the service has seen, keeps answering 200 (the key
  is served from the process cache while the database is unreachable);
- a revoked key the service has seen keeps being refused (401), never served stale;
- what needs the database (an uncached bot, a listing, a create, a key never seen) answers
  503 with reason DEPENDENCY_UNAVAILABLE naming "database" and a RetryInfo;
- no request answers any other 5xx, and a create refused during the outage wrote nothing:
  retried with its Idempotency-Key after the restart it makes exactly one bot.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cli.launcher import Mesh
from mesh.apikeys import parse_key
from tests.e2e.degraded_support import (
    is_dependency_503,
    issue,
    kind,
    start_mesh,
    until,
)
from tests.private_servers import MariaDBServer, RedisServer
from tests.support import alembic

DATABASE = "botmesh_degraded"
BOT = {
    "name": "outage rider",
    "strategy": "ma_crossover",
    "markets": ["BTC-USDT"],
    "timeframe": "1h",
    "risk_limits": {"stop_loss_pct": "0.05", "max_allocation": "500"},
}
# Longer than BOTMESH_AUTH_CACHE_TTL (2 s): keys are past their cache TTL during the outage.
OUTAGE_S = 5.0


@dataclass
class Rig:
    mesh: Mesh
    mariadb: MariaDBServer
    rest: httpx.AsyncClient


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mesh, MariaDBServer]]:
    workdir: Path = tmp_path_factory.mktemp("degraded-mariadb")
    mariadb, redis = MariaDBServer(workdir / "mariadb"), RedisServer(workdir / "redis")
    mariadb.install()
    mariadb.start()
    try:
        redis.start()
        mariadb.sql(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        migrated = alembic(mariadb.url(DATABASE), "upgrade", "head")
        assert migrated.returncode == 0, migrated.stderr
        mesh = start_mesh(
            workdir / "state", database_url=mariadb.url(DATABASE), redis_url=redis.url
        )
        try:
            yield mesh, mariadb
        finally:
            mesh.stop()
    finally:
        redis.stop()
        mariadb.stop()


@pytest.fixture
async def rig(running: tuple[Mesh, MariaDBServer]) -> AsyncIterator[Rig]:
    mesh, mariadb = running
    if mariadb.proc is None:  # a failed test left it down
        mariadb.start()
    async with httpx.AsyncClient(base_url=mesh.rest_url, timeout=15) as rest:
        yield Rig(mesh, mariadb, rest)


def h(key: str, idempotency_key: str | None = None) -> dict[str, str]:
    headers = {"x-api-key": key}
    if idempotency_key:
        headers["idempotency-key"] = idempotency_key
    return headers


async def revoke(mesh: Mesh, key: str) -> None:
    from mesh.apikey_admin import revoke_key
    from mesh.apikey_store import ApiKeyStore
    from mesh.db import make_engine

    parsed = parse_key(key)
    assert parsed is not None
    engine = make_engine(mesh.settings.database_url)
    try:
        await revoke_key(ApiKeyStore(engine), parsed.key_id)
    finally:
        await engine.dispose()


async def test_with_mariadb_down_caches_answer_the_rest_says_503_then_all_recover(
    rig: Rig,
) -> None:
    settings = rig.mesh.settings
    writer = await issue(settings, "bots:write", "read")
    reader = await issue(settings, "read")
    unseen = await issue(settings, "read")  # never used before the outage
    revoked = await issue(settings, "read")
    made = await rig.rest.post("/v1/bots", json=BOT | {"name": "cached"}, headers=h(writer))
    assert made.status_code == 200, made.text
    cached = made.json()["bot"]["bot_id"]
    warm = await rig.rest.get(f"/v1/bots/{cached}", headers=h(reader))  # into Redis
    assert warm.status_code == 200, warm.text
    other = await rig.rest.post("/v1/bots", json=BOT | {"name": "uncached"}, headers=h(writer))
    uncached = other.json()["bot"]["bot_id"]
    await revoke(rig.mesh, revoked)
    refused = await until(
        lambda: _status_is(rig.rest, f"/v1/bots/{cached}", revoked, 401), timeout_s=10
    )
    assert refused, "the revocation was never seen"

    rig.mariadb.stop()
    seen: collections.Counter[str] = collections.Counter()
    stop_at = time.monotonic() + OUTAGE_S
    while time.monotonic() < stop_at:
        got = await rig.rest.get(f"/v1/bots/{cached}", headers=h(reader))
        seen[f"cached get {kind(got)}"] += 1
        assert got.status_code == 200 and got.json()["bot"]["name"] == "cached", got.text
        denied = await rig.rest.get(f"/v1/bots/{cached}", headers=h(revoked))
        assert denied.status_code == 401, denied.text
        for what, resp in (
            ("uncached get", await rig.rest.get(f"/v1/bots/{uncached}", headers=h(reader))),
            ("list", await rig.rest.get("/v1/bots", headers=h(reader))),
            ("unseen key", await rig.rest.get(f"/v1/bots/{cached}", headers=h(unseen))),
            (
                "create",
                await rig.rest.post(
                    "/v1/bots", json=BOT | {"name": "made once"}, headers=h(writer, "once-1")
                ),
            ),
        ):
            seen[f"{what} {kind(resp)}"] += 1
            assert is_dependency_503(resp, "database"), (what, resp.status_code, resp.text)
        await asyncio.sleep(0.2)
    assert not [k for k in seen if k.endswith("5xx-other")], seen

    rig.mariadb.start()  # same port and data: the services reconnect by themselves

    async def created() -> httpx.Response | None:
        resp = await rig.rest.post(
            "/v1/bots", json=BOT | {"name": "made once"}, headers=h(writer, "once-1")
        )
        assert resp.status_code in (200, 503), resp.text
        return resp if resp.status_code == 200 else None

    first = await until(created, timeout_s=30)
    assert first is not None, "no recovery after the restart"
    again = await rig.rest.post(
        "/v1/bots", json=BOT | {"name": "made once"}, headers=h(writer, "once-1")
    )
    assert again.json()["bot"]["bot_id"] == first.json()["bot"]["bot_id"]
    rows = rig.mariadb.sql("SELECT COUNT(*) FROM bots WHERE name = 'made once'", DATABASE)
    assert rows[0][0] == 1
    for key, path in ((reader, f"/v1/bots/{uncached}"), (unseen, f"/v1/bots/{cached}")):
        resp = await rig.rest.get(path, headers=h(key))
        assert resp.status_code == 200, resp.text
    dead = {n: p.returncode for n, p in rig.mesh.processes.items() if p.poll() is not None}
    assert not dead, dead


async def _status_is(rest: httpx.AsyncClient, path: str, key: str, status: int) -> bool:
    return (await rest.get(path, headers=h(key))).status_code == status


async def test_a_hung_mariadb_costs_a_read_timeout_not_an_answer(rig: Rig) -> None:
    """SIGSTOP: connections stay open, nothing answers. The read watchdog cuts every wait, so
    what needs the database says 503 before Envoy's route timeout (a 504), and cached reads
    still answer."""
    settings = rig.mesh.settings
    writer, reader = await issue(settings, "bots:write", "read"), await issue(settings, "read")
    made = await rig.rest.post("/v1/bots", json=BOT | {"name": "hung"}, headers=h(writer))
    assert made.status_code == 200, made.text
    bot_id = made.json()["bot"]["bot_id"]
    assert (await rig.rest.get(f"/v1/bots/{bot_id}", headers=h(reader))).status_code == 200
    rig.mariadb.pause()
    try:
        listed = await rig.rest.get("/v1/bots", headers=h(reader))
        cached = await rig.rest.get(f"/v1/bots/{bot_id}", headers=h(reader))
    finally:
        rig.mariadb.resume()
    assert is_dependency_503(listed, "database"), (listed.status_code, listed.text)
    assert cached.status_code == 200, cached.text

    async def listed_again() -> bool:
        resp = await rig.rest.get("/v1/bots", headers=h(reader))
        assert resp.status_code in (200, 503), resp.text
        return resp.status_code == 200

    assert await until(listed_again, timeout_s=30)
