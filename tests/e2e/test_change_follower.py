"""Each trading_svc process follows the subscription-change stream by itself, and keeps
following it across a Redis outage.

A trading_svc process of this test's own runs on a PRIVATE redis-server (started and stopped
here, by pid), with the run's MariaDB, credential_svc and exchange_sim. Entries are written
by credential_svc's own outbox and relay (on an outbox of the test's own, so the mesh's relay
does not take them). The process's pooled client is warmed by a real fill;
the test then watches the process close it: on an entry saying the subscription stopped, on
reconnecting after Redis came back (changes may have been missed meanwhile), and on an
entry written after the reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from cli.launcher import Mesh, free_port
from credential_svc.subscriptions.model import PAUSED
from credential_svc.subscriptions.store import _sub as subscription_of
from credential_svc.tables import subscriptions
from exchange_sim import SimServer
from tests.e2e.lifecycle_support import TradingProcess, closed_clients, place_grpc
from tests.e2e.outbox_support import publish_via_outbox
from tests.e2e.trading_support import Account, open_account

# Liveness bound for the reconnect (backoff tops out at 5 s); not a measured figure.
RECONNECT_WITHIN_S = 20.0


@dataclass
class PrivateRedis:
    port: int
    folder: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _spawn(self) -> subprocess.Popen[bytes]:
        argv = ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        return subprocess.Popen(
            [*argv, "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    async def start(self) -> None:
        self.proc = self._spawn()
        client = aioredis.Redis.from_url(self.url)
        try:
            for _ in range(100):
                with contextlib.suppress(Exception):
                    if await client.ping():
                        return
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        raise TimeoutError("private redis-server did not start")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            await asyncio.to_thread(self.proc.wait, 10)


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis(free_port(), tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def process(
    mesh: Mesh, exchange_sim: SimServer, private_redis: PrivateRedis
) -> AsyncIterator[TradingProcess]:
    running = TradingProcess.start(mesh.log_dir, BOTMESH_REDIS_URL=private_redis.url)
    try:
        await running.wait_ready()
        yield running
    finally:
        await running.stop()


async def until(condition: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within_s}s: {what}")


async def test_the_follower_closes_clients_on_changes_and_across_a_redis_outage(
    rest, keys, engine, exchange_sim: SimServer, process: TradingProcess, private_redis, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    async with exchange_sim.admin() as admin:
        account: Account = await open_account(rest, keys, engine, admin)
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(subscriptions).where(
                    subscriptions.c.subscription_id == account.subscription_id
                )
            )
        ).one()
    sub = subscription_of(row)
    closes = lambda: closed_clients(process.log, sub.credential_id)  # noqa: E731

    async def warm(attempts: int = 1) -> int:
        for attempt in range(attempts):
            try:
                assert (await place_grpc(process.target, account)).state == "FILLED"
                break
            except AssertionError as exc:
                if attempt + 1 == attempts:
                    tail = process.log.read_text(errors="replace")[-4000:]
                    raise AssertionError(tail) from exc
        return closes()

    async def announce_stopped() -> None:
        # credential_svc's own producer, on the process's Redis
        paused = sub.__class__(**{**sub.__dict__, "state": PAUSED})
        await publish_via_outbox(private_redis.url, tmp_path, "paused", paused)

    before = await warm()
    await announce_stopped()
    await until(lambda: closes() > before, 2.0, "client closed on a stop entry")

    before = await warm()
    await private_redis.stop()
    await until(
        lambda: "subscription-change stream lost" in process.log.read_text(errors="replace"),
        RECONNECT_WITHIN_S,
        "the process noticed the outage",
    )
    await private_redis.start()
    # Reconnected: entries may have been missed, so every pooled client is dropped.
    await until(lambda: closes() > before, RECONNECT_WITHIN_S, "clients dropped on reconnect")

    # The first calls after the restart may meet the shared Redis pool's dead connections
    # (recovering those is the degraded-dependency work's, not the follower's).
    before = await warm(attempts=5)
    await announce_stopped()
    await until(lambda: closes() > before, 2.0, "client closed on an entry after reconnect")
