"""Idempotency keys, for the ICP marketplace: every replica of a subnet sends the same HTTPS
outcall, so one POST arrives about 13 times at once.

The first request with a key claims it (a unique row in idempotency_records) and executes;
concurrent copies wait for its outcome; every copy gets the same stored bytes. A different
request under the same key is refused. Keys are scoped to the API key and kept 24 h.

An outcome is a gRPC status code and bytes: the serialized response for OK, a serialized
google.rpc.Status otherwise, so errors replay exactly too. An unexpected failure is not
recorded: the claim is released and a retry runs afresh.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.db import utcnow
from mesh.errors import InvalidArgument, Unavailable
from mesh.tables import idempotency_records as records

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Outcome:
    code: int
    payload: bytes


def request_fingerprint(method: str, request_bytes: bytes) -> bytes:
    return hashlib.sha256(method.encode() + b"\0" + request_bytes).digest()


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidArgument.for_field(
            HEADER,
            f"must be 1 to {MAX_KEY_LENGTH} printable characters",
            reason="INVALID_IDEMPOTENCY_KEY",
        )


class IdempotencyStore:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        ttl: timedelta = timedelta(hours=24),
        lease: timedelta = timedelta(seconds=60),
        wait_timeout_s: float = 30.0,
    ) -> None:
        self._engine = engine
        self._ttl = ttl
        self._lease = lease
        self._wait_timeout_s = wait_timeout_s
        # Copies reaching the same process wait for its first copy in memory.
        self._inflight: dict[tuple[str, str], asyncio.Future[tuple[str, bytes, Outcome]]] = {}

    async def run(
        self,
        *,
        api_key_id: str,
        key: str,
        method: str,
        fingerprint: bytes,
        execute: Callable[[], Awaitable[Outcome]],
    ) -> Outcome:
        """Copies that reach the same process wait for its first copy in memory rather than
        polling the database; the database still decides (claim, fingerprint, record), and a
        copy whose leader failed or carried another request takes the database path itself."""
        slot = (api_key_id, key)
        leader = self._inflight.get(slot)
        if leader is not None:
            try:
                led_method, led_fingerprint, outcome = await asyncio.shield(leader)
            except Exception:
                pass
            else:
                if (led_method, led_fingerprint) == (method, fingerprint):
                    return outcome
            return await self._run(api_key_id, key, method, fingerprint, execute)
        future: asyncio.Future[tuple[str, bytes, Outcome]] = (
            asyncio.get_running_loop().create_future()
        )
        self._inflight[slot] = future
        try:
            outcome = await self._run(api_key_id, key, method, fingerprint, execute)
        except BaseException as exc:
            future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("canceled"))
            future.exception()  # retrieved: waiters fall back to the database
            raise
        else:
            future.set_result((method, fingerprint, outcome))
            return outcome
        finally:
            del self._inflight[slot]

    async def _run(
        self,
        api_key_id: str,
        key: str,
        method: str,
        fingerprint: bytes,
        execute: Callable[[], Awaitable[Outcome]],
    ) -> Outcome:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_timeout_s
        delay = 0.005
        while True:
            row_id = await self._claim(api_key_id, key, method, fingerprint)
            if row_id is not None:
                return await self._execute(row_id, execute)
            row = await self._find(api_key_id, key)
            if row is None:
                continue  # released between our two queries: claim again
            if row.expire_time <= utcnow():
                await self._delete_expired(row.id)
                continue
            if row.method != method or bytes(row.request_hash) != fingerprint:
                raise InvalidArgument.for_field(
                    HEADER,
                    "was already used for a different request",
                    reason="IDEMPOTENCY_KEY_REUSED",
                )
            if row.status_code is not None:
                return Outcome(row.status_code, bytes(row.response or b""))
            if await self._take_over_if_stale(row.id):
                return await self._execute(row.id, execute)
            if loop.time() > deadline:
                raise Unavailable(
                    "the first request with this idempotency key is still running",
                    reason="IDEMPOTENCY_IN_PROGRESS",
                )
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.05)

    async def _delete_expired(self, row_id: int) -> None:
        """A record past its 24 h no longer holds its key."""
        async with self._engine.begin() as conn:
            await conn.execute(
                records.delete().where(records.c.id == row_id, records.c.expire_time <= utcnow())
            )

    async def _claim(
        self, api_key_id: str, key: str, method: str, fingerprint: bytes
    ) -> int | None:
        now = utcnow()
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    records.insert().values(
                        api_key_id=api_key_id,
                        idempotency_key=key,
                        method=method,
                        request_hash=fingerprint,
                        create_time=now,
                        expire_time=now + self._ttl,
                    )
                )
                return int(result.inserted_primary_key[0])  # type: ignore[index]
        except IntegrityError:
            return None

    async def _find(self, api_key_id: str, key: str) -> sa.Row | None:  # type: ignore[type-arg]
        async with self._engine.connect() as conn:
            return (
                await conn.execute(
                    sa.select(records).where(
                        records.c.api_key_id == api_key_id, records.c.idempotency_key == key
                    )
                )
            ).first()

    async def _take_over_if_stale(self, row_id: int) -> bool:
        """A claim older than the lease belongs to a process that died mid-request."""
        now = utcnow()
        async with self._engine.begin() as conn:
            result = await conn.execute(
                records.update()
                .where(
                    records.c.id == row_id,
                    records.c.status_code.is_(None),
                    records.c.create_time < now - self._lease,
                )
                .values(create_time=now)
            )
        return bool(result.rowcount)

    async def _execute(self, row_id: int, execute: Callable[[], Awaitable[Outcome]]) -> Outcome:
        try:
            outcome = await execute()
        except BaseException:
            async with self._engine.begin() as conn:
                await conn.execute(records.delete().where(records.c.id == row_id))
            raise
        async with self._engine.begin() as conn:
            await conn.execute(
                records.update()
                .where(records.c.id == row_id)
                .values(status_code=outcome.code, response=outcome.payload)
            )
        return outcome

    async def purge_expired(self, now: datetime | None = None) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                records.delete().where(records.c.expire_time < (now or utcnow()))
            )
        return int(result.rowcount)
