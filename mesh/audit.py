"""The tamper-evident audit log, shared by every service.

Each row carries SHA-256(prev_hash || canonical row content), so editing, deleting or
reordering any row breaks the chain from that row on. Appends happen inside the mutation's
own transaction (the mutation and its audit row commit or roll back together) and are
serialised by the single `audit_head` row: the first statement of an append is an UPDATE of
that row, which holds a row lock on MariaDB/MySQL and the database write lock on SQLite until
the transaction ends. A SELECT ... FOR UPDATE on the last audit row would not do: under
InnoDB a waiting transaction would resume on the *old* last row and fork the chain.

Principals are recorded pseudonymised (a keyed hash under the API-key pepper): the chain must
never be rewritten, and erasure must leave no readable link back to the person.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mesh.auth import current_caller
from mesh.db import utcnow
from mesh.tables import audit_head, audit_log

GENESIS = bytes(32)
_VERIFY_BATCH = 1000
Detail = Mapping[str, str | int | bool | None]


def row_hash(
    prev_hash: bytes,
    *,
    seq: int,
    time: datetime,
    actor_key_id: str | None,
    principal: str | None,
    action: str,
    resource: str,
    detail: Detail,
) -> bytes:
    """The chain hash of one row; every column but row_hash takes part."""
    content = json.dumps(
        [seq, time.isoformat(), actor_key_id, principal, action, resource, dict(detail)],
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    return hashlib.sha256(prev_hash + content).digest()


@dataclass(frozen=True)
class Event:
    """What a mutation appends: handed to the store, which appends it in its transaction."""

    action: str
    resource: str
    detail: Detail | None = None
    principal: str | None = None


@dataclass(frozen=True)
class BrokenLink:
    seq: int
    problem: str


class AuditLog:
    def __init__(self, pepper: str) -> None:
        self._pepper = pepper.encode()

    def pseudonym(self, principal: str | None) -> str | None:
        if principal is None:
            return None
        digest = hmac.new(self._pepper, b"audit-principal\0" + principal.encode(), "sha256")
        return "p_" + digest.hexdigest()[:40]

    async def record(self, conn: AsyncConnection, event: Event) -> int:
        seq = await self._append(conn, event, once=False)
        assert seq is not None
        return seq

    async def record_once(self, conn: AsyncConnection, event: Event) -> int | None:
        """Appends `event` unless a row of its action and resource is already on the chain
        (None then). The check runs under the chain's lock, so two writers cannot both
        append it; it costs no extra statement (it rides on the read of the head)."""
        return await self._append(conn, event, once=True)

    async def append(
        self,
        conn: AsyncConnection,
        action: str,
        resource: str,
        detail: Detail | None = None,
        *,
        principal: str | None = None,
    ) -> int:
        """Appends one row in `conn`'s transaction; returns its seq. The actor is the current
        RPC's caller; `principal` overrides the caller's acting principal (internal calls)."""
        return await self.record(conn, Event(action, resource, detail, principal))

    async def _append(self, conn: AsyncConnection, event: Event, *, once: bool) -> int | None:
        who = current_caller.get()
        actor = who.key_id if who is not None else None
        acting = (
            event.principal if event.principal is not None else (who.principal if who else None)
        )
        # The lock: an UPDATE of the head row, before reading it.
        await conn.execute(
            audit_head.update().where(audit_head.c.id == 1).values(seq=audit_head.c.seq)
        )
        columns: list[sa.ColumnElement[Any]] = [audit_head.c.seq, audit_head.c.row_hash]
        if once:
            columns.append(
                sa.select(audit_log.c.seq)
                .where(audit_log.c.resource == event.resource, audit_log.c.action == event.action)
                .limit(1)
                .scalar_subquery()
                .label("existing")
            )
        head = (await conn.execute(sa.select(*columns).where(audit_head.c.id == 1))).one()
        if once and head.existing is not None:
            return None
        seq, prev = int(head.seq) + 1, bytes(head.row_hash)
        values = {
            "seq": seq,
            "time": utcnow(),
            "actor_key_id": actor,
            "principal": self.pseudonym(acting),
            "action": event.action,
            "resource": event.resource,
            "detail": dict(event.detail or {}),
        }
        digest = row_hash(prev, **values)  # type: ignore[arg-type]
        await conn.execute(audit_log.insert().values(prev_hash=prev, row_hash=digest, **values))
        await conn.execute(
            audit_head.update().where(audit_head.c.id == 1).values(seq=seq, row_hash=digest)
        )
        return seq


async def verify_chain(engine: AsyncEngine) -> tuple[int, BrokenLink | None]:
    """Walks the whole chain in seq order; returns the rows checked and the first broken
    link, if any (a changed row, a deleted or inserted row, or a head that disagrees)."""
    prev, expected_seq, checked = GENESIS, 1, 0
    async with engine.connect() as conn:
        while True:
            rows = (
                await conn.execute(
                    sa.select(audit_log)
                    .where(audit_log.c.seq >= expected_seq)
                    .order_by(audit_log.c.seq)
                    .limit(_VERIFY_BATCH)
                )
            ).all()
            for row in rows:
                if row.seq != expected_seq:
                    return checked, BrokenLink(expected_seq, "row missing")
                if bytes(row.prev_hash) != prev:
                    return checked, BrokenLink(row.seq, "prev_hash does not match previous row")
                digest = row_hash(
                    prev,
                    seq=row.seq,
                    time=row.time,
                    actor_key_id=row.actor_key_id,
                    principal=row.principal,
                    action=row.action,
                    resource=row.resource,
                    detail=row.detail,
                )
                if bytes(row.row_hash) != digest:
                    return checked, BrokenLink(row.seq, "row content was changed")
                prev, expected_seq, checked = digest, expected_seq + 1, checked + 1
            if len(rows) < _VERIFY_BATCH:
                break
        head = (await conn.execute(sa.select(audit_head).where(audit_head.c.id == 1))).first()
    if head is not None and (head.seq != checked or bytes(head.row_hash) != prev):
        return checked, BrokenLink(checked + 1, "rows after the last one were removed")
    return checked, None
