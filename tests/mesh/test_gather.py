"""The gatherer: alone and at once when calls are few, together when many are in flight, and
never answered by a call that started before the ask."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mesh.gather import Gatherer


class Source:
    """A batch read whose calls the test holds open and releases: each answers every key it
    was asked with (key, the call's number), and refuses keys starting with "none"."""

    def __init__(self, *, held: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        if not held:
            self.release.set()
        self.fail: Exception | None = None

    async def fetch(self, keys: list[str]) -> dict[str, tuple[str, int]]:
        self.batches.append(keys)
        number = len(self.batches)
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return {k: (k, number) for k in keys if not k.startswith("none")}


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def asked(gatherer: Gatherer[str, tuple[str, int]], *keys: str) -> list[asyncio.Task[Any]]:
    """Each key asked in a task of its own, once the event loop has run them to their wait."""
    tasks = [asyncio.create_task(gatherer.get(k)) for k in keys]
    await settle()
    return tasks


async def test_a_lone_ask_goes_at_once_and_alone() -> None:
    source = Source()
    gatherer = Gatherer(source.fetch, max_batch=10)
    assert await gatherer.get("a") == ("a", 1)
    assert await gatherer.get("none-b") is None  # left out of the answer
    assert source.batches == [["a"], ["none-b"]]


async def test_asks_made_while_calls_are_in_flight_go_together_in_the_next() -> None:
    source = Source(held=True)
    gatherer = Gatherer(source.fetch, max_batch=10, max_in_flight=2)
    first = await asked(gatherer, "a", "b")
    later = await asked(gatherer, "c", "d", "e")
    assert source.batches == [["a"], ["b"]]  # two in flight; c, d, e wait
    source.release.set()
    answers = await asyncio.gather(*first, *later)
    assert source.batches == [["a"], ["b"], ["c", "d", "e"]]
    assert answers == [("a", 1), ("b", 2), ("c", 3), ("d", 3), ("e", 3)]
    assert (gatherer.asks, gatherer.calls) == (5, 3)


async def test_an_ask_is_never_answered_by_a_call_that_started_before_it() -> None:
    source = Source(held=True)
    gatherer = Gatherer(source.fetch, max_batch=10)
    (early,) = await asked(gatherer, "a")
    (again,) = await asked(gatherer, "a")  # the same key, asked during that call
    source.release.set()
    assert await early == ("a", 1)
    assert await again == ("a", 2)


async def test_the_same_key_asked_twice_before_its_call_shares_the_answer() -> None:
    source = Source(held=True)
    gatherer = Gatherer(source.fetch, max_batch=10)
    (busy,) = await asked(gatherer, "x")
    twins = await asked(gatherer, "a", "a", "a")
    source.release.set()
    await busy
    assert await asyncio.gather(*twins) == [("a", 2)] * 3
    assert source.batches == [["x"], ["a"]]


async def test_a_call_carries_at_most_max_batch_keys() -> None:
    source = Source(held=True)
    gatherer = Gatherer(source.fetch, max_batch=2)
    asks = await asked(gatherer, *"abcde")
    source.release.set()
    await asyncio.gather(*asks)
    assert source.batches == [["a"], ["b", "c"], ["d", "e"]]


async def test_a_failed_call_fails_every_ask_it_carried_and_the_next_call_is_new() -> None:
    source = Source(held=True)
    gatherer = Gatherer(source.fetch, max_batch=10)
    (busy,) = await asked(gatherer, "x")
    carried = await asked(gatherer, "a", "b")
    source.fail = ConnectionError("the callee is down")
    source.release.set()
    for task in (busy, *carried):
        with pytest.raises(ConnectionError):
            await task
    source.fail = None
    assert await gatherer.get("a") == ("a", 3)


async def test_a_caller_that_gives_up_leaves_the_others_their_answer() -> None:
    source = Source(held=True)
    gatherer = Gatherer(source.fetch, max_batch=10)
    (busy,) = await asked(gatherer, "x")
    quitter, stayer = await asked(gatherer, "a", "a")
    quitter.cancel()
    source.release.set()
    assert await stayer == ("a", 2)
    assert await busy == ("x", 1)
    with pytest.raises(asyncio.CancelledError):
        await quitter
