"""SQL for bots and listings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from credential_svc.catalog.bots import BotRecord
from credential_svc.tables import bot_listings, bots
from mesh.audit import AuditLog
from mesh.db import keyset_after


@dataclass(frozen=True)
class ListingRecord:
    listing_id: str
    bot_id: str
    canister_id: str
    marketplace_listing_id: str
    price_e8s: int
    period_days: int
    create_time: datetime


def _bot(row: Any) -> BotRecord:
    return BotRecord(
        bot_id=row.bot_id,
        name=row.name,
        description=row.description,
        strategy=row.strategy,
        strategy_params=dict(row.strategy_params),
        markets=tuple(row.markets),
        timeframe=row.timeframe,
        risk_limits=dict(row.risk_limits),
        advisor_enabled=bool(row.advisor_enabled),
        author_key_id=row.author_key_id,
        author_principal=row.author_principal,
        stake=None if row.stake is None else dict(row.stake),
        create_time=row.create_time,
        update_time=row.update_time,
    )


def _bot_values(bot: BotRecord) -> dict[str, Any]:
    return {
        "name": bot.name,
        "description": bot.description,
        "strategy": bot.strategy,
        "strategy_params": dict(bot.strategy_params),
        "markets": list(bot.markets),
        "timeframe": bot.timeframe,
        "risk_limits": dict(bot.risk_limits),
        "advisor_enabled": bot.advisor_enabled,
        # SQL NULL, not the JSON null that a plain None would store: no stake set.
        "stake": sa.null() if bot.stake is None else dict(bot.stake),
        "update_time": bot.update_time,
    }


class CatalogStore:
    """Mutations append their audit row in their own transaction (actor from the RPC)."""

    def __init__(self, engine: AsyncEngine, audit: AuditLog) -> None:
        self._engine = engine
        self._audit = audit

    async def insert_bot(self, bot: BotRecord) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                bots.insert().values(
                    bot_id=bot.bot_id,
                    author_key_id=bot.author_key_id,
                    author_principal=bot.author_principal,
                    create_time=bot.create_time,
                    **_bot_values(bot),
                )
            )
            await self._audit.append(conn, "bot.create", bot.bot_id)

    async def get_bot(self, bot_id: str) -> BotRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(bots).where(bots.c.bot_id == bot_id))).first()
        return None if row is None else _bot(row)

    async def list_bots(self, *, limit: int, after: tuple[datetime, str] | None) -> list[BotRecord]:
        query = (
            sa.select(bots)
            .where(keyset_after(bots, "bot_id", after))
            .order_by(bots.c.create_time.desc(), bots.c.bot_id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_bot(r) for r in rows]

    async def update_bot(self, bot: BotRecord) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                bots.update().where(bots.c.bot_id == bot.bot_id).values(**_bot_values(bot))
            )
            await self._audit.append(conn, "bot.update", bot.bot_id)

    async def insert_listing(self, listing: ListingRecord) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(bot_listings.insert().values(**listing.__dict__))
            await self._audit.append(
                conn, "listing.create", listing.listing_id, {"bot_id": listing.bot_id}
            )

    async def get_listing(self, listing_id: str) -> ListingRecord | None:
        query = sa.select(bot_listings).where(bot_listings.c.listing_id == listing_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else ListingRecord(**row._mapping)

    async def list_listings(
        self, bot_id: str, *, limit: int, after: tuple[datetime, str] | None
    ) -> list[ListingRecord]:
        query = (
            sa.select(bot_listings)
            .where(bot_listings.c.bot_id == bot_id, keyset_after(bot_listings, "listing_id", after))
            .order_by(bot_listings.c.create_time.desc(), bot_listings.c.listing_id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [ListingRecord(**r._mapping) for r in rows]
