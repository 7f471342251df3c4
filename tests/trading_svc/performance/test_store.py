"""The performance store on MariaDB: fills oldest first, the log paged by (time, id) within
[start, end), the range's curve and last snapshot, the hour's claim taken by one writer only,
and which subscriptions the hourly loop finds due."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.ids import new_id
from tests.trading_svc.performance.fills_support import record_fills
from trading_svc.orders.projection import Projected, ProjectionStore
from trading_svc.performance.ledger import LedgerFill
from trading_svc.performance.model import Snapshot
from trading_svc.performance.store import PerformanceStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def snap(subscription_id: str, time: datetime, equity: str = "1000") -> Snapshot:
    zero = D(0)
    return Snapshot(subscription_id, time, D(equity), zero, zero, zero, zero, zero)


async def test_fills_come_back_oldest_first(engine: AsyncEngine) -> None:
    sub = new_id("sub")
    late = LedgerFill("sell", "BTC-USDT", D("110"), D("1"), D("0.11"), "USDT", T0 + HOUR)
    early = LedgerFill("buy", "BTC-USDT", D("100"), D("1"), D("0.001"), "BTC", T0)
    await record_fills(engine, sub, [late, early])
    await record_fills(engine, new_id("sub"), [early])
    assert await PerformanceStore(engine).fills(sub) == [early, late]


async def test_pages_walk_the_range_oldest_first_without_gaps_or_repeats(
    engine: AsyncEngine,
) -> None:
    store = PerformanceStore(engine)
    sub, other = new_id("sub"), new_id("sub")
    start, end = T0, T0 + 4 * HOUR
    times = [T0, T0 + HOUR, T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]  # two share a time
    ids = [await store.insert(snap(sub, t, str(1000 + i))) for i, t in enumerate(times)]
    await store.insert(snap(sub, start - timedelta(microseconds=1)))  # before the range
    await store.insert(snap(sub, end))  # the end is not in the range
    await store.insert(snap(other, T0 + HOUR))

    seen: list[Snapshot] = []
    after = None
    while True:
        page = await store.page(sub, start, end, 2, after)
        seen += page
        if len(page) < 2:
            break
        after = (page[-1].time, page[-1].snapshot_id)
    assert [s.snapshot_id for s in seen] == ids
    assert [s.equity for s in seen] == [D(1000 + i) for i in range(5)]
    assert {s.subscription_id for s in seen} == {sub}

    series = await store.equity_series(sub, start, end)
    assert series == [(t, D(1000 + i)) for i, t in enumerate(times)]
    last = await store.last(sub, start, end)
    assert last is not None and last.snapshot_id == ids[-1]
    assert await store.last(sub, end + HOUR, end + 2 * HOUR) is None


async def test_one_writer_wins_the_hours_claim(engine: AsyncEngine) -> None:
    store = PerformanceStore(engine)
    sub = new_id("sub")
    now = T0 + 10 * HOUR
    # No bot_runtime row yet: the claim is the insert of one.
    first = await asyncio.gather(*(store.insert(snap(sub, now), now - HOUR) for _ in range(4)))
    assert sum(i is not None for i in first) == 1
    # A row exists now: the claim is its conditional update.
    later = now + 30 * timedelta(minutes=1)
    assert await store.insert(snap(sub, later), later - HOUR) is None
    next_hour = now + HOUR + timedelta(minutes=1)
    again = await asyncio.gather(
        *(store.insert(snap(sub, next_hour), next_hour - HOUR) for _ in range(4))
    )
    assert sum(i is not None for i in again) == 1
    written = await store.page(sub, T0, T0 + 24 * HOUR, 10, None)
    assert [s.time for s in written] == [now, next_hour]


async def test_due_is_active_or_paused_without_a_snapshot_within_the_hour(
    engine: AsyncEngine,
) -> None:
    projection, store = ProjectionStore(engine), PerformanceStore(engine)
    now = datetime.now(UTC)
    row = Projected(new_id("sub"), "usr_1", "cred_1", "ETH-USDT", "ACTIVE", None, now)
    never, paused, canceled, logged, claimed, stale = (
        replace(row, subscription_id=new_id("sub"), state=state)
        for state in ("ACTIVE", "PAUSED", "CANCELED", "ACTIVE", "ACTIVE", "ACTIVE")
    )
    for r in (never, paused, canceled, logged, claimed, stale):
        await projection.apply(r)
    await store.insert(snap(logged.subscription_id, now - timedelta(minutes=10)))
    await store.insert(snap(claimed.subscription_id, now - timedelta(minutes=10)), now - HOUR)
    await store.insert(snap(stale.subscription_id, now - 2 * HOUR), now - 3 * HOUR)

    due = {d.subscription_id for d in await store.due(now - HOUR, 10_000)}
    assert {never.subscription_id, paused.subscription_id, stale.subscription_id} <= due
    assert not {canceled.subscription_id, logged.subscription_id, claimed.subscription_id} & due


async def test_ranges_at_the_ends_of_the_timestamp_type_read_nothing_and_fail_nothing(
    engine: AsyncEngine,
) -> None:
    store, sub = PerformanceStore(engine), new_id("sub")
    await store.insert(snap(sub, T0))
    first = datetime(1, 1, 1, tzinfo=UTC)
    last = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    for start, end in ((first, first + timedelta(days=30)), (last - timedelta(days=366), last)):
        assert await store.page(sub, start, end, 10, (start, 1)) == []
        assert await store.equity_series(sub, start, end) == []
        assert await store.last(sub, start, end) is None
