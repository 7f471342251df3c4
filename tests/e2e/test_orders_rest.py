"""Manual orders over REST through Envoy: trading_svc, the real credential release, ccxt's
binance class against exchange_sim, MariaDB and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from credential_svc.tables import subscriptions
from exchange_sim import AdminClient, SimServer
from tests.e2e.test_bots_rest import assert_error
from tests.e2e.trading_support import Account, idem, open_account


@pytest.fixture
async def admin(exchange_sim: SimServer) -> AsyncIterator[AdminClient]:
    async with exchange_sim.admin() as client:
        yield client


@pytest.fixture
async def account(rest, keys, engine, admin: AdminClient) -> Account:  # type: ignore[no-untyped-def]
    return await open_account(rest, keys, engine, admin, allocation="1000")


async def place(rest: httpx.AsyncClient, account: Account, **body: str) -> httpx.Response:
    return await rest.post(account.path("/orders"), json=body, headers=idem(account.headers))


async def test_market_buy_fills_and_is_listed(
    rest: httpx.AsyncClient, account: Account, admin: AdminClient
) -> None:
    resp = await place(
        rest, account, side="ORDER_SIDE_BUY", type="ORDER_TYPE_MARKET", quantity="0.001"
    )
    assert resp.status_code == 200, resp.text
    order = resp.json()["order"]
    assert order["state"] == "ORDER_STATE_FILLED"
    assert order["filled_quantity"] == "0.001"
    assert order["client_order_id"] == "bm-" + order["order_id"].split("_", 1)[1]
    on_exchange = await admin.orders(account.sim.api_key)
    assert [o["clientOrderId"] for o in on_exchange] == [order["client_order_id"]]

    listed = await rest.get(account.path("/orders"), headers=account.headers)
    assert listed.status_code == 200 and listed.json()["orders"][0]["order_id"] == order["order_id"]
    fills = (await rest.get(account.path("/trades"), headers=account.headers)).json()["trades"]
    assert sum(Decimal(t["quantity"]) for t in fills) == Decimal("0.001")
    assert {t["order_id"] for t in fills} == {order["order_id"]}

    status = (await rest.get(account.path("/status"), headers=account.headers)).json()["status"]
    assert Decimal(status["position"]) == Decimal("0.001")
    assert Decimal(status["committed"]) > 0 and status["allocation"] == "1000"


async def test_limit_order_rests_then_cancels(
    rest: httpx.AsyncClient, account: Account, admin: AdminClient
) -> None:
    resp = await place(
        rest,
        account,
        side="ORDER_SIDE_BUY",
        type="ORDER_TYPE_LIMIT",
        quantity="0.001",
        price="10000",
    )
    assert resp.status_code == 200, resp.text
    order = resp.json()["order"]
    assert order["state"] == "ORDER_STATE_OPEN"
    canceled = await rest.post(
        account.path(f"/orders/{order['order_id']}:cancel"), json={}, headers=idem(account.headers)
    )
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["order"]["state"] == "ORDER_STATE_CANCELED"
    again = await rest.post(
        account.path(f"/orders/{order['order_id']}:cancel"), json={}, headers=idem(account.headers)
    )
    assert_error(again, 400, reason="ORDER_NOT_OPEN")


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"quantity": "0"}, 400, None),
        ({"quantity": "-0.01"}, 400, None),
        ({"quantity": "0.000001"}, 400, "ORDER_FILTER"),
        ({"quantity": "0.00005"}, 400, "BELOW_MIN_NOTIONAL"),
        ({"quantity": "1"}, 400, "ALLOCATION_EXCEEDED"),
        ({"quantity": "0.001", "side": "ORDER_SIDE_SELL"}, 400, "POSITION_EXCEEDED"),
    ],
)
async def test_bad_orders_never_reach_the_exchange(
    rest: httpx.AsyncClient,
    account: Account,
    admin: AdminClient,
    body: dict[str, str],
    status: int,
    reason: str | None,
) -> None:
    full = {"side": "ORDER_SIDE_BUY", "type": "ORDER_TYPE_MARKET", **body}
    resp = await place(rest, account, **full)
    assert_error(resp, status, reason=reason)
    assert await admin.orders(account.sim.api_key) == []
    assert (await rest.get(account.path("/orders"), headers=account.headers)).json().get(
        "orders", []
    ) == []


async def test_unknown_market_is_refused(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    engine,
    admin: AdminClient,  # type: ignore[no-untyped-def]
) -> None:
    account = await open_account(rest, keys, engine, admin, market="DOGE-XYZ")
    resp = await place(rest, account, side="ORDER_SIDE_BUY", type="ORDER_TYPE_MARKET", quantity="1")
    assert_error(resp, 400, reason="MARKET_UNKNOWN")
    assert await admin.orders(account.sim.api_key) == []


async def test_another_principals_subscription_is_not_found(
    rest: httpx.AsyncClient,
    account: Account,
    keys: dict[str, str],
    engine,
    admin: AdminClient,  # type: ignore[no-untyped-def]
) -> None:
    other = await open_account(rest, keys, engine, admin)
    for resp in (
        await rest.get(account.path("/orders"), headers=other.headers),
        await rest.get(account.path("/trades"), headers=other.headers),
        await place(
            rest,
            Account(other.principal, account.subscription_id, other.sim, other.headers),
            side="ORDER_SIDE_BUY",
            type="ORDER_TYPE_MARKET",
            quantity="0.001",
        ),
    ):
        assert_error(resp, 404, reason="SUBSCRIPTION_NOT_FOUND")


async def test_a_subscription_whose_paid_time_ran_out_places_nothing(
    rest: httpx.AsyncClient,
    account: Account,
    admin: AdminClient,
    engine,  # type: ignore[no-untyped-def]
) -> None:
    # The row still says ACTIVE (the expiry sweeper has not run yet): expiry applies at once.
    async with engine.begin() as conn:
        await conn.execute(
            subscriptions.update()
            .where(subscriptions.c.subscription_id == account.subscription_id)
            .values(paid_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    resp = await place(
        rest, account, side="ORDER_SIDE_BUY", type="ORDER_TYPE_MARKET", quantity="0.001"
    )
    body = assert_error(resp, 400, reason="SUBSCRIPTION_NOT_ACTIVE")
    assert "expired" in body["message"]
    assert await admin.orders(account.sim.api_key) == []
    status = (await rest.get(account.path("/status"), headers=account.headers)).json()["status"]
    assert status["state"] == "BOT_STATE_STOPPED"
