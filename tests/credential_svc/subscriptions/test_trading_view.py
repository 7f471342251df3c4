"""The trading view against a real MariaDB database of this module's own (migrated): the
bot as the runtime runs it, the limits in force (the subscription's overrides over the bot's,
field by field), one verdict for the single, batch and list reads, a batch of 500 ids in one
query with unknown ids left out, and the live list paged oldest first without CANCELED ones.

Rows are inserted as the stores write them; the use case and its store are the real ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from credential_svc.subscriptions.model import ACTIVE, CANCELED, EXPIRED, PAUSED
from credential_svc.subscriptions.trading_view import (
    TradingSubscriptions,
    effective_limits,
)
from credential_svc.subscriptions.trading_view_store import TradingViewStore
from credential_svc.tables import bots, exchange_credentials, subscriptions, users
from mesh.db import make_engine, utcnow
from mesh.errors import InvalidArgument, NotFound
from tests.support import alembic, mariadb_url

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BOT_LIMITS = {"stop_loss_pct": "0.05", "take_profit_pct": "0.2", "max_allocation": "5000"}


@pytest.fixture(scope="module")
async def engine(scratch_database) -> AsyncIterator[AsyncEngine]:  # type: ignore[no-untyped-def]
    url = mariadb_url(scratch_database())
    migrated = alembic(url, "upgrade", "head")
    assert migrated.returncode == 0, migrated.stderr
    eng = make_engine(url)
    async with eng.begin() as conn:
        await conn.execute(sa.insert(users).values(_user()))
        await conn.execute(sa.insert(exchange_credentials).values(_credential()))
        await conn.execute(sa.insert(bots).values(_bot("bot_fixed", {"fixed_quote": "100"})))
        await conn.execute(sa.insert(bots).values(_bot("bot_whole", None)))
    yield eng
    await eng.dispose()


@pytest.fixture
def view(engine: AsyncEngine) -> TradingSubscriptions:
    return TradingSubscriptions(TradingViewStore(engine))


def _user() -> dict[str, Any]:
    return {
        "user_id": "usr_1",
        "principal": "rrkah-fqaaa-aaaaa-aaaaq-cai",
        "state": "ACTIVE",
        "create_time": T0,
        "update_time": T0,
    }


def _credential() -> dict[str, Any]:
    return {
        "credential_id": "cred_1",
        "user_id": "usr_1",
        "exchange": "binance",
        "key_hint": "****abcd",
        "fingerprint": "f" * 16,
        "key_version": 1,
        "state": "ACTIVE",
        "create_time": T0,
        "update_time": T0,
    }


def _bot(bot_id: str, stake: dict[str, str] | None) -> dict[str, Any]:
    return {
        "bot_id": bot_id,
        "name": bot_id,
        "description": "",
        "strategy": "ma_crossover",
        "strategy_params": {"fast": "9", "slow": "21"},
        "markets": ["BTC-USDT"],
        "timeframe": "1m",
        "risk_limits": BOT_LIMITS,
        "advisor_enabled": False,
        "stake": stake,
        "author_key_id": "key_1",
        "create_time": T0,
        "update_time": T0 + timedelta(minutes=1),
    }


async def _subscribe(
    engine: AsyncEngine,
    sub_id: str,
    *,
    state: str = ACTIVE,
    paid_until: datetime | None = None,
    overrides: dict[str, str | int] | None = None,
    bot_id: str = "bot_fixed",
    created: datetime | None = None,
) -> None:
    now = utcnow()
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(subscriptions).values(
                subscription_id=sub_id,
                user_id="usr_1",
                bot_id=bot_id,
                credential_id="cred_1",
                market="BTC-USDT",
                allocation="1000",
                risk_overrides=overrides or {},
                state=state,
                paid_until=paid_until or now + timedelta(days=30),
                create_time=created or now,
                update_time=now,
            )
        )


@contextmanager
def counting_queries(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", record)


# The limits in force.


def test_an_override_replaces_the_bots_value_of_that_field_only() -> None:
    merged = effective_limits(BOT_LIMITS, {"stop_loss_pct": "0.02", "cooldown_seconds": 600})
    assert merged == {
        "stop_loss_pct": "0.02",
        "take_profit_pct": "0.2",
        "max_allocation": "5000",
        "cooldown_seconds": 600,
    }


def test_an_empty_override_keeps_the_bots_value() -> None:
    assert effective_limits(BOT_LIMITS, {"stop_loss_pct": "", "cooldown_seconds": 0}) == BOT_LIMITS
    assert effective_limits({}, {}) == {}


async def test_the_view_carries_the_bot_as_run_and_the_limits_in_force(
    engine: AsyncEngine, view: TradingSubscriptions
) -> None:
    await _subscribe(engine, "sub_merge", overrides={"stop_loss_pct": "0.02"})
    got = await view.get("sub_merge")
    assert (got.bot.bot_id, got.bot.strategy, got.bot.timeframe) == (
        "bot_fixed",
        "ma_crossover",
        "1m",
    )
    assert got.bot.strategy_params == {"fast": "9", "slow": "21"}
    assert got.bot.stake == {"fixed_quote": "100"}
    assert got.bot.update_time == T0 + timedelta(minutes=1)
    assert got.risk == {"stop_loss_pct": "0.02", "take_profit_pct": "0.2", "max_allocation": "5000"}
    assert got.may_trade and got.effective_state == ACTIVE


async def test_a_bot_without_a_stake_reads_as_none(
    engine: AsyncEngine, view: TradingSubscriptions
) -> None:
    await _subscribe(engine, "sub_whole", bot_id="bot_whole")
    assert (await view.get("sub_whole")).bot.stake is None


async def test_a_subscription_of_another_principal_is_not_found(
    engine: AsyncEngine, view: TradingSubscriptions
) -> None:
    await _subscribe(engine, "sub_owned")
    with pytest.raises(NotFound) as caught:
        await view.get("sub_owned", "2vxsx-fae")
    assert caught.value.reason == "SUBSCRIPTION_NOT_FOUND"


# The batch.


async def test_a_batch_answers_the_known_ids_in_the_order_asked_and_leaves_out_the_rest(
    engine: AsyncEngine, view: TradingSubscriptions
) -> None:
    await _subscribe(engine, "sub_b1")
    await _subscribe(engine, "sub_b2", state=PAUSED)
    got = await view.batch_get(["sub_b2", "nope", "sub_b1", "sub_b2"])
    assert [v.subscription_id for v in got] == ["sub_b2", "sub_b1"]
    assert await view.batch_get(["nope", "never"]) == []


async def test_a_batch_gives_the_same_verdict_as_a_single_read(
    engine: AsyncEngine, view: TradingSubscriptions
) -> None:
    lapsed = utcnow() - timedelta(minutes=1)
    await _subscribe(engine, "sub_lapsed", paid_until=lapsed, overrides={"max_allocation": "900"})
    (batched,) = await view.batch_get(["sub_lapsed"])
    single = await view.get("sub_lapsed")
    assert (batched.may_trade, batched.effective_state) == (False, EXPIRED)
    assert batched == single


async def test_500_ids_are_read_in_one_query(
    engine: AsyncEngine, view: TradingSubscriptions
) -> None:
    ids = [f"sub_many_{i:03}" for i in range(250)]
    for sub_id in ids:
        await _subscribe(engine, sub_id)
    asked = ids + [f"unknown_{i:03}" for i in range(250)]
    with counting_queries(engine) as seen:
        got = await view.batch_get(asked)
    assert [v.subscription_id for v in got] == ids
    assert len(seen) == 1


# The live list.


async def test_the_list_pages_oldest_first_without_canceled_ones(
    scratch_database,  # type: ignore[no-untyped-def]
) -> None:
    url = mariadb_url(scratch_database())
    assert alembic(url, "upgrade", "head").returncode == 0
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(users).values(_user()))
            await conn.execute(sa.insert(exchange_credentials).values(_credential()))
            await conn.execute(sa.insert(bots).values(_bot("bot_fixed", None)))
        expected = []
        for i in range(7):  # the last two share a create_time: the id breaks the tie
            sub_id = f"sub_l{i}"
            state = CANCELED if i in (2, 4) else (PAUSED if i == 3 else ACTIVE)
            created = T0 + timedelta(seconds=min(i, 5))
            await _subscribe(engine, sub_id, state=state, created=created)
            if state != CANCELED:
                expected.append(sub_id)
        view = TradingSubscriptions(TradingViewStore(engine))
        seen, token, pages = [], "", 0
        while True:
            page, token = await view.list_live(2, token)
            seen += [v.subscription_id for v in page]
            pages += 1
            if not token:
                break
        assert seen == expected
        assert pages == 3
        everything, last = await view.list_live(0, "")  # the default page holds all five
        assert [v.subscription_id for v in everything] == expected and last == ""
    finally:
        await engine.dispose()


async def test_a_page_token_that_is_not_ours_is_invalid(view: TradingSubscriptions) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await view.list_live(10, "not-a-token")
    assert caught.value.reason == "INVALID_PAGE_TOKEN"
