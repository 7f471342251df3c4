"""PauseForRisk's use case against a real MariaDB database of this module's own (migrated):
an ACTIVE subscription is PAUSED with the runtime's reason, its change-stream entry and its
audit row committing in the same transaction; a second pause changes nothing; any other
state, an unknown id or a reason that is not a risk one is refused with nothing written.

Rows are inserted as the stores write them; the use case, its store and the trading view
are the real ones.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from credential_svc.subscriptions.model import (
    ACTIVE,
    CANCELED,
    EXPIRED,
    PAUSED,
    RISK_MAX_DRAWDOWN,
    RISK_ORDER_FAILURES,
    SUSPENDED,
)
from credential_svc.subscriptions.risk_pause import RiskPauses
from credential_svc.subscriptions.store import SubscriptionStore
from credential_svc.subscriptions.trading_view import TradingSubscriptions
from credential_svc.subscriptions.trading_view_store import TradingViewStore
from credential_svc.tables import bots, change_outbox, exchange_credentials, subscriptions, users
from mesh.audit import AuditLog, verify_chain
from mesh.db import make_engine, utcnow
from mesh.errors import FailedPrecondition, InvalidArgument, NotFound
from mesh.tables import audit_head, audit_log
from tests.credential_svc.subscriptions.test_trading_view import _bot, _credential, _user
from tests.support import alembic, mariadb_url

MESSAGE = "equity 812.40 is 18.76% below its peak 1000.00"


@pytest.fixture(scope="module")
async def url(scratch_database) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    url = mariadb_url(scratch_database())
    migrated = alembic(url, "upgrade", "head")
    assert migrated.returncode == 0, migrated.stderr
    eng = make_engine(url)
    async with eng.begin() as conn:
        await conn.execute(sa.insert(users).values(_user()))
        await conn.execute(sa.insert(exchange_credentials).values(_credential()))
        await conn.execute(sa.insert(bots).values(_bot("bot_fixed", {"fixed_quote": "100"})))
    await eng.dispose()
    yield url


@pytest.fixture
async def engine(url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(url)
    yield eng
    await eng.dispose()


def risk_pauses(engine: AsyncEngine) -> RiskPauses:
    views = TradingSubscriptions(TradingViewStore(engine))
    return RiskPauses(SubscriptionStore(engine, AuditLog("pepper")), views)


async def subscribe(engine: AsyncEngine, sub_id: str, state: str, reason: str = "") -> None:
    now = utcnow()
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(subscriptions).values(
                subscription_id=sub_id,
                user_id="usr_1",
                bot_id="bot_fixed",
                credential_id="cred_1",
                market="BTC-USDT",
                allocation="1000",
                risk_overrides={},
                state=state,
                state_reason=reason,
                paid_until=now + timedelta(days=30),
                create_time=now,
                update_time=now,
            )
        )


async def written(engine: AsyncEngine, sub_id: str) -> tuple[Any, list[Any], list[Any]]:
    """The subscription row, its outbox entries and its audit rows, as committed."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(subscriptions).where(subscriptions.c.subscription_id == sub_id)
            )
        ).one()
        payloads = [json.loads(p) for p in await conn.scalars(sa.select(change_outbox.c.payload))]
        audits = (
            await conn.execute(
                sa.select(audit_log).where(audit_log.c.resource == sub_id).order_by(audit_log.c.seq)
            )
        ).all()
    return row, [p for p in payloads if p["subscription_id"] == sub_id], list(audits)


async def test_an_active_subscription_is_paused_with_its_entry_and_audit_row(
    engine: AsyncEngine,
) -> None:
    await subscribe(engine, "sub_active", ACTIVE)
    before, _, _ = await written(engine, "sub_active")

    view = await risk_pauses(engine).pause("sub_active", RISK_MAX_DRAWDOWN, MESSAGE)

    assert (view.state, view.state_reason, view.may_trade) == (PAUSED, RISK_MAX_DRAWDOWN, False)
    assert view.effective_state == PAUSED
    row, entries, audits = await written(engine, "sub_active")
    assert (row.state, row.state_reason) == (PAUSED, RISK_MAX_DRAWDOWN)
    assert row.update_time > before.update_time and view.update_time == row.update_time
    [entry] = entries
    assert (entry["change"], entry["state"], entry["state_reason"]) == (
        "paused_for_risk",
        PAUSED,
        RISK_MAX_DRAWDOWN,
    )
    assert entry["version"] == row.update_time.isoformat(timespec="microseconds")
    [audit] = audits
    assert audit.action == "subscription.pause_for_risk"
    assert audit.detail == {
        "state": PAUSED,
        "reason": RISK_MAX_DRAWDOWN,
        "actor": "bot_runtime",
        "message": MESSAGE,
    }
    assert (audit.actor_key_id, audit.principal) == (None, None)  # no principal acted
    assert (await verify_chain(engine))[1] is None


async def test_pausing_a_paused_one_again_changes_nothing(engine: AsyncEngine) -> None:
    pauses = risk_pauses(engine)
    await subscribe(engine, "sub_twice", ACTIVE)
    first = await pauses.pause("sub_twice", RISK_ORDER_FAILURES, "5 orders refused in a row")
    again = await pauses.pause("sub_twice", RISK_MAX_DRAWDOWN, MESSAGE)
    assert again == first  # the first reason stands
    _, entries, audits = await written(engine, "sub_twice")
    assert len(entries) == len(audits) == 1

    await subscribe(engine, "sub_by_principal", PAUSED)
    view = await pauses.pause("sub_by_principal", RISK_MAX_DRAWDOWN, MESSAGE)
    assert (view.state, view.state_reason) == (PAUSED, "")  # the principal's pause stands
    _, entries, audits = await written(engine, "sub_by_principal")
    assert entries == audits == []


@pytest.mark.parametrize(
    ("state", "reason"),
    [(EXPIRED, ""), (SUSPENDED, "CREDENTIAL_REFUSED"), (CANCELED, "CANCELED_BY_USER")],
)
async def test_any_other_state_is_refused_with_nothing_written(
    engine: AsyncEngine, state: str, reason: str
) -> None:
    sub_id = f"sub_{state.lower()}"
    await subscribe(engine, sub_id, state, reason)
    with pytest.raises(FailedPrecondition) as refused:
        await risk_pauses(engine).pause(sub_id, RISK_MAX_DRAWDOWN, MESSAGE)
    assert refused.value.reason == "SUBSCRIPTION_NOT_ACTIVE"
    row, entries, audits = await written(engine, sub_id)
    assert (row.state, row.state_reason) == (state, reason)
    assert entries == audits == []


async def test_an_unknown_id_is_not_found(engine: AsyncEngine) -> None:
    with pytest.raises(NotFound) as missing:
        await risk_pauses(engine).pause("sub_nobody", RISK_MAX_DRAWDOWN, MESSAGE)
    assert missing.value.reason == "SUBSCRIPTION_NOT_FOUND"


@pytest.mark.parametrize("reason", ["", "CREDENTIAL_DELETED", "CANCELED_BY_USER"])
async def test_a_reason_that_is_not_a_risk_one_is_an_invalid_argument(
    engine: AsyncEngine, reason: str
) -> None:
    await subscribe(engine, f"sub_bad_{reason.lower()}", ACTIVE)
    with pytest.raises(InvalidArgument) as refused:
        await risk_pauses(engine).pause(f"sub_bad_{reason.lower()}", reason, MESSAGE)
    assert refused.value.metadata == {"field": "reason"}
    row, entries, audits = await written(engine, f"sub_bad_{reason.lower()}")
    assert (row.state, entries, audits) == (ACTIVE, [], [])


async def test_a_pause_whose_audit_row_fails_leaves_no_pause_and_no_entry(
    url: str, engine: AsyncEngine
) -> None:
    """The audit append is the transaction's last write: while another transaction holds
    the chain's head, it waits out a 1 s lock wait and fails, and the pause and its outbox
    entry, written before it in the same transaction, roll back with it."""
    impatient = make_engine(url)

    @sa.event.listens_for(impatient.sync_engine, "connect")
    def short_lock_wait(dbapi_conn: Any, record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
        cursor.close()

    await subscribe(engine, "sub_atomic", ACTIVE)
    try:
        async with engine.begin() as holder:  # holds the audit chain's head row
            await holder.execute(
                audit_head.update().where(audit_head.c.id == 1).values(seq=audit_head.c.seq)
            )
            with pytest.raises(sa.exc.OperationalError):
                await risk_pauses(impatient).pause("sub_atomic", RISK_MAX_DRAWDOWN, MESSAGE)
        row, entries, audits = await written(engine, "sub_atomic")
        assert (row.state, row.state_reason, entries, audits) == (ACTIVE, "", [], [])

        view = await risk_pauses(impatient).pause("sub_atomic", RISK_MAX_DRAWDOWN, MESSAGE)
        row, entries, audits = await written(engine, "sub_atomic")
        assert (view.state, row.state, len(entries), len(audits)) == (PAUSED, PAUSED, 1, 1)
    finally:
        await impatient.dispose()
