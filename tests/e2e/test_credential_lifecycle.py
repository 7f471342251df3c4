"""A credential that stops being usable stops trading at once, in every trading_svc process:
deleting it, a re-verify that refuses it, erasing its user, cancelling its subscription.

Real parts only: the mesh's trading_svc behind Envoy and a SECOND trading_svc process started
here, both with pooled ccxt clients warmed by real fills on exchange_sim, the real
credential release, MariaDB and the Redis change stream. Each case checks that the very
next order is refused in both processes (the database is read on every order), that both
processes close their pooled client within 2 s (the stream), what the subscription now says
and why, what is left open on the exchange, and the audit trail.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
import httpx
import pytest
import sqlalchemy as sa

from cli.launcher import Mesh
from credential_svc.tables import subscriptions
from exchange_sim import AdminClient, SimServer
from mesh.audit import verify_chain
from mesh.settings import Settings
from tests.e2e.lifecycle_support import (
    Answer,
    TradingProcess,
    audit_rows,
    closed_clients,
    order_states,
    place_grpc,
    place_rest,
    wait_until_closed,
)
from tests.e2e.test_bots_rest import assert_error
from tests.e2e.trading_support import Account, idem, open_account
from tests.e2e.vault_support import grpc_reason, release
from tests.support import RECV_WINDOW_MS

FAR_BELOW = "10000"  # a limit buy this low rests on the book
RECV_WINDOW_S = RECV_WINDOW_MS / 1000  # the run's recvWindow (tests/conftest.py)


@pytest.fixture(scope="module")
async def second(mesh: Mesh, exchange_sim: SimServer) -> AsyncIterator[TradingProcess]:
    process = TradingProcess.start(mesh.log_dir)
    try:
        await process.wait_ready()
        yield process
    finally:
        await process.stop()


@pytest.fixture
async def admin(exchange_sim: SimServer) -> AsyncIterator[AdminClient]:
    async with exchange_sim.admin() as client:
        yield client


@pytest.fixture
async def account(rest, keys, engine, admin: AdminClient) -> Account:  # type: ignore[no-untyped-def]
    return await open_account(rest, keys, engine, admin, allocation="5000")


class Both:
    """The mesh's trading_svc (through Envoy) and the second one (gRPC), for one account."""

    def __init__(self, rest: httpx.AsyncClient, second: TradingProcess, mesh: Mesh) -> None:
        self.rest = rest
        self.second = second
        self.logs = [mesh.log_dir / "trading_svc.log", second.log]

    async def place(self, account: Account, price: str | None = None) -> list[Answer]:
        return [
            await place_rest(self.rest, account, price=price),
            await place_grpc(self.second.target, account, price=price),
        ]

    async def warm(self, account: Account) -> list[int]:
        """A filled order in each process (each now pools a client of the credential);
        returns the closes logged so far."""
        assert [a.state for a in await self.place(account)] == ["FILLED", "FILLED"]
        return [closed_clients(log, credential_of(account)) for log in self.logs]


@pytest.fixture
def both(rest: httpx.AsyncClient, second: TradingProcess, mesh: Mesh) -> Both:
    return Both(rest, second, mesh)


_credentials: dict[str, str] = {}


def credential_of(account: Account) -> str:
    return _credentials[account.subscription_id]


@pytest.fixture(autouse=True)
async def _remember_credential(account: Account, engine) -> None:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        _credentials[account.subscription_id] = (
            await conn.execute(
                sa.select(subscriptions.c.credential_id).where(
                    subscriptions.c.subscription_id == account.subscription_id
                )
            )
        ).scalar_one()


async def subscription_of(rest: httpx.AsyncClient, account: Account) -> dict[str, Any]:
    resp = await rest.get(account.path(), headers=account.headers)
    assert resp.status_code == 200, resp.text
    sub: dict[str, Any] = resp.json()["subscription"]
    return sub


async def stored_state(engine, subscription_id: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(subscriptions.c.state, subscriptions.c.state_reason).where(
                    subscriptions.c.subscription_id == subscription_id
                )
            )
        ).one()
    return row.state, row.state_reason


async def test_deleting_a_credential_stops_its_trading_in_every_process(
    both: Both, account: Account, admin: AdminClient, settings: Settings
) -> None:
    before = await both.warm(account)
    sent = len(await admin.orders(account.sim.api_key))

    deleted = await both.rest.delete(
        f"/v1/credentials/{credential_of(account)}", headers=idem(account.headers)
    )
    assert deleted.status_code == 200, deleted.text
    since = datetime.now(UTC)

    # The very next order is refused by both processes: nothing reaches the exchange.
    assert {a.reason for a in await both.place(account)} == {"SUBSCRIPTION_NOT_ACTIVE"}
    closed_s = await wait_until_closed(both.logs, credential_of(account), before, since)
    print(f"delete: clients closed in both processes after {closed_s * 1000:.0f} ms")
    assert len(await admin.orders(account.sim.api_key)) == sent

    sub = await subscription_of(both.rest, account)
    assert sub["state"] == "SUBSCRIPTION_STATE_SUSPENDED"
    assert sub["state_reason"] == "SUBSCRIPTION_STATE_REASON_CREDENTIAL_DELETED"
    # A deleted credential never comes back: resuming is refused, saying why.
    resumed = await both.rest.post(account.path(":resume"), json={}, headers=idem(account.headers))
    assert_error(resumed, 400, reason="SUBSCRIPTION_SUSPENDED")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await release(settings, account.subscription_id)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert grpc_reason(refused.value) == "CREDENTIAL_NOT_ACTIVE"


async def test_a_refusing_re_verify_suspends_and_an_accepting_one_restores(
    both: Both, account: Account, admin: AdminClient, settings: Settings
) -> None:
    before = await both.warm(account)
    verify = f"/v1/credentials/{credential_of(account)}:verify"

    # The user enables withdrawals on the exchange; a re-verify refuses the key.
    await admin.set_permissions(account.sim.api_key, can_withdraw=True)
    refused = await both.rest.post(verify, json={}, headers=idem(account.headers))
    assert refused.status_code == 200, refused.text
    assert refused.json()["refusal_reason"] == "WITHDRAWAL_ENABLED"
    since = datetime.now(UTC)

    assert {a.reason for a in await both.place(account)} == {"SUBSCRIPTION_NOT_ACTIVE"}
    closed_s = await wait_until_closed(both.logs, credential_of(account), before, since)
    print(f"refuse: clients closed in both processes after {closed_s * 1000:.0f} ms")
    sub = await subscription_of(both.rest, account)
    assert sub["state"] == "SUBSCRIPTION_STATE_SUSPENDED"
    assert sub["state_reason"] == "SUBSCRIPTION_STATE_REASON_CREDENTIAL_REFUSED"
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await release(settings, account.subscription_id)
    assert grpc_reason(denied.value) == "CREDENTIAL_NOT_ACTIVE"

    # Fixed on the exchange and verified again: the rental is back where it was.
    await admin.set_permissions(account.sim.api_key, can_withdraw=False)
    accepted = await both.rest.post(verify, json={}, headers=idem(account.headers))
    assert accepted.status_code == 200 and accepted.json()["accepted"], accepted.text
    sub = await subscription_of(both.rest, account)
    assert sub["state"] == "SUBSCRIPTION_STATE_ACTIVE"
    assert sub["state_reason"] == "SUBSCRIPTION_STATE_REASON_UNSPECIFIED"
    assert [a.state for a in await both.place(account)] == ["FILLED", "FILLED"]


async def test_cancelling_a_subscription_cancels_its_open_orders_on_the_exchange(
    both: Both, account: Account, admin: AdminClient, engine
) -> None:  # type: ignore[no-untyped-def]
    before = await both.warm(account)
    resting = await both.place(account, price=FAR_BELOW)
    assert [a.state for a in resting] == ["OPEN", "OPEN"]

    canceled = await both.rest.post(account.path(":cancel"), json={}, headers=idem(account.headers))
    assert canceled.status_code == 200, canceled.text
    since = datetime.now(UTC)
    sub = canceled.json()["subscription"]
    assert sub["state"] == "SUBSCRIPTION_STATE_CANCELED"
    assert sub["state_reason"] == "SUBSCRIPTION_STATE_REASON_CANCELED_BY_USER"

    # Nothing of it is open on the exchange any more, and our records agree.
    on_exchange = await admin.orders(account.sim.api_key)
    assert {o["status"] for o in on_exchange if o["type"] == "LIMIT"} == {"CANCELED"}
    states = await order_states(engine, account.subscription_id)
    assert {states[a.order_id] for a in resting} == {"CANCELED"}
    assert {a.reason for a in await both.place(account)} == {"SUBSCRIPTION_NOT_ACTIVE"}
    closed_s = await wait_until_closed(both.logs, credential_of(account), before, since)
    print(f"cancel: clients closed in both processes after {closed_s * 1000:.0f} ms")
    await assert_audited(engine, resting, by="wind_down", secret=account.sim.api_secret)


async def test_erasing_a_user_cancels_open_orders_before_the_keys_are_shredded(
    both: Both, account: Account, admin: AdminClient, engine, mesh: Mesh
) -> None:  # type: ignore[no-untyped-def]
    before = await both.warm(account)
    resting = await both.place(account, price=FAR_BELOW)
    assert [a.state for a in resting] == ["OPEN", "OPEN"]

    erased = await both.rest.delete("/v1/users/me", headers=idem(account.headers))
    assert erased.status_code == 200, erased.text
    since = datetime.now(UTC)
    assert erased.json()["user"]["state"] == "USER_STATE_ERASED"

    on_exchange = await admin.orders(account.sim.api_key)
    assert {o["status"] for o in on_exchange if o["type"] == "LIMIT"} == {"CANCELED"}
    states = await order_states(engine, account.subscription_id)
    assert {states[a.order_id] for a in resting} == {"CANCELED"}
    assert await stored_state(engine, account.subscription_id) == ("CANCELED", "USER_ERASED")
    closed_s = await wait_until_closed(both.logs, credential_of(account), before, since)
    print(f"erase: clients closed in both processes after {closed_s * 1000:.0f} ms")
    await assert_audited(engine, resting, by="wind_down", secret=account.sim.api_secret)
    # The key never reached a log of any process.
    for log in mesh.log_dir.glob("*.log"):
        assert account.sim.api_secret not in log.read_text(errors="replace"), log.name


async def test_an_order_cancelled_by_its_principal_is_audited(
    both: Both, account: Account, engine
) -> None:  # type: ignore[no-untyped-def]
    resting = await place_rest(both.rest, account, price=FAR_BELOW)
    assert resting.state == "OPEN"
    canceled = await both.rest.post(
        account.path(f"/orders/{resting.order_id}:cancel"), json={}, headers=idem(account.headers)
    )
    assert canceled.status_code == 200, canceled.text
    await assert_audited(engine, [resting], by="principal", secret=account.sim.api_secret)


async def assert_audited(engine, answers: list[Answer], *, by: str, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Each order has its order.place row and an order.cancel row by `by`; the chain holds;
    no secret in any detail."""
    ids = [a.order_id for a in answers]
    rows = await audit_rows(engine, ids)
    for order_id in ids:
        actions = [(action, d.get("by")) for action, resource, d in rows if resource == order_id]
        assert actions == [("order.place", None), ("order.cancel", by)], actions
    assert not [d for _, _, d in rows if secret in str(d)]
    checked, broken = await verify_chain(engine)
    assert broken is None and checked >= len(rows)


async def test_an_order_of_unknown_outcome_is_looked_up_and_canceled_never_sent_again(
    rest: httpx.AsyncClient, account: Account, admin: AdminClient, engine
) -> None:  # type: ignore[no-untyped-def]
    key = account.sim.api_key
    # The order executes but its answer is lost, and lookups fail: it stays UNKNOWN.
    await admin.add_fault("drop_response", method="POST", path="/api/v3/order", api_key=key)
    await admin.add_fault("http_5xx", method="GET", path="/api/v3/order", api_key=key)
    try:
        unknown = await place_rest(rest, account, price=FAR_BELOW)
        assert unknown.state == "UNKNOWN", unknown
        # Cancelled while the exchange cannot be asked: the subscription is canceled, the
        # order is left as it is (nothing resent, nothing guessed).
        first = await rest.post(account.path(":cancel"), json={}, headers=idem(account.headers))
        assert first.status_code == 200, first.text
        assert (await order_states(engine, account.subscription_id))[unknown.order_id] == "UNKNOWN"
    finally:
        await admin.clear_faults()
    # The retry winds down again: found by its client order id, canceled, recorded.
    again = await rest.post(account.path(":cancel"), json={}, headers=idem(account.headers))
    assert again.status_code == 200, again.text
    on_exchange = await admin.orders(key)
    assert [o["status"] for o in on_exchange] == ["CANCELED"]  # one order, never resent
    assert (await order_states(engine, account.subscription_id))[unknown.order_id] == "CANCELED"


async def test_a_wind_down_never_resends_an_order_the_exchange_never_saw(
    rest: httpx.AsyncClient, account: Account, admin: AdminClient, engine
) -> None:  # type: ignore[no-untyped-def]
    key = account.sim.api_key
    # The order request fails ambiguously and never executes: UNKNOWN, nothing on the exchange.
    await admin.add_fault("http_5xx", method="POST", path="/api/v3/order", api_key=key, count=1)
    unknown = await place_rest(rest, account, price=FAR_BELOW)
    assert unknown.state == "UNKNOWN", unknown
    canceled = await rest.post(account.path(":cancel"), json={}, headers=idem(account.headers))
    assert canceled.status_code == 200, canceled.text
    # Past recvWindow (3 s here, plus the 1 s margin) the order is provably lost; a trading
    # subscription's reconciler would send it again, a stopped one's wind-down must not.
    await asyncio.sleep(RECV_WINDOW_S + 2)
    again = await rest.post(account.path(":cancel"), json={}, headers=idem(account.headers))
    assert again.status_code == 200, again.text
    assert await admin.orders(key) == []
    assert (await order_states(engine, account.subscription_id))[unknown.order_id] == "UNKNOWN"
