"""The outbox relay: publishes committed `change_outbox` rows to their Redis Streams, each
exactly once, in id order, and marks them published.

One relay runs in every credential_svc process (started in server.py). It wakes when this
process commits a change (outbox.begin) and polls every POLL_S besides, so rows committed by a
process that died before relaying them go out too.

Exactly once in the stream, whatever crashes where:
- A row is published by one Lua script that XADDs the entry (with its `outbox_id`) and sets
  the marker `botmesh:outbox:<id>` (a digest of the row, for MARKER_TTL_S), and does nothing
  if the marker already names this row. The script runs atomically in Redis, so an entry is
  in the stream if and only if its marker is set. (The script touches two keys: on a Redis
  Cluster they would need one hash slot; botmesh runs a single Redis.)
- The row is marked published only after its script ran. A relay that dies between the two
  (or whose commit of the marks is lost) leaves the row unpublished; whoever relays it next
  finds the marker and only marks it. The digest makes a reused id (a database recreated
  under the same Redis) publish anyway instead of being taken for its namesake.
- Relays serialise on the batch: it is read with SELECT ... FOR UPDATE in id order and the
  locks are held until its marks commit, so a second relay waits for the first instead of
  racing it (on SQLite the single writer does the same). Even without that, the markers keep
  every row to one entry, and publishing in id order keeps each subscription's order.

Redis unreachable: the batch rolls back and rows wait in the table; the RPCs that made the
changes have committed and answered already. One warning names the error type only (never a
row: entries carry no principal or secret, but the rule is that logs carry none either),
retries back off to MAX_BACKOFF_S, and the rows go out when Redis answers again.

Published rows are purged after RETENTION_S, so the table stays bounded. The marker outlives
them (MARKER_TTL_S): a row is never older than its marker while it can still be relayed,
short of an outage of the database longer than that.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from credential_svc.subscriptions import outbox
from credential_svc.tables import change_outbox
from mesh.db import utcnow

log = logging.getLogger("botmesh.subscriptions")

BATCH = 200
POLL_S = 0.5
MAX_BACKOFF_S = 5.0
MAXLEN = 100_000  # per stream, approximate (as XADD MAXLEN ~)
MARKER_PREFIX = "botmesh:outbox:"
MARKER_TTL_S = 24 * 3600
RETENTION_S = 3600
PURGE_EVERY_S = 60.0
FINAL_DRAIN_S = 2.0

# KEYS: marker, stream. ARGV: digest, marker TTL, maxlen, then field, value, field, value...
# Returns the new entry's id, or 0 when the marker says this row is in the stream already.
_PUBLISH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return 0
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return id
"""


@dataclass(frozen=True)
class Pass:
    """What one batch did: rows settled (published now or found published before)."""

    settled: int
    published: int


def _retrieve(task: asyncio.Future[Pass]) -> None:
    """Marks the outcome of a batch as seen (a cancelled caller no longer awaits it)."""
    if not task.cancelled():
        task.exception()


class Relay:
    def __init__(
        self,
        engine: AsyncEngine,
        redis: Redis,
        *,
        batch: int = BATCH,
        poll_s: float = POLL_S,
        retention_s: float = RETENTION_S,
    ) -> None:
        self._engine = engine
        self._redis = redis
        self._batch = batch
        self._poll_s = poll_s
        self._retention = timedelta(seconds=retention_s)
        self._script = redis.register_script(_PUBLISH)

    async def relay_batch(self) -> Pass:
        """Publishes the oldest unpublished rows (up to one batch) and marks them; raises,
        rolling back the marks, if Redis or the database fails."""
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    sa.select(change_outbox)
                    .where(change_outbox.c.publish_time.is_(None))
                    .order_by(change_outbox.c.outbox_id)
                    .limit(self._batch)
                    .with_for_update()
                )
            ).all()
            if not rows:
                return Pass(0, 0)
            published = await self._publish(rows)
            await conn.execute(
                change_outbox.update()
                .where(change_outbox.c.outbox_id.in_([r.outbox_id for r in rows]))
                .values(publish_time=utcnow())
            )
        return Pass(len(rows), published)

    async def _publish(self, rows: Sequence[Any]) -> int:
        """Runs the publish script for each row, in id order, in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for row in rows:
                fields: dict[str, str] = json.loads(row.payload)
                fields["outbox_id"] = str(row.outbox_id)
                digest = hashlib.sha256(f"{row.stream}\n{row.payload}".encode()).hexdigest()[:32]
                args: list[Any] = [digest, MARKER_TTL_S, MAXLEN]
                for name, value in fields.items():
                    args += [name, value]
                await self._script(
                    keys=[f"{MARKER_PREFIX}{row.outbox_id}", row.stream], args=args, client=pipe
                )
            results = await pipe.execute()
        return sum(1 for r in results if r != 0)

    async def drain(self) -> int:
        """Relays until no unpublished row is left; returns how many it published. Each
        batch is shielded from the caller's cancellation (shutdown): a batch cancelled
        between its statements could leave its connection, and the row locks it holds on
        the batch, behind for every other relay to wait on. A cancelled drain returns at
        once; its batch finishes (or fails and is relayed again) by itself."""
        published = 0
        while True:
            batch = asyncio.ensure_future(self.relay_batch())
            batch.add_done_callback(_retrieve)
            step = await asyncio.shield(batch)
            published += step.published
            if step.settled < self._batch:
                return published

    async def purge(self, limit: int = 1000) -> int:
        """Deletes rows published more than the retention ago; returns how many."""
        cutoff = utcnow() - self._retention
        deleted = 0
        while True:
            async with self._engine.begin() as conn:
                ids = list(
                    (
                        await conn.execute(
                            sa.select(change_outbox.c.outbox_id)
                            .where(change_outbox.c.publish_time < cutoff)
                            .order_by(change_outbox.c.outbox_id)
                            .limit(limit)
                        )
                    ).scalars()
                )
                if ids:
                    await conn.execute(
                        change_outbox.delete().where(change_outbox.c.outbox_id.in_(ids))
                    )
            deleted += len(ids)
            if len(ids) < limit:
                return deleted

    async def run(self) -> None:
        """Relays forever: after every local commit, every POLL_S, and after failures with
        backoff. Cancel it to stop: it first relays what the last requests committed, for
        at most FINAL_DRAIN_S (what is left waits for another relay or the next start); an
        interrupted batch is relayed again, exactly once."""
        waker = outbox.listen()
        failures = 0
        next_purge = time.monotonic() + PURGE_EVERY_S * random.random()
        try:
            while True:
                waker.clear()
                try:
                    await self.drain()
                    if failures:
                        log.info("relaying subscription changes again")
                    failures = 0
                except Exception as exc:
                    if not failures:
                        log.warning(
                            "cannot relay subscription changes; they wait in the outbox",
                            extra={"fields": {"error": type(exc).__name__}},
                        )
                    failures += 1
                if time.monotonic() >= next_purge:
                    next_purge = time.monotonic() + PURGE_EVERY_S
                    with contextlib.suppress(Exception):  # the next purge catches up
                        await self.purge()
                if failures:  # back off, deaf to wakes: each would meet the same outage
                    await asyncio.sleep(min(MAX_BACKOFF_S, self._poll_s * 2**failures))
                    continue
                # Jitter, so the relays of several processes do not poll in lockstep.
                # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that
                # arrives as the wake does, and the relay would never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_s * (0.75 + random.random() / 2)):
                        await waker.wait()
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(FINAL_DRAIN_S):
                    await self.drain()
            raise
        finally:
            outbox.unlisten(waker)
