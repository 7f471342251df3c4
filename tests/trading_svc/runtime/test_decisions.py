"""The decision record on MariaDB: the anchor that makes a tick exactly-once.

- The first claim of a (subscription, candle) wins; the tick is then the claimer's.
- Once its decision is recorded, any later claim finds it FINISHED.
- A claim another consumer took within the lease is BUSY: that consumer may still be
  working on it. The same consumer claiming again (a restart under its own name) takes it.
- A claim older than the lease is a dead holder's: of two rescuers racing for it, exactly
  one takes it over.
- A consumer whose claim was taken over cannot record its decision: complete() is False and
  the rescuer's record stands.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.ids import new_id
from trading_svc.runtime.decisions import BUSY, FINISHED, MINE, Decided, DecisionStore
from trading_svc.tables import bot_decisions

CANDLE = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
LEASE = timedelta(seconds=30)


@pytest.fixture
def store(engine: AsyncEngine) -> DecisionStore:
    return DecisionStore(engine, LEASE)


async def age_claim(engine: AsyncEngine, subscription_id: str, by: timedelta) -> None:
    """Moves the tick's claim `by` into the past, as if its holder had claimed it then."""
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                bot_decisions.select().where(bot_decisions.c.subscription_id == subscription_id)
            )
        ).one()
        await conn.execute(
            bot_decisions.update()
            .where(bot_decisions.c.id == row.id)
            .values(claim_time=row.claim_time - by)
        )


def held(subscription_id: str, **fields: object) -> Decided:
    """A decision on CANDLE: a HOLD by default, `fields` changed."""
    return replace(
        Decided(subscription_id, CANDLE, action="HOLD", outcome="HELD", reason="HOLD"),
        price=D("61500.5"),
        **fields,  # type: ignore[arg-type]
    )


async def test_the_first_claim_of_a_tick_wins(store: DecisionStore) -> None:
    sub = new_id("sub")
    assert await store.claim(sub, CANDLE, "consumer-a") == MINE
    assert await store.claim(sub, CANDLE + timedelta(minutes=1), "consumer-b") == MINE, (
        "the next candle is another tick"
    )
    assert await store.claim(new_id("sub"), CANDLE, "consumer-b") == MINE, (
        "another subscription's candle is another tick"
    )


async def test_a_done_tick_is_finished_for_every_later_claim(store: DecisionStore) -> None:
    sub = new_id("sub")
    assert await store.claim(sub, CANDLE, "consumer-a") == MINE
    assert await store.complete(held(sub), "consumer-a") is True
    assert await store.claim(sub, CANDLE, "consumer-a") == FINISHED
    assert await store.claim(sub, CANDLE, "consumer-b") == FINISHED
    assert await store.count(sub) == 1


async def test_a_fresh_claim_of_another_consumer_is_busy(store: DecisionStore) -> None:
    sub = new_id("sub")
    assert await store.claim(sub, CANDLE, "consumer-a") == MINE
    assert await store.claim(sub, CANDLE, "consumer-b") == BUSY
    assert await store.complete(held(sub), "consumer-b") is False, "b never held it"
    assert await store.complete(held(sub), "consumer-a") is True


async def test_a_consumer_restarted_under_its_name_takes_its_own_claim_back(
    store: DecisionStore,
) -> None:
    sub = new_id("sub")
    assert await store.claim(sub, CANDLE, "consumer-a") == MINE
    assert await store.claim(sub, CANDLE, "consumer-a") == MINE
    assert await store.complete(held(sub), "consumer-a") is True


async def test_a_stale_claim_is_taken_over_by_exactly_one_of_two_rescuers(
    engine: AsyncEngine,
) -> None:
    sub = new_id("sub")
    assert await DecisionStore(engine, LEASE).claim(sub, CANDLE, "dead") == MINE
    await age_claim(engine, sub, LEASE + timedelta(seconds=1))

    rescuers = ["rescuer-1", "rescuer-2"]
    answers = await asyncio.gather(
        *(DecisionStore(engine, LEASE).claim(sub, CANDLE, name) for name in rescuers)
    )
    assert sorted(answers) == sorted([MINE, BUSY])
    winner = rescuers[answers.index(MINE)]
    loser = rescuers[answers.index(BUSY)]
    store = DecisionStore(engine, LEASE)
    assert await store.complete(held(sub), loser) is False
    assert await store.complete(held(sub, rationale=f"by {winner}"), winner) is True
    latest = await store.latest(sub)
    assert latest is not None and latest.rationale == f"by {winner}"


async def test_a_claim_within_its_lease_is_not_taken_over(
    engine: AsyncEngine, store: DecisionStore
) -> None:
    sub = new_id("sub")
    assert await store.claim(sub, CANDLE, "slow") == MINE
    await age_claim(engine, sub, LEASE - timedelta(seconds=5))
    assert await store.claim(sub, CANDLE, "rescuer") == BUSY


async def test_a_consumer_that_lost_its_claim_cannot_record_its_decision(
    engine: AsyncEngine, store: DecisionStore
) -> None:
    sub = new_id("sub")
    assert await store.claim(sub, CANDLE, "slow") == MINE
    await age_claim(engine, sub, LEASE * 2)
    assert await store.claim(sub, CANDLE, "rescuer") == MINE

    rescued = held(
        sub,
        outcome="ORDER_PLACED",
        reason="",
        order_id="ord_rescued",
        side="buy",
        quantity=D("0.00065"),
    )
    assert await store.complete(rescued, "rescuer") is True
    late = held(sub, outcome="ORDER_PLACED", order_id="ord_late", side="buy")
    assert await store.complete(late, "slow") is False

    latest = await store.latest(sub)
    assert latest is not None
    assert (latest.order_id, latest.quantity, latest.outcome) == (
        "ord_rescued",
        D("0.00065"),
        "ORDER_PLACED",
    )
    assert await store.count(sub) == 1


async def test_the_record_keeps_the_decision_as_made(store: DecisionStore) -> None:
    sub = new_id("sub")
    assert await store.claim(sub, CANDLE, "consumer-a") == MINE
    decided = Decided(
        sub,
        CANDLE,
        action="BUY",
        confidence=0.75,
        rationale="golden cross",
        advisor="none",
        outcome="BLOCKED",
        reason="COOLDOWN",
        price=D("61500.5"),
        risk_rule="COOLDOWN",
        risk_outcome="BLOCKED",
        risk_message="a losing trade closed recently",
    )
    assert await store.complete(decided, "consumer-a") is True
    latest = await store.latest(sub)
    assert latest is not None and latest.complete_time is not None
    assert latest == replace(decided, complete_time=latest.complete_time)


async def test_latest_is_the_newest_done_candle(store: DecisionStore) -> None:
    sub = new_id("sub")
    assert await store.latest(sub) is None
    for minutes in (0, 2, 1):
        candle = CANDLE + timedelta(minutes=minutes)
        assert await store.claim(sub, candle, "consumer-a") == MINE
        await store.complete(Decided(sub, candle, outcome="HELD"), "consumer-a")
    assert await store.claim(sub, CANDLE + timedelta(minutes=3), "consumer-a") == MINE
    latest = await store.latest(sub)
    assert latest is not None and latest.candle_time == CANDLE + timedelta(minutes=2), (
        "a claimed tick is not a decision yet"
    )
    assert await store.count(sub) == 3


async def test_a_batch_claims_new_ticks_and_leaves_done_and_held_ones(store: DecisionStore) -> None:
    fresh, done, held_elsewhere = new_id("sub"), new_id("sub"), new_id("sub")
    assert await store.claim(done, CANDLE, "consumer-a") == MINE
    assert await store.complete(held(done), "consumer-a")
    assert await store.claim(held_elsewhere, CANDLE, "consumer-b") == MINE
    keys = [(fresh, CANDLE), (done, CANDLE), (held_elsewhere, CANDLE)]

    claims = await store.claim_many(keys, "consumer-a")

    assert claims == {keys[0]: MINE, keys[1]: FINISHED, keys[2]: BUSY}
    written = await store.complete_many([held(fresh), held(held_elsewhere)], "consumer-a")
    assert written == {keys[0]}, "only the claims this consumer holds are recorded"
    assert await store.claim_many(keys[:1], "consumer-b") == {keys[0]: FINISHED}


async def test_a_batch_takes_over_a_dead_holders_claim(
    store: DecisionStore, engine: AsyncEngine
) -> None:
    sid = new_id("sub")
    assert await store.claim(sid, CANDLE, "consumer-dead") == MINE
    await age_claim(engine, sid, LEASE * 2)

    assert await store.claim_many([(sid, CANDLE)], "consumer-a") == {(sid, CANDLE): MINE}
    assert await store.complete_many([held(sid)], "consumer-a") == {(sid, CANDLE)}
