"""REQUEST_WEIGHT limits: 429 with Retry-After, then a 418 ban for clients that keep going."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import ccxt.async_support as ccxt
import pytest

from exchange_sim import AdminClient, SimServer

pytestmark = pytest.mark.timeout(60)  # every wait below is bounded; this is a backstop
ExchangeFactory = Callable[..., Any]


async def test_exceeding_the_weight_limit_raises_ddos_protection_then_bans_with_418(
    sim: SimServer, admin: AdminClient, make_exchange: ExchangeFactory, signed: Any
) -> None:
    creds = await admin.create_account({"USDT": "1"}, weight_limit=50)
    ex = make_exchange(sim, creds)
    await ex.fetch_balance()  # weight 20
    await ex.fetch_balance()  # 40
    with pytest.raises(ccxt.DDoSProtection, match="429"):
        await ex.fetch_balance()  # 60 > 50
    with pytest.raises(ccxt.DDoSProtection, match="418"):
        await ex.fetch_balance()  # kept going after the 429: banned
    banned = await signed(sim.base_url, "GET", "/api/v3/account", creds=creds)
    assert banned.status == 418 and banned.body["code"] == -1003
    assert "banned until" in banned.body["msg"]
    assert int(banned.headers["Retry-After"]) > 0


async def test_429_carries_retry_after_and_binance_body(
    sim: SimServer, admin: AdminClient, signed: Any
) -> None:
    creds = await admin.create_account({}, weight_limit=30)
    first = await signed(sim.base_url, "GET", "/api/v3/account", creds=creds)
    assert first.status == 200 and first.headers["X-MBX-USED-WEIGHT-1M"] == "20"
    limited = await signed(sim.base_url, "GET", "/api/v3/account", creds=creds)
    assert limited.status == 429
    assert limited.body["code"] == -1003 and "current limit is 30" in limited.body["msg"]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


async def test_limits_of_one_key_do_not_affect_another(
    sim: SimServer, admin: AdminClient, make_exchange: ExchangeFactory
) -> None:
    tight = await admin.create_account({}, weight_limit=1)
    with pytest.raises(ccxt.DDoSProtection):
        await make_exchange(sim, tight).fetch_balance()
    other = await admin.create_account({"USDT": "5"})
    assert (await make_exchange(sim, other).fetch_balance())["USDT"]["total"] == 5


async def test_window_expiry_restores_access_and_bans_expire(
    fresh_sim: SimServer, fresh_admin: AdminClient, make_exchange: ExchangeFactory
) -> None:
    await fresh_admin.set_rate_limits(limit=25, window_s=0.6, ban_seconds=0.6, scope="key")
    creds = await fresh_admin.create_account({"USDT": "7"})
    ex = make_exchange(fresh_sim, creds)
    await ex.fetch_balance()
    with pytest.raises(ccxt.DDoSProtection):
        await ex.fetch_balance()
    await asyncio.sleep(0.65)  # new window
    await ex.fetch_balance()
    with pytest.raises(ccxt.DDoSProtection, match="429"):
        await ex.fetch_balance()
    with pytest.raises(ccxt.DDoSProtection, match="418"):
        await ex.fetch_balance()
    await asyncio.sleep(0.65)  # ban over
    assert (await ex.fetch_balance())["USDT"]["total"] == 7


async def test_ip_scope_counts_public_requests_and_admin_reset_lifts_the_ban(
    fresh_sim: SimServer, fresh_admin: AdminClient, make_exchange: ExchangeFactory
) -> None:
    await fresh_admin.set_rate_limits(limit=3)
    ex = make_exchange(fresh_sim)
    for _ in range(3):
        await ex.fetch_time()
    with pytest.raises(ccxt.DDoSProtection):
        await ex.fetch_time()
    with pytest.raises(ccxt.DDoSProtection, match="418"):
        await ex.fetch_time()
    await fresh_admin.reset_rate_limits()
    assert await ex.fetch_time() > 0
