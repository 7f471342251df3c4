"""Bot stakes over REST through Envoy: what each entry of a bot commits, set when the bot is
published, changed with the `stake` update path, returned by every read (through the
catalog's caches), and refused with the field named when it breaks a rule."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from credential_svc.tables import bots
from mesh.redis import make_redis
from mesh.settings import Settings
from tests.e2e.test_bots_rest import BOT, assert_error, h

CAPPED = {**BOT, "risk_limits": {"stop_loss_pct": "0.05", "max_allocation": "500"}}


async def publish(rest: httpx.AsyncClient, keys: dict[str, str], **fields: Any) -> dict[str, Any]:
    created = await rest.post("/v1/bots", json={**CAPPED, **fields}, headers=h(keys["bots:write"]))
    assert created.status_code == 200, created.text
    bot: dict[str, Any] = created.json()["bot"]
    return bot


async def read(rest: httpx.AsyncClient, keys: dict[str, str], bot_id: str) -> dict[str, Any]:
    got = await rest.get(f"/v1/bots/{bot_id}", headers=h(keys["read"]))
    assert got.status_code == 200, got.text
    bot: dict[str, Any] = got.json()["bot"]
    return bot


async def patch_stake(
    rest: httpx.AsyncClient, keys: dict[str, str], bot_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await rest.patch(
        f"/v1/bots/{bot_id}",
        params={"update_mask": "stake"},
        json=body,
        headers=h(keys["bots:write"]),
    )


async def stored_stake_is_null(engine: Any, bot_id: str) -> bool:
    query = sa.select(bots.c.stake.is_(None)).where(bots.c.bot_id == bot_id)
    async with engine.connect() as conn:
        return bool((await conn.execute(query)).scalar_one())


async def test_a_stake_is_published_read_listed_changed_and_cleared(
    rest: httpx.AsyncClient, keys: dict[str, str], engine: Any
) -> None:
    bot = await publish(rest, keys, stake={"fixed_quote": "100"})
    assert bot["stake"] == {"fixed_quote": "100"}
    assert (await read(rest, keys, bot["bot_id"]))["stake"] == {"fixed_quote": "100"}
    assert (await read(rest, keys, bot["bot_id"]))["stake"] == {"fixed_quote": "100"}  # cached
    listed = await rest.get("/v1/bots", params={"page_size": 100}, headers=h(keys["read"]))
    mine = [b for b in listed.json()["bots"] if b["bot_id"] == bot["bot_id"]]
    assert mine and mine[0]["stake"] == {"fixed_quote": "100"}

    changed = await patch_stake(rest, keys, bot["bot_id"], {"stake": {"allocationFraction": "0.5"}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["bot"]["stake"] == {"allocation_fraction": "0.5"}
    assert (await read(rest, keys, bot["bot_id"]))["stake"] == {"allocation_fraction": "0.5"}

    cleared = await patch_stake(rest, keys, bot["bot_id"], {"description": "no stake now"})
    assert cleared.status_code == 200, cleared.text
    assert "stake" not in cleared.json()["bot"]
    assert "stake" not in await read(rest, keys, bot["bot_id"])
    assert await stored_stake_is_null(engine, bot["bot_id"])  # SQL NULL, not JSON null


async def test_the_cached_copy_of_a_bot_holds_its_current_stake(
    rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings
) -> None:
    bot = await publish(rest, keys, stake={"allocation_fraction": "0.25"})
    await read(rest, keys, bot["bot_id"])  # warms Redis and this process's near cache
    redis = make_redis(settings.redis_url)
    try:
        cached = json.loads(await redis.get(f"botmesh:bot:{bot['bot_id']}"))
        assert cached["stake"] == {"allocation_fraction": "0.25"}
        changed = await patch_stake(rest, keys, bot["bot_id"], {"stake": {"fixed_quote": "7"}})
        assert changed.status_code == 200, changed.text
        cached = json.loads(await redis.get(f"botmesh:bot:{bot['bot_id']}"))
        assert cached["stake"] == {"fixed_quote": "7"}
        assert (await read(rest, keys, bot["bot_id"]))["stake"] == {"fixed_quote": "7"}
    finally:
        await redis.aclose()


async def test_a_bot_published_without_a_stake_has_none(
    rest: httpx.AsyncClient, keys: dict[str, str], engine: Any
) -> None:
    bot = await publish(rest, keys)
    assert "stake" not in bot and "stake" not in await read(rest, keys, bot["bot_id"])
    assert await stored_stake_is_null(engine, bot["bot_id"])


@pytest.mark.parametrize(
    ("stake", "reason", "field"),
    [
        ({"fixed_quote": "0"}, "INVALID_FIELD", "stake.fixed_quote"),
        ({"fixed_quote": "-5"}, "INVALID_FIELD", "stake.fixed_quote"),
        ({"fixed_quote": "1e3"}, "INVALID_FIELD", "stake.fixed_quote"),
        ({"fixed_quote": "NaN"}, "INVALID_FIELD", "stake.fixed_quote"),
        ({"fixed_quote": "1" * 16}, "INVALID_FIELD", "stake.fixed_quote"),
        ({"fixed_quote": "1.123456789"}, "INVALID_FIELD", "stake.fixed_quote"),
        ({"fixed_quote": ""}, "INVALID_FIELD", "stake.fixed_quote"),
        ({"fixed_quote": "500.01"}, "STAKE_ABOVE_MAX_ALLOCATION", "stake.fixed_quote"),
        ({"allocation_fraction": "1.5"}, "INVALID_FIELD", "stake.allocation_fraction"),
        ({"allocation_fraction": "0"}, "INVALID_FIELD", "stake.allocation_fraction"),
        ({"fixed_quote": 100}, None, None),
        ({"percent": "5"}, "UNKNOWN_FIELD", None),
        ({"fixed_quote": "100", "allocation_fraction": "0.5"}, None, None),
        ("100", None, None),
    ],
)
async def test_a_bad_stake_is_a_400_with_a_reason_and_writes_nothing(
    rest: httpx.AsyncClient, keys: dict[str, str], stake: Any, reason: str | None, field: str | None
) -> None:
    name = f"bad stake {stake!r}"[:64]
    resp = await rest.post(
        "/v1/bots", json={**CAPPED, "name": name, "stake": stake}, headers=h(keys["bots:write"])
    )
    assert_error(resp, 400, reason=reason, field=field)
    listed = await rest.get("/v1/bots", params={"page_size": 100}, headers=h(keys["read"]))
    assert name not in [b["name"] for b in listed.json()["bots"]]


async def test_an_update_names_the_field_of_a_bad_stake_and_keeps_the_old_one(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    bot = await publish(rest, keys, stake={"fixed_quote": "100"})
    too_big = await patch_stake(rest, keys, bot["bot_id"], {"stake": {"fixed_quote": "501"}})
    assert_error(too_big, 400, reason="STAKE_ABOVE_MAX_ALLOCATION", field="bot.stake.fixed_quote")
    not_a_fraction = await patch_stake(
        rest, keys, bot["bot_id"], {"stake": {"allocation_fraction": "2"}}
    )
    assert_error(not_a_fraction, 400, reason="INVALID_FIELD", field="bot.stake.allocation_fraction")
    lower_cap = await rest.patch(
        f"/v1/bots/{bot['bot_id']}",
        params={"update_mask": "risk_limits"},
        json={"risk_limits": {"max_allocation": "50"}},
        headers=h(keys["bots:write"]),
    )
    assert_error(lower_cap, 400, reason="STAKE_ABOVE_MAX_ALLOCATION")
    kept = await read(rest, keys, bot["bot_id"])
    assert kept["stake"] == {"fixed_quote": "100"}
    assert kept["risk_limits"]["max_allocation"] == "500"
