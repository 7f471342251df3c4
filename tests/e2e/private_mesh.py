"""Meshes of a test's own: a scratch database, a private Redis, exchange_sim at a chosen
clock speed, replicas of the services as asked, Envoy; all started by the launcher `botmesh
up` uses. For tests that kill processes, or need candles to close fast (sim_speed=60 closes
a 1-minute candle every second), without disturbing the session's mesh."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli.launcher import Mesh
from exchange_sim import AdminClient
from exchanges.sim import sim_config
from tests.e2e.degraded_support import start_mesh
from tests.private_servers import RedisServer
from tests.support import RECV_WINDOW_MS, alembic, mariadb_url


@dataclass(frozen=True)
class SimHandle:
    """A private mesh's exchange_sim, a process of its own (its clock at the mesh's speed),
    with the helpers tests use on the session's in-process SimServer (`admin`, `base_url`,
    `ccxt_config`), so support code such as make_renter takes either."""

    base_url: str

    def admin(self) -> AdminClient:
        return AdminClient(self.base_url)

    def ccxt_config(
        self, api_key: str | None = None, api_secret: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        return sim_config("binance", self.base_url, api_key, api_secret, **extra)

    async def clock(self) -> dict[str, Any]:
        """The sim's speed, market time (sim_time) and wall time (server_time), in ms."""
        async with self.admin() as admin:
            health: dict[str, Any] = await admin.request("GET", "/admin/health")
        return health


def sim_of(mesh: Mesh) -> SimHandle:
    return SimHandle(mesh.settings.exchange_sim_url)


class PrivateMeshes:
    """Starts private meshes on demand (`start`); `stop_all` stops every one it started,
    with its Redis."""

    def __init__(self, scratch_database: Callable[[], str], workdir: Callable[[], Path]) -> None:
        self._database = scratch_database
        self._workdir = workdir
        self.started: list[Mesh] = []
        self._redis: list[RedisServer] = []

    def start(
        self,
        *,
        replicas: dict[str, int] | None = None,
        sim_speed: float | None = None,
        env: dict[str, str] | None = None,
    ) -> Mesh:
        """A running mesh of its own: `replicas` as {"trading_svc": 2}; exchange_sim's clock
        at `sim_speed` (None: real time); `env` adds BOTMESH_* settings."""
        workdir = self._workdir()
        url = mariadb_url(self._database())
        migrated = alembic(url, "upgrade", "head")
        assert migrated.returncode == 0, migrated.stderr
        redis = RedisServer(workdir / "redis")
        redis.start()
        self._redis.append(redis)
        settings = {
            "BOTMESH_EXCHANGE_TIMEOUT_MS": "2000",
            "BOTMESH_EXCHANGE_RECV_WINDOW_MS": str(RECV_WINDOW_MS),
            **(env or {}),
        }
        mesh = start_mesh(
            workdir / "state",
            database_url=url,
            redis_url=redis.url,
            replicas=replicas,
            sim_speed=sim_speed,
            env=settings,
        )
        self.started.append(mesh)
        return mesh

    def stop_all(self) -> None:
        for mesh in reversed(self.started):
            mesh.stop()
        for redis in self._redis:
            redis.stop()
        self.started.clear()
        self._redis.clear()


def served_by(mesh: Mesh, cluster: str) -> set[int]:
    """The ports of `cluster`'s replicas that answered requests, from Envoy's per-host
    counters."""
    url = f"http://127.0.0.1:{mesh.settings.envoy_admin_port}/clusters"
    with urllib.request.urlopen(url, timeout=5) as resp:
        lines = resp.read().decode().splitlines()
    ports = set()
    for line in lines:
        name, host, stat, *value = line.split("::")
        if name == cluster and stat == "rq_success" and int(value[0]) > 0:
            ports.add(int(host.rsplit(":", 1)[1]))
    return ports
