"""PauseForRisk end to end: the bot runtime (over gRPC, with the internal identity) pauses a
paid subscription for its kill switch; the principal sees it PAUSED with the reason over REST
and on the change stream, and resuming over REST makes it ACTIVE with no reason. A second
pause changes nothing; other states, unknown ids and reasons that are not risk ones are
refused with canonical statuses; without the internal identity the RPC is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from botmesh.credential.v1 import internal_service_pb2 as internal
from botmesh.credential.v1 import internal_service_pb2_grpc as internal_rpc
from botmesh.credential.v1 import resources_pb2 as pb

from mesh.auth import INTERNAL_HEADER
from mesh.settings import Settings
from tests.e2e.subscription_support import changes_of, make_renter, pay, subscribe
from tests.e2e.test_subscription_expiry_and_trading_view import trading_view
from tests.e2e.vault_support import grpc_reason

DRAWDOWN = pb.SUBSCRIPTION_STATE_REASON_RISK_MAX_DRAWDOWN
FAILURES = pb.SUBSCRIPTION_STATE_REASON_RISK_ORDER_FAILURES
MESSAGE = "equity 812.40 is 18.76% below its peak 1000.00"


@pytest.fixture
async def stub(settings: Settings) -> AsyncIterator[internal_rpc.InternalCredentialServiceStub]:
    async with grpc.aio.insecure_channel(settings.credential.target) as channel:
        yield internal_rpc.InternalCredentialServiceStub(channel)


def md(settings: Settings) -> tuple[tuple[str, str], ...]:
    return ((INTERNAL_HEADER, settings.internal_token),)


def request(sub_id: str, reason: int = DRAWDOWN) -> internal.PauseForRiskRequest:
    return internal.PauseForRiskRequest(
        subscription_id=sub_id,
        reason=reason,  # type: ignore[arg-type]
        message=MESSAGE,
    )


async def refused(
    stub: internal_rpc.InternalCredentialServiceStub, req: Any, metadata: Any
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.PauseForRisk(req, metadata=metadata, timeout=10)
    return error.value


async def test_the_kill_switch_pauses_with_its_reason_until_the_principal_resumes(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    settings: Settings,
    exchange_sim: Any,
    stub: internal_rpc.InternalCredentialServiceStub,
) -> None:
    renter = await make_renter(rest, keys, exchange_sim)
    sub_id = (await subscribe(rest, renter))["subscription_id"]
    await pay(rest, renter, sub_id)

    reply = await stub.PauseForRisk(request(sub_id), metadata=md(settings), timeout=10)
    view = reply.subscription
    assert (view.state, view.state_reason) == (pb.SUBSCRIPTION_STATE_PAUSED, DRAWDOWN)
    assert (view.may_trade, view.effective_state) == (False, pb.SUBSCRIPTION_STATE_PAUSED)
    assert view == await trading_view(settings, sub_id)  # the same one view

    # A second kill switch (another reason) changes nothing.
    again = await stub.PauseForRisk(request(sub_id, FAILURES), metadata=md(settings), timeout=10)
    assert again.subscription == view

    got = await rest.get(f"/v1/subscriptions/{sub_id}", headers=renter.headers)
    assert got.status_code == 200, got.text
    sub = got.json()["subscription"]
    assert sub["state"] == "SUBSCRIPTION_STATE_PAUSED"
    assert sub["state_reason"] == "SUBSCRIPTION_STATE_REASON_RISK_MAX_DRAWDOWN"

    resumed = await rest.post(f"/v1/subscriptions/{sub_id}:resume", json={}, headers=renter.headers)
    assert resumed.status_code == 200, resumed.text
    sub = resumed.json()["subscription"]
    assert sub["state"] == "SUBSCRIPTION_STATE_ACTIVE"
    assert sub["state_reason"] == "SUBSCRIPTION_STATE_REASON_UNSPECIFIED"
    assert (await trading_view(settings, sub_id)).may_trade

    entries = [
        (e["change"], e["state"], e["state_reason"]) for e in await changes_of(settings, sub_id)
    ]
    assert entries[-2:] == [
        ("paused_for_risk", "PAUSED", "RISK_MAX_DRAWDOWN"),
        ("resumed", "ACTIVE", ""),
    ]


async def test_a_principals_own_pause_keeps_no_reason_and_is_not_overwritten(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    settings: Settings,
    exchange_sim: Any,
    stub: internal_rpc.InternalCredentialServiceStub,
) -> None:
    renter = await make_renter(rest, keys, exchange_sim)
    sub_id = (await subscribe(rest, renter))["subscription_id"]
    await pay(rest, renter, sub_id)
    paused = await rest.post(f"/v1/subscriptions/{sub_id}:pause", json={}, headers=renter.headers)
    assert paused.status_code == 200, paused.text
    assert paused.json()["subscription"]["state_reason"] == "SUBSCRIPTION_STATE_REASON_UNSPECIFIED"

    reply = await stub.PauseForRisk(request(sub_id), metadata=md(settings), timeout=10)
    assert (reply.subscription.state, reply.subscription.state_reason) == (
        pb.SUBSCRIPTION_STATE_PAUSED,
        pb.SUBSCRIPTION_STATE_REASON_UNSPECIFIED,
    )


async def test_only_an_active_subscription_is_paused_and_only_for_a_risk_reason(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    settings: Settings,
    exchange_sim: Any,
    stub: internal_rpc.InternalCredentialServiceStub,
) -> None:
    renter = await make_renter(rest, keys, exchange_sim)
    unpaid = (await subscribe(rest, renter))["subscription_id"]  # EXPIRED until paid
    error = await refused(stub, request(unpaid), md(settings))
    assert (error.code(), grpc_reason(error)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "SUBSCRIPTION_NOT_ACTIVE",
    )
    canceled = await rest.post(
        f"/v1/subscriptions/{unpaid}:cancel", json={}, headers=renter.headers
    )
    assert canceled.status_code == 200, canceled.text
    error = await refused(stub, request(unpaid), md(settings))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION

    error = await refused(stub, request("sub_nobody"), md(settings))
    assert (error.code(), grpc_reason(error)) == (
        grpc.StatusCode.NOT_FOUND,
        "SUBSCRIPTION_NOT_FOUND",
    )
    for reason in (
        pb.SUBSCRIPTION_STATE_REASON_UNSPECIFIED,
        pb.SUBSCRIPTION_STATE_REASON_CREDENTIAL_DELETED,
        99,
    ):
        error = await refused(stub, request(unpaid, reason), md(settings))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, reason
    error = await refused(stub, internal.PauseForRiskRequest(reason=DRAWDOWN), md(settings))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    long = internal.PauseForRiskRequest(subscription_id=unpaid, reason=DRAWDOWN, message="x" * 256)
    assert (await refused(stub, long, md(settings))).code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_without_the_internal_identity_it_is_refused(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    settings: Settings,
    exchange_sim: Any,
    stub: internal_rpc.InternalCredentialServiceStub,
) -> None:
    renter = await make_renter(rest, keys, exchange_sim)
    sub_id = (await subscribe(rest, renter))["subscription_id"]
    await pay(rest, renter, sub_id)
    wrong = ((INTERNAL_HEADER, "not-the-token"),)
    for metadata in ((), wrong):
        error = await refused(stub, request(sub_id), metadata)
        assert (error.code(), grpc_reason(error)) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "INTERNAL_ONLY",
        )
    assert (await trading_view(settings, sub_id)).state == pb.SUBSCRIPTION_STATE_ACTIVE
