"""Admin API: token protection, accounts and balances, order listing, the CLI entry point."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exchange_sim import AdminAPIError, AdminClient, SimConfig, SimServer, running_sim

pytestmark = pytest.mark.timeout(60)  # every wait below is bounded; this is a backstop
ExchangeFactory = Callable[..., Any]
REPO = Path(__file__).resolve().parents[2]


async def test_admin_token_is_required_when_configured(signed: Any) -> None:
    async with running_sim(SimConfig(admin_token="s3cret")) as server:
        async with AdminClient(server.base_url) as anonymous:
            with pytest.raises(AdminAPIError) as exc:
                await anonymous.create_account({"USDT": "1"})
            assert exc.value.status == 401
        async with AdminClient(server.base_url, token="s3cret") as admin:
            creds = await admin.create_account({"USDT": "1"})
            assert creds.api_key and creds.api_secret
        assert (await signed(server.base_url, "GET", "/api/v3/ping")).status == 200


async def test_accounts_can_be_created_with_chosen_credentials_and_funded(
    sim: SimServer, admin: AdminClient, make_exchange: ExchangeFactory
) -> None:
    creds = await admin.create_account({"usdt": "12.5"}, api_key="e2e-key-1", api_secret="e2e-sec")
    assert (creds.api_key, creds.api_secret) == ("e2e-key-1", "e2e-sec")
    with pytest.raises(AdminAPIError) as exc:
        await admin.create_account({}, api_key="e2e-key-1")
    assert exc.value.status == 409
    await admin.set_balances(creds.api_key, {"BTC": "0.25"}, mode="add")
    await admin.set_balances(creds.api_key, {"USDT": "100"})
    balance = await make_exchange(sim, creds).fetch_balance()
    assert balance["USDT"]["total"] == 100 and balance["BTC"]["total"] == 0.25
    account = await admin.account(creds.api_key)
    assert account["balances"]["BTC"] == {"free": "0.25000000", "locked": "0.00000000"}


async def test_admin_order_listing_shows_every_order_with_its_client_id(
    sim: SimServer, admin: AdminClient, make_exchange: ExchangeFactory
) -> None:
    creds = await admin.create_account({"USDT": "5000"})
    ex = make_exchange(sim, creds)
    await ex.create_order("SOL/USDT", "market", "buy", 1, None, {"clientOrderId": "m-1"})
    resting = await ex.create_order("SOL/USDT", "limit", "buy", 1, 10, {"clientOrderId": "l-1"})
    await ex.cancel_order(resting["id"], "SOL/USDT")
    orders = await admin.orders(creds.api_key)
    assert [(o["clientOrderId"], o["status"]) for o in orders] == [
        ("m-1", "FILLED"),
        ("l-1", "CANCELED"),
    ]
    assert all(o["apiKey"] == creds.api_key for o in orders)
    assert len(await admin.trades(creds.api_key, symbol="SOLUSDT")) >= 1
    assert (await admin.stats())["requests"]["POST /api/v3/order"] >= 2


async def test_an_account_can_be_charged_fees_in_the_asset_it_receives(
    sim: SimServer, admin: AdminClient, make_exchange: ExchangeFactory
) -> None:
    creds = await admin.create_account({"USDT": "5000"}, fee_asset="received")
    assert (await admin.account(creds.api_key))["fee_asset"] == "received"
    bought = await make_exchange(sim, creds).create_order("SOL/USDT", "market", "buy", 1)
    fills = await admin.trades(creds.api_key, symbol="SOLUSDT")
    assert {f["commissionAsset"] for f in fills if f["orderId"] == int(bought["id"])} == {"SOL"}
    with pytest.raises(AdminAPIError) as exc:
        await admin.create_account({}, fee_asset="BNB")
    assert exc.value.status == 400


async def test_unknown_account_and_symbol_are_404(admin: AdminClient) -> None:
    for call in (admin.account("missing"), admin.set_price("DOGEUSDT", "1")):
        with pytest.raises(AdminAPIError) as exc:
            await call
        assert exc.value.status == 404


async def test_cli_serves_on_the_requested_port_and_stops_on_sigterm() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "exchange_sim",
        "--port",
        "0",
        "--seed",
        "9",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        async with (
            aiohttp.ClientSession() as session,
            session.get(match.group(1) + "/admin/health") as resp,
        ):
            health = await resp.json()
        assert health["ok"] is True and health["seed"] == 9
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
