"""In-process coalescing: one computation per key, immune to a caller walking away."""

from __future__ import annotations

import asyncio

import pytest

from analysis_svc.coalesce import InFlight


async def test_concurrent_callers_share_one_computation() -> None:
    flights: InFlight[str, int] = InFlight()
    runs = 0

    async def load() -> int:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.05)
        return 42

    results = await asyncio.gather(*(flights.run("k", load) for _ in range(100)))
    assert runs == 1
    assert [value for value, _ in results] == [42] * 100
    assert sum(led for _, led in results) == 1
    assert (await flights.run("k", load))[1] is True and runs == 2  # done: the next one runs


async def test_a_caller_that_goes_away_does_not_cancel_the_others() -> None:
    flights: InFlight[str, int] = InFlight()
    release = asyncio.Event()

    async def load() -> int:
        await release.wait()
        return 7

    leader = asyncio.create_task(flights.run("k", load))
    await asyncio.sleep(0)
    follower = asyncio.create_task(flights.run("k", load))
    await asyncio.sleep(0)
    leader.cancel()  # e.g. its client hung up
    release.set()
    assert await follower == (7, False)
    with pytest.raises(asyncio.CancelledError):
        await leader


async def test_every_waiting_caller_sees_the_error() -> None:
    flights: InFlight[str, int] = InFlight()

    async def load() -> int:
        await asyncio.sleep(0.01)
        raise LookupError("exchange down")

    results = await asyncio.gather(
        *(flights.run("k", load) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, LookupError) for r in results)
