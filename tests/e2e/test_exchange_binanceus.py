"""A second exchange id end to end through Envoy: a `binanceus` credential is verified,
rented, and trades, with ccxt's own binanceus class (in credential_svc and trading_svc)
pointed at exchange_sim. And the exchanges we cannot trade on are refused up front, naming
what they lack."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from exchange_sim import SimServer
from tests.e2e.subscription_support import Renter, pay, subscribe
from tests.e2e.test_bots_rest import assert_error
from tests.e2e.trading_support import idem
from tests.e2e.vault_support import make_bot, make_listing, new_principal, ph, register


async def _credential(
    rest: httpx.AsyncClient, headers: dict[str, str], exchange: str, key: str, secret: str
) -> httpx.Response:
    body = {"exchange": exchange, "label": exchange, "api_key": key, "api_secret": secret}
    return await rest.post("/v1/credentials", json=body, headers=idem(headers))


async def test_verify_subscribe_and_trade_on_binanceus(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: SimServer
) -> None:
    principal = new_principal()
    headers = ph(keys["marketplace"], principal)
    user = await register(rest, keys["marketplace"], principal)
    async with exchange_sim.admin() as admin:
        account = await admin.create_account({"USDT": "10000"})

        created = await _credential(rest, headers, "binanceus", account.api_key, account.api_secret)
        assert created.status_code == 200, created.text
        credential = created.json()["credential"]
        assert credential["exchange"] == "binanceus"
        verified = await rest.post(
            f"/v1/credentials/{credential['credential_id']}:verify", json={}, headers=headers
        )
        assert verified.status_code == 200, verified.text
        assert verified.json()["accepted"], verified.text
        assert verified.json()["credential"]["state"] == "CREDENTIAL_STATE_ACTIVE"

        bot_id = await make_bot(rest, keys["bots:write"])
        listing = await make_listing(rest, keys["bots:write"], bot_id)
        renter = Renter(
            principal,
            str(user["user_id"]),
            str(credential["credential_id"]),
            bot_id,
            headers,
            str(listing["listing_id"]),
        )
        sub = await subscribe(rest, renter, allocation="1000")
        paid = await pay(rest, renter, sub["subscription_id"])
        assert paid["subscription"]["state"] == "SUBSCRIPTION_STATE_ACTIVE"
        path = f"/v1/subscriptions/{sub['subscription_id']}"

        placed = await rest.post(
            f"{path}/orders",
            json={"side": "ORDER_SIDE_BUY", "type": "ORDER_TYPE_MARKET", "quantity": "0.001"},
            headers=idem(headers),
        )
        assert placed.status_code == 200, placed.text
        order = placed.json()["order"]
        assert order["state"] == "ORDER_STATE_FILLED" and order["filled_quantity"] == "0.001"
        on_exchange = await admin.orders(account.api_key)
        assert [o["clientOrderId"] for o in on_exchange] == [order["client_order_id"]]

        listed = await rest.get(f"{path}/orders", headers=headers)
        assert listed.status_code == 200, listed.text
        [got] = listed.json()["orders"]
        assert got["order_id"] == order["order_id"] and got["state"] == "ORDER_STATE_FILLED"
        trades = (await rest.get(f"{path}/trades", headers=headers)).json()["trades"]
        assert sum(Decimal(t["quantity"]) for t in trades) == Decimal("0.001")

        resting = await rest.post(
            f"{path}/orders",
            json={
                "side": "ORDER_SIDE_BUY",
                "type": "ORDER_TYPE_LIMIT",
                "quantity": "0.001",
                "price": "10000",
            },
            headers=idem(headers),
        )
        assert resting.status_code == 200, resting.text
        limit = resting.json()["order"]
        assert limit["state"] == "ORDER_STATE_OPEN"
        canceled = await rest.post(
            f"{path}/orders/{limit['order_id']}:cancel", json={}, headers=idem(headers)
        )
        assert canceled.status_code == 200, canceled.text
        assert canceled.json()["order"]["state"] == "ORDER_STATE_CANCELED"
        statuses = {o["clientOrderId"]: o["status"] for o in await admin.orders(account.api_key)}
        assert statuses[limit["client_order_id"]] == "CANCELED"


@pytest.mark.parametrize(
    ("exchange", "missing"),
    [("kraken", "permissions"), ("binanceusdm", "spot"), ("coinbase", "permissions")],
)
async def test_an_exchange_lacking_a_capability_is_refused_naming_it(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange: str, missing: str
) -> None:
    principal = new_principal()
    headers = ph(keys["marketplace"], principal)
    await register(rest, keys["marketplace"], principal)
    resp = await _credential(rest, headers, exchange, "k" * 24, "s" * 32)
    body = assert_error(resp, 400, reason="EXCHANGE_LACKS_CAPABILITY")
    info: dict[str, Any] = next(d for d in body["details"] if "ErrorInfo" in d["@type"])
    assert info["metadata"]["missing"] == missing
    assert info["metadata"]["exchange"] == exchange
    assert missing in body["message"]
    listed = await rest.get("/v1/credentials", headers=headers)
    assert listed.status_code == 200 and not listed.json().get("credentials"), listed.text


async def test_an_unknown_exchange_is_unsupported(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    principal = new_principal()
    headers = ph(keys["marketplace"], principal)
    await register(rest, keys["marketplace"], principal)
    resp = await _credential(rest, headers, "nosuchexchange", "k" * 24, "s" * 32)
    assert_error(resp, 400, reason="EXCHANGE_UNSUPPORTED")
