"""Payments that mean something, over REST through Envoy: a subscription rents one of the
bot's listings at the price agreed when subscribing, and RecordPayment credits a transfer only
on an accepted ledger, for an amount that covers that price for the days it buys, from a
ledger block never credited to another payment. Every refusal writes nothing: no payment
row, no audit row, no change event, the same paid_until."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from credential_svc.tables import payments
from mesh.settings import Settings
from mesh.tables import audit_log
from tests.e2e.subscription_support import (
    Renter,
    changes_of,
    make_renter,
    new_block,
    payment,
    subscribe,
    terms,
)
from tests.e2e.test_bots_rest import assert_error
from tests.e2e.test_subscriptions_rest import days_from_now
from tests.e2e.vault_support import insert_subscription, make_bot, make_listing

# 1_000_001 e8s per 30 days: 7 days cost 233_333.37 e8s, so at least 233_334.
PRICE, PERIOD = 1_000_001, 30
WEEK, WEEK_MINIMUM = 7, 233_334
CKBTC_LEDGER = "mxzaz-hqaaa-aaaar-qaada-cai"


async def rows(engine: Any, query: sa.Select[Any]) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


class Paid:
    """What a payment attempt could have written about one subscription."""

    def __init__(self, rest: httpx.AsyncClient, engine: Any, settings: Settings) -> None:
        self.rest, self.engine, self.settings = rest, engine, settings

    async def of(self, renter: Renter, sid: str) -> tuple[Any, ...]:
        sub = await self.rest.get(f"/v1/subscriptions/{sid}", headers=renter.headers)
        assert sub.status_code == 200, sub.text
        credited = await rows(
            self.engine, sa.select(sa.func.count()).where(payments.c.subscription_id == sid)
        )
        audited = await rows(
            self.engine,
            sa.select(sa.func.count()).where(
                audit_log.c.action == "payment.record",
                sa.cast(audit_log.c.detail, sa.Text).contains(sid),
            ),
        )
        events = [e["change"] for e in await changes_of(self.settings, sid)]
        return sub.json()["subscription"].get("paid_until"), credited, audited, events


@pytest.fixture
def paid(rest: httpx.AsyncClient, engine: Any, settings: Settings) -> Paid:
    return Paid(rest, engine, settings)


async def priced_renter(rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: Any) -> Renter:
    renter = await make_renter(rest, keys, exchange_sim)
    listing = await make_listing(
        rest, keys["bots:write"], renter.bot_id, price_e8s=PRICE, period_days=PERIOD
    )
    renter.listing_id = str(listing["listing_id"])
    return renter


def post_payment(rest: httpx.AsyncClient, renter: Renter, sid: str, body: dict[str, Any]) -> Any:
    return rest.post(f"/v1/subscriptions/{sid}/payments", json=body, headers=renter.headers)


async def test_a_subscription_keeps_its_listings_price(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: Any
) -> None:
    renter = await priced_renter(rest, keys, exchange_sim)
    sub = await subscribe(rest, renter)
    assert (sub["listing_id"], sub["price_e8s"], sub["period_days"]) == (
        renter.listing_id,
        str(PRICE),
        PERIOD,
    )
    got = await rest.get(f"/v1/subscriptions/{sub['subscription_id']}", headers=renter.headers)
    assert got.json()["subscription"] == sub


@pytest.mark.parametrize(
    ("change", "status", "reason", "field"),
    [
        ({"listing_id": ""}, 400, None, "listing_id"),
        ({"listing_id": "lst_doesnotexist"}, 404, "LISTING_NOT_FOUND", None),
        ({"listing_id": "other bot's"}, 404, "LISTING_NOT_FOUND", None),
    ],
)
async def test_a_subscription_rents_one_of_the_bots_listings(
    change: dict[str, str],
    status: int,
    reason: str | None,
    field: str | None,
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    exchange_sim: Any,
    settings: Settings,
    engine: Any,
) -> None:
    renter = await make_renter(rest, keys, exchange_sim)
    if change["listing_id"] == "other bot's":
        other_bot = await make_bot(rest, keys["bots:write"])
        change = {
            "listing_id": str(
                (await make_listing(rest, keys["bots:write"], other_bot))["listing_id"]
            )
        }
    resp = await rest.post(
        "/v1/subscriptions", json=terms(renter, **change), headers=renter.headers
    )
    assert_error(resp, status, reason=reason, field=field)
    mine = await rest.get("/v1/subscriptions", headers=renter.headers)
    assert mine.json().get("subscriptions", []) == []


async def test_a_payment_must_cover_the_price_for_the_days_it_buys(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: Any, paid: Paid
) -> None:
    renter = await priced_renter(rest, keys, exchange_sim)
    sid = (await subscribe(rest, renter))["subscription_id"]
    before = await paid.of(renter, sid)
    for amount, days in ((WEEK_MINIMUM - 1, WEEK), (1, 1), (PRICE, PERIOD + 1), (PRICE * 12, 366)):
        body = payment(amount_e8s=str(amount), period_days=days)
        body_block = body["block_index"]
        refused = await post_payment(rest, renter, sid, body)
        out = assert_error(refused, 400, reason="PAYMENT_TOO_SMALL")
        info = next(d for d in out["details"] if d["@type"].endswith("ErrorInfo"))
        assert info["metadata"]["field"] == "amount_e8s"
        assert int(info["metadata"]["min_amount_e8s"]) > amount
        assert await paid.of(renter, sid) == before
        taken = sa.select(sa.func.count()).where(payments.c.block_index == int(body_block))
        assert await rows(paid.engine, taken) == 0  # the block stays free for a real payment

    exact = await post_payment(
        rest, renter, sid, payment(amount_e8s=str(WEEK_MINIMUM), period_days=WEEK)
    )
    assert exact.status_code == 200, exact.text
    assert exact.json()["subscription"]["state"] == "SUBSCRIPTION_STATE_ACTIVE"
    whole = await post_payment(rest, renter, sid, payment(amount_e8s=str(PRICE), period_days=30))
    assert whole.status_code == 200, whole.text
    paid_until, credited, audited, events = await paid.of(renter, sid)
    assert (credited, audited, events) == (2, 2, ["created", "paid", "paid"])
    assert 36.9 < days_from_now(paid_until) <= 37  # the week, then the whole period


async def test_only_an_accepted_ledger_pays(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: Any, paid: Paid
) -> None:
    renter = await make_renter(rest, keys, exchange_sim)
    sid = (await subscribe(rest, renter))["subscription_id"]
    before = await paid.of(renter, sid)
    for ledger in (CKBTC_LEDGER, "aaaaa-aa"):
        refused = await post_payment(rest, renter, sid, payment(ledger=ledger))
        assert_error(refused, 400, reason="LEDGER_NOT_ACCEPTED", field="ledger")
    assert await paid.of(renter, sid) == before


async def test_a_ledger_block_pays_once_across_all_subscriptions(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: Any, paid: Paid
) -> None:
    alice = await make_renter(rest, keys, exchange_sim)
    bob = await make_renter(rest, keys, exchange_sim)
    sid = (await subscribe(rest, alice))["subscription_id"]
    alices_other = (await subscribe(rest, alice, market="ETH-USDT"))["subscription_id"]
    bobs = (await subscribe(rest, bob))["subscription_id"]
    body = payment(new_block())
    first = await post_payment(rest, alice, sid, body)
    assert first.status_code == 200, first.text
    credited = await paid.of(alice, sid)

    # The same payment replayed for the same subscription is the payment first recorded.
    again = await post_payment(rest, alice, sid, body)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert await paid.of(alice, sid) == credited

    # The same block for any other subscription, the principal's own or another's, is refused.
    for renter, other in ((alice, alices_other), (bob, bobs)):
        before = await paid.of(renter, other)
        reused = await post_payment(rest, renter, other, body)
        assert_error(reused, 400, reason="PAYMENT_BLOCK_USED")
        assert await paid.of(renter, other) == before
    assert await paid.of(alice, sid) == credited


async def test_a_subscription_without_an_agreed_price_takes_no_payment(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: Any, engine: Any, paid: Paid
) -> None:
    """Rows from before subscriptions were priced fail closed instead of selling time."""
    renter = await make_renter(rest, keys, exchange_sim)
    sid = await insert_subscription(
        engine, renter.user_id, renter.bot_id, renter.credential_id, state="EXPIRED"
    )
    before = await paid.of(renter, sid)
    refused = await post_payment(rest, renter, sid, payment())
    assert_error(refused, 400, reason="SUBSCRIPTION_UNPRICED")
    assert await paid.of(renter, sid) == before


async def test_thirteen_copies_of_an_exact_payment_credit_it_once(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: Any, paid: Paid
) -> None:
    renter = await priced_renter(rest, keys, exchange_sim)
    sid = (await subscribe(rest, renter))["subscription_id"]
    body = payment(amount_e8s=str(WEEK_MINIMUM), period_days=WEEK)
    replies = await asyncio.gather(*[post_payment(rest, renter, sid, body) for _ in range(13)])
    assert {r.status_code for r in replies} == {200}, [r.text for r in replies]
    assert len({r.json()["payment"]["payment_id"] for r in replies}) == 1
    assert len({r.json()["subscription"]["paid_until"] for r in replies}) == 1
    _, credited, audited, events = await paid.of(renter, sid)
    assert (credited, audited, events) == (1, 1, ["created", "paid"])

    short = payment(amount_e8s=str(WEEK_MINIMUM - 1), period_days=WEEK)
    refusals = await asyncio.gather(*[post_payment(rest, renter, sid, short) for _ in range(13)])
    assert {r.status_code for r in refusals} == {400}
    assert await paid.of(renter, sid) == (
        replies[0].json()["subscription"]["paid_until"],
        1,
        1,
        ["created", "paid"],
    )
