"""Catalog use cases: publish, read, page and update bots; list them on marketplaces.

Every write names its Actor: a bot records its author when published, and only that author
(or an admin key) may update it or list it (authors.py); to anyone else it is BOT_NOT_FOUND.

Reads of single bots go through a process-local near cache, then Redis, then the database
(the catalog is read far more than written). An update rewrites the Redis copy after
committing and invalidates every process's near copy. A copy is the whole BotRecord, its
stake included, so a stake change reaches readers the way any other change does.

Redis is only a cache here: while it is down, reads go to the database and skip the cache
write. An update first deletes the Redis copy, so with Redis down it is refused (UNAVAILABLE,
by the interceptor) before writing anything, rather than leaving a stale copy behind.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, fields
from datetime import datetime

from redis.asyncio import Redis
from sqlalchemy.exc import IntegrityError

from credential_svc.catalog.authors import Actor, bot_not_found, check_owner
from credential_svc.catalog.bots import BotChanges, BotRecord, apply_changes, check_mask
from credential_svc.catalog.stakes import Stake, check_stake
from credential_svc.catalog.store import CatalogStore, ListingRecord
from mesh.db import utcnow
from mesh.errors import AlreadyExists, NotFound
from mesh.ids import new_id
from mesh.near_cache import NearCache
from mesh.pagination import decode_token, next_page_token, page_size
from mesh.redis import BestEffortCache

CACHE_TTL_S = 300
_FIELDS = frozenset(f.name for f in fields(BotRecord))


def _cache_key(bot_id: str) -> str:
    return f"botmesh:bot:{bot_id}"


def _dump(bot: BotRecord) -> bytes:
    data = asdict(bot)
    data["create_time"] = bot.create_time.isoformat()
    data["update_time"] = bot.update_time.isoformat()
    return json.dumps(data, separators=(",", ":")).encode()


def _load(raw: bytes | str) -> BotRecord:
    data = json.loads(raw)
    data = {k: v for k, v in data.items() if k in _FIELDS}  # a newer writer's extra fields
    data["markets"] = tuple(data["markets"])
    data["create_time"] = datetime.fromisoformat(data["create_time"])
    data["update_time"] = datetime.fromisoformat(data["update_time"])
    data.setdefault("author_principal", "")  # copies cached before owners were recorded
    data.setdefault("stake", None)  # copies cached before bots had stakes
    return BotRecord(**data)


class Catalog:
    def __init__(self, store: CatalogStore, redis: Redis) -> None:
        self._store = store
        self._redis = redis
        self._cache = BestEffortCache(redis, "bots")
        self._near: NearCache[BotRecord] = NearCache(redis, "botmesh:bot-invalidations")

    async def create_bot(
        self,
        author: Actor,
        *,
        name: str,
        description: str,
        strategy: str,
        strategy_params: Mapping[str, str],
        markets: tuple[str, ...],
        timeframe: str,
        risk_limits: Mapping[str, str | int],
        advisor_enabled: bool,
        stake: Stake | None = None,
    ) -> BotRecord:
        check_stake(stake, risk_limits)
        now = utcnow()
        bot = BotRecord(
            bot_id=new_id("bot"),
            name=name,
            description=description,
            strategy=strategy,
            strategy_params=dict(strategy_params),
            markets=tuple(dict.fromkeys(markets)),
            timeframe=timeframe,
            risk_limits=dict(risk_limits),
            advisor_enabled=advisor_enabled,
            stake=None if stake is None else dict(stake),
            author_key_id=author.key_id,
            author_principal=author.author_principal,
            create_time=now,
            update_time=now,
        )
        await self._store.insert_bot(bot)
        return bot

    async def get_bot(self, bot_id: str) -> BotRecord:
        near = self._near.get(bot_id)
        if near is not None:
            return near
        token = self._near.read_token()
        cached = await self._cache.get(_cache_key(bot_id))
        if cached is not None:
            bot = _load(cached)
        else:
            found = await self._store.get_bot(bot_id)
            if found is None:
                raise bot_not_found(bot_id)
            bot = found
            await self._cache.set(_cache_key(bot_id), _dump(bot), ex=CACHE_TTL_S)
        self._near.put(bot_id, bot, token)
        return bot

    async def list_bots(self, requested_size: int, token: str) -> tuple[list[BotRecord], str]:
        size = page_size(requested_size)
        rows = await self._store.list_bots(limit=size + 1, after=decode_token(token))
        return rows[:size], next_page_token(rows, size, lambda b: (b.create_time, b.bot_id))

    async def update_bot(
        self, actor: Actor, bot_id: str, paths: list[str], values: dict[str, object]
    ) -> BotRecord:
        mask = check_mask(paths)
        current = await self._store.get_bot(bot_id)
        if current is None:
            raise bot_not_found(bot_id)
        check_owner(actor, current)
        updated = apply_changes(current, BotChanges(mask, values), utcnow())
        await self._redis.delete(_cache_key(bot_id))  # raises while Redis is down
        await self._store.update_bot(updated)
        await self._cache.set(_cache_key(bot_id), _dump(updated), ex=CACHE_TTL_S)
        await self._near.invalidate(bot_id)
        return updated

    async def create_listing(
        self,
        actor: Actor,
        *,
        bot_id: str,
        canister_id: str,
        marketplace_listing_id: str,
        price_e8s: int,
        period_days: int,
    ) -> ListingRecord:
        check_owner(actor, await self.get_bot(bot_id))  # the author is fixed: a cached copy will do
        listing = ListingRecord(
            listing_id=new_id("lst"),
            bot_id=bot_id,
            canister_id=canister_id,
            marketplace_listing_id=marketplace_listing_id,
            price_e8s=price_e8s,
            period_days=period_days,
            create_time=utcnow(),
        )
        try:
            await self._store.insert_listing(listing)
        except IntegrityError:  # unique (canister_id, marketplace_listing_id)
            raise AlreadyExists(
                "this marketplace listing is already recorded", reason="LISTING_EXISTS"
            ) from None
        return listing

    async def get_listing(self, bot_id: str, listing_id: str) -> ListingRecord:
        """One of the bot's listings; another bot's is as missing as one that never was."""
        listing = await self._store.get_listing(listing_id)
        if listing is None or listing.bot_id != bot_id:
            raise NotFound(f"bot {bot_id} has no listing {listing_id}", reason="LISTING_NOT_FOUND")
        return listing

    async def list_listings(
        self, bot_id: str, requested_size: int, token: str
    ) -> tuple[list[ListingRecord], str]:
        await self.get_bot(bot_id)
        size = page_size(requested_size)
        rows = await self._store.list_listings(bot_id, limit=size + 1, after=decode_token(token))
        return rows[:size], next_page_token(rows, size, lambda r: (r.create_time, r.listing_id))
