"""With Redis down the mesh answers clearly and comes back by itself.

A mesh of its own (launcher, Envoy, the three services) runs against a Redis this module
started on a free port, and a scratch database on the run's MariaDB. The test stops that
Redis, keeps calling through Envoy, then starts it again, on the same port, without touching
the mesh:
- reads that need only MariaDB answer (GetBot whether it was cached or not, ListBots,
  CreateBot), and rate limits keep working per process instead of failing closed;
- what needs Redis (UpdateBot must drop the cached copy) answers 503 with reason
  DEPENDENCY_UNAVAILABLE naming "redis" and a RetryInfo, having written nothing;
- no request answers any other 5xx;
- after the restart everything answers again, including the writes that were refused.
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from cli.launcher import Mesh
from tests.e2e.degraded_support import (
    is_dependency_503,
    issue,
    kind,
    start_mesh,
    until,
)
from tests.e2e.vault_support import new_principal, ph, register
from tests.private_servers import RedisServer
from tests.support import alembic, mariadb_url

BOT = {
    "name": "outage rider",
    "strategy": "ma_crossover",
    "markets": ["BTC-USDT"],
    "timeframe": "1h",
    "risk_limits": {"stop_loss_pct": "0.05", "max_allocation": "500"},
}


@dataclass
class Rig:
    mesh: Mesh
    redis: RedisServer
    rest: httpx.AsyncClient
    writer: str
    reader: str


@pytest.fixture(scope="module")
def running(
    scratch_database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Mesh, RedisServer]]:  # type: ignore[no-untyped-def]
    workdir: Path = tmp_path_factory.mktemp("degraded-redis")
    url = mariadb_url(scratch_database())
    migrated = alembic(url, "upgrade", "head")
    assert migrated.returncode == 0, migrated.stderr
    redis = RedisServer(workdir / "redis")
    redis.start()
    try:
        mesh = start_mesh(workdir / "state", database_url=url, redis_url=redis.url)
        try:
            yield mesh, redis
        finally:
            mesh.stop()
    finally:
        redis.stop()


@pytest.fixture
async def rig(running: tuple[Mesh, RedisServer]) -> AsyncIterator[Rig]:
    mesh, redis = running
    if redis.proc is None:  # a failed test left it down
        redis.start()
    writer = await issue(mesh.settings, "bots:write", "read")
    reader = await issue(mesh.settings, "read")
    async with httpx.AsyncClient(base_url=mesh.rest_url, timeout=15) as rest:
        yield Rig(mesh, redis, rest, writer, reader)


def h(key: str) -> dict[str, str]:
    return {"x-api-key": key}


async def create_bot(rig: Rig, name: str) -> str:
    resp = await rig.rest.post("/v1/bots", json=BOT | {"name": name}, headers=h(rig.writer))
    assert resp.status_code == 200, resp.text
    return str(resp.json()["bot"]["bot_id"])


def assert_mesh_alive(mesh: Mesh) -> None:
    dead = {name: p.returncode for name, p in mesh.processes.items() if p.poll() is not None}
    assert not dead, dead


async def test_with_redis_down_reads_answer_writes_that_need_it_say_503_then_all_recover(
    rig: Rig,
) -> None:
    cached = await create_bot(rig, "cached before the outage")
    warm = await rig.rest.get(f"/v1/bots/{cached}", headers=h(rig.reader))
    assert warm.status_code == 200, warm.text
    never_read = await create_bot(rig, "never read before the outage")

    rig.redis.stop()
    seen: collections.Counter[str] = collections.Counter()
    refused_patches = []
    for round_ in range(6):
        for bot_id, name in (
            (cached, "cached before the outage"),
            (never_read, "never read before the outage"),
        ):
            got = await rig.rest.get(f"/v1/bots/{bot_id}", headers=h(rig.reader))
            seen[f"get {kind(got)}"] += 1
            assert got.status_code == 200, got.text
            assert got.json()["bot"]["name"] == name
        missing = await rig.rest.get("/v1/bots/bot_doesnotexist", headers=h(rig.reader))
        assert missing.status_code == 404, missing.text
        listed = await rig.rest.get("/v1/bots", params={"page_size": 5}, headers=h(rig.reader))
        assert listed.status_code == 200, listed.text
        created = await rig.rest.post(
            "/v1/bots", json=BOT | {"name": f"made in the outage {round_}"}, headers=h(rig.writer)
        )
        assert created.status_code == 200, created.text
        patched = await rig.rest.patch(
            f"/v1/bots/{cached}",
            params={"update_mask": "name"},
            json={"name": f"renamed in the outage {round_}"},
            headers=h(rig.writer),
        )
        seen[f"patch {kind(patched)}"] += 1
        refused_patches.append(patched)
        await asyncio.sleep(0.3)
    assert seen == {"get 2xx": 12, "patch 503": 6}, seen
    for refused in refused_patches:
        assert is_dependency_503(refused, "redis"), refused.text
    # The refused renames wrote nothing.
    unchanged = await rig.rest.get(f"/v1/bots/{cached}", headers=h(rig.reader))
    assert unchanged.json()["bot"]["name"] == "cached before the outage"

    rig.redis.start()  # same port, empty: the services reconnect by themselves

    async def renamed() -> bool:
        resp = await rig.rest.patch(
            f"/v1/bots/{cached}",
            params={"update_mask": "name"},
            json={"name": "renamed after the outage"},
            headers=h(rig.writer),
        )
        assert resp.status_code in (200, 503), resp.text
        return resp.status_code == 200

    assert await until(renamed, timeout_s=15)
    after = await rig.rest.get(f"/v1/bots/{cached}", headers=h(rig.reader))
    assert after.status_code == 200 and after.json()["bot"]["name"] == "renamed after the outage"
    assert_mesh_alive(rig.mesh)


async def test_a_hung_redis_costs_a_timeout_not_an_answer(rig: Rig) -> None:
    """SIGSTOP: connections stay open and nothing answers. The socket timeouts end every
    wait, so reads still answer from the database and writes that need Redis say 503,
    within Envoy's route timeout (a wait without end would be a 504)."""
    bot_id = await create_bot(rig, "read while redis hangs")
    rig.redis.pause()
    try:
        got = await rig.rest.get(f"/v1/bots/{bot_id}", headers=h(rig.reader))
        patched = await rig.rest.patch(
            f"/v1/bots/{bot_id}",
            params={"update_mask": "name"},
            json={"name": "renamed while redis hangs"},
            headers=h(rig.writer),
        )
    finally:
        rig.redis.resume()
    assert got.status_code == 200, got.text
    assert got.json()["bot"]["name"] == "read while redis hangs"
    assert is_dependency_503(patched, "redis"), patched.text
    assert_mesh_alive(rig.mesh)


async def test_rate_limits_fall_back_to_each_process_while_redis_is_down(rig: Rig) -> None:
    limited = await issue(rig.mesh.settings, "read", rate_limit_per_s=3)
    rig.redis.stop()
    try:
        answers = [
            await rig.rest.get("/v1/bots", params={"page_size": 1}, headers=h(limited))
            for _ in range(12)
        ]
    finally:
        rig.redis.start()
    codes = [r.status_code for r in answers]
    # A burst of twice the rate from the local bucket, then 429s, never 503 or 500.
    assert codes[:6] == [200] * 6, codes
    assert set(codes) <= {200, 429} and 429 in codes, codes
    assert_mesh_alive(rig.mesh)


async def test_an_erasure_with_redis_down_completes(rig: Rig) -> None:
    """Nothing about a principal is kept in Redis (there is no cached resolution to drop
    any more), so an erasure needs MariaDB only: with Redis down it erases, and a replay of
    the same request answers the same."""
    market = await issue(rig.mesh.settings, "marketplace", "read")
    principal = new_principal()
    await register(rig.rest, market, principal)
    headers = ph(market, principal) | {"idempotency-key": "erase-1"}
    rig.redis.stop()
    try:
        erased = await rig.rest.delete("/v1/users/me", headers=headers)
        gone = await rig.rest.get("/v1/users/me", headers=ph(market, principal))
    finally:
        rig.redis.start()
    assert erased.status_code == 200, erased.text
    assert gone.status_code == 404, gone.text
    replayed = await rig.rest.delete("/v1/users/me", headers=headers)
    assert (replayed.status_code, replayed.content) == (200, erased.content)


async def test_a_price_stream_through_envoy_rides_out_a_redis_restart(rig: Rig) -> None:
    """One SSE stream, opened before the outage: heartbeats through it, and prices again
    after the restart (the feed retakes its lock, the hub resubscribes) on the same
    connection."""

    async def next_ticker(lines: AsyncIterator[str]) -> dict[str, str]:
        async for line in lines:
            if line.startswith("data: "):
                payload = json.loads(line[len("data: ") :])
                if "ticker" in payload:
                    return dict(payload["ticker"])
        raise AssertionError("the stream ended")

    url = "/v1/markets/BTC-USDT/prices:stream"
    async with rig.rest.stream("GET", url, headers=h(rig.reader), timeout=30) as resp:
        assert resp.status_code == 200
        lines = resp.aiter_lines()
        await asyncio.wait_for(next_ticker(lines), 20)
        stopped_at = datetime.now(UTC)
        rig.redis.stop()
        await asyncio.sleep(2)
        rig.redis.start()
        while True:
            ticker = await asyncio.wait_for(next_ticker(lines), 20)
            if datetime.fromisoformat(ticker["time"]) > stopped_at:  # not one sent before
                break
    assert ticker["market"] == "BTC-USDT" and float(ticker["last"]) > 0
    assert_mesh_alive(rig.mesh)
