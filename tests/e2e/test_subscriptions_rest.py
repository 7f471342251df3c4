"""SubscriptionService over REST through Envoy: renting within the bot's limits, the state
machine, payments, the change stream, and isolation between principals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import pytest
import sqlalchemy as sa
from botmesh.credential.v1 import subscription_service_pb2

from mesh.settings import Settings
from mesh.tables import audit_log
from tests.e2e.subscription_support import (
    Renter,
    changes_of,
    make_renter,
    new_block,
    pay,
    payment,
    subscribe,
    terms,
)
from tests.e2e.test_bots_rest import assert_error
from tests.e2e.vault_support import release

State = str


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def days_from_now(text: str) -> float:
    return (when(text) - datetime.now(UTC)) / timedelta(days=1)


def set_only(limits: dict[str, Any]) -> dict[str, Any]:
    """The limits that are set (REST prints unset strings as "")."""
    return {k: v for k, v in limits.items() if v}


async def assert_not_released(settings: Settings, sub_id: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await release(settings, sub_id)
    # NOT_FOUND for a subscription that may not trade; FAILED_PRECONDITION when its
    # credential is not ACTIVE (deleted by erasure, refused by a re-verify).
    assert refused.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION)


async def state_of(rest: httpx.AsyncClient, renter: Renter, sub_id: str) -> dict[str, Any]:
    resp = await rest.get(f"/v1/subscriptions/{sub_id}", headers=renter.headers)
    assert resp.status_code == 200, resp.text
    sub: dict[str, Any] = resp.json()["subscription"]
    return sub


async def act(rest: httpx.AsyncClient, renter: Renter, sub_id: str, verb: str) -> httpx.Response:
    return await rest.post(f"/v1/subscriptions/{sub_id}:{verb}", json={}, headers=renter.headers)


async def test_a_new_subscription_waits_for_payment_then_trades(
    rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings, exchange_sim: Any
) -> None:
    renter = await make_renter(rest, keys, exchange_sim)
    sub = await subscribe(
        rest, renter, risk_overrides={"stop_loss_pct": "0.03", "cooldown_seconds": 120}
    )
    sid = sub["subscription_id"]
    assert sub["state"] == "SUBSCRIPTION_STATE_EXPIRED" and "paid_until" not in sub
    assert sub["allocation"] == "250" and sub["market"] == "BTC-USDT"
    assert set_only(sub["risk_overrides"]) == {"stop_loss_pct": "0.03", "cooldown_seconds": 120}
    assert await state_of(rest, renter, sid) == sub
    await assert_not_released(settings, sid)  # unpaid: nothing to trade with

    paid = await pay(rest, renter, sid)
    assert paid["subscription"]["state"] == "SUBSCRIPTION_STATE_ACTIVE"
    assert 29.9 < days_from_now(paid["subscription"]["paid_until"]) <= 30
    assert paid["payment"]["paid_until"] == paid["subscription"]["paid_until"]
    assert (await release(settings, sid)).credential_id == renter.credential_id

    # Paying early adds to the paid time, it does not restart it.
    again = await pay(rest, renter, sid, payment(period_days=10))
    assert 39.9 < days_from_now(again["subscription"]["paid_until"]) <= 40

    events = await changes_of(settings, sid)
    assert [e["change"] for e in events] == ["created", "paid", "paid"]
    assert events[-1]["state"] == "ACTIVE"
    assert events[-1]["paid_until"] and events[-1]["bot_id"] == renter.bot_id


async def test_transitions(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    settings: Settings,
    exchange_sim: Any,
    engine: Any,
) -> None:
    renter = await make_renter(rest, keys, exchange_sim)
    sid = (await subscribe(rest, renter))["subscription_id"]

    def state(resp: httpx.Response) -> State:
        assert resp.status_code == 200, resp.text
        return str(resp.json()["subscription"]["state"]).removeprefix("SUBSCRIPTION_STATE_")

    assert state(await act(rest, renter, sid, "resume")) == "EXPIRED"  # nothing to resume
    assert state(await act(rest, renter, sid, "pause")) == "PAUSED"
    assert state(await act(rest, renter, sid, "resume")) == "EXPIRED"  # unpaid: waits
    await pay(rest, renter, sid)
    assert state(await act(rest, renter, sid, "pause")) == "PAUSED"
    assert state(await act(rest, renter, sid, "pause")) == "PAUSED"  # repeat: no change
    await assert_not_released(settings, sid)  # paused: not trading
    paid = await pay(rest, renter, sid)  # paying while paused extends, keeps it paused
    assert paid["subscription"]["state"] == "SUBSCRIPTION_STATE_PAUSED"
    assert 59.9 < days_from_now(paid["subscription"]["paid_until"]) <= 60
    assert state(await act(rest, renter, sid, "resume")) == "ACTIVE"
    assert state(await act(rest, renter, sid, "cancel")) == "CANCELED"
    assert state(await act(rest, renter, sid, "cancel")) == "CANCELED"

    for verb in ("resume", "pause"):
        assert_error(await act(rest, renter, sid, verb), 400, reason="SUBSCRIPTION_CANCELED")
    refused = await rest.post(
        f"/v1/subscriptions/{sid}/payments", json=payment(), headers=renter.headers
    )
    assert_error(refused, 400, reason="SUBSCRIPTION_CANCELED")
    assert (await state_of(rest, renter, sid))["state"] == "SUBSCRIPTION_STATE_CANCELED"
    changes = [e["change"] for e in await changes_of(settings, sid)]
    assert changes == [
        "created",
        "paused",
        "resumed",
        "paid",
        "paused",
        "paid",
        "resumed",
        "canceled",
    ]
    # Every change, and only a change, is in the audit log.
    async with engine.connect() as conn:
        audited = (
            await conn.execute(
                sa.select(audit_log.c.action)
                .where(audit_log.c.resource == sid)
                .order_by(audit_log.c.seq)
            )
        ).scalars()
        assert [a.removeprefix("subscription.") for a in audited] == [
            "create",
            "pause",
            "resume",
            "pause",
            "resume",
            "cancel",
        ]


async def test_the_same_ledger_block_credits_once(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: Any
) -> None:
    renter = await make_renter(rest, keys, exchange_sim)
    sid = (await subscribe(rest, renter))["subscription_id"]
    other = (await subscribe(rest, renter, market="ETH-USDT"))["subscription_id"]
    body = payment(new_block())
    first = await pay(rest, renter, sid, body)
    second = await pay(rest, renter, sid, body)  # no Idempotency-Key: the block decides
    assert second["payment"] == first["payment"]
    assert second["subscription"]["paid_until"] == first["subscription"]["paid_until"]
    for changed in ({**body, "amount_e8s": "5"}, {**body, "period_days": 31}):
        resp = await rest.post(
            f"/v1/subscriptions/{sid}/payments", json=changed, headers=renter.headers
        )
        assert_error(resp, 400, reason="PAYMENT_BLOCK_USED")
    elsewhere = await rest.post(
        f"/v1/subscriptions/{other}/payments", json=body, headers=renter.headers
    )
    assert_error(elsewhere, 400, reason="PAYMENT_BLOCK_USED")
    assert "paid_until" not in await state_of(rest, renter, other)


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"market": "DOGE-USDT"}, "market", "MARKET_NOT_OFFERED"),
        ({"allocation": "500.01"}, "allocation", "ALLOCATION_TOO_LARGE"),
        ({"allocation": "0"}, "allocation", None),
        ({"allocation": "1" + "0" * 20}, "allocation", None),
        (
            {"risk_overrides": {"stop_loss_pct": "0.06"}},
            "risk_overrides.stop_loss_pct",
            "RISK_OVERRIDE_LOOSENS",
        ),
        (
            {"risk_overrides": {"cooldown_seconds": 30}},
            "risk_overrides.cooldown_seconds",
            "RISK_OVERRIDE_LOOSENS",
        ),
        (
            {"risk_overrides": {"take_profit_pct": "1.5"}},
            "risk_overrides.take_profit_pct",
            None,
        ),
        (
            {"allocation": "300", "risk_overrides": {"max_allocation": "200"}},
            "allocation",
            "ALLOCATION_TOO_LARGE",
        ),
    ],
)
async def test_terms_outside_the_bots_limits_are_invalid(
    change: dict[str, Any],
    field: str,
    reason: str | None,
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    settings: Settings,
    exchange_sim: Any,
    renter_for_terms: Renter,
) -> None:
    renter = renter_for_terms
    resp = await rest.post(
        "/v1/subscriptions", json=terms(renter, **change), headers=renter.headers
    )
    assert_error(resp, 400, reason=reason, field=field)


@pytest.fixture(scope="module")
async def renter_for_terms(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: Any
) -> Renter:
    return await make_renter(rest, keys, exchange_sim)


async def test_tighter_terms_are_accepted(
    rest: httpx.AsyncClient, renter_for_terms: Renter
) -> None:
    overrides = {
        "stop_loss_pct": "0.01",
        "take_profit_pct": "0.5",
        "daily_loss_limit": "20",
        "max_allocation": "300",
        "cooldown_seconds": 600,
    }
    sub = await subscribe(
        rest, renter_for_terms, allocation="300", market="ETH-USDT", risk_overrides=overrides
    )
    assert set_only(sub["risk_overrides"]) == overrides


async def test_the_credential_must_be_verified_and_the_bot_exist(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: Any
) -> None:
    unverified = await make_renter(rest, keys, exchange_sim, verify=False)
    resp = await rest.post("/v1/subscriptions", json=terms(unverified), headers=unverified.headers)
    assert_error(resp, 400, reason="CREDENTIAL_NOT_ACTIVE")
    resp = await rest.post(
        "/v1/subscriptions",
        json=terms(unverified, bot_id="bot_missing"),
        headers=unverified.headers,
    )
    assert_error(resp, 404, reason="BOT_NOT_FOUND")


async def test_list_pages_newest_first(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: Any
) -> None:
    renter = await make_renter(rest, keys, exchange_sim)
    made = [(await subscribe(rest, renter))["subscription_id"] for _ in range(3)]
    first = await rest.get("/v1/subscriptions?page_size=2", headers=renter.headers)
    body = first.json()
    assert [s["subscription_id"] for s in body["subscriptions"]] == made[::-1][:2]
    rest_page = await rest.get(
        f"/v1/subscriptions?page_size=2&page_token={body['next_page_token']}",
        headers=renter.headers,
    )
    tail = rest_page.json()
    assert [s["subscription_id"] for s in tail["subscriptions"]] == made[:1]
    assert not tail.get("next_page_token")


Target = dict[str, str]
Call = Callable[[httpx.AsyncClient, dict[str, str], Target], Awaitable[httpx.Response]]

# How principal B aims each SubscriptionService RPC at principal A's objects. A new RPC
# fails test_the_isolation_matrix_covers_every_rpc until it is added here.
ISOLATION: dict[str, Call] = {
    "CreateSubscription": lambda r, h, t: r.post(
        "/v1/subscriptions",
        json={
            "bot_id": t["bot"],
            "listing_id": t["listing"],
            "credential_id": t["cred"],
            "market": "BTC-USDT",
            "allocation": "10",
        },
        headers=h,
    ),
    "ListSubscriptions": lambda r, h, t: r.get("/v1/subscriptions", headers=h),
    "GetSubscription": lambda r, h, t: r.get(f"/v1/subscriptions/{t['sub']}", headers=h),
    "PauseSubscription": lambda r, h, t: r.post(
        f"/v1/subscriptions/{t['sub']}:pause", json={}, headers=h
    ),
    "ResumeSubscription": lambda r, h, t: r.post(
        f"/v1/subscriptions/{t['sub']}:resume", json={}, headers=h
    ),
    "CancelSubscription": lambda r, h, t: r.post(
        f"/v1/subscriptions/{t['sub']}:cancel", json={}, headers=h
    ),
    "RecordPayment": lambda r, h, t: r.post(
        f"/v1/subscriptions/{t['sub']}/payments", json=payment(), headers=h
    ),
}
# RPCs that name no object of A's: B's answer must simply show nothing of A's.
OWN_SCOPE = {"ListSubscriptions"}
# Which of A's ids each RPC aims at, and the error for it.
AIMS = {"CreateSubscription": ("cred", "CREDENTIAL_NOT_FOUND")}


def test_the_isolation_matrix_covers_every_rpc() -> None:
    service = subscription_service_pb2.DESCRIPTOR.services_by_name["SubscriptionService"]
    assert set(ISOLATION) == {m.name for m in service.methods}


@pytest.mark.parametrize("rpc", sorted(ISOLATION))
async def test_isolation_matrix(
    rpc: str, rest: httpx.AsyncClient, keys: dict[str, str], exchange_sim: Any
) -> None:
    alice = await make_renter(rest, keys, exchange_sim)
    bob = await make_renter(rest, keys, exchange_sim)
    sub = await subscribe(rest, alice)
    sid = sub["subscription_id"]
    await pay(rest, alice, sid)
    before = await state_of(rest, alice, sid)
    target = {
        "sub": sid,
        "cred": alice.credential_id,
        "bot": alice.bot_id,
        "listing": alice.listing_id,
    }
    resp = await ISOLATION[rpc](rest, bob.headers, target)
    if rpc in OWN_SCOPE:
        assert resp.status_code == 200, resp.text
        assert sid not in resp.text and alice.credential_id not in resp.text
    else:
        aimed, reason = AIMS.get(rpc, ("sub", "SUBSCRIPTION_NOT_FOUND"))
        missing_id = f"{aimed}_doesnotexist"
        missing = await ISOLATION[rpc](rest, bob.headers, {**target, aimed: missing_id})
        assert_error(resp, 404, reason=reason)
        # Byte for byte the answer for an id that does not exist, but for the id itself.
        assert resp.text.replace(target[aimed], missing_id) == missing.text
    assert await state_of(rest, alice, sid) == before
    bobs = await rest.get("/v1/subscriptions", headers=bob.headers)
    assert sid not in bobs.text


async def test_erasure_cancels_and_announces_the_subscriptions(
    rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings, exchange_sim: Any
) -> None:
    renter = await make_renter(rest, keys, exchange_sim)
    live = (await subscribe(rest, renter))["subscription_id"]
    await pay(rest, renter, live)
    done = (await subscribe(rest, renter))["subscription_id"]
    assert (await act(rest, renter, done, "cancel")).status_code == 200
    erased = await rest.delete("/v1/users/me", headers=renter.headers)
    assert erased.status_code == 200, erased.text
    await assert_not_released(settings, live)
    last = (await changes_of(settings, live))[-1]
    assert (last["change"], last["state"], last["user_id"]) == (
        "erased",
        "CANCELED",
        renter.user_id,
    )
    assert [e["change"] for e in await changes_of(settings, done)] == ["created", "canceled"]
    assert renter.principal not in str(await changes_of(settings, live))
