"""trading_svc's own projection of subscriptions: what it needs to pick and lock, in its own
table, so no query of ours reads the credential service's tables.

Rows are written from two sources: each entry of the subscription-change stream (the
follower) and each answer of the credential service's GetTradingSubscription on the order path.
Both carry the subscription's version (its update_time in the credential service), and the newest
version wins: a replayed or out-of-order entry, or an answer read before a change whose
entry was applied first, never moves a row back. Equal versions change nothing, so applying
the same thing twice is harmless.

The projection is never the verdict: orders ask the credential service every time (subscriptions.py).
It serves as the row an order locks so concurrent orders of one subscription see each
other's exposure, and as the reconciler's pre-filter. Nothing about the principal is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from trading_svc.tables import subscription_projection as projection

ACTIVE = "ACTIVE"


@dataclass(frozen=True)
class Projected:
    subscription_id: str
    user_id: str
    credential_id: str
    market: str
    state: str
    paid_until: datetime | None
    version: datetime


def _time(text: str) -> datetime | None:
    if not text:
        return None
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def from_entry(fields: Mapping[str, str]) -> Projected | None:
    """A stream entry as a row, or None when it lacks what a row needs. Entries written before
    the outbox carry no `version`; their `time` (set just after the commit) stands in."""
    version = _time(fields.get("version") or fields.get("time") or "")
    sid = fields.get("subscription_id", "")
    if version is None or not sid or not fields.get("state"):
        return None
    return Projected(
        subscription_id=sid,
        user_id=fields.get("user_id", ""),
        credential_id=fields.get("credential_id", ""),
        market=fields.get("market", ""),
        state=fields["state"],
        paid_until=_time(fields.get("paid_until", "")),
        version=version,
    )


def _upsert(dialect: str, row: Projected) -> sa.Executable:
    values = asdict(row)
    # Version last: MySQL applies the assignments in order, and the others compare with it.
    columns = [c for c in values if c not in ("subscription_id", "version")] + ["version"]
    if dialect == "mysql":
        mine = mysql.insert(projection).values(**values)
        newer = mine.inserted.version > projection.c.version
        return mine.on_duplicate_key_update(
            [(c, sa.func.IF(newer, mine.inserted[c], projection.c[c])) for c in columns]
        )
    lite = sqlite.insert(projection).values(**values)
    return lite.on_conflict_do_update(
        index_elements=[projection.c.subscription_id],
        set_={c: lite.excluded[c] for c in columns},
        where=lite.excluded.version > projection.c.version,
    )


async def upsert(conn: AsyncConnection, row: Projected) -> None:
    """Inserts the row, or moves an existing one forward when `row` is newer. On MySQL the
    statement also takes the row's exclusive lock, held until the transaction ends."""
    await conn.execute(_upsert(conn.dialect.name, row))


def may_be_trading(now: datetime) -> sa.ColumnElement[bool]:
    """The reconciler's pre-filter: ACTIVE and not past paid time in the projection. Only a
    filter, so paused or expired subscriptions' orders do not take a batch's places; each
    subscription is still asked of the credential service before anything is done for it."""
    return sa.and_(
        projection.c.state == ACTIVE,
        sa.or_(projection.c.paid_until.is_(None), projection.c.paid_until > now),
    )


class ProjectionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def apply(self, row: Projected) -> None:
        async with self._engine.begin() as conn:
            await upsert(conn, row)

    async def get(self, subscription_id: str) -> Projected | None:
        names = Projected.__dataclass_fields__
        async with self._engine.connect() as conn:
            found = (
                await conn.execute(
                    sa.select(*(projection.c[n] for n in names)).where(
                        projection.c.subscription_id == subscription_id
                    )
                )
            ).first()
        return None if found is None else Projected(**found._mapping)

    async def scheduled(self, now: datetime) -> list[tuple[str, str, str, str]]:
        """(subscription_id, exchange, market, timeframe) of every subscription the bot
        runtime should tick: ACTIVE and paid in the projection, its schedule known. Only a
        schedule: each tick asks credential_svc whether it may trade."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(
                    projection.c.subscription_id,
                    projection.c.exchange,
                    projection.c.market,
                    projection.c.timeframe,
                ).where(
                    may_be_trading(now),
                    projection.c.exchange.is_not(None),
                    projection.c.timeframe.is_not(None),
                )
            )
            return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def unscheduled(self, now: datetime, limit: int = 500) -> list[str]:
        """Tradable subscriptions whose exchange or timeframe is not learned yet."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(projection.c.subscription_id)
                .where(
                    may_be_trading(now),
                    sa.or_(projection.c.exchange.is_(None), projection.c.timeframe.is_(None)),
                )
                .limit(limit)
            )
            return [r[0] for r in rows]

    async def set_schedule(self, subscription_id: str, exchange: str, timeframe: str) -> None:
        """What the runtime learned from credential_svc: where and how often the bot ticks."""
        async with self._engine.begin() as conn:
            await conn.execute(
                projection.update()
                .where(
                    projection.c.subscription_id == subscription_id,
                    sa.or_(
                        projection.c.exchange.is_distinct_from(exchange),
                        projection.c.timeframe.is_distinct_from(timeframe),
                    ),
                )
                .values(exchange=exchange, timeframe=timeframe)
            )
