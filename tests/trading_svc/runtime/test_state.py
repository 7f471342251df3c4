"""The runtime state on MariaDB: a tick writes back only what it changed.

A resume lifts a bot's halt while one of its ticks runs; the tick, which read the state
before, must not write the halt back. A batch writes many subscriptions in one go, and a
subscription without a row reads as a fresh state.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D

from sqlalchemy.ext.asyncio import AsyncEngine

from mesh.ids import new_id
from trading_svc.runtime.state import RuntimeState, RuntimeStore

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


async def test_a_tick_writing_back_keeps_a_resume_that_lifted_the_halt(
    engine: AsyncEngine,
) -> None:
    store = RuntimeStore(engine)
    sid = new_id("sub")
    await store.put(RuntimeState(sid).halt("MAX_DRAWDOWN", "equity fell"))
    read_by_tick = await store.get(sid)
    await store.lift_halt(sid)  # the principal resumed meanwhile

    await store.put(replace(read_by_tick, last_tick_time=NOW), read_by_tick)

    after = await store.get(sid)
    assert not after.halted, "the tick's write-back did not undo the resume"
    assert after.last_tick_time == NOW


async def test_a_batch_reads_and_writes_many_subscriptions(engine: AsyncEngine) -> None:
    store = RuntimeStore(engine)
    known, unknown = new_id("sub"), new_id("sub")
    await store.put(RuntimeState(known, peak_equity=D("250")))

    states = await store.get_many([known, unknown])

    assert states[known].peak_equity == D("250")
    assert states[unknown] == RuntimeState(unknown)
    await store.put_many(
        [
            (replace(states[known], failures=1), states[known]),
            (replace(states[unknown], last_tick_time=NOW), states[unknown]),
        ]
    )
    again = await store.get_many([known, unknown])
    assert (again[known].failures, again[known].peak_equity) == (1, D("250"))
    assert again[unknown].last_tick_time == NOW
