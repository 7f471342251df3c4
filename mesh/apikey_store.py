"""SQL for API keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mesh.apikeys import ApiKeyRecord
from mesh.db import keyset_after
from mesh.tables import api_keys

# Work that must commit or roll back with the key change: the audit append. (A callable,
# because mesh.audit imports mesh.auth, which imports this module.)
InTxn = Callable[[AsyncConnection], Awaitable[object]]


def _record(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=row.key_id,
        name=row.name,
        secret_hash=bytes(row.secret_hash),
        scopes=frozenset(s for s in row.scopes.split(",") if s),
        create_time=row.create_time,
        expire_time=row.expire_time,
        revoke_time=row.revoke_time,
        last_used_time=row.last_used_time,
        rate_limit_per_s=row.rate_limit_per_s,
    )


class ApiKeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id))
            ).first()
        return None if row is None else _record(row)

    async def insert(self, record: ApiKeyRecord, *, in_txn: InTxn | None = None) -> None:
        """`in_txn` runs in the insert's transaction (the audit append)."""
        async with self._engine.begin() as conn:
            await conn.execute(
                api_keys.insert().values(
                    key_id=record.key_id,
                    name=record.name,
                    secret_hash=record.secret_hash,
                    scopes=",".join(sorted(record.scopes)),
                    create_time=record.create_time,
                    expire_time=record.expire_time,
                    rate_limit_per_s=record.rate_limit_per_s,
                )
            )
            if in_txn is not None:
                await in_txn(conn)

    async def list(self, *, limit: int, after: tuple[datetime, str] | None) -> list[ApiKeyRecord]:
        query = (
            sa.select(api_keys)
            .where(keyset_after(api_keys, "key_id", after))
            .order_by(api_keys.c.create_time.desc(), api_keys.c.key_id.desc())
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.limit(limit))).all()
        return [_record(r) for r in rows]

    async def revoke(
        self, key_id: str, now: datetime, *, in_txn: InTxn | None = None
    ) -> ApiKeyRecord | None:
        """`in_txn` runs in the revocation's transaction, only if this call revoked the key."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                api_keys.update()
                .where(api_keys.c.key_id == key_id, api_keys.c.revoke_time.is_(None))
                .values(revoke_time=now)
            )
            if in_txn is not None and result.rowcount == 1:
                await in_txn(conn)
        return await self.get(key_id)

    async def touch(self, last_used: Mapping[str, datetime]) -> None:
        """Records key use in one round trip per flush, not one write per request."""
        if not last_used:
            return
        async with self._engine.begin() as conn:
            for key_id, when in last_used.items():
                await conn.execute(
                    api_keys.update().where(api_keys.c.key_id == key_id).values(last_used_time=when)
                )
