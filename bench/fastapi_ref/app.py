"""The FastAPI + uvicorn reference: `GET /v1/bots/{bot_id}` doing the authenticated, cached
read that GetBot does through Envoy, written the way a FastAPI user would write it, over the
same MariaDB tables and the same Redis.

What each request does, as the mesh does it:
- the API key (`x-api-key: bm_<key_id>_<secret>`) is split and its row read from `api_keys`
  through a process cache of AUTH_CACHE_TTL_S (the mesh's default BOTMESH_AUTH_CACHE_TTL), so
  a revocation is seen within that time; the secret's HMAC-SHA256 under the pepper is
  compared in constant time on every request (mesh.apikeys, the one implementation of the
  rule); a revoked or expired key, or one without a scope GetBot's access rule names (read
  from the contract, mesh.access), is refused;
- the bot comes from a process cache of NEAR_TTL_S (the mesh's near cache), else Redis
  (CACHE_TTL_S), else the `bots` row, and is answered as the JSON Envoy's transcoder prints
  for GetBotResponse (proto field names, every primitive field, RFC 3339 times). The cache
  holds the record; FastAPI encodes it on every request, as GetBot builds and encodes its
  message on every request.

What it leaves out, as a plain FastAPI app would: per-key rate limits, metrics, request
validation beyond the path, audit of key use. Errors are FastAPI's `{"detail": ...}`.

Settings are the mesh's own variables: BOTMESH_DATABASE_URL, BOTMESH_REDIS_URL,
BOTMESH_API_KEY_PEPPER. Run: `uvicorn bench.fastapi_ref.app:app` (bench/fastapi_ref/run.py).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from botmesh.credential.v1 import marketplace_service_pb2
from fastapi import Depends, FastAPI, Header, HTTPException
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from mesh.access import access_for
from mesh.apikeys import parse_key, secret_matches

AUTH_CACHE_TTL_S = 2.0
NEAR_TTL_S = 5.0
CACHE_TTL_S = 300
_SERVICE = marketplace_service_pb2.DESCRIPTOR.services_by_name["MarketplaceService"]
_ACCESS = access_for(f"/{_SERVICE.full_name}/GetBot")
assert _ACCESS is not None  # a method of our contract always has a rule
# Any of these scopes may call GetBot (the access rule in the contract).
GETBOT_SCOPES = _ACCESS.scopes
# RiskLimits' fields in proto order; cooldown_seconds is the one int32.
RISK_FIELDS = (
    "stop_loss_pct",
    "take_profit_pct",
    "max_drawdown_pct",
    "daily_loss_limit",
    "cooldown_seconds",
    "max_allocation",
)
_KEY_SQL = sa.text(
    "SELECT secret_hash, scopes, expire_time, revoke_time FROM api_keys WHERE key_id = :key_id"
)
_BOT_SQL = sa.text(
    "SELECT bot_id, name, description, strategy, strategy_params, markets, timeframe,"
    " risk_limits, advisor_enabled, author_key_id, create_time, update_time,"
    " author_principal, stake FROM bots WHERE bot_id = :bot_id"
)


@dataclass(frozen=True)
class KeyRow:
    secret_hash: bytes
    scopes: frozenset[str]
    expire_time: datetime | None
    revoke_time: datetime | None


@dataclass
class World:
    engine: AsyncEngine
    redis: Redis
    pepper: str
    keys: dict[str, tuple[float, KeyRow | None]]
    bots: dict[str, tuple[float, dict[str, Any]]]


def rfc3339(value: datetime) -> str:
    """A naive UTC DATETIME as protobuf's JSON prints a Timestamp: 0, 3 or 6 digits of
    fraction, then Z."""
    micros = value.microsecond
    if micros == 0:
        fraction = ""
    elif micros % 1000 == 0:
        fraction = f".{micros // 1000:03d}"
    else:
        fraction = f".{micros:06d}"
    return value.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def bot_record(row: Any) -> dict[str, Any]:
    """The Bot message's JSON for a `bots` row."""
    risk = _json(row.risk_limits) or {}
    bot: dict[str, Any] = {
        "bot_id": row.bot_id,
        "name": row.name,
        "description": row.description,
        "strategy": row.strategy,
        "strategy_params": _json(row.strategy_params),
        "markets": _json(row.markets),
        "timeframe": row.timeframe,
        "risk_limits": {
            name: risk.get(name, 0 if name == "cooldown_seconds" else "") for name in RISK_FIELDS
        },
        "advisor_enabled": bool(row.advisor_enabled),
        "author_key_id": row.author_key_id,
        "create_time": rfc3339(row.create_time),
        "update_time": rfc3339(row.update_time),
        "author_principal": row.author_principal,
    }
    stake = _json(row.stake)
    if stake:
        bot["stake"] = stake
    return bot


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    engine = create_async_engine(
        os.environ["BOTMESH_DATABASE_URL"], pool_size=10, pool_pre_ping=True
    )
    redis = Redis.from_url(os.environ["BOTMESH_REDIS_URL"])
    app.state.world = World(engine, redis, os.environ["BOTMESH_API_KEY_PEPPER"], {}, {})
    yield
    await redis.aclose()
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def _key_row(world: World, key_id: str) -> KeyRow | None:
    now = time.monotonic()
    cached = world.keys.get(key_id)
    if cached is not None and now - cached[0] < AUTH_CACHE_TTL_S:
        return cached[1]
    async with world.engine.connect() as conn:
        row = (await conn.execute(_KEY_SQL, {"key_id": key_id})).first()
    found = None
    if row is not None:
        found = KeyRow(
            bytes(row.secret_hash),
            frozenset(s for s in row.scopes.split(",") if s),
            row.expire_time,
            row.revoke_time,
        )
    world.keys[key_id] = (now, found)
    return found


def world_of() -> World:
    return app.state.world  # type: ignore[no-any-return]


async def authenticate(
    world: Annotated[World, Depends(world_of)],
    x_api_key: Annotated[str | None, Header()] = None,
) -> KeyRow:
    parsed = parse_key(x_api_key) if x_api_key else None
    if parsed is None:
        raise HTTPException(401, "send a valid API key in x-api-key")
    row = await _key_row(world, parsed.key_id)
    if row is None or not secret_matches(world.pepper, parsed.secret, row.secret_hash):
        raise HTTPException(401, "the API key is not valid")
    if row.revoke_time is not None:
        raise HTTPException(401, "the API key was revoked")
    if row.expire_time is not None and row.expire_time <= datetime.now(UTC).replace(tzinfo=None):
        raise HTTPException(401, "the API key has expired")
    if not row.scopes & GETBOT_SCOPES:
        raise HTTPException(403, "the API key lacks the scope this method needs")
    return row


async def _bot(world: World, bot_id: str) -> dict[str, Any] | None:
    now = time.monotonic()
    near = world.bots.get(bot_id)
    if near is not None and now < near[0]:
        return near[1]
    cache_key = f"botmesh-ref:bot:{bot_id}"
    raw = await world.redis.get(cache_key)
    if raw is not None:
        bot: dict[str, Any] = json.loads(raw)
    else:
        async with world.engine.connect() as conn:
            row = (await conn.execute(_BOT_SQL, {"bot_id": bot_id})).first()
        if row is None:
            return None
        bot = bot_record(row)
        await world.redis.set(cache_key, json.dumps(bot), ex=CACHE_TTL_S)
    world.bots[bot_id] = (now + NEAR_TTL_S, bot)
    return bot


@app.get("/v1/bots/{bot_id}")
async def get_bot(
    bot_id: str,
    key: Annotated[KeyRow, Depends(authenticate)],
    world: Annotated[World, Depends(world_of)],
) -> dict[str, Any]:
    bot = await _bot(world, bot_id)
    if bot is None:
        raise HTTPException(404, f"bot {bot_id} not found")
    return {"bot": bot}
