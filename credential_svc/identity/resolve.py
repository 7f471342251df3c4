"""ResolvePrincipal for trading_svc: a principal's user and active subscriptions, cached in
Redis for a few seconds because trading_svc asks on every dashboard connect and tick burst.

Only identifiers and subscription terms are cached, never a credential or anything secret.
Erasure deletes the entry; other changes show after at most CACHE_TTL_S. With Redis down,
answers come from the database and are not cached; `forget` still needs Redis.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from credential_svc.identity.store import ACTIVE, UserRecord
from credential_svc.subscriptions.entitlement import may_trade_clause
from credential_svc.tables import subscriptions, users
from mesh.db import utcnow
from mesh.errors import NotFound
from mesh.redis import BestEffortCache

CACHE_TTL_S = 10
_TIMES = ("paid_until", "create_time", "update_time")


@dataclass(frozen=True)
class SubscriptionView:
    subscription_id: str
    bot_id: str
    credential_id: str
    market: str
    allocation: str
    risk_overrides: dict[str, Any]
    state: str
    paid_until: datetime | None
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class Resolved:
    user: UserRecord
    subscriptions: list[SubscriptionView]


def cache_key(principal: str) -> str:
    return f"botmesh:principal:{principal}"


def _dump(value: Resolved) -> str:
    return json.dumps(
        {"user": asdict(value.user), "subscriptions": [asdict(s) for s in value.subscriptions]},
        default=lambda v: v.isoformat(),
    )


def _times(data: dict[str, Any]) -> dict[str, Any]:
    for name in _TIMES:
        if data.get(name):
            data[name] = datetime.fromisoformat(data[name])
    return data


def _load(raw: bytes | str) -> Resolved:
    data = json.loads(raw)
    return Resolved(
        UserRecord(**_times(data["user"])),
        [SubscriptionView(**_times(s)) for s in data["subscriptions"]],
    )


class PrincipalResolver:
    def __init__(self, engine: AsyncEngine, redis: Redis) -> None:
        self._engine = engine
        self._redis = redis
        self._cache = BestEffortCache(redis, "principals")

    async def resolve(self, principal: str) -> Resolved:
        cached = await self._cache.get(cache_key(principal))
        if cached is not None:
            return _load(cached)
        resolved = await self._query(principal)
        await self._cache.set(cache_key(principal), _dump(resolved), ex=CACHE_TTL_S)
        return resolved

    async def forget(self, principal: str) -> None:
        await self._redis.delete(cache_key(principal))

    async def _query(self, principal: str) -> Resolved:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(users).where(users.c.principal == principal, users.c.state == ACTIVE)
                )
            ).first()
            if row is None:
                raise NotFound("no user has this principal", reason="USER_NOT_FOUND")
            subs = (
                await conn.execute(
                    sa.select(subscriptions)
                    .where(
                        subscriptions.c.user_id == row.user_id,
                        may_trade_clause(utcnow()),
                    )
                    .order_by(subscriptions.c.create_time)
                )
            ).all()
        user = UserRecord(**{k: row._mapping[k] for k in UserRecord.__dataclass_fields__})
        views = [
            SubscriptionView(
                **{
                    k: s._mapping[k]
                    for k in SubscriptionView.__dataclass_fields__
                    if k != "allocation"
                },
                allocation=format(s.allocation.normalize(), "f"),
            )
            for s in subs
        ]
        return Resolved(user, views)
