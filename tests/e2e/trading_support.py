"""Helpers for the trading e2e tests: a user with a real exchange_sim account, its key
stored through the real CreateExchangeCredential and verified (orders need an ACTIVE
credential), and a subscription row inserted through
the real tables (SubscriptionService is built by a later change)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import sqlalchemy as sa

from credential_svc.tables import subscriptions
from exchange_sim import AdminClient, Credentials
from mesh.ids import new_id
from tests.e2e.vault_support import (
    add_credential,
    make_bot,
    make_listing,
    new_principal,
    ph,
    register,
)
from trading_svc.orders.model import TERMINAL
from trading_svc.orders.projection import Projected, ProjectionStore
from trading_svc.tables import orders


@dataclass
class Account:
    principal: str
    subscription_id: str
    sim: Credentials
    headers: dict[str, str]

    def path(self, suffix: str = "") -> str:
        return f"/v1/subscriptions/{self.subscription_id}{suffix}"


async def open_account(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    engine,  # type: ignore[no-untyped-def]
    admin: AdminClient,
    *,
    funds: dict[str, str] | None = None,
    allocation: str = "1000",
    market: str = "BTC-USDT",
    fee_asset: str | None = None,
) -> Account:
    principal = new_principal()
    user = await register(rest, keys["marketplace"], principal)
    sim = await admin.create_account(funds or {"USDT": "10000"}, fee_asset=fee_asset)
    credential = await add_credential(
        rest, keys["marketplace"], principal, sim.api_key, sim.api_secret
    )
    verified = await rest.post(
        f"/v1/credentials/{credential['credential_id']}:verify",
        json={},
        headers=ph(keys["marketplace"], principal),
    )
    assert verified.status_code == 200 and verified.json()["accepted"], verified.text
    bot_id = await make_bot(rest, keys["bots:write"])
    listing = await make_listing(rest, keys["bots:write"], bot_id)
    sub_id = new_id("sub")
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            subscriptions.insert().values(
                subscription_id=sub_id,
                user_id=user["user_id"],
                bot_id=bot_id,
                credential_id=credential["credential_id"],
                market=market,
                allocation=Decimal(allocation),
                risk_overrides={},
                state="ACTIVE",
                paid_until=None,
                create_time=now,
                update_time=now,
                listing_id=listing["listing_id"],
                price_e8s=listing_price(listing),
                period_days=listing["period_days"],
            )
        )
    # What the change stream's `created` entry gives trading_svc's projection (the row is
    # inserted here, not through SubscriptionService, so no entry is published).
    await ProjectionStore(engine).apply(
        Projected(
            sub_id,
            str(user["user_id"]),
            str(credential["credential_id"]),
            market,
            "ACTIVE",
            None,
            now,
        )
    )
    return Account(principal, sub_id, sim, ph(keys["marketplace"], principal))


def listing_price(listing: dict[str, object]) -> int:
    return int(str(listing["price_e8s"]))


def idem(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Idempotency-Key": new_id("idem")}


async def settled_orders(engine, sub_id: str, deadline_s: float) -> list[sa.Row]:  # type: ignore[no-untyped-def, type-arg]
    """The subscription's orders once all are terminal (or the deadline passed)."""
    end = time.monotonic() + deadline_s
    while True:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(sa.select(orders).where(orders.c.subscription_id == sub_id))
            ).all()
        if all(r.state in TERMINAL for r in rows) or time.monotonic() > end:
            return list(rows)
        await asyncio.sleep(0.5)
