"""The runtime's reads of subscriptions, over gRPC to credential_svc with the internal
identity: the rented bot and the limits in force in every answer, BatchGetTradingSubscriptions
(unknown ids left out, the same verdict as a single read), BatchGetOwnedSubscriptions (many
callers' reads, each scoped to its own principal) and ListTradingSubscriptions (every
subscription not CANCELED, oldest first, page by page). All are internal only and checked
by the proto's rules like any RPC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from botmesh.credential.v1 import internal_service_pb2 as internal
from botmesh.credential.v1 import internal_service_pb2_grpc as internal_rpc
from botmesh.credential.v1 import resources_pb2 as pb
from google.protobuf.message import Message

from mesh.auth import INTERNAL_HEADER
from mesh.settings import Settings
from tests.e2e.subscription_support import Renter, make_renter, pay, subscribe
from tests.e2e.test_subscription_expiry_and_trading_view import trading_view


@pytest.fixture
async def stub(settings: Settings) -> AsyncIterator[internal_rpc.InternalCredentialServiceStub]:
    async with grpc.aio.insecure_channel(settings.credential.target) as channel:
        yield internal_rpc.InternalCredentialServiceStub(channel)


def md(settings: Settings) -> tuple[tuple[str, str], ...]:
    return ((INTERNAL_HEADER, settings.internal_token),)


async def staked_renter(rest: httpx.AsyncClient, keys: dict[str, str], sim: Any) -> Renter:
    renter = await make_renter(rest, keys, sim)
    staked = await rest.patch(
        f"/v1/bots/{renter.bot_id}",
        params={"update_mask": "stake"},
        json={"stake": {"fixed_quote": "100"}},
        headers={"x-api-key": keys["bots:write"]},
    )
    assert staked.status_code == 200, staked.text
    return renter


async def test_the_view_carries_the_bot_as_run_and_the_limits_in_force(
    rest: httpx.AsyncClient, keys: dict[str, str], settings: Settings, exchange_sim: Any
) -> None:
    renter = await staked_renter(rest, keys, exchange_sim)
    sub = await subscribe(rest, renter, risk_overrides={"stop_loss_pct": "0.02"})
    out = await trading_view(settings, sub["subscription_id"])
    assert out.bot.bot_id == renter.bot_id
    assert (out.bot.strategy, out.bot.timeframe) == ("ma_crossover", "1h")
    assert out.bot.stake.fixed_quote == "100"
    assert out.bot.HasField("update_time")
    # The override tightens the stop loss; the bot's other limits stay in force.
    assert out.risk == pb.RiskLimits(
        stop_loss_pct="0.02", max_drawdown_pct="0.2", cooldown_seconds=60, max_allocation="500"
    )


async def test_a_batch_answers_the_known_ids_as_single_reads_do(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    settings: Settings,
    exchange_sim: Any,
    stub: internal_rpc.InternalCredentialServiceStub,
) -> None:
    renter = await staked_renter(rest, keys, exchange_sim)
    paid = (await subscribe(rest, renter))["subscription_id"]
    await pay(rest, renter, paid)
    unpaid = (await subscribe(rest, renter, market="ETH-USDT"))["subscription_id"]
    asked = [unpaid, "sub_unknown", paid] + [f"sub_none_{i}" for i in range(497)]
    reply = await stub.BatchGetTradingSubscriptions(
        internal.BatchGetTradingSubscriptionsRequest(subscription_ids=asked),
        metadata=md(settings),
        timeout=10,
    )
    assert [s.subscription_id for s in reply.subscriptions] == [unpaid, paid]
    assert [s.may_trade for s in reply.subscriptions] == [False, True]
    assert list(reply.subscriptions) == [
        await trading_view(settings, unpaid),
        await trading_view(settings, paid),
    ]


async def test_an_owned_batch_answers_each_ask_as_a_single_read_with_its_principal_would(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    settings: Settings,
    exchange_sim: Any,
    stub: internal_rpc.InternalCredentialServiceStub,
) -> None:
    """Many callers' asks in one call: each is scoped to its own principal. The stranger
    asking in the same batch for the owner's subscription is left out, as are an unknown id
    and a deleted user's subscription; the owner's answers are the single reads'."""
    owner = await staked_renter(rest, keys, exchange_sim)
    stranger = await make_renter(rest, keys, exchange_sim)
    leaver = await make_renter(rest, keys, exchange_sim)
    mine = (await subscribe(rest, owner))["subscription_id"]
    other = (await subscribe(rest, owner, market="ETH-USDT"))["subscription_id"]
    theirs = (await subscribe(rest, stranger))["subscription_id"]
    left = (await subscribe(rest, leaver))["subscription_id"]
    gone = await rest.delete("/v1/users/me", headers=leaver.headers)
    assert gone.status_code == 200, gone.text

    asks = [
        (mine, owner.principal),
        (mine, stranger.principal),  # another principal's: as if it did not exist
        (theirs, stranger.principal),
        ("sub_unknown", owner.principal),
        (left, leaver.principal),  # a deleted user's
        (other, owner.principal),
        (mine, owner.principal),  # asked twice, answered once
    ]
    reply = await stub.BatchGetOwnedSubscriptions(
        internal.BatchGetOwnedSubscriptionsRequest(
            asks=[internal.OwnedSubscriptionAsk(subscription_id=s, principal=p) for s, p in asks]
        ),
        metadata=md(settings),
        timeout=10,
    )
    answered = [(a.subscription.subscription_id, a.principal) for a in reply.answers]
    assert answered == [
        (mine, owner.principal),
        (theirs, stranger.principal),
        (other, owner.principal),
    ]
    assert reply.answers[0].subscription == await trading_view(settings, mine, owner.principal)


async def test_the_list_pages_through_the_live_subscriptions_oldest_first(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    settings: Settings,
    exchange_sim: Any,
    stub: internal_rpc.InternalCredentialServiceStub,
) -> None:
    renter = await staked_renter(rest, keys, exchange_sim)
    first = (await subscribe(rest, renter))["subscription_id"]
    gone = (await subscribe(rest, renter))["subscription_id"]
    last = (await subscribe(rest, renter, market="ETH-USDT"))["subscription_id"]
    cancel = await rest.post(f"/v1/subscriptions/{gone}:cancel", json={}, headers=renter.headers)
    assert cancel.status_code == 200, cancel.text

    seen: list[internal.TradingSubscription] = []
    token = ""
    while True:
        page = await stub.ListTradingSubscriptions(
            internal.ListTradingSubscriptionsRequest(page_size=3, page_token=token),
            metadata=md(settings),
            timeout=10,
        )
        assert len(page.subscriptions) <= 3
        seen += page.subscriptions
        token = page.next_page_token
        if not token:
            break
    ids = [s.subscription_id for s in seen]
    assert len(ids) == len(set(ids))
    assert gone not in ids
    assert ids.index(first) < ids.index(last)  # oldest first
    assert all(s.state != pb.SUBSCRIPTION_STATE_CANCELED for s in seen)
    assert next(s for s in seen if s.subscription_id == last).bot.stake.fixed_quote == "100"


async def call(stub: Any, method: str, request: Any, metadata: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await getattr(stub, method)(request, metadata=metadata, timeout=10)
    return refused.value


async def test_only_the_internal_identity_may_ask_and_the_rules_hold(
    settings: Settings, stub: internal_rpc.InternalCredentialServiceStub
) -> None:
    batch = internal.BatchGetTradingSubscriptionsRequest(subscription_ids=["sub_x"])
    listing = internal.ListTradingSubscriptionsRequest()
    owned = internal.BatchGetOwnedSubscriptionsRequest(
        asks=[internal.OwnedSubscriptionAsk(subscription_id="sub_x", principal="2vxsx-fae")]
    )
    for method, request in (
        ("BatchGetTradingSubscriptions", batch),
        ("ListTradingSubscriptions", listing),
        ("BatchGetOwnedSubscriptions", owned),
    ):
        outside = await call(stub, method, request, ())
        assert outside.code() == grpc.StatusCode.PERMISSION_DENIED, method
    bad: list[tuple[str, Message]] = [
        ("BatchGetTradingSubscriptions", internal.BatchGetTradingSubscriptionsRequest()),
        (
            "BatchGetTradingSubscriptions",
            internal.BatchGetTradingSubscriptionsRequest(
                subscription_ids=[f"s{i}" for i in range(501)]
            ),
        ),
        (
            "BatchGetTradingSubscriptions",
            internal.BatchGetTradingSubscriptionsRequest(subscription_ids=["bad id!"]),
        ),
        ("BatchGetOwnedSubscriptions", internal.BatchGetOwnedSubscriptionsRequest()),
        (
            "BatchGetOwnedSubscriptions",
            internal.BatchGetOwnedSubscriptionsRequest(asks=[owned.asks[0]] * 501),
        ),
        (
            "BatchGetOwnedSubscriptions",
            internal.BatchGetOwnedSubscriptionsRequest(
                asks=[internal.OwnedSubscriptionAsk(subscription_id="sub_x")]
            ),
        ),
        (  # the pattern passes; the checksum does not
            "BatchGetOwnedSubscriptions",
            internal.BatchGetOwnedSubscriptionsRequest(
                asks=[internal.OwnedSubscriptionAsk(subscription_id="sub_x", principal="2vxsx-faa")]
            ),
        ),
        ("ListTradingSubscriptions", internal.ListTradingSubscriptionsRequest(page_size=501)),
        ("ListTradingSubscriptions", internal.ListTradingSubscriptionsRequest(page_size=-1)),
        ("ListTradingSubscriptions", internal.ListTradingSubscriptionsRequest(page_token="nope")),
    ]
    for method, wrong in bad:
        refused = await call(stub, method, wrong, md(settings))
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, wrong)
