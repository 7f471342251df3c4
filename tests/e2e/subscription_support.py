"""Helpers for the subscription e2e tests: a renter with a verified credential and a bot to
rent, all made through REST, and readers of the subscription-change stream."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import httpx
import redis.asyncio as aioredis

from credential_svc.subscriptions.events import STREAM
from mesh.settings import Settings
from tests.e2e.outbox_support import outbox_drained
from tests.e2e.vault_support import (
    add_credential,
    make_listing,
    new_principal,
    ph,
    register,
)

RISKY_BOT: dict[str, Any] = {
    "name": "capped bot",
    "strategy": "ma_crossover",
    "markets": ["BTC-USDT", "ETH-USDT"],
    "timeframe": "1h",
    "risk_limits": {
        "stop_loss_pct": "0.05",
        "max_drawdown_pct": "0.2",
        "cooldown_seconds": 60,
        "max_allocation": "500",
    },
}


@dataclass
class Renter:
    principal: str
    user_id: str
    credential_id: str
    bot_id: str
    headers: dict[str, str]
    # The bot's listing that terms() rents through (made by the bot's author).
    listing_id: str = ""
    # The exchange_sim account's API key behind the credential (to change its permissions).
    exchange_api_key: str = ""


async def make_renter(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: Any, *, verify: bool = True
) -> Renter:
    """A registered principal with a credential (verified against exchange_sim, so ACTIVE)
    and a freshly published bot with risk limits, listed at LISTING_PRICE_E8S per
    LISTING_PERIOD_DAYS (so payment()'s default amount covers any period)."""
    key, principal = keys["marketplace"], new_principal()
    user = await register(rest, key, principal)
    async with exchange_sim.admin() as admin:
        account = await admin.create_account({"USDT": "1000"})
    cred = await add_credential(rest, key, principal, account.api_key, account.api_secret)
    if verify:
        resp = await rest.post(
            f"/v1/credentials/{cred['credential_id']}:verify", json={}, headers=ph(key, principal)
        )
        assert resp.status_code == 200 and resp.json()["accepted"], resp.text
    bot = await rest.post("/v1/bots", json=RISKY_BOT, headers={"x-api-key": keys["bots:write"]})
    assert bot.status_code == 200, bot.text
    bot_id = str(bot.json()["bot"]["bot_id"])
    listing = await make_listing(rest, keys["bots:write"], bot_id)
    return Renter(
        principal,
        str(user["user_id"]),
        str(cred["credential_id"]),
        bot_id,
        ph(key, principal),
        str(listing["listing_id"]),
        account.api_key,
    )


def terms(renter: Renter, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "bot_id": renter.bot_id,
        "listing_id": renter.listing_id,
        "credential_id": renter.credential_id,
        "market": "BTC-USDT",
        "allocation": "250.00",
    }
    body.update(changes)
    return body


async def subscribe(rest: httpx.AsyncClient, renter: Renter, **changes: Any) -> dict[str, Any]:
    resp = await rest.post(
        "/v1/subscriptions", json=terms(renter, **changes), headers=renter.headers
    )
    assert resp.status_code == 200, resp.text
    sub: dict[str, Any] = resp.json()["subscription"]
    return sub


def payment(block_index: int | None = None, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ledger": "ryjl3-tyaaa-aaaaa-aaaba-cai",
        "block_index": str(block_index if block_index is not None else new_block()),
        "amount_e8s": "100000000",
        "period_days": 30,
    }
    body.update(changes)
    return body


def new_block() -> int:
    return int.from_bytes(os.urandom(6), "big")


async def pay(
    rest: httpx.AsyncClient, renter: Renter, sub_id: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    resp = await rest.post(
        f"/v1/subscriptions/{sub_id}/payments", json=body or payment(), headers=renter.headers
    )
    assert resp.status_code == 200, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def changes_of(settings: Settings, sub_id: str) -> list[dict[str, str]]:
    """Entries of the subscription-change stream about one subscription, oldest first,
    once every change committed so far has been relayed from the outbox."""
    await outbox_drained(settings)
    redis = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        entries: list[tuple[str, dict[str, str]]] = await redis.xrange(STREAM)  # type: ignore[assignment]
    finally:
        await redis.aclose()
    return [fields for _, fields in entries if fields.get("subscription_id") == sub_id]
