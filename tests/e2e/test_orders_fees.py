"""Fees charged in the base asset (issue 8, item 9): Binance takes a buy's fee from the coins
bought, so the subscription holds less than it bought. Its position, and what it may sell,
is what the exchange account really received."""

from __future__ import annotations

from decimal import Decimal

import httpx

from exchange_sim import SimServer
from tests.e2e.trading_support import idem, open_account

BOUGHT = Decimal("0.002")


def _order(side: str, quantity: Decimal) -> dict[str, str]:
    return {"side": side, "type": "ORDER_TYPE_MARKET", "quantity": str(quantity)}


async def test_a_buy_fee_in_the_base_asset_counts_against_the_position(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    engine,  # type: ignore[no-untyped-def]
    exchange_sim: SimServer,
) -> None:
    async with exchange_sim.admin() as admin:
        account = await open_account(rest, keys, engine, admin, fee_asset="received")
        bought = await rest.post(
            account.path("/orders"),
            json=_order("ORDER_SIDE_BUY", BOUGHT),
            headers=idem(account.headers),
        )
        assert bought.status_code == 200, bought.text
        assert bought.json()["order"]["state"] == "ORDER_STATE_FILLED"
        fills = (await rest.get(account.path("/trades"), headers=account.headers)).json()
        status = (await rest.get(account.path("/status"), headers=account.headers)).json()
        balances = (await admin.account(account.sim.api_key))["balances"]

        fee = sum(Decimal(t["fee"]) for t in fills["trades"])
        assert fee > 0
        assert {t["fee_asset"] for t in fills["trades"]} == {"BTC"}
        position = Decimal(status["status"]["position"])
        assert position == BOUGHT - fee == Decimal(balances["BTC"]["free"])
        # Quote committed is what was paid, with no fee on top.
        paid = sum(Decimal(t["price"]) * Decimal(t["quantity"]) for t in fills["trades"])
        assert Decimal(status["status"]["committed"]) == paid

        # Selling all that was bought would sell coins the subscription does not hold.
        refused = await rest.post(
            account.path("/orders"),
            json=_order("ORDER_SIDE_SELL", BOUGHT),
            headers=idem(account.headers),
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["details"][0]["reason"] == "POSITION_EXCEEDED"
        held = position.quantize(Decimal("0.00001"), rounding="ROUND_DOWN")  # lot step
        sold = await rest.post(
            account.path("/orders"),
            json=_order("ORDER_SIDE_SELL", held),
            headers=idem(account.headers),
        )
        assert sold.status_code == 200, sold.text
        assert sold.json()["order"]["state"] == "ORDER_STATE_FILLED"
