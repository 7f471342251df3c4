"""Who may write the catalog, through Envoy: a bot belongs to its author (the principal a
marketplace key names, or else the publishing key), and only its author or an admin key may
change it or list it. To anyone else the bot answers exactly as a bot that does not exist,
and nothing is written.

The matrix covers every catalog RPC bound to POST, PATCH or DELETE, read from the service
descriptor: a new catalog write fails test_the_matrix_covers_every_catalog_write until it
is added to WRITES.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from botmesh.credential.v1 import marketplace_service_pb2

from mesh.access import is_mutation
from mesh.apikeys import parse_key
from mesh.ids import new_id
from tests.e2e.test_bots_rest import BOT, assert_error
from tests.e2e.vault_support import MARKETPLACE_CANISTER, new_principal

SERVICE = marketplace_service_pb2.DESCRIPTOR.services_by_name["MarketplaceService"]
Headers = dict[str, str]
Call = Callable[[httpx.AsyncClient, Headers, str], Awaitable[httpx.Response]]


def _listing() -> dict[str, Any]:
    return {
        "canister_id": MARKETPLACE_CANISTER,
        "marketplace_listing_id": new_id("mkt"),
        "price_e8s": "250000000",
        "period_days": 30,
    }


# How each catalog write is aimed at a bot (CreateBot names none: it makes the caller's own).
WRITES: dict[str, Call] = {
    "CreateBot": lambda r, h, bot_id: r.post("/v1/bots", json=BOT, headers=h),
    "UpdateBot": lambda r, h, bot_id: r.patch(
        f"/v1/bots/{bot_id}",
        params={"update_mask": "name"},
        json={"name": "taken over"},
        headers=h,
    ),
    "CreateListing": lambda r, h, bot_id: r.post(
        f"/v1/bots/{bot_id}/listings", json=_listing(), headers=h
    ),
}


def test_the_matrix_covers_every_catalog_write() -> None:
    writes = {m.name for m in SERVICE.methods if is_mutation(f"/{SERVICE.full_name}/{m.name}")}
    assert writes == set(WRITES)


@dataclass(frozen=True)
class Cast:
    """Everyone in the matrix: two bots:write keys, one marketplace key naming the author
    principal or another, a second marketplace key, and an admin key."""

    author_key: str
    other_key: str
    market_key: str
    second_market_key: str
    admin_key: str
    author_principal: str
    other_principal: str

    def headers(self, actor: str) -> Headers:
        key, principal = {
            "author key": (self.author_key, None),
            "other bots:write key": (self.other_key, None),
            "marketplace key, author principal": (self.market_key, self.author_principal),
            "marketplace key, other principal": (self.market_key, self.other_principal),
            "other marketplace key, author principal": (
                self.second_market_key,
                self.author_principal,
            ),
            "admin key": (self.admin_key, None),
        }[actor]
        out = {"x-api-key": key}
        if principal is not None:
            out["x-principal-id"] = principal
        return out


@pytest.fixture(scope="module")
async def cast(keys: dict[str, str], issue_key) -> Cast:  # type: ignore[no-untyped-def]
    _, other = await issue_key("bots:write", name="another author")
    _, second_market = await issue_key("marketplace", name="another marketplace")
    return Cast(
        author_key=keys["bots:write"],
        other_key=other,
        market_key=keys["marketplace"],
        second_market_key=second_market,
        admin_key=keys["admin"],
        author_principal=new_principal(),
        other_principal=new_principal(),
    )


# Who is allowed, for a bot published by the key itself and for one published by a
# marketplace key for a principal. Everyone else gets BOT_NOT_FOUND.
ALLOWED = {
    "key": {"author key", "admin key"},
    "principal": {
        "marketplace key, author principal",
        "other marketplace key, author principal",
        "admin key",
    },
}
ACTORS = sorted(
    {
        "author key",
        "other bots:write key",
        "marketplace key, author principal",
        "marketplace key, other principal",
        "other marketplace key, author principal",
        "admin key",
    }
)


async def publish(rest: httpx.AsyncClient, cast: Cast, owner: str) -> dict[str, Any]:
    author = cast.headers("author key" if owner == "key" else "marketplace key, author principal")
    resp = await rest.post("/v1/bots", json=BOT, headers=author)
    assert resp.status_code == 200, resp.text
    bot: dict[str, Any] = resp.json()["bot"]
    return bot


async def snapshot(rest: httpx.AsyncClient, cast: Cast, bot_id: str) -> tuple[Any, Any]:
    reader = {"x-api-key": cast.author_key}  # reads are open to any key
    bot = await rest.get(f"/v1/bots/{bot_id}", headers=reader)
    listings = await rest.get(f"/v1/bots/{bot_id}/listings", headers=reader)
    assert bot.status_code == listings.status_code == 200, (bot.text, listings.text)
    return bot.json(), listings.json()


@pytest.mark.parametrize("owner", ["key", "principal"])
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("rpc", sorted(set(WRITES) - {"CreateBot"}))
async def test_only_the_author_or_admin_writes_a_bot(
    rpc: str, actor: str, owner: str, rest: httpx.AsyncClient, cast: Cast
) -> None:
    bot = await publish(rest, cast, owner)
    bot_id = bot["bot_id"]
    before = await snapshot(rest, cast, bot_id)
    resp = await WRITES[rpc](rest, cast.headers(actor), bot_id)
    if actor in ALLOWED[owner]:
        assert resp.status_code == 200, resp.text
        assert await snapshot(rest, cast, bot_id) != before
        return
    assert_error(resp, 404, reason="BOT_NOT_FOUND")
    # Byte for byte the answer for a bot that does not exist, but for the id itself.
    missing = await WRITES[rpc](rest, cast.headers(actor), "bot_doesnotexist")
    assert resp.text.replace(bot_id, "bot_doesnotexist") == missing.text
    assert await snapshot(rest, cast, bot_id) == before


@pytest.mark.parametrize("actor", ACTORS)
async def test_whoever_publishes_a_bot_is_its_author(
    actor: str, rest: httpx.AsyncClient, cast: Cast
) -> None:
    headers = cast.headers(actor)
    resp = await WRITES["CreateBot"](rest, headers, "")
    assert resp.status_code == 200, resp.text
    bot = resp.json()["bot"]
    assert bot.get("author_principal", "") == headers.get("x-principal-id", "")
    parsed = parse_key(headers["x-api-key"])
    assert parsed is not None and bot["author_key_id"] == parsed.key_id
    # ... and may change it: a principal through any marketplace key naming it.
    update = await WRITES["UpdateBot"](rest, headers, bot["bot_id"])
    assert update.status_code == 200, update.text
    assert update.json()["bot"]["name"] == "taken over"


async def test_a_marketplace_key_naming_no_principal_is_nobodys_author(
    rest: httpx.AsyncClient, cast: Cast
) -> None:
    bot_id = (await publish(rest, cast, "principal"))["bot_id"]
    before = await snapshot(rest, cast, bot_id)
    alone = {"x-api-key": cast.market_key}
    for rpc in sorted(WRITES):
        assert_error(await WRITES[rpc](rest, alone, bot_id), 401, reason="PRINCIPAL_MISSING")
    assert await snapshot(rest, cast, bot_id) == before


async def test_reads_stay_open_to_read_keys(
    rest: httpx.AsyncClient, cast: Cast, keys: dict[str, str]
) -> None:
    bot_id = (await publish(rest, cast, "principal"))["bot_id"]
    reader = {"x-api-key": keys["read"]}
    for path in (f"/v1/bots/{bot_id}", f"/v1/bots/{bot_id}/listings", "/v1/bots"):
        assert (await rest.get(path, headers=reader)).status_code == 200
