"""Helpers for tests of the change stream's outbox: wait until the rows written so far are
relayed, publish through the real outbox and relay onto a Redis of a test's own, and read
and check the stream's entries against their contract."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pymysql
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import create_async_engine

from credential_svc.subscriptions import events, outbox
from credential_svc.subscriptions.model import SubscriptionRecord
from credential_svc.subscriptions.relay import Relay
from credential_svc.tables import change_outbox
from mesh.settings import Settings
from tests.support import MARIADB

CONTRACT = {
    "subscription_id",
    "user_id",
    "bot_id",
    "credential_id",
    "market",
    "state",
    "state_reason",
    "paid_until",
    "change",
    "time",
    "version",
    "outbox_id",
}


def _pending_up_to(database: str, last: int | None) -> tuple[int, int]:
    """(the highest outbox id so far, unpublished rows up to `last` or to that id)."""
    conn = pymysql.connect(**MARIADB, database=database)  # type: ignore[arg-type]
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COALESCE(MAX(outbox_id), 0) FROM change_outbox")
            top: Any = cur.fetchone()
            bound = top[0] if last is None else last
            cur.execute(
                "SELECT COUNT(*) FROM change_outbox WHERE publish_time IS NULL AND outbox_id <= %s",
                (bound,),
            )
            pending: Any = cur.fetchone()
            return int(bound), int(pending[0])
    finally:
        conn.close()


async def outbox_drained(settings: Settings, within_s: float = 10.0) -> None:
    """Waits until every outbox row committed before the call has been relayed."""
    database = settings.database_url.rsplit("/", 1)[1]
    last, pending = await asyncio.to_thread(_pending_up_to, database, None)
    deadline = time.monotonic() + within_s
    while pending:
        if time.monotonic() > deadline:
            raise AssertionError(f"{pending} outbox rows not relayed within {within_s}s")
        await asyncio.sleep(0.02)
        _, pending = await asyncio.to_thread(_pending_up_to, database, last)


async def publish_via_outbox(
    redis_url: str, folder: Path, change: str, sub: SubscriptionRecord
) -> None:
    """Announces `sub` exactly as credential_svc does (an outbox row in a transaction, then
    the relay), through an outbox in a SQLite file of the caller's, onto `redis_url`."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{folder / 'outbox.db'}")
    redis = aioredis.Redis.from_url(redis_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: change_outbox.create(c, checkfirst=True))
        async with outbox.begin(engine) as conn:
            await events.record(conn, change, sub)
        assert await Relay(engine, redis).drain() >= 1
    finally:
        await redis.aclose()
        await engine.dispose()


async def stream_entries(
    redis: aioredis.Redis, stream: str = events.STREAM
) -> list[dict[str, str]]:
    entries: list[tuple[Any, dict[Any, Any]]] = await redis.xrange(stream)  # type: ignore[assignment]
    return [{_text(k): _text(v) for k, v in fields.items()} for _, fields in entries]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def check_contract(entries: list[dict[str, str]]) -> None:
    """Every entry has exactly the contract's fields, each outbox id is in the stream once,
    and each subscription's versions strictly increase in stream order."""
    for fields in entries:
        assert set(fields) == CONTRACT, fields
        for name in ("time", "version", *(["paid_until"] if fields["paid_until"] else [])):
            when = datetime.fromisoformat(fields[name])
            assert when.utcoffset() is not None and not when.utcoffset(), fields[name]
            assert len(fields[name]) == len("2026-01-01T00:00:00.000000+00:00"), fields[name]
    twice = [i for i, n in Counter(f["outbox_id"] for f in entries).items() if n > 1]
    assert not twice, f"outbox rows published more than once: {twice}"
    last: dict[str, str] = {}
    for fields in entries:
        sid = fields["subscription_id"]
        assert fields["version"] > last.get(sid, ""), (sid, last.get(sid), fields)
        last[sid] = fields["version"]
