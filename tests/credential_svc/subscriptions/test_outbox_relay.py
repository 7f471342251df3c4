"""The outbox relay against a real MariaDB database (migrated, of this test's own) and a
private redis-server (started, stopped and restarted here by pid): every committed row
reaches the stream exactly once and in each subscription's order, whether the relay is
killed between its XADD and its mark, Redis is down for a while, or two relays run at once.

Rows are written by the real writer (`events.record` in an `outbox.begin` transaction), for
synthetic subscriptions whose update_time grows with each change, as the stores write them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from cli.launcher import mesh_env
from credential_svc.subscriptions import events, outbox
from credential_svc.subscriptions.model import ACTIVE, SubscriptionRecord
from credential_svc.subscriptions.relay import Relay
from credential_svc.tables import change_outbox
from mesh.db import make_engine, utcnow
from mesh.redis import make_redis
from mesh.settings import ROOT
from tests.e2e.outbox_support import check_contract, stream_entries
from tests.private_servers import RedisServer
from tests.support import alembic, mariadb_url


@pytest.fixture
async def database(scratch_database) -> AsyncIterator[tuple[str, AsyncEngine]]:  # type: ignore[no-untyped-def]
    url = mariadb_url(scratch_database())
    migrated = alembic(url, "upgrade", "head")
    assert migrated.returncode == 0, migrated.stderr
    engine = make_engine(url)
    yield url, engine
    await engine.dispose()


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


class Writer:
    """Commits changes of `subs` subscriptions round-robin, as the stores do."""

    def __init__(self, engine: AsyncEngine, subs: int) -> None:
        self.engine = engine
        start = utcnow()
        self.subs = [
            SubscriptionRecord(
                subscription_id=f"sub_outbox_{i}",
                user_id="usr_outbox",
                bot_id="bot_outbox",
                credential_id=f"cred_outbox_{i}",
                market="BTC-USDT",
                allocation=Decimal(100),
                risk_overrides={},
                state=ACTIVE,
                paid_until=None,
                create_time=start,
                update_time=start,
            )
            for i in range(subs)
        ]
        self.written = 0

    async def write(self, changes: int) -> None:
        for _ in range(changes):
            i = self.written % len(self.subs)
            sub = self.subs[i]
            sub = self.subs[i] = sub.__class__(
                **{**sub.__dict__, "update_time": sub.update_time + timedelta(microseconds=1)}
            )
            async with outbox.begin(self.engine) as conn:
                await events.record(conn, "paused", sub)
            self.written += 1


async def row_ids(engine: AsyncEngine) -> tuple[list[int], int]:
    """(every row's id, how many are unpublished)."""
    async with engine.connect() as conn:
        ids = list((await conn.execute(sa.select(change_outbox.c.outbox_id))).scalars())
        pending = (
            await conn.execute(
                sa.select(sa.func.count()).where(change_outbox.c.publish_time.is_(None))
            )
        ).scalar_one()
    return ids, int(pending)


async def assert_each_row_once(engine: AsyncEngine, redis_url: str) -> list[dict[str, str]]:
    redis = aioredis.Redis.from_url(redis_url)
    try:
        entries = await stream_entries(redis)
    finally:
        await redis.aclose()
    check_contract(entries)  # each outbox id once, versions increasing per subscription
    ids, pending = await row_ids(engine)
    assert pending == 0
    assert sorted(int(e["outbox_id"]) for e in entries) == sorted(ids)
    return entries


async def test_a_row_in_the_stream_but_not_marked_is_only_marked(database, redis_server) -> None:  # type: ignore[no-untyped-def]
    _, engine = database
    await Writer(engine, 2).write(5)
    redis = make_redis(redis_server.url)
    relay = Relay(engine, redis)
    # The crash point: the batch's XADDs ran, its marks never committed.
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(change_outbox))).all()
    assert await relay._publish(rows) == 5
    assert (await row_ids(engine))[1] == 5
    assert await relay.drain() == 0  # found in the stream: marked, not published again
    await redis.aclose()
    assert len(await assert_each_row_once(engine, redis_server.url)) == 5


async def test_redis_down_rows_wait_and_go_out_once_when_it_is_back(
    database, redis_server, caplog
) -> None:  # type: ignore[no-untyped-def]
    _, engine = database
    writer = Writer(engine, 3)
    redis = make_redis(redis_server.url)
    relay = Relay(engine, redis, poll_s=0.05)
    task = asyncio.create_task(relay.run())
    try:
        await writer.write(6)
        await until_drained(engine)
        redis_server.stop()
        with caplog.at_level(logging.WARNING, logger="botmesh.subscriptions"):
            await writer.write(9)  # committed while the relay cannot publish
            await asyncio.sleep(1.5)
            assert (await row_ids(engine))[1] == 9  # they wait in the outbox
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, warnings  # once per outage, not once per attempt
        assert "sub_outbox" not in caplog.text and "cred_outbox" not in caplog.text
        redis_server.start()  # an empty Redis on the same port
        await until_drained(engine, within_s=15)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await redis.aclose()
    redis_check = aioredis.Redis.from_url(redis_server.url)
    try:
        after_restart = await stream_entries(redis_check)
    finally:
        await redis_check.aclose()
    check_contract(after_restart)
    assert len(after_restart) == 9  # the restart lost the first 6 with the stream


async def until_drained(engine: AsyncEngine, within_s: float = 10.0) -> None:
    for _ in range(int(within_s / 0.05)):
        if (await row_ids(engine))[1] == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"outbox not drained within {within_s}s")


class RelayProcess:
    def __init__(self, database_url: str, redis_url: str, batch: int, log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.credential_svc.subscriptions.relay_runner",
                 database_url, redis_url, str(batch)],
                env=mesh_env(), cwd=ROOT, stdout=out, stderr=out, start_new_session=True,
            )  # fmt: skip

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def batches(folder: Path) -> tuple[int, int]:
    """(rows settled, rows published) over every batch the relay processes logged (each
    in a log of its own: two writers would interleave their lines)."""
    settled = published = 0
    for log in folder.glob("relay-*.log"):
        for line in log.read_text().splitlines():
            if line.startswith("batch "):
                s, p = line.split()[1:]
                settled, published = settled + int(s), published + int(p)
    return settled, published


@pytest.mark.parametrize("relays", [1, 2], ids=["one-relay", "two-relays"])
async def test_relays_killed_at_random_points_publish_every_row_once_in_order(
    database, redis_server, tmp_path: Path, relays: int
) -> None:  # type: ignore[no-untyped-def]
    """Changes flow while relay processes are SIGKILLed again and again (one at a time, or
    two racing); the stream ends with every row exactly once, in each subscription's order."""
    url, engine = database
    writer = Writer(engine, 7)
    rng = random.Random(relays)

    stop = asyncio.Event()

    async def keep_writing() -> None:
        while not stop.is_set():
            await writer.write(5)
            await asyncio.sleep(0.005)

    flow = asyncio.create_task(keep_writing())
    try:
        started = 0
        # At least 15 kills, and on until one is seen to have landed between an XADD and
        # its mark (a later batch found rows already in the stream): the test's premise.
        for cycle in range(60):
            settled, published = batches(tmp_path)
            if cycle >= 15 and settled > published:
                break
            running = [
                RelayProcess(url, redis_server.url, 4, tmp_path / f"relay-{started + n}.log")
                for n in range(relays)
            ]
            started += relays
            await asyncio.sleep(rng.uniform(0.8, 1.8))  # start-up takes about 0.7 s
            for process in running:
                process.kill()
    finally:
        stop.set()
        await flow
    settled, published = batches(tmp_path)
    redis = make_redis(redis_server.url)
    relay = Relay(engine, redis)
    try:
        while (step := await relay.relay_batch()).settled:
            settled, published = settled + step.settled, published + step.published
    finally:
        await redis.aclose()
    entries = await assert_each_row_once(engine, redis_server.url)
    assert len(entries) == writer.written
    # The premise: kills did land between an XADD and its mark, so later batches found
    # rows already in the stream (and only marked them).
    found = settled - published
    assert found > 0
    print(f"{relays} relay(s): {writer.written} rows, {found} found already published")


async def test_a_relay_cancelled_at_random_awaits_publishes_every_row_once_in_order(
    database, redis_server
) -> None:  # type: ignore[no-untyped-def]
    """In-process: the relay task is cancelled (as at shutdown) at random points while
    changes flow, and started again, many times over one engine and one Redis pool."""
    _, engine = database
    writer = Writer(engine, 5)
    redis = make_redis(redis_server.url)
    rng = random.Random(7)
    try:
        for _ in range(60):
            relay = asyncio.create_task(Relay(engine, redis, batch=3).run())
            await writer.write(rng.randint(1, 6))
            await asyncio.sleep(rng.uniform(0, 0.02))
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay
        await Relay(engine, redis).drain()
    finally:
        await redis.aclose()
    entries = await assert_each_row_once(engine, redis_server.url)
    assert len(entries) == writer.written
