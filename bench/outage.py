"""The outage drill: a steady mix of requests through Envoy while Redis (or MariaDB) is down
for 10 s, then restarted on the same port; the mesh is never restarted.

    .venv/bin/python bench/outage.py                    # the Redis drill, then the MariaDB one
    .venv/bin/python bench/outage.py --only redis --outage 10 --workers 8

Starts its own redis-server and mariadbd on free ports (tests/private_servers.py) and its own
mesh (services + Envoy) on them, like the e2e tests. The mix, per worker in turn: GetBot of a
bot read before the outage (cached), GetBot of one never read, ListBots, CreateBot with an
Idempotency-Key, UpdateBot. Reports, for the outage window and for the whole run, answers by
class (2xx, 4xx, 503, 5xx-other), and the time from the dependency accepting connections
again to the last non-2xx answer (full recovery).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]

import httpx  # noqa: E402

from cli.launcher import Mesh  # noqa: E402
from tests.e2e.degraded_support import issue, kind, start_mesh  # noqa: E402
from tests.private_servers import MariaDBServer, RedisServer  # noqa: E402
from tests.support import alembic  # noqa: E402

DATABASE = "botmesh_outage"
BOT = {
    "name": "drill",
    "strategy": "ma_crossover",
    "markets": ["BTC-USDT"],
    "timeframe": "1h",
    "risk_limits": {"stop_loss_pct": "0.05", "max_allocation": "500"},
}


@dataclass
class Tally:
    outage: collections.Counter[str] = field(default_factory=collections.Counter)
    total: collections.Counter[str] = field(default_factory=collections.Counter)
    by_request: collections.Counter[str] = field(default_factory=collections.Counter)
    down_at: float = 0.0
    up_at: float = 0.0  # when the dependency accepted connections again
    last_failure: float = 0.0  # when the last non-2xx answer (sent after up_at) arrived
    restart_s: float = 0.0  # from starting the dependency to it accepting connections

    def record(self, what: str, sent: float, cls: str) -> None:
        self.total[cls] += 1
        if self.down_at and sent >= self.down_at and (not self.up_at or sent < self.up_at):
            self.outage[cls] += 1
            self.by_request[f"{what} {cls}"] += 1
        if self.up_at and sent >= self.up_at and cls != "2xx":
            self.last_failure = time.monotonic()


async def worker(
    rest: httpx.AsyncClient, n: int, bots: list[str], writer: str, tally: Tally, stop: asyncio.Event
) -> None:
    h = {"x-api-key": writer}
    for i in itertools.count():
        if stop.is_set():
            return
        sent = time.monotonic()
        try:
            what, resp = await one_request(rest, n, i, bots, h)
        except httpx.HTTPError as exc:  # counted, never hidden
            tally.record("transport", sent, f"error {type(exc).__name__}")
            continue
        tally.record(what, sent, kind(resp))
        await asyncio.sleep(0.02)


async def one_request(
    rest: httpx.AsyncClient, n: int, i: int, bots: list[str], h: dict[str, str]
) -> tuple[str, httpx.Response]:
    step = i % 5
    if step == 0:
        return "get-cached", await rest.get(f"/v1/bots/{bots[0]}", headers=h)
    if step == 1:
        bot_id = bots[1 + (n * 1000 + i) % (len(bots) - 1)]
        return "get-other", await rest.get(f"/v1/bots/{bot_id}", headers=h)
    if step == 2:
        return "list", await rest.get("/v1/bots", params={"page_size": 10}, headers=h)
    if step == 3:
        return "create", await rest.post(
            "/v1/bots", json=BOT, headers=h | {"idempotency-key": f"drill-{n}-{i}"}
        )
    return "update", await rest.patch(
        f"/v1/bots/{bots[1 + n]}",
        params={"update_mask": "description"},
        json={"description": f"update {i}"},
        headers=h,
    )


async def drill(
    mesh: Mesh, stop_dep: object, start_dep: object, outage_s: float, workers: int
) -> Tally:
    writer = await issue(mesh.settings, "bots:write", "read")
    tally = Tally()
    async with httpx.AsyncClient(base_url=mesh.rest_url, timeout=15) as rest:
        bots = []
        for _ in range(workers + 20):
            made = await rest.post("/v1/bots", json=BOT, headers={"x-api-key": writer})
            assert made.status_code == 200, made.text
            bots.append(made.json()["bot"]["bot_id"])
        warm = await rest.get(f"/v1/bots/{bots[0]}", headers={"x-api-key": writer})
        assert warm.status_code == 200, warm.text
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(worker(rest, n, bots, writer, tally, stop)) for n in range(workers)
        ]
        await asyncio.sleep(3)  # steady state
        tally.down_at = time.monotonic()
        await asyncio.to_thread(stop_dep)  # type: ignore[arg-type]
        await asyncio.sleep(outage_s)
        restarting = time.monotonic()
        await asyncio.to_thread(start_dep)  # type: ignore[arg-type]
        tally.up_at = time.monotonic()
        tally.restart_s = tally.up_at - restarting
        await asyncio.sleep(10)  # recovery window
        stop.set()
        await asyncio.gather(*tasks)
    return tally


def report(name: str, tally: Tally, outage_s: float) -> None:
    recovery = max(0.0, tally.last_failure - tally.up_at) if tally.last_failure else 0.0
    print(f"== {name} down for {outage_s:.0f} s (its restart took {tally.restart_s:.2f} s)")
    print(f"   sent during the outage: {dict(sorted(tally.outage.items()))}")
    print(f"   by request:             {dict(sorted(tally.by_request.items()))}")
    print(f"   whole run:              {dict(sorted(tally.total.items()))}")
    print(f"   full recovery {recovery:.2f} s after {name} accepted connections again")


def redis_drill(workdir: Path, outage_s: float, workers: int) -> None:
    mariadb, redis = MariaDBServer(workdir / "mariadb"), RedisServer(workdir / "redis")
    mesh = None
    try:
        url = _database(mariadb)
        redis.start()
        mesh = start_mesh(workdir / "state-redis", database_url=url, redis_url=redis.url)
        tally = asyncio.run(drill(mesh, redis.stop, redis.start, outage_s, workers))
        report("Redis", tally, outage_s)
    finally:
        if mesh is not None:
            mesh.stop()
        redis.stop()
        mariadb.stop()


def mariadb_drill(workdir: Path, outage_s: float, workers: int) -> None:
    mariadb, redis = MariaDBServer(workdir / "mariadb2"), RedisServer(workdir / "redis2")
    mesh = None
    try:
        url = _database(mariadb)
        redis.start()
        mesh = start_mesh(workdir / "state-mariadb", database_url=url, redis_url=redis.url)
        tally = asyncio.run(drill(mesh, mariadb.stop, mariadb.start, outage_s, workers))
        report("MariaDB", tally, outage_s)
    finally:
        if mesh is not None:
            mesh.stop()
        redis.stop()
        mariadb.stop()


def _database(mariadb: MariaDBServer) -> str:
    mariadb.install()
    mariadb.start()
    mariadb.sql(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    url = mariadb.url(DATABASE)
    migrated = alembic(url, "upgrade", "head")
    if migrated.returncode != 0:
        raise RuntimeError(migrated.stderr)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["redis", "mariadb"])
    parser.add_argument("--outage", type=float, default=10.0, help="seconds down")
    parser.add_argument("--workers", type=int, default=8, help="concurrent callers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="botmesh-outage-") as tmp:
        if args.only in (None, "redis"):
            redis_drill(Path(tmp), args.outage, args.workers)
        if args.only in (None, "mariadb"):
            mariadb_drill(Path(tmp), args.outage, args.workers)


if __name__ == "__main__":
    main()
