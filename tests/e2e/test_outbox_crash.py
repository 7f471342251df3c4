"""A crash between commit and relay loses no subscription change and doubles none.

A credential_svc process of this test's own (started and SIGKILLed by pid) runs on a MariaDB
database and a redis-server of its own, so the mesh's relay never sees its outbox. Changes
are made over gRPC, as a marketplace would through Envoy. First Redis is stopped: the RPCs
still succeed, their rows wait in the outbox, one warning names no principal, and the
process is killed with them unpublished. Then, with Redis back, changes are made in bursts
and the process is killed as soon as the last answer arrives, however far its relay got.
After each crash a new process starts; every committed change ends up in the stream exactly
once, in each subscription's order.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from botmesh.credential.v1 import credential_service_pb2 as capi
from botmesh.credential.v1 import credential_service_pb2_grpc as crpc
from botmesh.credential.v1 import marketplace_service_pb2 as mapi
from botmesh.credential.v1 import marketplace_service_pb2_grpc as mrpc
from botmesh.credential.v1 import subscription_service_pb2 as sapi
from botmesh.credential.v1 import subscription_service_pb2_grpc as srpc
from google.protobuf import json_format
from sqlalchemy.ext.asyncio import AsyncEngine

from cli.launcher import free_port, mesh_env
from credential_svc.tables import change_outbox
from mesh.apikey_admin import issue_key
from mesh.apikey_store import ApiKeyStore
from mesh.db import make_engine
from mesh.settings import ROOT, Settings
from tests.e2e.lifecycle_support import wait_serving
from tests.e2e.outbox_support import check_contract, stream_entries
from tests.e2e.subscription_support import RISKY_BOT, payment
from tests.e2e.vault_support import MARKETPLACE_CANISTER, new_principal
from tests.private_servers import RedisServer
from tests.support import alembic, mariadb_url


@dataclass
class CredentialProcess:
    proc: subprocess.Popen[bytes]
    target: str
    log: Path

    @classmethod
    def start(cls, log: Path, database_url: str, redis_url: str, port: int) -> CredentialProcess:
        overrides = {
            "BOTMESH_DATABASE_URL": database_url,
            "BOTMESH_REDIS_URL": redis_url,
            "BOTMESH_CREDENTIAL_PORT": str(port),
            "BOTMESH_METRICS_PORT": "0",
        }
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "credential_svc"], env=mesh_env(overrides), cwd=ROOT,
                stdout=out, stderr=out, start_new_session=True,
            )  # fmt: skip
        return cls(proc, f"127.0.0.1:{port}", log)

    async def wait_ready(self) -> None:
        await wait_serving(self.proc, self.target, self.log)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@dataclass
class World:
    database_url: str
    engine: AsyncEngine
    redis: RedisServer
    folder: Path
    port: int

    def start(self) -> CredentialProcess:
        return CredentialProcess.start(
            self.folder / "credential_svc.log", self.database_url, self.redis.url, self.port
        )


@pytest.fixture
async def world(scratch_database, tmp_path: Path, settings, exchange_sim) -> AsyncIterator[World]:  # type: ignore[no-untyped-def]
    url = mariadb_url(scratch_database())
    migrated = alembic(url, "upgrade", "head")
    assert migrated.returncode == 0, migrated.stderr
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    engine = make_engine(url)
    try:
        yield World(url, engine, redis, tmp_path, free_port())
    finally:
        redis.stop()
        await engine.dispose()


class Renter:
    """A principal renting bots from the private process, over gRPC."""

    def __init__(self, channel: grpc.aio.Channel, market_key: str, author_key: str) -> None:
        self.principal = new_principal()
        self.md = (("x-api-key", market_key), ("x-principal-id", self.principal))
        self.author = (("x-api-key", author_key),)
        self.users = crpc.CredentialServiceStub(channel)
        self.catalog = mrpc.MarketplaceServiceStub(channel)
        self.subs = srpc.SubscriptionServiceStub(channel)
        self.credential_id = self.bot_id = self.listing_id = ""

    async def set_up(self, exchange_sim: Any) -> None:
        await self.users.CreateUser(capi.CreateUserRequest(display_name="Ada"), metadata=self.md)
        async with exchange_sim.admin() as admin:
            account = await admin.create_account({"USDT": "1000"})
        made = await self.users.CreateExchangeCredential(
            capi.CreateExchangeCredentialRequest(
                exchange="binance", label="main", api_key=account.api_key,
                api_secret=account.api_secret,
            ),
            metadata=self.md,
        )  # fmt: skip
        self.credential_id = made.credential.credential_id
        verified = await self.users.VerifyExchangeCredential(
            capi.VerifyExchangeCredentialRequest(credential_id=self.credential_id),
            metadata=self.md,
        )
        assert verified.accepted
        bot = await self.catalog.CreateBot(
            json_format.ParseDict(RISKY_BOT, mapi.CreateBotRequest()), metadata=self.author
        )
        self.bot_id = bot.bot.bot_id
        listing = await self.catalog.CreateListing(
            mapi.CreateListingRequest(
                bot_id=self.bot_id, canister_id=MARKETPLACE_CANISTER,
                marketplace_listing_id=f"outbox-{self.principal[:5]}", price_e8s=1_000_000,
                period_days=30,
            ),
            metadata=self.author,
        )  # fmt: skip
        self.listing_id = listing.listing.listing_id

    async def subscribe(self) -> str:
        made = await self.subs.CreateSubscription(
            sapi.CreateSubscriptionRequest(
                bot_id=self.bot_id, listing_id=self.listing_id, credential_id=self.credential_id,
                market="BTC-USDT", allocation="250",
            ),
            metadata=self.md,
        )  # fmt: skip
        return str(made.subscription.subscription_id)

    async def pay(self, sid: str) -> None:
        body = {**payment(), "subscription_id": sid}
        await self.subs.RecordPayment(
            json_format.ParseDict(body, sapi.RecordPaymentRequest()), metadata=self.md
        )

    async def churn(self, sid: str) -> int:
        """Four changes of an ACTIVE subscription, one after the other, that leave it ACTIVE:
        pause, a payment, resume, a payment."""
        pause = sapi.PauseSubscriptionRequest(subscription_id=sid)
        await self.subs.PauseSubscription(pause, metadata=self.md)
        await self.pay(sid)
        resume = sapi.ResumeSubscriptionRequest(subscription_id=sid)
        await self.subs.ResumeSubscription(resume, metadata=self.md)
        await self.pay(sid)
        return 4


async def outbox_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list(
            await conn.execute(sa.select(change_outbox).order_by(change_outbox.c.outbox_id))
        )


async def relayed(world: World, after_id: int, within_s: float = 20.0) -> list[dict[str, str]]:
    """The stream, once every row after `after_id` is marked published."""
    deadline = time.monotonic() + within_s
    while any(r.publish_time is None for r in await outbox_rows(world.engine)):
        assert time.monotonic() < deadline, "outbox not relayed"
        await asyncio.sleep(0.1)
    redis = aioredis.Redis.from_url(world.redis.url)
    try:
        entries = await stream_entries(redis)
    finally:
        await redis.aclose()
    check_contract(entries)  # contract fields, each outbox id once, versions in order
    expected = [r.outbox_id for r in await outbox_rows(world.engine) if r.outbox_id > after_id]
    assert sorted(int(e["outbox_id"]) for e in entries) == expected
    for entry in entries:  # the entry is its row's payload, plus its id
        row = next(
            r for r in await outbox_rows(world.engine) if r.outbox_id == int(entry["outbox_id"])
        )
        assert {**json.loads(row.payload), "outbox_id": entry["outbox_id"]} == entry
    return entries


async def test_changes_committed_before_a_crash_are_relayed_once_after_it(
    world: World, settings: Settings, exchange_sim: Any
) -> None:
    store = ApiKeyStore(world.engine)
    pepper = settings.api_key_pepper
    market_key = (await issue_key(store, pepper=pepper, name="mkt", scopes=["marketplace"]))[1]
    author_key = (await issue_key(store, pepper=pepper, name="author", scopes=["bots:write"]))[1]
    process = world.start()
    await process.wait_ready()
    channel = grpc.aio.insecure_channel(process.target)
    renter = Renter(channel, market_key, author_key)
    await renter.set_up(exchange_sim)
    sids = [await renter.subscribe() for _ in range(3)]
    for sid in sids:
        await renter.pay(sid)
    await relayed(world, 0)

    # Redis goes down: the changes still commit and answer; their rows wait.
    world.redis.stop()
    before = max(r.outbox_id for r in await outbox_rows(world.engine))
    made = sum(await asyncio.gather(*(renter.churn(sid) for sid in sids)))
    waiting = [r for r in await outbox_rows(world.engine) if r.publish_time is None]
    assert len(waiting) == made == 12
    process.kill()  # the crash: committed, never relayed
    await channel.close()
    log = process.log.read_text(errors="replace")
    assert "cannot relay subscription changes" in log
    assert renter.principal not in log and market_key not in log

    world.redis.start()  # empty: what the stream held before is gone with it
    process = world.start()
    await process.wait_ready()
    entries = await relayed(world, before)
    assert len(entries) == 12
    for sid in sids:
        assert [e["change"] for e in entries if e["subscription_id"] == sid] == [
            "paused", "paid", "resumed", "paid",
        ]  # fmt: skip

    # Redis up: bursts of changes, the process killed the moment the last one answers,
    # wherever its relay is; each time a new process relays what is left.
    for _ in range(4):
        channel = grpc.aio.insecure_channel(process.target)
        renter.subs = srpc.SubscriptionServiceStub(channel)
        made += sum(await asyncio.gather(*(renter.churn(sid) for sid in sids)))
        process.kill()
        left = [r for r in await outbox_rows(world.engine) if r.publish_time is None]
        print(f"killed with {len(left)} rows not yet marked")
        await channel.close()
        process = world.start()
        await process.wait_ready()
    entries = await relayed(world, before)
    assert len(entries) == made == 12 * 5
    process.kill()
