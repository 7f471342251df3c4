"""Idempotency keys, for the ICP marketplace: every replica of a subnet sends the same HTTPS
outcall, so one POST arrives about 13 times at once.

The rules this module keeps:
- A record belongs to its caller: the API key *and* the acting principal ("" when the call
  names none). One principal never receives another's answer, even through the same key and
  Idempotency-Key. The fingerprint covers key, principal, method and request bytes; a
  different request under the same caller's key is refused (IDEMPOTENCY_KEY_REUSED).
- The first request claims the key (a unique row) and executes; concurrent copies wait for its
  outcome; every copy, the first included, answers with the same recorded bytes.
- Execution is shielded from the request: it runs in a task of its own that the caller
  disconnecting, Envoy's timeout or the handler's cancellation does not cancel. It records
  its outcome when it finishes; a retry meanwhile waits for it, or after `wait_timeout_s`
  gets UNAVAILABLE IDEMPOTENCY_IN_PROGRESS with RetryInfo, and later the same answer.
- Only outcomes that guarantee nothing was executed release the key (delete the claim) so a
  retry runs afresh: the transient codes in RELEASED_CODES. Handlers must raise those only
  before any side effect (every handler is one transaction, or, for orders, refuses before
  submitting). Unexpected exceptions (INTERNAL) release too: a handler's single transaction
  rolled back, and an order row carries its own intent dedupe, so a re-run cannot duplicate.
  Every other outcome (OK, INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION...) is recorded
  for 24 h and replayed exactly.
- A live process renews its claim while it executes. If the process stops mid-execution, the
  claim stays; once it is older than `lease`, another process takes it over and executes.
- At rest the principal is a keyed hash and answers are sealed (mesh/idempotency_seal.py).

An outcome is a gRPC status code and bytes: the serialized response for OK, a serialized
google.rpc.Status otherwise, so errors replay exactly too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from google.rpc import code_pb2
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.db import utcnow
from mesh.errors import Internal, InvalidArgument, Unavailable
from mesh.idempotency_seal import RecordSeal, UnreadableRecord, record_identity
from mesh.tables import idempotency_records as records

log = logging.getLogger("botmesh.idempotency")

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
# Outcomes that guarantee nothing was executed (or, for INTERNAL/UNKNOWN, that the handler's
# transaction rolled back): released, never pinned for 24 h.
RELEASED_CODES = frozenset(
    {
        code_pb2.UNAVAILABLE,
        code_pb2.RESOURCE_EXHAUSTED,
        code_pb2.DEADLINE_EXCEEDED,
        code_pb2.ABORTED,
        code_pb2.INTERNAL,
        code_pb2.UNKNOWN,
    }
)
# Below Envoy's 15 s route timeout, so a waiting retry gets our answer, not a gateway 504.
DEFAULT_WAIT_TIMEOUT_S = 10.0
RETRY_AFTER_S = 1.0


@dataclass(frozen=True)
class Outcome:
    code: int
    payload: bytes


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidArgument.for_field(
            HEADER,
            f"must be 1 to {MAX_KEY_LENGTH} printable characters",
            reason="INVALID_IDEMPOTENCY_KEY",
        )


def _in_progress() -> Unavailable:
    return Unavailable(
        "the first request with this idempotency key is still running",
        reason="IDEMPOTENCY_IN_PROGRESS",
        retry_after_s=RETRY_AFTER_S,
    )


@dataclass(frozen=True)
class _Claim:
    """One caller's key: the row's unique identity and the request it stands for."""

    api_key_id: str
    principal_hash: bytes
    key: str
    method: str
    fingerprint: bytes

    @property
    def identity(self) -> bytes:
        return record_identity(self.api_key_id, self.principal_hash, self.key, self.fingerprint)


Execute = Callable[[], Awaitable[Outcome]]
_Slot = tuple[str, str, str]


class IdempotencyStore:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        secret: str,
        ttl: timedelta = timedelta(hours=24),
        lease: timedelta = timedelta(seconds=60),
        wait_timeout_s: float = DEFAULT_WAIT_TIMEOUT_S,
    ) -> None:
        self._engine = engine
        self._seal = RecordSeal(secret)
        self._ttl = ttl
        self._lease = lease
        self._wait_timeout_s = wait_timeout_s
        # Copies reaching the same process wait for its first copy's task in memory; the
        # tasks are also held here so that none is collected while its request is gone.
        self._inflight: dict[_Slot, tuple[bytes, asyncio.Task[Outcome]]] = {}
        self._tasks: set[asyncio.Task[Outcome]] = set()

    async def run(
        self,
        *,
        api_key_id: str,
        principal: str,
        key: str,
        method: str,
        request: bytes,
        execute: Execute,
    ) -> Outcome:
        """Copies that reach the same process share its first copy's task rather than
        polling the database; the database still decides (claim, fingerprint, record) across
        processes. A copy carrying another request takes the database path itself."""
        claim = _Claim(
            api_key_id,
            self._seal.principal_hash(principal),
            key,
            method,
            self._seal.fingerprint(api_key_id, principal, method, request),
        )
        slot = (api_key_id, principal, key)
        running = self._inflight.get(slot)
        if running is not None and running[0] == claim.fingerprint:
            return await self._follow(running[1])
        task = asyncio.create_task(self._run(claim, execute))
        self._tasks.add(task)
        if running is None:
            self._inflight[slot] = (claim.fingerprint, task)
        task.add_done_callback(lambda done: self._forget(slot, done))
        # The request may be canceled here; the task goes on and records its outcome.
        return await asyncio.shield(task)

    async def _follow(self, task: asyncio.Task[Outcome]) -> Outcome:
        try:
            return await asyncio.wait_for(asyncio.shield(task), self._wait_timeout_s)
        except TimeoutError:
            raise _in_progress() from None

    def _forget(self, slot: _Slot, task: asyncio.Task[Outcome]) -> None:
        self._tasks.discard(task)
        if self._inflight.get(slot, (b"", None))[1] is task:
            del self._inflight[slot]
        if not task.cancelled():
            task.exception()  # retrieved: its awaiters (if any are left) raise it themselves

    async def _run(self, claim: _Claim, execute: Execute) -> Outcome:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_timeout_s
        delay = 0.005
        while True:
            row_id = await self._claim(claim)
            if row_id is not None:
                return await self._execute(row_id, claim, execute)
            row = await self._find(claim)
            if row is None:
                continue  # released between our two queries: claim again
            if row.expire_time <= utcnow():
                await self._delete_expired(row.id)
                continue
            if row.method != claim.method or bytes(row.request_hash) != claim.fingerprint:
                raise InvalidArgument.for_field(
                    HEADER,
                    "was already used for a different request",
                    reason="IDEMPOTENCY_KEY_REUSED",
                )
            if row.status_code is not None:
                return self._replay(claim, row.status_code, bytes(row.response or b""))
            if await self._take_over_if_stale(row.id):
                return await self._execute(row.id, claim, execute)
            if loop.time() > deadline:
                raise _in_progress()
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.05)

    def _replay(self, claim: _Claim, code: int, sealed: bytes) -> Outcome:
        try:
            return Outcome(code, self._seal.open(claim.identity, code, sealed))
        except UnreadableRecord:
            # Sealed under another secret, or altered at rest: never replayed, never re-run.
            log.error("an idempotency record does not open", extra={"fields": {"code": code}})
            raise Internal(
                "the recorded answer cannot be read", reason="IDEMPOTENCY_RECORD_UNREADABLE"
            ) from None

    async def _execute(self, row_id: int, claim: _Claim, execute: Execute) -> Outcome:
        heartbeat = asyncio.create_task(self._keep_lease(row_id))
        try:
            outcome = await execute()
        except asyncio.CancelledError:
            raise  # the process is stopping: the claim stays and its lease decides
        except Exception:
            await self._release(row_id)
            raise
        finally:
            heartbeat.cancel()
        if outcome.code in RELEASED_CODES:
            await self._release(row_id)
            return outcome
        sealed = self._seal.seal(claim.identity, outcome.code, outcome.payload)
        async with self._engine.begin() as conn:
            await conn.execute(
                records.update()
                .where(records.c.id == row_id)
                .values(status_code=outcome.code, response=sealed)
            )
        return outcome

    async def _keep_lease(self, row_id: int) -> None:
        """While this process executes, its claim stays fresh: only a dead process's claim
        goes stale and is taken over, however long an execution (now unbounded by the
        request's deadline) takes."""
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(
                        records.update()
                        .where(records.c.id == row_id, records.c.status_code.is_(None))
                        .values(create_time=utcnow())
                    )
            except Exception:
                log.warning("could not renew an idempotency claim", exc_info=True)

    async def _release(self, row_id: int) -> None:
        """Frees the key for a retry; only for outcomes that executed nothing."""
        async with self._engine.begin() as conn:
            await conn.execute(
                records.delete().where(records.c.id == row_id, records.c.status_code.is_(None))
            )

    async def _delete_expired(self, row_id: int) -> None:
        """A record past its 24 h no longer holds its key."""
        async with self._engine.begin() as conn:
            await conn.execute(
                records.delete().where(records.c.id == row_id, records.c.expire_time <= utcnow())
            )

    async def _claim(self, claim: _Claim) -> int | None:
        now = utcnow()
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    records.insert().values(
                        api_key_id=claim.api_key_id,
                        principal_hash=claim.principal_hash,
                        idempotency_key=claim.key,
                        method=claim.method,
                        request_hash=claim.fingerprint,
                        create_time=now,
                        expire_time=now + self._ttl,
                    )
                )
                return int(result.inserted_primary_key[0])  # type: ignore[index]
        except IntegrityError:
            return None

    async def _find(self, claim: _Claim) -> sa.Row | None:  # type: ignore[type-arg]
        async with self._engine.connect() as conn:
            return (
                await conn.execute(
                    sa.select(records).where(
                        records.c.api_key_id == claim.api_key_id,
                        records.c.principal_hash == claim.principal_hash,
                        records.c.idempotency_key == claim.key,
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

    async def drain(self, timeout_s: float) -> None:
        """At shutdown: lets executions whose requests are gone finish and record."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    async def purge_expired(self, now: datetime | None = None) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                records.delete().where(records.c.expire_time < (now or utcnow()))
            )
        return int(result.rowcount)
